"""Recipe YAML shared by the tests that run the pipeline from a recipe file (`codemix run`,
`codemix train`): pieces that the test recipes insert (f-strings) where the lines stand today."""

from pathlib import Path

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


def recipe_text(out: Path) -> str:
    return f"""
name: e2e
seed: 7
output_dir: {out}
mix:
  budget: 240
  general_fraction: 0.25
{TWO_SOURCES}
  decontaminate: {{benchmarks: [humaneval], ngram: 13}}
{TINY_TRAIN}
  logging_steps: 4
  save_steps: 6
  report_to: [none]
eval:
  benchmarks: [pyfuncs, humaneval]
  tasks: [pyfuncs/0, pyfuncs/1, pyfuncs/2, HumanEval/0, HumanEval/1]
  max_new_tokens: 16
  batch_size: 8
  workers: 1
  include_base: true
"""


def run_recipe(out: Path) -> str:
    return f"""
name: faults
seed: 7
output_dir: {out}
mix:
  budget: 240
  general_fraction: 0.25
{TWO_SOURCES}
  decontaminate: {{enabled: false}}
{TINY_TRAIN}
  logging_steps: 2
  save_steps: 4
  report_to: [none]
eval:
  benchmarks: [humaneval]
  tasks: [HumanEval/0, HumanEval/1, HumanEval/2, HumanEval/3]
  n_samples: 4
  temperature: 0.8
  k: [1, 2]
  max_new_tokens: 24
  batch_size: 4
  workers: 1
  include_base: false
"""
