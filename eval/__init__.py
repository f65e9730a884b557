"""codemix evaluation, in three sub-packages and the code that joins them:

- eval/sandbox/     the sandboxed executor (programs in, verdicts out; knows nothing of problems)
- eval/generation/  generation backends (hf, vllm) behind one interface, prompts, sample files
- eval/benchmarks/  the benchmark registry: problems, prompt styles, scorer kind
- eval/scoring/     scorers by kind (execute: pass@k; exact_match: accuracy), results.json
- eval/evaluate.py  generate then score, per benchmark (`codemix eval`, the eval stage)

Kept free of imports: sandbox worker processes import this package at start-up and must not
pay for anything else."""
