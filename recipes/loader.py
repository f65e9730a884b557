"""Find, read, override and validate recipe files; turn every problem into one clear line."""

from __future__ import annotations

import difflib
import re
import typing
from pathlib import Path
from typing import Any

from codemix.core.errors import CodemixError

BUNDLED_DIR = Path(__file__).parent / "data"


ACCELERATE_DIR = BUNDLED_DIR / "accelerate"


def bundled_recipes() -> dict[str, Path]:
    return {p.stem: p for p in sorted(BUNDLED_DIR.glob("*.yaml"))}


def bundled_accelerate_configs() -> dict[str, Path]:
    """The accelerate configs shipped for multi-GPU training: ddp, zero2, zero3, fsdp."""
    return {p.stem: p for p in sorted(ACCELERATE_DIR.glob("*.yaml"))}


def find_reference(name_or_path: str) -> Path:
    """A CSV of published numbers (`codemix report --reference`): a file, or a bundled name
    (`paper-code-mix`). A name that is neither is returned as a path, for the reader's error."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    bundled = BUNDLED_DIR / "references" / f"{name_or_path}.csv"
    return bundled if bundled.is_file() else p


def find_accelerate_config(name_or_path: str | None) -> Path | None:
    """An accelerate config by bundled name or path (None stays None: accelerate's defaults)."""
    if name_or_path is None:
        return None
    bundled = bundled_accelerate_configs()
    if name_or_path in bundled:
        return bundled[name_or_path]
    p = Path(name_or_path)
    if not p.is_file():
        raise CodemixError(f"--accelerate-config {name_or_path}: no such file and no bundled config of that name "
                           f"(bundled: {', '.join(bundled)})")
    return p


def find_recipe(name_or_path: str) -> Path:
    """A recipe by path, or by the name of a bundled recipe (`smoke` -> recipes/smoke.yaml)."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    bundled = bundled_recipes()
    if name_or_path in bundled:
        return bundled[name_or_path]
    if p.suffix in (".yaml", ".yml") or "/" in name_or_path:
        raise CodemixError(f"{name_or_path}: no such recipe file")
    raise CodemixError(f"no recipe file or bundled recipe named {name_or_path!r}; bundled: {', '.join(bundled) or 'none'}")


class _DuplicateKey(Exception):
    def __init__(self, key: str, line: int, first_line: int) -> None:
        super().__init__(key)
        self.key, self.line, self.first_line = key, line, first_line


def _strict_loader():
    """yaml.SafeLoader that rejects a key given twice in one mapping (plain PyYAML keeps the last
    one silently: a second `sources:` would replace the first without a word)."""
    import yaml

    class StrictLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen: dict = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: PyYAML reports it itself below
                    continue
                if first is not None:
                    raise _DuplicateKey(str(key), key_node.start_mark.line + 1, first)
                seen[key] = key_node.start_mark.line + 1
            return super().construct_mapping(node, deep=deep)

    return StrictLoader


def parse_yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise CodemixError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    try:
        data = yaml.load(text, Loader=_strict_loader())  # noqa: S506 (a SafeLoader subclass)
    except _DuplicateKey as e:
        raise CodemixError(f"{path}:{e.line}: duplicate key '{e.key}' (first given on line {e.first_line}); "
                           "give each key once") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise CodemixError(f"{path}{where}: invalid YAML ({getattr(e, 'problem', e)})") from None
    if data is None:
        raise CodemixError(f"{path}: empty recipe")
    if not isinstance(data, dict):
        raise CodemixError(f"{path}: a recipe is a mapping of keys (name, seed, mix, train, eval)")
    return data


_KEY_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def parse_override_key(key: str) -> tuple[str | int, ...]:
    """`mix.sources[0].path` (or `mix.sources.0.path`) -> ("mix", "sources", 0, "path")."""
    parts: list[str | int] = []
    pos = 0
    for m in _KEY_PART.finditer(key):
        if m.start() != pos and key[pos:m.start()] != ".":
            raise CodemixError(f"--set {key}: cannot read the key; write it as section.key, with list "
                               "items as key[0], e.g. mix.sources[0].path=data.jsonl")
        pos = m.end()
        if m.group(2) is not None:
            parts.append(int(m.group(2)))
        else:
            parts.append(int(m.group(1)) if m.group(1).isdigit() else m.group(1))
    if pos != len(key) or not parts:
        raise CodemixError(f"--set {key}: cannot read the key; write it as section.key, with list "
                           "items as key[0], e.g. mix.sources[0].path=data.jsonl")
    return tuple(parts)


def _list_field(root_model: Any, parts: tuple[str | int, ...]) -> str | None:
    """"list" when the schema field at `parts` holds a list (`a,b` and `a` are read as lists),
    "list-or-value" when it also takes a single value (only `a,b` is split), else None."""
    if not parts or isinstance(parts[-1], int):
        return None
    parent = _model_at(root_model, parts[:-1])
    field = getattr(parent, "model_fields", {}).get(parts[-1])
    if field is None:
        return None
    options = [field.annotation] if typing.get_origin(field.annotation) is list else typing.get_args(field.annotation)
    options = [o for o in options if o is not type(None)]
    if not any(typing.get_origin(o) is list for o in options):
        return None
    return "list" if all(typing.get_origin(o) is list for o in options) else "list-or-value"


def apply_override(data: dict[str, Any], assignment: str, root_model: Any = None) -> tuple[str | int, ...]:
    """`mix.budget=2000`, `mix.sources[0].count=5`, `eval.benchmarks=humaneval,mbpp`: values are
    parsed as YAML; a comma list given for a list field becomes a list. Returns the key's parts."""
    import yaml

    key, sep, raw = assignment.partition("=")
    if not sep or not key:
        raise CodemixError(f"--set {assignment!r}: expected KEY=VALUE, e.g. mix.budget=2000")
    parts = parse_override_key(key)
    try:
        value = yaml.safe_load(raw) if raw != "" else None
    except yaml.YAMLError:
        value = raw
    kind = _list_field(root_model, parts) if root_model is not None else None
    if kind and value is not None and not isinstance(value, list) and (kind == "list" or "," in raw):
        value = [_scalar(x.strip()) for x in raw.split(",") if x.strip()]
    node: Any = data
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        where = _format_loc(parts[: i + 1])
        if isinstance(node, list):
            if not isinstance(part, int) or part >= len(node):
                raise CodemixError(f"--set {assignment}: {where} is not an item of "
                                   f"{_format_loc(parts[:i])} (a list of {len(node)}: indices 0-{len(node) - 1})")
            if last:
                node[part] = value
            else:
                node = node[part]
        elif isinstance(node, dict):
            if isinstance(part, int):
                raise CodemixError(f"--set {assignment}: {_format_loc(parts[:i]) or 'the recipe'} is not a list")
            if last:
                node[part] = value
            else:
                if node.get(part) is None:
                    node[part] = [] if isinstance(parts[i + 1], int) else {}
                node = node[part]
        else:
            raise CodemixError(f"--set {assignment}: {_format_loc(parts[:i])} is a value, not a section")
    return parts


def _scalar(text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _model_at(model: Any, loc: tuple) -> Any:
    """The pydantic model class that holds the field at `loc` (for did-you-mean suggestions)."""
    from pydantic import BaseModel

    cls = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = cls.model_fields.get(part) if isinstance(cls, type) and issubclass(cls, BaseModel) else None
        if field is None:
            return cls
        ann = field.annotation
        candidates = [ann, *typing.get_args(ann)]
        for arg in list(candidates):
            candidates.extend(typing.get_args(arg))
        nxt = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if nxt is None:
            return cls
        cls = nxt
    return cls


def _format_loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _clean_loc(loc: tuple) -> tuple:
    """pydantic adds union/literal branch names to loc; keep only real keys and indices."""
    return tuple(p for p in loc if isinstance(p, int) or not any(c in str(p) for c in "[]()"))


def validation_message(path: Path | str, exc: Any, root_model: Any) -> str:
    """One line for a pydantic ValidationError: file, key path, problem, and a suggestion."""
    errors = exc.errors()
    err = errors[0]
    loc = _clean_loc(err["loc"])
    key = _format_loc(loc) or "(top level)"
    if err["type"] == "extra_forbidden":
        parent = _model_at(root_model, loc[:-1])
        valid = sorted(getattr(parent, "model_fields", {}))
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.5)
        hint = f" (did you mean '{close[0]}'?)" if close else f" (valid keys: {', '.join(valid)})"
        msg = f"{path}: unknown key '{key}'{hint}"
    elif err["type"] == "literal_error":
        valid = re.findall(r"'((?:[^'\\]|\\.)*)'", err.get("ctx", {}).get("expected", ""))
        close = difflib.get_close_matches(str(err.get("input")), valid, n=1, cutoff=0.5)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        msg = f"{path}: {key}: {err.get('input')!r} is not one of {err['ctx']['expected']}{hint}"
    elif err["type"] == "missing":
        msg = f"{path}: missing required key '{key}'"
    else:
        text = err["msg"].removeprefix("Value error, ")
        msg = f"{path}: {key}: {text}" if loc else f"{path}: {text}"
    if len(errors) > 1:
        msg += f" (+{len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return msg


def blamed_override(loc: tuple, overrides: list[tuple[str, tuple]]) -> str | None:
    """The --set assignment an error at `loc` comes from (the deepest one on its path), if any."""
    best = None
    for assignment, parts in overrides:
        n = min(len(parts), len(loc))
        if tuple(parts[:n]) == tuple(loc[:n]) and (best is None or len(parts) > len(best[1])):
            best = (assignment, parts)
    return best[0] if best else None


def load_recipe(name_or_path: str, overrides: list[str] | tuple[str, ...] = ()):
    """Read, override and validate a recipe. Returns (Recipe, path). An error caused by a --set
    names the override, not the file."""
    from pydantic import ValidationError

    from codemix.recipes.schema import Recipe

    path = find_recipe(name_or_path)
    data = parse_yaml(path)
    applied = [(assignment, apply_override(data, assignment, Recipe)) for assignment in overrides]
    try:
        return Recipe.model_validate(data).read_from(path), path
    except ValidationError as e:
        loc = _clean_loc(e.errors()[0]["loc"])
        blamed = blamed_override(loc, applied)
        where = f"--set {blamed}" if blamed else str(path)
        raise CodemixError(validation_message(where, e, Recipe)) from None
