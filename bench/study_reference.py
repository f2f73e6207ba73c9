"""Generate the TOML reference of docs/study.md from the study's pydantic config classes.

The tables between ``<!-- study-reference -->`` and ``<!-- /study-reference -->`` in
docs/study.md are this script's output, so the documented keys, types, defaults and
allowed values are the config's own (``tests/test_docs_study.py`` checks that they
still are).

Run: .venv/bin/python bench/study_reference.py [--write | --check]
(no option: print the tables; ``--write``: replace them in docs/study.md;
``--check``: exit 1 when docs/study.md differs).
"""

from __future__ import annotations

import argparse
import sys
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from recfair.simulation.config import ArrivalConfig, ChoiceConfig, OracleConfig, SimulationConfig
from recfair.study.config import (
    AuditConfig,
    DataConfig,
    MitigationConfig,
    ProbeConfig,
    SplitConfig,
    StudyConfig,
)

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "study.md"
BEGIN, END = "<!-- study-reference -->", "<!-- /study-reference -->"

#: (heading, class, one-line introduction) of every table, in the order of a config file.
SECTIONS: tuple[tuple[str, type[BaseModel], str], ...] = (
    ("[study]", StudyConfig, "The study itself. These keys may also stand at the top of the file, before any table."),
    ("[[data]]", DataConfig, "One table per data set (an array of tables: repeat `[[data]]` for more)."),
    ("[[split]]", SplitConfig, "One table per split protocol; the study's seeds seed each split."),
    ("[[mitigations]]", MitigationConfig, "One table per mitigation."),
    ("[audit]", AuditConfig, "How every cell is audited."),
    ("[probe]", ProbeConfig, "Optional: the counterfactual probe (see below)."),
    ("[simulation]", SimulationConfig, "Optional: the feedback-loop simulation run by `recfair simulate` "
                                       "([simulation.md](simulation.md))."),
    ("[simulation.oracle]", OracleConfig, "The simulation's ground truth."),
    ("[simulation.choice]", ChoiceConfig, "How a simulated user reacts to a slate."),
    ("[simulation.arrivals]", ArrivalConfig, "New users and items arriving during the simulation."),
)

#: Meanings of the fields whose pydantic ``description`` is empty.
NOTES = {
    (StudyConfig, "metrics"): "per-user accuracy metrics evaluated and audited, each at `k`",
    (StudyConfig, "data"): "the data sets, see `[[data]]`",
    (StudyConfig, "split"): "the split protocols, see `[[split]]`",
    (StudyConfig, "mitigations"): "the mitigations, see `[[mitigations]]`",
    (StudyConfig, "audit"): "see `[audit]`",
    (StudyConfig, "probe"): "see `[probe]`; absent: no probe cells",
    (StudyConfig, "simulation"): "see `[simulation]`; `recfair simulate` runs it, `recfair study run` ignores it",
    (SplitConfig, "protocol"): "which interactions are held out ([data.md](data.md))",
    (MitigationConfig, "stage"): "pre = re-weighing, in = training penalty, post = re-ranker of stored candidates",
    (OracleConfig, "kind"): "MF fitted on every interaction, or the synthetic generator's planted affinities",
    (ChoiceConfig, "model"): "how an active user picks from the slate",
    (SimulationConfig, "oracle"): "see `[simulation.oracle]`",
    (SimulationConfig, "choice"): "see `[simulation.choice]`",
    (SimulationConfig, "arrivals"): "see `[simulation.arrivals]`",
}

SCALARS = {int: "int", float: "float", str: "string", bool: "bool"}


def type_text(annotation: Any) -> str:
    """A TOML-reader's name for ``annotation`` (``list of int``, ``float or list of float``…)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation in SCALARS:
        return SCALARS[annotation]
    if origin is typing.Literal:
        return "string"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "table"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_text(a) for a in args if a is not type(None))
    if origin is list:
        inner = args[0] if args else Any
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return "array of tables"
        return f"list of {type_text(inner)}"
    if origin is dict:
        value = args[1] if len(args) == 2 else Any
        return "tables" if typing.get_origin(value) is dict else "inline table"
    return "any"


def _literals(annotation: Any) -> list[Any]:
    """Every Literal value inside ``annotation`` (through lists and unions)."""
    if typing.get_origin(annotation) is typing.Literal:
        return list(typing.get_args(annotation))
    return [v for a in typing.get_args(annotation) for v in _literals(a)]


def toml_text(value: Any) -> str:
    """``value`` written as in a TOML file."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_text(v)}" for k, v in value.items()) + "}"
    return repr(value)


def default_text(field: Any) -> str:
    """The default as TOML, ``required``, or what leaving the key out means."""
    if field.is_required():
        return "required"
    value = field.default_factory() if field.default_factory is not None else field.default
    if value is PydanticUndefined or value is None:
        return "—"
    if isinstance(value, BaseModel):
        return "defaults"
    if isinstance(value, list) and value and isinstance(value[0], BaseModel):
        return "one, with defaults"
    return f"`{toml_text(value)}`"


def allowed_text(field: Any) -> str:
    """Literal choices and numeric / length bounds of a field."""
    parts = []
    literals = _literals(field.annotation)
    if literals:
        parts.append(", ".join(f"`{v}`" for v in literals))
    symbols = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}
    for meta in field.metadata:
        for attr, symbol in symbols.items():
            bound = getattr(meta, attr, None)
            if bound is not None:
                parts.append(f"{symbol} {bound}")
        if getattr(meta, "min_length", None):
            parts.append("not empty")
    return "; ".join(parts) or "—"


def section_table(heading: str, cls: type[BaseModel], intro: str) -> str:
    """One Markdown table: a row per field of ``cls``."""
    lines = [f"#### `{heading}`", "", intro, "", "| key | type | default | allowed | meaning |", "|---|---|---|---|---|"]
    for name, field in cls.model_fields.items():
        key = field.alias or name
        meaning = (field.description or NOTES.get((cls, name), "")).replace("|", "\\|")
        lines.append(f"| `{key}` | {type_text(field.annotation)} | {default_text(field)} | "
                     f"{allowed_text(field)} | {meaning} |")
    return "\n".join(lines)


def reference_markdown() -> str:
    """Every section's table, as it stands between the markers in docs/study.md."""
    return "\n\n".join(section_table(*s) for s in SECTIONS)


def documented(text: str) -> str:
    """The generated part of a doc page (between the markers)."""
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[start:end].strip()


def main() -> int:
    """Print, write or check the reference tables."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="replace the tables in docs/study.md")
    ap.add_argument("--check", action="store_true", help="exit 1 when docs/study.md differs")
    args = ap.parse_args()
    new = reference_markdown()
    if not (args.write or args.check):
        print(new)
        return 0
    text = DOC.read_text(encoding="utf-8")
    if args.write:
        head, tail = text.split(BEGIN, 1)[0], text.split(END, 1)[1]
        DOC.write_text(f"{head}{BEGIN}\n{new}\n{END}{tail}", encoding="utf-8")
        return 0
    same = documented(text) == new
    print("docs/study.md is up to date" if same else "docs/study.md differs: run bench/study_reference.py --write")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
