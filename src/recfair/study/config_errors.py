"""Problem lines for a study config: TOML line numbers, dotted keys, closest valid keys.

``tomllib`` keeps no positions, so :func:`key_lines` re-reads the text with a
small line scanner (table headers, array-of-table counters, ``key =`` lines)
that is enough for the files people write by hand; a key it cannot place is
reported without a line number.
"""

from __future__ import annotations

import re
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from recfair.models.config import closest_key

__all__ = ["dotted", "format_problem", "key_lines", "pydantic_problems"]

UNKNOWN_KEY = "unknown key (= {value!r}).{hint} Valid keys: {valid}."
BAD_VALUE = "{message}; got {value!r}."
DID_YOU_MEAN = " Did you mean '{close}'?"

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_.\"'-]+?)\s*=")


def _parts(text: str) -> list[str]:
    return [p.strip().strip("\"'") for p in text.split(".")]


def key_lines(text: str) -> dict[tuple, int]:
    """Map each key path (tuples; list positions as ints) to its 1-based line in ``text``."""
    out: dict[tuple, int] = {}
    counters: dict[tuple, int] = {}
    current: tuple = ()
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            path = tuple(_parts(header.group(2)))
            if header.group(1) == "[[":
                counters[path] = counters.get(path, -1) + 1
                current = path + (counters[path],)
            else:
                current = path
            out.setdefault(current, number)
            continue
        key = _KEY.match(line)
        if key and not line.lstrip().startswith("#"):
            out.setdefault(current + tuple(_parts(key.group(1))), number)
    return out


def dotted(loc: tuple) -> str:
    """``("mitigations", 1, "lambda")`` → ``mitigations[1].lambda``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _line(text: str, loc: tuple) -> int | None:
    lines = key_lines(text)
    if loc and loc[0] in ("study",):
        loc = loc[1:]
    for n in range(len(loc), 0, -1):
        for candidate in (loc[:n], ("study",) + loc[:n]):
            if candidate in lines:
                return lines[candidate]
    return None


def format_problem(source: str, text: str, loc: tuple, message: str) -> str:
    """One problem line: ``FILE:LINE: dotted.key: message``."""
    line = _line(text, loc)
    where = f"{source}:{line}" if line is not None else source
    return f"{where}: {dotted(loc)}: {message}"


def _model_at(cls: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The pydantic model class that holds the last key of ``loc`` (None if it is a free mapping)."""
    current: Any = cls
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(part) or next(
                (f for f in current.model_fields.values() if f.alias == part), None)
            if field is None:
                return None
            current = field.annotation
            continue
        current = _unwrap(current)
        if current is None:
            return None
    current = _unwrap(current) if not (isinstance(current, type) and issubclass(current, BaseModel)) else current
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """The model class inside ``list[X]``, ``X | None`` or ``dict[str, X]``."""
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, dict, typing.Union, types.UnionType):
        for arg in reversed(typing.get_args(annotation)):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                return arg
            inner = _unwrap(arg) if typing.get_origin(arg) else None
            if inner is not None:
                return inner
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _value_at(raw: Any, loc: tuple) -> Any:
    for part in loc:
        try:
            raw = raw[part]
        except (KeyError, IndexError, TypeError):
            return None
    return raw


def _valid_keys(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def pydantic_problems(exc: ValidationError, root: type[BaseModel], raw: dict, text: str, source: str) -> list[str]:
    """One problem line per pydantic error (unknown keys name the closest valid key)."""
    problems: list[str] = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        loc = tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p in ("float", "list[float]"))))
        if err["type"] == "extra_forbidden":
            owner = _model_at(root, loc[:-1])
            valid = _valid_keys(owner) if owner is not None else []
            close = closest_key(str(loc[-1]), valid)
            hint = DID_YOU_MEAN.format(close=close) if close else ""
            message = UNKNOWN_KEY.format(value=err.get("input"), hint=hint, valid=", ".join(valid))
        else:
            message = BAD_VALUE.format(message=err["msg"], value=_value_at(raw, loc) if loc else err.get("input"))
        line = format_problem(source, text, loc, message)
        if line not in problems:
            problems.append(line)
    return problems
