"""codemix evaluation: benchmarks (HumanEval, MBPP, EvalPlus, built-in tasks), a sandboxed
executor for code samples, the unbiased pass@k estimator and `codemix score`.

Kept free of imports: the sandbox worker imports `eval.sandbox_worker` at start-up and must
not pay for anything else."""
