"""Recipe YAML shared by the tests that run the pipeline from a recipe file (`codemix run`,
`codemix train`): pieces that the test recipes insert (f-strings) where the lines stand today."""

# The mix section's two built-in sources: code (pyfuncs) and general (texttasks) instructions.
TWO_SOURCES = """\
  sources:
    - {name: pyfuncs, path: "builtin:pyfuncs", domain: code}
    - {name: texttasks, path: "builtin:texttasks", domain: general}"""

# The train section's model and schedule: a 1-layer, 32-wide random llama fully fine-tuned for 12
# steps. Each recipe adds its own logging_steps, save_steps and report_to after it.
TINY_TRAIN = """\
train:
  model:
    init: random
    arch: {arch: llama, hidden_size: 32, layers: 1, heads: 2, max_position_embeddings: 2048}
    tokenizer: {kind: bpe, vocab_size: 400}
  method: full
  learning_rate: 0.003
  max_steps: 12
  per_device_batch_size: 8
  max_length: 128"""
