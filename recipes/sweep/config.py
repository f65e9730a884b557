"""The `sweep:` section of a recipe: which keys vary, and how the cells are launched."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.([A-Za-z_][A-Za-z0-9_]*|[0-9]+))*")
_TIME = re.compile(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?")


def slurm_minutes(spec: str) -> int:
    """Slurm's --time formats (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS) as whole minutes."""
    m = _TIME.fullmatch(spec.strip())
    if not m:
        raise ValueError(f"time {spec!r}: use Slurm's format, e.g. 24:00:00, 2-00:00:00 or 90 (minutes)")
    days, a, b, c = (int(x) if x else None for x in m.groups())
    if days is not None:  # D-HH[:MM[:SS]]
        minutes = days * 1440 + a * 60 + (b or 0) + ((c or 0) > 0)
    elif c is not None:  # HH:MM:SS
        minutes = a * 60 + b + (c > 0)
    elif b is not None:  # MM:SS
        minutes = a + (b > 0)
    else:  # MM
        minutes = a
    if minutes <= 0:
        raise ValueError(f"time {spec!r} is zero")
    return minutes


class SlurmConfig(BaseModel):
    """Resources per cell and how the launcher follows the jobs. Left open (null), GPUs, CPUs and
    memory fit the recipe: 1 GPU, 8 CPUs and 64G when it fine-tunes or scores a pretrained model
    (or uses qlora or vLLM), else 0 GPUs, 4 CPUs and 8G."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    partition: str | None = Field(None, description="Slurm partition (default: the cluster's default partition).")
    time: str = Field("24:00:00", description="Wall-time limit per cell, in Slurm's format (HH:MM:SS, D-HH:MM:SS or minutes).")
    nodes: int = Field(1, gt=0, description="Nodes per cell.")
    gpus_per_node: int | None = Field(None, ge=0, description="GPUs per cell (per node); default: 1 for a recipe with a pretrained model, qlora or vLLM, else 0.")
    cpus_per_task: int | None = Field(None, gt=0, description="CPU cores per cell (tokenisation, data loading, torch threads and the sandboxed executor use them); default 8 with a GPU, else 4.")
    mem: str | None = Field(None, description="Memory per node, e.g. 64G; default 64G with a GPU, else 8G; `default` leaves it to the partition.")
    account: str | None = Field(None, description="Slurm account to charge.")
    qos: str | None = Field(None, description="Slurm quality of service.")
    constraint: str | None = Field(None, description="Node feature constraint, e.g. a100|h100.")
    array_parallelism: int = Field(64, gt=0, description="Most cells running at once (the job array's % limit).")
    job_name: str | None = Field(None, description="Job name (default: codemix-<recipe name>).")
    setup: list[str] = Field(default_factory=list, description="Shell lines run before each cell, e.g. 'source .venv/bin/activate'.")
    additional: dict[str, Any] = Field(default_factory=dict, description="Extra sbatch options without the leading --, e.g. {exclusive: true, mail-type: END}.")
    poll_s: float = Field(30.0, gt=0, le=600, description="How often the launcher asks Slurm for the jobs' states (scontrol; sacct for older jobs). A job that ends without a result is reported within one poll plus a few seconds' grace.")
    max_requeues: int = Field(3, ge=0, description="Times a cell that reaches its time limit is requeued (it resumes from its last checkpoint) before it fails.")
    signal_s: int | None = Field(None, gt=0, description="Seconds before the time limit at which Slurm warns a cell (USR2) to record its state and requeue itself; Slurm sends it up to 30 s earlier still. Default: 90, or a quarter of a limit shorter than 6 minutes.")

    @field_validator("time")
    @classmethod
    def _time_ok(cls, v: str) -> str:
        slurm_minutes(v)
        return v

    @field_validator("mem")
    @classmethod
    def _mem_ok(cls, v: str | None) -> str | None:
        if v is not None and v != "default" and not re.fullmatch(r"\s*\d+(\.\d+)?\s*[KMGTkmgt]?[Bb]?\s*", v):
            raise ValueError(f"mem {v!r}: use Slurm's sizes, e.g. 64G, 500M or 2048 (megabytes), or `default`")
        return v

    def warning_s(self) -> int:
        """The USR2 lead time sent to sbatch (--signal=USR2@N)."""
        if self.signal_s is not None:
            return self.signal_s
        return min(90, slurm_minutes(self.time) * 60 // 4)


class MixtureDesign(BaseModel):
    """Mixtures of k >= 2 domains on the simplex, one cell each (see codemix.mixing.design); each
    cell sets mix.domain_shares, so the recipe's sources carry these domain labels."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    over: list[str] = Field(min_length=2, description="The domain labels mixed, e.g. [code, general, math]; every one needs a source with that domain.")
    design: Literal["dirichlet", "lattice", "vertices+centroid"] = Field("dirichlet", description="dirichlet (random draws), lattice (shares in steps of 1/m) or vertices+centroid (pure mixtures, the equal one, then edge midpoints and axial points).")
    cells: int | None = Field(None, ge=2, description="How many mixtures: draws for dirichlet (required), the most points for lattice (default 10 for 3 domains), points for vertices+centroid (default k+1).")
    concentration: float = Field(1.0, gt=0, description="dirichlet: 1 is uniform on the simplex, larger draws nearer the equal mixture, smaller nearer the pure ones.")
    seed: int = Field(0, description="dirichlet: seed of the draws.")
    bounds: dict[str, tuple[float, float]] = Field(default_factory=dict, description="Optional [low, high] per domain share; only mixtures inside them are run.")

    @model_validator(mode="after")
    def _labels_ok(self) -> MixtureDesign:
        if len(set(self.over)) != len(self.over):
            raise ValueError(f"over: repeated domain labels {self.over}")
        unknown = sorted(set(self.bounds) - set(self.over))
        if unknown:
            raise ValueError(f"bounds: {', '.join(unknown)} not in over {self.over}")
        for d, (lo, hi) in self.bounds.items():
            if not 0 <= lo <= hi <= 1:
                raise ValueError(f"bounds.{d}: need 0 <= low <= high <= 1, got [{lo}, {hi}]")
        return self

    def points(self) -> list[dict[str, float]]:
        from codemix.mixing.design import design_points

        return design_points(self.over, self.design, self.cells, concentration=self.concentration, seed=self.seed,
                             bounds=self.bounds)


MIXTURE_KEY = "mix.domain_shares"  # the recipe key a mixture design sets in each cell


class ProxyConfig(BaseModel):
    """Run the mixture design at a cheap proxy scale, fit score ~ shares there, then run only the
    proxy's best predicted mixtures (and a spread of others, to check its ranking) at the recipe's
    own (target) scale (see codemix.recipes.sweep.proxy)."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    set: dict[str, Any] = Field(min_length=1, description="Dotted recipe key -> value at the proxy scale, e.g. {train.model.arch.hidden_size: 64, train.max_steps: 400}; the target scale is the recipe as written.")
    top: int = Field(3, ge=1, description="Target-scale mixtures taken from the top of the proxy's predicted ranking: the predicted optimum, then the best-predicted design mixtures.")
    others: int = Field(3, ge=0, description="More target-scale mixtures spread evenly over the rest of the predicted ranking, so the ranking itself can be checked (rank correlation, regret).")
    target: str = Field("average", description="What the proxy's fit ranks mixtures by: a benchmark name, `average` (over the benchmarks) or `loss:<domain>` (per-domain validation loss; needs mix.validation).")
    fit: Literal["auto", "scheffe", "logratio", "gbt"] = Field("auto", description="The proxy's mixture model: auto (chosen by leave-one-configuration-out error), scheffe, logratio or gbt.")


class SweepConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)

    grid: dict[str, list[Any]] = Field(default_factory=dict, description="Dotted recipe key -> values; the cells are the product of all lists (and of the zip group).")
    zip: dict[str, list[Any]] = Field(default_factory=dict, description="Keys varied together (equal-length lists), e.g. mix.budget with train.max_steps; one axis of the product.")
    mixture: MixtureDesign | None = Field(None, description="Mixtures of several domains on the simplex: one more axis of the product, setting mix.domain_shares per cell.")
    include_base: bool | None = Field(None, description="Score the untrained base model once for the whole sweep as the reference row (default: the recipe's eval.include_base).")
    launcher: Literal["local", "slurm"] = Field("local", description="Default launcher (the --launcher flag overrides it).")
    parallel: int | None = Field(None, gt=0, description="local launcher: cells at once (default: one per GPU group, or 1 on CPU).")
    train_processes: int = Field(1, gt=0, description="Data-parallel training processes per cell; >1 runs the train stage as `codemix train --num-processes N` (one per GPU of the cell, e.g. for a full fine-tune with zero3).")
    accelerate_config: str | None = Field(None, description="accelerate config for multi-process training: ddp, zero2, zero3, fsdp or a file (as `codemix train --accelerate-config`).")
    gpus_per_cell: int = Field(1, ge=0, description="local launcher on a GPU machine: GPUs each cell gets via CUDA_VISIBLE_DEVICES.")
    slurm: SlurmConfig = Field(default_factory=SlurmConfig, description="Slurm resources per cell and job following for --launcher slurm (a submitit job array).")
    proxy: ProxyConfig | None = Field(None, description="Proxy -> target: run the mixture design at the scale proxy.set gives, fit it, then run the predicted best mixtures (and others) at the recipe's scale. Needs mixture:.")

    @model_validator(mode="after")
    def _axes_ok(self) -> SweepConfig:
        if self.proxy is not None:
            if self.mixture is None:
                raise ValueError("proxy: needs a mixture: design (it fits score ~ shares over the design's cells)")
            for key in self.proxy.set:
                if not _KEY.fullmatch(key):
                    raise ValueError(f"proxy.set.{key}: not a dotted recipe key (e.g. train.max_steps)")
                if key.split(".")[0] in ("name", "output_dir", "sweep", "seed") or key == MIXTURE_KEY or key in self.grid or key in self.zip:
                    raise ValueError(f"proxy.set.{key}: swept or set by the sweep itself; the proxy may change the scale only")
        if self.mixture is not None:
            # The design becomes the grid axis mix.domain_shares (so cells, names and resumption work
            # as for any axis); a grid that already holds exactly these points (a dumped recipe
            # validated again) is left as it is.
            try:
                points = self.mixture.points()
            except ValueError as e:
                raise ValueError(f"mixture: {e}") from None
            if MIXTURE_KEY in self.zip or self.grid.get(MIXTURE_KEY, points) != points:
                raise ValueError(f"{MIXTURE_KEY} is set by sweep.mixture; do not also sweep it under grid or zip")
            self.grid = {**self.grid, MIXTURE_KEY: points}
        if not self.grid and not self.zip:
            raise ValueError("a sweep needs at least one key under grid:, zip: or mixture:")
        for group, axes in (("grid", self.grid), ("zip", self.zip)):
            for key, values in axes.items():
                if not _KEY.fullmatch(key):
                    raise ValueError(f"{group}.{key}: not a dotted recipe key (e.g. mix.general_fraction)")
                if key.split(".")[0] in ("name", "output_dir", "sweep"):
                    raise ValueError(f"{group}.{key}: the sweep sets this itself; it cannot be swept")
                if not values:
                    raise ValueError(f"{group}.{key}: empty list of values")
                # A zip list may repeat a value (rules 100 with seeds 1 and 2); its rows may not.
                if group == "grid" and len({_hashable(v) for v in values}) != len(values):
                    raise ValueError(f"{group}.{key}: repeated values {values}")
        both = set(self.grid) & set(self.zip)
        if both:
            raise ValueError(f"{', '.join(sorted(both))}: in both grid and zip")
        keys = list(self.grid) + list(self.zip)
        nested = [(a, b) for a in keys for b in keys if a != b and b.startswith(a + ".")]
        if nested:
            raise ValueError(f"{nested[0][1]} lies inside {nested[0][0]}; sweep one or the other")
        lengths = {k: len(v) for k, v in self.zip.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"zip lists must have equal lengths, got {lengths}")
        rows = [tuple(_hashable(v[i]) for v in self.zip.values()) for i in range(min(lengths.values(), default=0))]
        if len(set(rows)) != len(rows):
            raise ValueError(f"zip: repeated rows (the same values for {', '.join(self.zip)} twice)")
        return self


def _hashable(v: Any) -> Any:
    import json

    return json.dumps(v, sort_keys=True, default=str)
