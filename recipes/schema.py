"""The recipe: one YAML file = one experiment. Each stage owns its section's model."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from codemix.core.artifacts import hash_json
from codemix.eval.config import EvalConfig
from codemix.finetune.config import TrainConfig
from codemix.mixing.config import MixConfig
from codemix.recipes.sweep.config import SweepConfig


class Recipe(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)

    name: str = Field(description="Experiment name; names the output directory by default.")
    seed: int = Field(description="Seed for mixing, training and sampling: same recipe + seed -> same results.")
    output_dir: str | None = Field(None, description="Where every stage writes (default runs/<name>, relative to the working directory).")
    mix: MixConfig | None = Field(None, description="Build the training mixture.")
    train: TrainConfig | None = Field(None, description="Fine-tune a model on the mixture.")
    eval: EvalConfig | None = Field(None, description="Generate and score on code benchmarks.")
    sweep: SweepConfig | None = Field(None, description="Vary recipe keys over a grid: `codemix sweep` runs one cell per combination.")
    # Where it was read from: not a recipe value (it is not hashed), only named in messages.
    _source: Path | None = PrivateAttr(None)

    @property
    def out_dir(self) -> Path:
        """`output_dir` as a path (validation fills in runs/<name> when the recipe gives none)."""
        return Path(self.output_dir or f"runs/{self.name}")

    @property
    def source(self) -> Path | None:
        """The file this recipe was read from; None for one built in code."""
        return self._source

    def read_from(self, path: Path) -> Recipe:
        """Record the file this recipe was read from (see `source`); returns the recipe."""
        self._source = Path(path)
        return self

    @field_validator("name")
    @classmethod
    def _name_ok(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", v):
            raise ValueError("use letters, digits, '.', '_' and '-' (it names a directory)")
        return v

    @model_validator(mode="after")
    def _resolve(self) -> Recipe:
        if self.output_dir is None:
            self.output_dir = f"runs/{self.name}"
        if self.train is not None and self.mix is None:
            raise ValueError("a train section needs a mix section (the mixture to train on)")
        if self.mix is not None and self.train is not None:
            # Tokens are counted with the training tokenizer unless mix.tokens names one; a bpe
            # tokenizer is trained on the mixture, so it cannot count it (None: see MixConfig).
            model = self.train.model
            self.mix.fill_tokenizer({"byte": "byte", "model": model.path}.get(model.tokenizer.kind), model.revision)
        return self

    def resolved(self) -> dict:
        """The recipe with every default filled in: what manifests record and hashes cover."""
        return self.model_dump(mode="json")

    def hash(self) -> str:
        return hash_json(self.resolved())
