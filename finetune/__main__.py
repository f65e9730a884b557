"""`python -m codemix.finetune RECIPE [--set KEY=VALUE] [--force]`, and with it
`accelerate launch -m codemix.finetune RECIPE` / `torchrun -m codemix.finetune RECIPE`: exactly `codemix train`.

This is an entry point, not library code: reading a recipe (file lookup, --set overrides, the
composed Recipe model) belongs to the top layer, `recipes`, so the command is looked up there at
run time instead of being imported — nothing in `finetune` depends on `recipes`.
"""

import importlib
import sys


def main() -> int:
    cli = importlib.import_module("codemix.recipes.cli")
    return cli.main(["train", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
