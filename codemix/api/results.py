"""What the Python API returns: one dataclass per command, each holding the JSON document the
command wrote (`data`) and where it wrote it, plus the few numbers most callers want as typed
attributes. Nothing here imports a stage package, so these types cost nothing to import."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from codemix.recipes.schema import Recipe


@dataclass(frozen=True)
class ValidationResult:
    """One validated recipe (`codemix validate`).

    Attributes:
        path: The recipe file.
        recipe: The validated recipe, every default filled in.
        warnings: Problems that do not stop a run here (e.g. a benchmark file only a cluster has).
        cells: The number of sweep cells, each validated too; None without a `sweep:` section.
    """

    path: Path
    recipe: Recipe
    warnings: list[str] = field(default_factory=list)
    cells: int | None = None

    @property
    def stages(self) -> list[str]:
        """The stages the recipe declares, in run order."""
        return [s for s in ("mix", "train", "eval") if getattr(self.recipe, s) is not None]


@dataclass(frozen=True)
class MixResult:
    """A built (or up-to-date) mixture (`codemix mix`).

    Attributes:
        out_dir: The mixture directory, `<output_dir>/mix`.
        built: False when it was already up to date.
        data: Its manifest.json.
    """

    out_dir: Path
    built: bool
    data: dict[str, Any]

    @property
    def rows(self) -> int:
        return int(self.data["rows"])

    @property
    def content_hash(self) -> str:
        """Hash of the mixture's rows: equal hashes, identical training data."""
        return str(self.data["content_hash"])


@dataclass(frozen=True)
class TrainResult:
    """A trained (or up-to-date) checkpoint (`codemix train`).

    Attributes:
        out_dir: The checkpoint directory, `<output_dir>/train`; pass it to `codemix.evaluate`.
        built: False when it was already up to date.
        data: Its manifest.json (loss, steps, tokens, topology, the recipe).
        main_process: False in the non-main processes of a multi-process launch.
    """

    out_dir: Path
    built: bool
    data: dict[str, Any]
    main_process: bool = True

    @property
    def final_loss(self) -> float:
        return float(self.data["final_loss"])

    @property
    def steps(self) -> int:
        return int(self.data["steps"])


@dataclass(frozen=True)
class ScoreResult:
    """Scored samples of one benchmark (`codemix score`, and each benchmark of `codemix eval`).

    Attributes:
        benchmark: The benchmark's name.
        out_dir: Where results.json and results.jsonl (one verdict per sample) are.
        data: results.json: pass@k (or accuracy) with 95% intervals, per-task counts, verdicts.
    """

    benchmark: str
    out_dir: Path
    data: dict[str, Any]

    @property
    def metric(self) -> str:
        """"pass@k" for executed benchmarks, "accuracy" for exact-match ones."""
        return str(self.data.get("metric", "pass@k"))

    @property
    def pass_at_k(self) -> dict[int, float]:
        """{k: fraction of problems solved}; empty for exact-match benchmarks."""
        return {int(k.removeprefix("pass@")): float(v) for k, v in (self.data.get("pass_at_k") or {}).items()}

    @property
    def accuracy(self) -> float | None:
        value = self.data.get("accuracy")
        return None if value is None else float(value)

    @property
    def results_path(self) -> Path:
        return self.out_dir / "results.json"


@dataclass(frozen=True)
class EvalResult:
    """One model scored on several benchmarks (`codemix eval`).

    Attributes:
        model: The model, checkpoint directory or Hub id that was scored.
        out_dir: One sub-directory per benchmark below it.
        benchmarks: {benchmark: its ScoreResult}.
    """

    model: str
    out_dir: Path
    benchmarks: dict[str, ScoreResult]

    def __getitem__(self, benchmark: str) -> ScoreResult:
        return self.benchmarks[benchmark]

    @property
    def data(self) -> dict[str, dict[str, Any]]:
        """{benchmark: results.json}."""
        return {name: r.data for name, r in self.benchmarks.items()}


@dataclass(frozen=True)
class RunResult:
    """Every stage of one recipe (`codemix run`).

    Attributes:
        out_dir: The recipe's output directory.
        data: summary.json: the stages' headline numbers, the trained and base models' scores.
    """

    out_dir: Path
    data: dict[str, Any]

    @property
    def trained(self) -> dict[str, dict[str, Any]]:
        """{benchmark: headline numbers} of the model the recipe trained (or names)."""
        return dict(self.data.get("trained") or {})

    @property
    def base(self) -> dict[str, dict[str, Any]] | None:
        """The same for the untrained base model, when the recipe asks for it (eval.include_base)."""
        return self.data.get("base")


@dataclass(frozen=True)
class SweepResult:
    """A sweep's cells (`codemix sweep`).

    Attributes:
        out_dir: The sweep directory (sweep.json, cells/).
        outcomes: {cell: done | failed | running | skipped ...}; empty for a plan.
        plan: The table `codemix sweep --plan` prints: each cell and its state.
        data: sweep.json.
    """

    out_dir: Path
    outcomes: dict[str, str]
    plan: str
    data: dict[str, Any]

    @property
    def failed(self) -> list[str]:
        return [name for name, outcome in self.outcomes.items() if outcome == "failed"]


@dataclass(frozen=True)
class ReportResult:
    """Tables, paired statistics and plots over sweep or run directories (`codemix report`).

    Attributes:
        out_dir: Where report.md, report.csv, the other CSVs and the plots were written.
        text: The tables `codemix report` prints.
        files: Every file written.
    """

    out_dir: Path
    text: str
    files: list[Path]


@dataclass(frozen=True)
class Comparison:
    """B against A on one benchmark, paired over problems (`codemix compare`).

    Attributes:
        data: The object `codemix compare --json` prints (fractions, not percentages).
    """

    data: dict[str, Any]

    @property
    def delta(self) -> float:
        """B - A in pass@k (or accuracy), as a fraction."""
        return float(self.data["delta"])

    @property
    def ci(self) -> tuple[float, float]:
        low, high = self.data["ci"]
        return float(low), float(high)

    @property
    def p_value(self) -> float:
        return float(self.data["p_value"])

    @property
    def verdict(self) -> str:
        """"better", "worse" or "no detectable difference" at the comparison's alpha."""
        return str(self.data["verdict"])

    def text(self) -> str:
        """The lines `codemix compare` prints."""
        from codemix.recipes.report.tables import p_text, pct, signed_points

        r = self.data
        lines = [f"{r['benchmark']}: {r['metric']} on {r['n_problems']} problems",
                 f"  A  {pct(r['a']):>5} %  {r['a_path']}",
                 f"  B  {pct(r['b']):>5} %  {r['b_path']}",
                 f"  B - A: {signed_points(r['delta'], r['ci'])} points ({r['level']:.0%} CI, paired bootstrap "
                 f"over problems, {r['resamples']:,} resamples)"]
        if r["test"] == "mcnemar":
            lines.append(f"  exact McNemar: {r['b_only']} problems only B solves, {r['a_only']} only A: "
                         f"p = {p_text(r['p_value'])}")
        else:
            lines.append(f"  bootstrap test: p = {p_text(r['p_value'])}")
        lines.append(f"  verdict: B is {r['verdict']}" if r["verdict"] != "no detectable difference"
                     else f"  verdict: no detectable difference (alpha {r['alpha']})")
        return "\n".join(lines)


@dataclass(frozen=True)
class DiversityResult:
    """How diverse a mixture or data file is (`codemix diversity`).

    Attributes:
        out_dir: Where diversity.json (and diversity_map.png) were written.
        data: diversity.json: per source, per domain and overall numbers, the settings.
        files: The files written.
    """

    out_dir: Path
    data: dict[str, Any]
    files: list[Path]

    def text(self) -> str:
        """The table `codemix diversity` prints."""
        from codemix.mixing.diversity import measure

        return measure.table_text(self.data)
