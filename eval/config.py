"""The `eval:` section of a recipe: what to generate and how to score it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# The settings of one backend each; giving one with another backend is an error.
BACKEND_OPTIONS: dict[str, tuple[str, ...]] = {
    "openai": ("base_url", "api_key_env", "tokenizer", "concurrency", "request_timeout", "max_retries"),
    "vllm": ("tensor_parallel_size", "gpu_memory_utilization", "max_model_len"),
}
# Those that can change the samples (a server is another model; a shorter context fails more
# prompts): part of what a result records it was made from. The others change only the speed.
SAMPLE_OPTIONS = ("base_url", "tokenizer", "max_model_len")


class EvalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)

    model: str | None = Field(None, description="Model to score when the recipe has no train section: a Hub id, a local model dir or a codemix checkpoint.")
    adapter: str | None = Field(None, description="Optional peft adapter applied on top of `model`.")
    benchmarks: list[str] = Field(default_factory=lambda: ["humaneval", "mbpp"], description="Benchmarks to score (humaneval, mbpp, mbpp-sanitized, humaneval+, mbpp+, pyfuncs).")
    problems: dict[str, str] = Field(default_factory=dict, description="Local problem files per benchmark, e.g. {mbpp: ../shared/data/mbpp/mbpp.jsonl}; in a recipe, {output_dir} stands for the run's output directory (markov: \"{output_dir}/mix\").")
    prompt_style: Literal["auto", "completion", "instruction"] = Field("auto", description="auto: instruction for codemix checkpoints, completion for plain base models.")
    backend: Literal["hf", "vllm", "openai"] = Field("hf", description="Generation backend: hf (transformers, here), vllm (GPU, here), openai (a model served by any OpenAI-compatible server).")
    base_url: str | None = Field(None, description="backend openai: the server's API root, e.g. http://127.0.0.1:8000/v1 (`vllm serve`); required with it. The model is the name the server serves.")
    api_key_env: str | None = Field(None, description="backend openai: the environment variable holding the API key, e.g. OPENAI_API_KEY (default: no key, as local servers need none; a key is sent only to the server it was named for). The key is read from there only and never written anywhere.")
    tokenizer: str | None = Field(None, description="backend openai: a local tokenizer (model directory or Hub id) for the prompts, the context budget and prompt_style auto. Default: the model when it is a local directory; without one the server tokenizes and applies its own chat template.")
    concurrency: int | None = Field(None, gt=0, description="backend openai: requests in flight (default 16).")
    request_timeout: float | None = Field(None, gt=0, description="backend openai: seconds one request may take before it is retried (default 300).")
    max_retries: int | None = Field(None, ge=0, description="backend openai: retries of one request after a 429, 5xx, timeout or dropped connection (default 6), with exponential backoff and jitter; a Retry-After header is honoured.")
    tensor_parallel_size: int | None = Field(None, gt=0, description="backend vllm: GPUs the model is split over (default 1).")
    gpu_memory_utilization: float | None = Field(None, gt=0, le=1, description="backend vllm: share of each GPU's memory vLLM may take (default vLLM's, 0.9).")
    max_model_len: int | None = Field(None, gt=0, description="backend vllm: the context length vLLM reserves KV cache for (default: what the longest request needs); samples whose prompt does not fit are scored as failures (prompt_too_long).")
    n_samples: int = Field(1, gt=0, description="Samples per task.")
    temperature: float = Field(0.0, ge=0, description="0 = greedy (then n_samples must be 1).")
    top_p: float = Field(0.95, gt=0, le=1, description="Nucleus sampling threshold.")
    max_new_tokens: int = Field(512, gt=0, description="Generation length limit.")
    batch_size: int = Field(16, gt=0, description="Prompts per generation batch (halved on out-of-memory).")
    k: list[int] = Field(default_factory=lambda: [1], description="pass@k values to report.")
    workers: int | None = Field(None, description="Executor workers (default: one per core).")
    timeout: float | None = Field(None, gt=0, description="Per-sample time limit in seconds (default: measured per problem).")
    hash_seed: Annotated[int, Field(ge=0, le=4294967295, strict=True)] | Literal["random"] = Field(0, description="PYTHONHASHSEED of the executed samples, also the seed `random` starts from in each (default 0: the same verdicts in every run); 'random' for a random one per sandbox worker.")
    verdicts: Literal["in-process", "strict"] = Field("in-process", description="How executed samples are judged. in-process: the sample's program runs with the benchmark's tests and passes by reaching their end (a program written to attack the harness can forge that). strict: the sample's process gets only the test inputs and returns plain data that the harness checks, so a pass cannot be forged; tests that are not calls with literal arguments keep the in-process check, and results.json counts them.")
    tasks: list[str] | None = Field(None, description="Only these task ids (default: all).")
    limit: int | None = Field(None, gt=0, description="Only the first N tasks of each benchmark (after `tasks`), for quick checks.")
    include_base: bool = Field(False, description="Also score the untrained base model as a reference.")

    @field_validator("benchmarks")
    @classmethod
    def _known_benchmarks(cls, v: list[str]) -> list[str]:
        for name in v:
            check_benchmark_name(name)
        if not v:
            raise ValueError("give at least one benchmark")
        return v

    @field_validator("problems")
    @classmethod
    def _known_problem_keys(cls, v: dict[str, str]) -> dict[str, str]:
        for name in v:
            check_benchmark_name(name)
        return v

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        from urllib.parse import urlsplit

        if v is None:
            return v
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{v!r} is not an http(s) URL, e.g. http://127.0.0.1:8000/v1")
        if parts.username or parts.password:
            # The URL is recorded with the results; a key belongs in the environment.
            raise ValueError("holds credentials; put the key in an environment variable named by api_key_env")
        return v

    @field_validator("api_key_env")
    @classmethod
    def _variable_name(cls, v: str | None) -> str | None:
        import re

        if v is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", v):
            # Not echoed: a key pasted here by mistake must not reach a log.
            raise ValueError("not an environment variable name (letters, digits, _): name the variable that holds "
                             "the key, never the key itself")
        return v

    def backend_options(self) -> dict[str, Any]:
        """The settings given for this config's backend (unset ones take the backend's defaults)."""
        return {key: getattr(self, key) for key in BACKEND_OPTIONS.get(self.backend, ())
                if getattr(self, key) is not None}

    @model_validator(mode="after")
    def _consistent(self) -> EvalConfig:
        for backend, keys in BACKEND_OPTIONS.items():
            stray = [key for key in keys if getattr(self, key) is not None and self.backend != backend]
            if stray:
                raise ValueError(f"{', '.join(stray)}: only used with backend {backend} (backend is {self.backend})")
        if self.backend == "openai" and self.base_url is None:
            raise ValueError("backend openai needs base_url, the server's API root (e.g. http://127.0.0.1:8000/v1)")
        if self.temperature == 0 and self.n_samples > 1:
            raise ValueError(f"temperature 0 is greedy decoding; n_samples must be 1, got {self.n_samples}")
        too_big = [k for k in self.k if k > self.n_samples or k < 1]
        if too_big:
            raise ValueError(k_error(too_big, self.n_samples))
        return self


def check_benchmark_name(name: str) -> None:
    """A ValueError (for pydantic) naming the closest registered benchmark when `name` is unknown."""
    from codemix.core.errors import CodemixError
    from codemix.eval.benchmarks.registry import get_benchmark

    try:
        get_benchmark(name)
    except CodemixError as e:
        raise ValueError(str(e)) from None


def k_error(too_big: list[int], n: int) -> str:
    """The one message for k values larger than the samples per task (eval and score alike)."""
    return (f"k values {too_big} exceed the samples per task ({n}); pass@k needs k <= n "
            f"(generate at least {max(too_big)} samples per task, at a temperature above 0)")
