"""The `eval:` section of a recipe: what to generate and how to score it."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class EvalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)

    model: str | None = Field(None, description="Model to score when the recipe has no train section: a Hub id, a local model dir or a codemix checkpoint.")
    adapter: str | None = Field(None, description="Optional peft adapter applied on top of `model`.")
    benchmarks: list[str] = Field(default_factory=lambda: ["humaneval", "mbpp"], description="Benchmarks to score (humaneval, mbpp, mbpp-sanitized, humaneval+, mbpp+, pyfuncs).")
    problems: dict[str, str] = Field(default_factory=dict, description="Local problem files per benchmark, e.g. {mbpp: ../shared/data/mbpp/mbpp.jsonl}; in a recipe, {output_dir} stands for the run's output directory (markov: \"{output_dir}/mix\").")
    prompt_style: Literal["auto", "completion", "instruction"] = Field("auto", description="auto: instruction for codemix checkpoints, completion for plain base models.")
    backend: Literal["hf", "vllm"] = Field("hf", description="Generation backend.")
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

    @model_validator(mode="after")
    def _consistent(self) -> EvalConfig:
        if self.temperature == 0 and self.n_samples > 1:
            raise ValueError(f"temperature 0 is greedy decoding; n_samples must be 1, got {self.n_samples}")
        too_big = [k for k in self.k if k > self.n_samples or k < 1]
        if too_big:
            raise ValueError(k_error(too_big, self.n_samples))
        return self


def check_benchmark_name(name: str) -> None:
    """A ValueError (for pydantic) naming the closest registered benchmark when `name` is unknown."""
    from codemix.eval.benchmarks.registry import get_benchmark
    from codemix.core.errors import CodemixError

    try:
        get_benchmark(name)
    except CodemixError as e:
        raise ValueError(str(e)) from None


def k_error(too_big: list[int], n: int) -> str:
    """The one message for k values larger than the samples per task (eval and score alike)."""
    return (f"k values {too_big} exceed the samples per task ({n}); pass@k needs k <= n "
            f"(generate at least {max(too_big)} samples per task, at a temperature above 0)")
