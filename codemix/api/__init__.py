"""The Python API: one function per `codemix` command, each writing the same files as the
command and returning them as a typed result (`codemix.api.results`).

    import codemix

    recipe = codemix.load_recipe("smoke", overrides=["train.max_steps=20"])
    trained = codemix.train(recipe)                     # builds the mixture first
    scores = codemix.evaluate(trained.out_dir, benchmarks=["humaneval"], limit=10)
    print(scores["humaneval"].pass_at_k)

Errors a user can fix raise `codemix.CodemixError` with one line naming the file, key or value.
"""

from codemix.api.results import (
    Comparison,
    DiversityResult,
    EvalResult,
    MixResult,
    ReportResult,
    RunResult,
    ScoreResult,
    SweepResult,
    TrainResult,
    ValidationResult,
)
from codemix.api.stages import evaluate, load_recipe, mix, run, score, train, validate
from codemix.api.studies import compare, diversity, report, sweep

__all__ = [
    "Comparison", "DiversityResult", "EvalResult", "MixResult", "ReportResult", "RunResult", "ScoreResult",
    "SweepResult", "TrainResult", "ValidationResult",
    "compare", "diversity", "evaluate", "load_recipe", "mix", "report", "run", "score", "sweep", "train", "validate",
]
