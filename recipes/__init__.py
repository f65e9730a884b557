"""codemix.recipes: the recipe schema, loading and validation, the `codemix` CLI, and the
orchestration of the stages (mix -> train -> eval)."""
