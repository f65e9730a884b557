"""Find, read, override and validate recipe files; turn every problem into one clear line."""

from __future__ import annotations

import difflib
import typing
from pathlib import Path
from typing import Any

from mixing.errors import CodemixError

BUNDLED_DIR = Path(__file__).parent


def bundled_recipes() -> dict[str, Path]:
    return {p.stem: p for p in sorted(BUNDLED_DIR.glob("*.yaml"))}


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


def _parse_yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise CodemixError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise CodemixError(f"{path}{where}: invalid YAML ({getattr(e, 'problem', e)})") from None
    if data is None:
        raise CodemixError(f"{path}: empty recipe")
    if not isinstance(data, dict):
        raise CodemixError(f"{path}: a recipe is a mapping of keys (name, seed, mix, train, eval)")
    return data


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """`mix.budget=2000`, `mix.sources.0.count=5`: values are parsed as YAML scalars/lists."""
    import yaml

    key, sep, raw = assignment.partition("=")
    if not sep or not key:
        raise CodemixError(f"--set {assignment!r}: expected KEY=VALUE, e.g. mix.budget=2000")
    try:
        value = yaml.safe_load(raw) if raw != "" else None
    except yaml.YAMLError:
        value = raw
    parts = key.split(".")
    node: Any = data
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        where = ".".join(parts[: i + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise CodemixError(f"--set {key}: {where} is not an index of a list of {len(node)}")
            if last:
                node[int(part)] = value
            else:
                node = node[int(part)]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                if node.get(part) is None:
                    node[part] = {}
                node = node[part]
        else:
            raise CodemixError(f"--set {key}: {'.'.join(parts[:i])} is a value, not a section")


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


def validation_message(path: Path | str, exc: Any, root_model: Any) -> str:
    """One line for a pydantic ValidationError: file, key path, problem, and a suggestion."""
    errors = exc.errors()
    err = errors[0]
    # pydantic adds union/literal branch names to loc; keep only real keys and indices.
    loc = tuple(p for p in err["loc"] if isinstance(p, int) or not any(c in str(p) for c in "[]()"))
    key = _format_loc(loc) or "(top level)"
    if err["type"] == "extra_forbidden":
        parent = _model_at(root_model, loc[:-1])
        valid = sorted(getattr(parent, "model_fields", {}))
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.5)
        hint = f" (did you mean '{close[0]}'?)" if close else f" (valid keys: {', '.join(valid)})"
        msg = f"{path}: unknown key '{key}'{hint}"
    elif err["type"] == "missing":
        msg = f"{path}: missing required key '{key}'"
    else:
        text = err["msg"].removeprefix("Value error, ")
        msg = f"{path}: {key}: {text}" if loc else f"{path}: {text}"
    if len(errors) > 1:
        msg += f" (+{len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return msg


def load_recipe(name_or_path: str, overrides: list[str] | tuple[str, ...] = ()):
    """Read, override and validate a recipe. Returns (Recipe, path)."""
    from pydantic import ValidationError

    from recipes.schema import Recipe

    path = find_recipe(name_or_path)
    data = _parse_yaml(path)
    for assignment in overrides:
        apply_override(data, assignment)
    try:
        return Recipe.model_validate(data), path
    except ValidationError as e:
        raise CodemixError(validation_message(path, e, Recipe)) from None
