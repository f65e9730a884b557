"""builtin:markov -- string-rewrite tasks: apply the rule `x -> y` once, to the leftmost occurrence
of `x` in the input `z` (one step of a Markov algorithm), or return `z` unchanged when `x` does not
occur (a "no-op").

A row's prompt is `x>y|z=` and its completion the rewritten string: one token per character with
the byte tokenizer, the letters a.. plus the separators `>`, `|`, `=`. `task` is the rule id
(`r<i>` for training rule i, `h<i>` for held-out rule i) and `meta` is a JSON object
{x, y, input, output, noop, rule, split}, so a row can be checked without parsing its prompt.

Everything is decided by (parameters, seed):
- the rules: I distinct training rules and a pool of held-out rules, drawn by rejection (a length
  uniform in its range, then letters); a seeded hash reserves a share of patterns (or of (x, y)
  pairs) for held-out rules, so the two sets are disjoint by construction, whatever I is;
- the rows, in blocks of BLOCK rows with one numpy generator each (stream semantics: the first k
  rows of n = N are the rows of n = k). Splits: `train` (training rules, at the recipe's rule
  frequency), `seen` (fresh inputs for training rules, uniform over rules) and `heldout`
  (held-out rules, uniform): the last two are what the `markov` benchmark tests.
Per-row randomness is drawn in bulk with numpy (letters, lengths, positions, rule indices); only
the string assembly is a Python loop, so 10^6 rows take ~2 s (speed/markov_speed.py).
"""

from __future__ import annotations

import functools
import math
import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from codemix.core.errors import CodemixError
from codemix.mixing.builtin.draw import stable_seed
from codemix.mixing.config import MarkovConfig

LETTERS = "abcdefghijklmnopqrstuvwxyz"
SPLITS = ("train", "seen", "heldout")
BLOCK = 4096
# Rejection draws allowed per wanted rule before the rule space is declared too small.
MAX_DRAWS_PER_RULE = 200


@dataclass(frozen=True)
class RuleSet:
    train: tuple[tuple[str, str], ...]     # (x, y) of training rule i
    heldout: tuple[tuple[str, str], ...]   # (x, y) of held-out rule i
    probs: np.ndarray                      # frequency of each training rule in `train` rows

    @property
    def effective_rules(self) -> float:
        """exp(entropy) of the rule distribution: I for uniform, fewer the more skewed."""
        p = self.probs[self.probs > 0]
        return float(math.exp(-(p * np.log(p)).sum()))


# ---------------------------------------------------------------- families

def family_string(draw, family: str, length: tuple[int, int], k: tuple[int, int], letters: str) -> str:
    """A random member of `family`; `length` bounds its base string (the whole string for any)."""
    n = length[0] + int(draw() * (length[1] - length[0] + 1))
    base = "".join(letters[int(draw() * len(letters))] for _ in range(n))
    if family == "any" or not base:
        return base
    if family == "mirrored":
        return base + base[::-1]
    kk = k[0] + int(draw() * (k[1] - k[0] + 1))
    if family == "repeated":
        return "".join(c * kk for c in base)
    return base * kk  # periodic


def in_family(s: str, family: str, k: tuple[int, int]) -> bool:
    """Whether `s` is a string `family_string` can produce (the empty string is in every family)."""
    if family == "any" or not s:
        return True
    if family == "mirrored":
        return len(s) % 2 == 0 and s == s[::-1]
    for kk in range(max(k[0], 1), k[1] + 1):
        if len(s) % kk:
            continue
        if family == "repeated" and all(s[i:i + kk] == s[i] * kk for i in range(0, len(s), kk)):
            return True
        if family == "periodic" and s == s[:len(s) // kk] * kk:
            return True
    return False


# ---------------------------------------------------------------- rules

def _reserved(seed: int, key: str, fraction: float) -> bool:
    """Whether `key` (a pattern, or `x>y`) is reserved for held-out rules: a seeded hash, so the
    split is fixed before any rule is drawn and does not depend on I."""
    return stable_seed("markov-heldout", seed, key) < fraction * 2.0 ** 64


def _draw_rules(cfg: MarkovConfig, seed: int, count: int, family: str, heldout: bool) -> list[tuple[str, str]]:
    draw = random.Random(stable_seed("markov-rules", seed, "heldout" if heldout else "train")).random
    letters = LETTERS[:cfg.alphabet]
    rules: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    reserved: dict[str, bool] = {}  # the hash costs ~1 us; patterns repeat a lot across draws
    for _ in range(MAX_DRAWS_PER_RULE * count + 10_000):
        x = family_string(draw, family, cfg.pattern_length, cfg.family_k, letters)
        y = family_string(draw, family, cfg.replacement_length, cfg.family_k, letters)
        if x == y or (x, y) in seen:
            continue
        key = x if cfg.heldout_by == "pattern" else f"{x}>{y}"
        if key not in reserved:
            reserved[key] = _reserved(seed, key, cfg.heldout_fraction)
        if reserved[key] != heldout:
            continue
        seen.add((x, y))
        rules.append((x, y))
        if len(rules) == count:
            return rules
    what = "heldout_rules" if heldout else "rules"
    raise CodemixError(f"builtin:markov: could not draw {count} distinct {'held-out' if heldout else 'training'} "
                       f"rules (got {len(rules)}); the rule space (alphabet {cfg.alphabet}, pattern_length "
                       f"{list(cfg.pattern_length)}, replacement_length {list(cfg.replacement_length)}, family "
                       f"{family}) is too small for markov.{what}={count}")


def rule_probs(cfg: MarkovConfig) -> np.ndarray:
    """P(rule i) in training rows. power_law: i = floor(I * X), X ~ density alpha * x^(alpha-1)
    on [0, 1], so P(i) = ((i+1)/I)^alpha - (i/I)^alpha."""
    n = cfg.rules
    if cfg.frequency == "uniform":
        return np.full(n, 1.0 / n)
    edges = (np.arange(n + 1) / n) ** cfg.alpha
    return np.diff(edges)


@functools.lru_cache(maxsize=8)
def _rules_cached(cfg_json: str, seed: int) -> RuleSet:
    cfg = MarkovConfig.model_validate_json(cfg_json)
    train = _draw_rules(cfg, seed, cfg.rules, cfg.family, heldout=False)
    held = _draw_rules(cfg, seed, cfg.heldout_rules, cfg.heldout_family or cfg.family, heldout=True)
    return RuleSet(tuple(train), tuple(held), rule_probs(cfg))


def build_rules(cfg: MarkovConfig, seed: int) -> RuleSet:
    """The training rules and the held-out pool of this configuration and seed."""
    return _rules_cached(cfg.model_dump_json(), seed)


def apply_rule(x: str, y: str, z: str) -> str:
    """One rewrite step: the leftmost occurrence of x in z becomes y (z unchanged if x is absent)."""
    return z.replace(x, y, 1)


# ---------------------------------------------------------------- rows

def _rule_indices(cfg: MarkovConfig, seed: int, split: str, start: int, stop: int, rng: np.random.Generator,
                  n_rules: int) -> np.ndarray:
    if split != "train":
        return rng.integers(0, n_rules, stop - start)
    if cfg.examples_per_rule is not None:
        # Exact counts: rows [c*I*S, (c+1)*I*S) are a seeded permutation of S copies of every rule.
        cycle = n_rules * cfg.examples_per_rule
        out = np.empty(stop - start, np.int64)
        for c in range(start // cycle, (stop - 1) // cycle + 1):
            perm = np.random.default_rng(stable_seed("markov-cycle", seed, c)).permutation(cycle) % n_rules
            lo, hi = max(start, c * cycle), min(stop, (c + 1) * cycle)
            out[lo - start:hi - start] = perm[lo - c * cycle:hi - c * cycle]
        return out
    if cfg.frequency == "power_law":
        u = rng.random(stop - start)
        return np.minimum((n_rules * u ** (1.0 / cfg.alpha)).astype(np.int64), n_rules - 1)
    return rng.integers(0, n_rules, stop - start)


def generate_columns(cfg: MarkovConfig, n: int, seed: int, split: str = "train") -> dict[str, list]:
    """n rows as columns {instruction, response, task, meta (JSON text), x, y, input, output, noop}."""
    if split not in SPLITS:
        raise CodemixError(f"builtin:markov has no split {split!r}; available: {', '.join(SPLITS)}")
    rules = build_rules(cfg, seed)
    pool = rules.heldout if split == "heldout" else rules.train
    prefix = "h" if split == "heldout" else "r"
    letters = LETTERS[:cfg.alphabet]
    table = np.frombuffer(letters.encode(), np.uint8)
    lo, hi = cfg.input_length
    cols: dict[str, list] = {k: [] for k in ("instruction", "response", "task", "meta", "x", "y", "input", "output",
                                             "noop")}
    ins, res, task, meta = cols["instruction"], cols["response"], cols["task"], cols["meta"]
    xs, ys, zs, outs, noops = cols["x"], cols["y"], cols["input"], cols["output"], cols["noop"]
    for start in range(0, n, BLOCK):
        stop = min(n, start + BLOCK)
        m = stop - start
        rng = np.random.default_rng(stable_seed("markov-rows", seed, split, start // BLOCK))
        # Whole blocks are drawn even for a last partial one, so row i never depends on n.
        idx = _rule_indices(cfg, seed, split, start, start + BLOCK, rng, len(pool))[:m].tolist()
        noop = (rng.random(BLOCK) < cfg.noop_fraction)[:m].tolist()
        length = rng.integers(lo, hi + 1, BLOCK)[:m].tolist()
        where = rng.random(BLOCK)[:m].tolist()
        # hi letters per row: enough for a background of any length (one text, sliced per row).
        text = table[rng.integers(0, len(letters), BLOCK * hi)].tobytes().decode("ascii")
        retry = random.Random(stable_seed("markov-retry", seed, split, start // BLOCK)).random
        for j in range(m):
            i = idx[j]
            x, y = pool[i]
            size = length[j]
            if noop[j]:
                z = text[j * hi:j * hi + size]
                z = _without(x, z, size, letters, retry)
                out = z
            else:
                # The background keeps >= 1 letter when y is empty, so the output is never empty.
                bg = max(size - len(x), 1 if not y else 0)
                b = text[j * hi:j * hi + bg]
                pos = int(where[j] * (bg + 1))
                z = b[:pos] + x + b[pos:]
                out = z.replace(x, y, 1)
            rid = prefix + str(i)
            ins.append(f"{x}>{y}|{z}=")
            res.append(out)
            task.append(rid)
            flag = "true" if noop[j] else "false"
            meta.append(f'{{"x":"{x}","y":"{y}","input":"{z}","output":"{out}","noop":{flag},'
                        f'"rule":"{rid}","split":"{split}"}}')
            xs.append(x)
            ys.append(y)
            zs.append(z)
            outs.append(out)
            noops.append(noop[j])
    return cols


def _without(x: str, z: str, size: int, letters: str, draw) -> str:
    """z, or a redraw of it, that does not contain x (a no-op input). After 20 redraws (x of one
    letter in a long input), the letters other than x[0] are used, which cannot form x."""
    tries = 0
    while x in z:
        tries += 1
        pool = letters if tries < 20 else letters.replace(x[0], "")
        z = "".join(pool[int(draw() * len(pool))] for _ in range(size))
    return z


def generate_table(n: int, seed: int, split: str, options: MarkovConfig | None) -> tuple[pa.Table, dict[str, Any]]:
    """The source table (instruction, response, task, meta) and the facts the manifest records."""
    cfg = options or MarkovConfig()
    cols = generate_columns(cfg, n, seed, split)
    rules = build_rules(cfg, seed)
    table = pa.table({k: pa.array(cols[k], pa.string()) for k in ("instruction", "response", "task", "meta")})
    counts = np.bincount(np.array([int(t[1:]) for t in cols["task"]], np.int64),
                         minlength=len(rules.heldout if split == "heldout" else rules.train))
    return table, {"markov": {
        "rules": len(rules.train), "heldout_rules": len(rules.heldout), "heldout_by": cfg.heldout_by,
        "effective_rules": round(rules.effective_rules, 3),
        "rules_in_generated_rows": int((counts > 0).sum()),
        "noop_share_generated": round(sum(cols["noop"]) / n, 4) if n else None,
        "frequency": cfg.frequency, "alpha": cfg.alpha if cfg.frequency == "power_law" else None,
        "family": cfg.family}}


# ---------------------------------------------------------------- the benchmark's test set

def benchmark_rows(cfg: MarkovConfig, seed: int, n: int | None = None) -> list[dict[str, Any]]:
    """The `markov` benchmark's N examples (default cfg.test_examples): the first half on held-out
    rules (`unseen`), the rest fresh inputs for training rules (`seen`). Each row: task_id,
    prompt, reference, groups (unseen|seen, noop|applied) and meta."""
    n = cfg.test_examples if n is None else n
    out: list[dict[str, Any]] = []
    for group, split, count in (("unseen", "heldout", n // 2), ("seen", "seen", n - n // 2)):
        cols = generate_columns(cfg, count, seed, split)
        for i in range(count):
            noop = cols["noop"][i]
            out.append({"task_id": f"markov/{group}/{i}", "prompt": cols["instruction"][i],
                        "reference": cols["response"][i], "groups": [group, "noop" if noop else "applied"],
                        "meta": {"x": cols["x"][i], "y": cols["y"][i], "input": cols["input"][i],
                                 "output": cols["output"][i], "noop": noop, "rule": cols["task"][i]}})
    return out


def source_from_manifest(manifest: dict[str, Any], where: str) -> tuple[MarkovConfig, int, str]:
    """(parameters, generator seed, source name) of the builtin:markov source of a mixture, from
    its manifest: the benchmark regenerates exactly the rules the mixture was built with."""
    specs = [s for s in (manifest.get("recipe") or {}).get("mix", {}).get("sources", [])
             if s.get("path") == "builtin:markov"]
    if len(specs) != 1:
        raise CodemixError(f"{where}: the mixture has {len(specs)} builtin:markov sources; the markov benchmark "
                           "needs exactly one")
    spec = specs[0]
    report = next((r for r in manifest.get("sources", []) if r.get("name") == spec["name"]), None)
    if report is None or "seed" not in report:
        raise CodemixError(f"{where}: the manifest does not record the seed of source {spec['name']!r}; rebuild "
                           "the mixture")
    return MarkovConfig.model_validate(spec.get("markov") or {}), int(report["seed"]), spec["name"]
