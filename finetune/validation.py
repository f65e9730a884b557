"""The trained model's loss on the mixture's validation rows (`mix.validation`), per domain.

Each row is formatted, tokenized, truncated to `train.max_length` and masked exactly as for
training (`codemix.finetune.data`: the loss is on the completion tokens only), and its loss is
the mean cross-entropy of its label tokens, the next-token shift included, as the training loss
computes it. A row whose completion does not fit max_length has no label left; training drops
such rows, and so does this (counted as `dropped`).

A domain's `mean` is the mean of its rows' losses (every row weighs the same, as every task does
in pass@k, so the per-row losses are paired scores across cells); `token_mean` weighs rows by
their label tokens, as the training loss does.

Cost, measured with the mixture-3way model (llama, hidden 128, 2 layers, bpe 1024, max_length
256): 768 rows (3 domains x 256, 12.9k label tokens) in 1.0 s on one CPU thread, tokenizing
included, batches of 32 rows sorted by length (4.7 s on two threads while other jobs held a
core): under 1% of that recipe's ~140 CPU-seconds cell.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codemix.core.progress import progress
from codemix.finetune.data import IGNORE_INDEX, completion_labels
from codemix.finetune.prompts import format_example

if TYPE_CHECKING:
    import datasets
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

VALIDATION_ROWS = "validation.jsonl"        # written by the mixing stage beside data.jsonl
VALIDATION_LOSS_FILE = "validation_loss.json"
# Rows per forward pass: with rows sorted by length a batch pads little, and 32 rows of 256
# tokens keep the logits (32 x 256 x vocab floats: 34 MB at a 1024 vocabulary, 1.3 GB at 40k) small.
BATCH_ROWS = 32


def validation_rows(mixture_dir: Path) -> datasets.Dataset | None:
    """The mixture's validation rows, or None when it has none (mix.validation off)."""
    path = Path(mixture_dir) / VALIDATION_ROWS
    if not path.is_file():
        return None
    from codemix.mixing.pipeline import load_mixture

    return load_mixture(path)


def tokenize_rows(rows: datasets.Dataset, tokenizer: PreTrainedTokenizerBase, prompt_format: str,
                  template: str | None, max_length: int) -> list[tuple[str, str, list[int], list[int]]]:
    """(id, domain, input_ids, labels) of every row that keeps a label token within max_length."""
    out = []
    for row in rows:
        prompt_text, full_text = format_example(row["prompt"], row["completion"], prompt_format, tokenizer, template)
        prompt_ids = tokenizer(prompt_text, add_special_tokens=False, verbose=False)["input_ids"]
        ids = tokenizer(full_text, add_special_tokens=False, verbose=False)["input_ids"]
        labels, _ = completion_labels(prompt_ids, ids)
        ids, labels = ids[:max_length], labels[:max_length]
        # The first label never counts: nothing predicts the first token (the shift below).
        if any(x != IGNORE_INDEX for x in labels[1:]):
            out.append((row["id"], row["domain"], ids, labels))
    return out


def row_losses(model: PreTrainedModel, examples: list[tuple[str, str, list[int], list[int]]], pad_id: int,
               batch_rows: int = BATCH_ROWS) -> list[tuple[float, int]]:
    """(mean token loss, label tokens) of each example, in the given order."""
    import torch
    import torch.nn.functional as F

    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    order = sorted(range(len(examples)), key=lambda i: len(examples[i][2]))  # little padding per batch
    results: list[tuple[float, int]] = [(math.nan, 0)] * len(examples)
    batches = [order[a:a + batch_rows] for a in range(0, len(order), batch_rows)]
    with torch.inference_mode():
        for batch in progress(batches, desc="validation loss", unit="batch"):
            width = max(len(examples[i][2]) for i in batch)
            ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
            labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for r, i in enumerate(batch):
                n = len(examples[i][2])
                ids[r, :n] = torch.tensor(examples[i][2])
                labels[r, :n] = torch.tensor(examples[i][3])
                mask[r, :n] = 1
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
            target = labels[:, 1:].to(device)
            nll = F.cross_entropy(logits[:, :-1].transpose(1, 2), target, ignore_index=IGNORE_INDEX, reduction="none")
            counts = (target != IGNORE_INDEX).sum(1)
            sums = nll.sum(1)
            for r, i in enumerate(batch):
                results[i] = (float(sums[r] / counts[r]), int(counts[r]))
    model.train(was_training)
    return results


def validation_loss(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, rows: datasets.Dataset,
                    prompt_format: str, template: str | None, max_length: int) -> dict[str, Any]:
    """The content of validation_loss.json: per domain {mean, token_mean, rows, tokens, dropped,
    row_ids}, and the loss of every row by id."""
    examples = tokenize_rows(rows, tokenizer, prompt_format, template, max_length)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    losses = row_losses(model, examples, pad_id)
    domains: dict[str, dict[str, Any]] = {}
    for d in dict.fromkeys(rows["domain"]):
        ids = [ex[0] for ex in examples if ex[1] == d]
        mine = [loss for ex, loss in zip(examples, losses, strict=True) if ex[1] == d]
        tokens = sum(t for _, t in mine)
        domains[d] = {"mean": sum(v for v, _ in mine) / len(mine) if mine else None,
                      "token_mean": sum(v * t for v, t in mine) / tokens if tokens else None,
                      "rows": len(mine), "tokens": tokens,
                      "dropped": sum(1 for x in rows["domain"] if x == d) - len(mine), "row_ids": ids}
    return {"domains": domains, "per_row": {ex[0]: loss for ex, (loss, _) in zip(examples, losses, strict=True)},
            "masking": "completion tokens only, as in training", "max_length": max_length}
