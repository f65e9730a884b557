"""Generation: one `Backend` interface (backend.py) with `hf` and `vllm` implementations chosen
by name, prompt building (prompts.py), code extraction (extract.py), the sample store
(store.py) and the shared run loop (run.py).

Kept free of eager imports (torch, transformers) so `from codemix.eval.generation import generate`
stays cheap until a model is actually loaded."""

from codemix.eval.generation.prompts import (
    PromptSpec,
    build_prompt,
    encode_prompt_text,
    resolve_spec,
    stop_sequences,
)
from codemix.eval.generation.run import (
    check_settings,
    generate,
    generate_samples,
    run_generation,
    run_with_backend,
    sample_seed,
    select_problems,
)

__all__ = ["PromptSpec", "build_prompt", "check_settings", "encode_prompt_text", "generate", "generate_samples",
           "resolve_spec", "run_generation", "run_with_backend", "sample_seed", "select_problems", "stop_sequences"]
