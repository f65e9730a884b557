"""Terminal summary of a mixture manifest: per-source table, cleaning counts, notes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SOURCE_COLUMNS = ("source", "domain", "available", "requested", "realised", "tokens", "row %", "token %", "dropped")


def format_table(headers: tuple[str, ...] | list[str], rows: list[list[Any]]) -> str:
    """Left-aligned text columns, right-aligned numbers, a rule under the header."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    numeric = [all(_is_num(r[i]) for r in cells[1:] if r[i]) and any(r[i] for r in cells[1:])
               for i in range(len(headers))]

    def line(r: list[str]) -> str:
        return "  ".join(c.rjust(w) if num else c.ljust(w) for c, w, num in zip(r, widths, numeric, strict=True)).rstrip()

    return "\n".join([line(cells[0]), "  ".join("-" * w for w in widths)] + [line(r) for r in cells[1:]])


def _is_num(s: str) -> bool:
    return s.replace(",", "").replace("+", "").replace(".", "", 1).isdigit()


def source_table(manifest: dict[str, Any]) -> str:
    """One line per source: rows and tokens drawn and each one's share of the mixture in both
    (`requested` is in the mixture's unit; manifests from before token counts show blanks)."""
    by_source = (manifest.get("tokens") or {}).get("by_source", {})
    pct = lambda v: None if v is None else f"{100 * v:.1f}"  # noqa: E731
    rows = []
    for s in manifest["sources"]:
        available = s.get("available")
        if available is not None and s.get("unlimited"):
            available = f"{available}+"  # a generator: this many were made; more on demand
        t = by_source.get(s["name"], {})
        rows.append([s["name"], s["domain"], available, s["requested"], s["realised"], t.get("tokens"),
                     pct(t.get("row_share")), pct(t.get("token_share")), s.get("dropped", 0)])
    total = (manifest.get("tokens") or {}).get("total")
    rows.append(["total", "", "", sum(s["requested"] for s in manifest["sources"]), manifest["rows"], total,
                 "", "", sum(s.get("dropped", 0) for s in manifest["sources"])])
    headers = list(SOURCE_COLUMNS)
    if manifest.get("unit") == "tokens":
        headers[3] = "requested tokens"
    return format_table(headers, rows)


def notes(manifest: dict[str, Any]) -> list[str]:
    out = []
    for s in manifest["sources"]:
        unit = manifest.get("unit", "rows")
        if s.get("shrunk"):
            got = s["realised_tokens"] if unit == "tokens" else s["realised"]
            out.append(f"source '{s['name']}': only {got} of {s['requested']} {unit} "
                       "(on_shortage: shrink); the mixture is smaller than the budget")
        if s.get("upsampled"):
            out.append(f"source '{s['name']}': {s['available']} rows for a quota of {s['requested']} {unit}; "
                       f"{s['upsampled']} rows are repeats (on_shortage: upsample)")
    return out


def cleaning_line(manifest: dict[str, Any]) -> str:
    d = manifest["decontamination"]
    if d.get("enabled"):
        per = ", ".join(f"{b} {len(ids)}" for b, ids in d["removed_ids"].items())
        how = f"{d['ngram']}-grams" + (" + signatures" if d.get("signatures", True) else "")
        decon = f"decontamination: {d['removed']} rows removed ({per}; {how})"
    else:
        decon = "decontamination: off"
    dd = manifest["dedup"]
    dedup = f"dedup: {dd['removed']} duplicates removed" if dd["method"] != "none" else "dedup: off"
    if dd.get("near"):
        dedup += f" ({dd['near']['removed']} near-duplicates at Jaccard >= {dd['near']['threshold']})"
    empty = sum(s.get("empty", 0) for s in manifest["sources"])
    return f"{decon}; {dedup}; {empty} empty rows dropped"


def contamination_rows(block: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """(headers, rows) of the source x benchmark table of removed rows: 'removed (ngram /
    signature / near-copy)' per cell; shared by `codemix mix` and `codemix report`."""
    names = block.get("benchmarks", [])
    rows = []
    for source, per in block.get("by_source", {}).items():
        cells = []
        for b in names:
            c = per.get(b)
            cells.append(f"{c['removed']} ({c['ngram']}/{c['signature']}/{c['near-copy']})" if c else "0")
        rows.append([source, *cells])
    return ["source", *[f"{b} (ngram/signature/near)" for b in names]], rows


def contamination_table(manifest: dict[str, Any]) -> str | None:
    block = (manifest.get("decontamination") or {}).get("contamination")
    if not block or not any(block.get("totals", {}).values()):
        return None
    headers, rows = contamination_rows(block)
    return "removed rows per source and benchmark (manifest: decontamination.contamination, with matched pairs)\n" \
        + format_table(headers, rows)


def summary(manifest: dict[str, Any], out_dir: Path, built: bool) -> str:
    data = Path(out_dir) / manifest["data_file"]
    head = f"mixture: {data} ({manifest['rows']} rows, content sha256 {manifest['content_hash'][:16]})"
    if not built:
        return f"up to date: {head[len('mixture: '):]}"
    parts = [source_table(manifest), cleaning_line(manifest), *filter(None, [contamination_table(manifest)]),
             *[f"note: {n}" for n in notes(manifest)], head]
    if manifest.get("diversity"):
        parts.append(diversity_line(manifest["diversity"]))
    return "\n".join(parts)


def diversity_line(block: dict[str, Any]) -> str:
    g = block["groups"]["all"]
    fmt = lambda v: "-" if v is None else f"{v:.3g}"  # noqa: E731
    return (f"diversity: vendi {fmt(g.get('vendi'))}, distinct-2 {fmt(g.get('distinct_2'))}, effective tasks "
            f"{fmt(g.get('effective_tasks'))} (embedding {block['embedding']['used']}; diversity.json, "
            f"`codemix diversity` for the table)")
