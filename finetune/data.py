"""Read a mixture and turn its rows into token ids with completion-only labels.

We tokenize here instead of letting trl do it, for three reasons: the prompt must be built by
exactly the function evaluation uses (`codemix.finetune.prompts`), over-long rows must be counted (or
rejected) before training starts, and the masking is then testable on its own. trl receives
`input_ids` + `labels` and only packs/collates them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codemix.core.artifacts import output_problems, read_manifest
from codemix.core.errors import CodemixError
from codemix.finetune.prompts import format_example

if TYPE_CHECKING:
    import datasets
    from transformers import PreTrainedTokenizerBase

IGNORE_INDEX = -100  # the label value PyTorch's cross-entropy skips
TOKENIZE_CHUNK = 4096  # rows per batched tokenizer call


def mixture_manifest(mixture_dir: Path) -> dict[str, Any]:
    """The mixture's manifest; its `content_hash` is what a training run's inputs hash covers."""
    manifest = read_manifest(mixture_dir)
    if manifest is None:
        raise CodemixError(f"{mixture_dir}: no mixture here (manifest.json missing); run `codemix mix` first")
    if not manifest.get("content_hash"):
        raise CodemixError(f"{Path(mixture_dir) / 'manifest.json'}: no content_hash; rebuild the mixture")
    # Training on a cut or edited data file while recording the manifest's hash would make the
    # checkpoint lie about its data.
    damaged = output_problems(mixture_dir, manifest.get("outputs") or {})
    if damaged:
        raise CodemixError(f"the mixture in {mixture_dir} is damaged ({'; '.join(damaged)}); "
                           "run `codemix mix` (or `codemix train`, which rebuilds it) first")
    return manifest


def load_rows(mixture_dir: Path) -> datasets.Dataset:
    """The mixture's rows as a datasets.Dataset, through the mixing stage's own reader."""
    from codemix.mixing.pipeline import load_mixture

    rows = load_mixture(mixture_dir)
    if len(rows) == 0:
        raise CodemixError(f"{mixture_dir}: the mixture is empty (0 rows); nothing to train on")
    missing = {"prompt", "completion"} - set(rows.column_names)
    if missing:
        raise CodemixError(f"{mixture_dir}: mixture rows lack {', '.join(sorted(missing))} "
                           f"(columns: {', '.join(rows.column_names)})")
    return rows


@dataclass
class TokenizedMixture:
    dataset: datasets.Dataset              # columns: input_ids, labels
    rows: int                              # rows in the mixture
    truncated: int = 0                     # rows cut to max_length
    dropped: int = 0                       # rows whose prompt alone fills max_length (no label left)
    boundary_merges: int = 0               # rows where prompt and completion tokens merged
    tokens: int = 0                        # tokens after truncation
    label_tokens: int = 0                  # tokens that carry loss
    examples: list[str] = field(default_factory=list)  # ids of the first few truncated rows

    def overlength_line(self, max_length: int) -> str | None:
        """The one console line about rows that did not fit max_length (None: all fitted)."""
        if not self.truncated and not self.dropped:
            return None
        dropped = (f", {self.dropped} dropped (the prompt alone fills max_length: no completion token left)"
                   if self.dropped else "")
        first = f"; first truncated: {', '.join(self.examples[:3])}" if self.examples else ""
        return (f"[train] {self.truncated} of {self.rows} rows longer than train.max_length={max_length} tokens "
                f"were truncated{dropped}{first}")

    def stats(self) -> dict[str, Any]:
        return {"rows": self.rows, "trained_rows": len(self.dataset), "truncated_rows": self.truncated,
                "dropped_rows": self.dropped, "boundary_merges": self.boundary_merges,
                "tokens_per_epoch": self.tokens, "label_tokens_per_epoch": self.label_tokens}


def tokenize_row(prompt: list[dict], completion: list[dict], tokenizer: PreTrainedTokenizerBase,
                 prompt_format: str, template: str | None = None) -> tuple[list[int], list[int], bool]:
    """(input_ids, labels, prompt_merged) of one row; labels are IGNORE_INDEX on prompt tokens.

    The prompt tokens are those the prompt alone tokenizes to — what generation will feed the
    model. If the tokenizer merges the prompt's last token with the completion's first, the
    common prefix is masked instead and `prompt_merged` is True (trl does the same)."""
    prompt_text, full_text = format_example(prompt, completion, prompt_format, tokenizer, template)
    prompt_ids = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    ids = tokenizer(full_text, add_special_tokens=False)["input_ids"]
    lab, merged = completion_labels(prompt_ids, ids)
    return ids, lab, merged


def completion_labels(prompt_ids: list[int], ids: list[int]) -> tuple[list[int], bool]:
    """(labels, prompt_merged): IGNORE_INDEX on the common prefix of prompt and full ids."""
    n = 0
    limit = min(len(prompt_ids), len(ids))
    while n < limit and prompt_ids[n] == ids[n]:
        n += 1
    return [IGNORE_INDEX] * n + ids[n:], n < len(prompt_ids)


def tokenize_mixture(rows: datasets.Dataset, tokenizer: PreTrainedTokenizerBase, prompt_format: str,
                     template: str | None, max_length: int, on_overlength: str,
                     source: str = "mixture") -> TokenizedMixture:
    """Tokenize every row; truncate over-long ones (counted) or raise, per `on_overlength`."""
    import datasets

    from codemix.core.progress import progress

    input_ids: list[list[int]] = []
    labels: list[list[int]] = []
    result = TokenizedMixture(dataset=None, rows=len(rows))  # type: ignore[arg-type]
    has_id = "id" in rows.column_names
    # Rows are formatted one by one (exactly as generation will format prompts) but tokenized a
    # chunk at a time: one batched call into the Rust tokenizer instead of two per row (65k
    # markov rows: ~7 s -> ~1 s on 2 cores).
    for lo in progress(range(0, len(rows), TOKENIZE_CHUNK), desc="tokenizing", unit="chunk"):
        chunk = rows.select(range(lo, min(len(rows), lo + TOKENIZE_CHUNK)))
        row_ids, prompts, fulls = [], [], []
        for i, row in enumerate(chunk, start=lo):
            row_id = row["id"] if has_id else f"row {i + 1}"
            if not row["prompt"] or not row["completion"]:
                raise CodemixError(f"{source}: row {row_id}: empty prompt or completion")
            prompt_text, full_text = format_example(row["prompt"], row["completion"], prompt_format, tokenizer,
                                                    template)
            row_ids.append(row_id)
            prompts.append(prompt_text)
            fulls.append(full_text)
        # verbose=False: rows longer than the tokenizer's model_max_length are counted and cut to
        # train.max_length below (overlength_line reports them); transformers' "Token indices
        # sequence length is longer than the specified maximum" would say it once, without counts.
        prompt_batch = tokenizer(prompts, add_special_tokens=False, verbose=False)["input_ids"]
        full_batch = tokenizer(fulls, add_special_tokens=False, verbose=False)["input_ids"]
        for row_id, prompt_ids, ids in zip(row_ids, prompt_batch, full_batch, strict=True):
            lab, merged = completion_labels(prompt_ids, ids)
            result.boundary_merges += merged
            if len(ids) > max_length:
                if on_overlength == "error":
                    raise CodemixError(f"{source}: row {row_id} is {len(ids)} tokens, longer than "
                                       f"train.max_length={max_length} (on_overlength: error); raise max_length "
                                       "or set on_overlength: truncate")
                result.truncated += 1
                if len(result.examples) < 5:
                    result.examples.append(str(row_id))
                ids, lab = ids[:max_length], lab[:max_length]
            if all(x == IGNORE_INDEX for x in lab):
                result.dropped += 1
                continue
            input_ids.append(ids)
            labels.append(lab)
            result.tokens += len(ids)
            result.label_tokens += sum(x != IGNORE_INDEX for x in lab)
    if not input_ids:
        raise CodemixError(f"{source}: no row has a completion token left within max_length={max_length}")
    result.dataset = datasets.Dataset.from_dict({"input_ids": input_ids, "labels": labels})
    return result
