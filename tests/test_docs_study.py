"""docs/study.md stays true: its TOML reference is the config classes', its cell ids the quick preset's."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "study.md"
_spec = importlib.util.spec_from_file_location("study_reference", ROOT / "bench" / "study_reference.py")
study_reference = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("study_reference", study_reference)
_spec.loader.exec_module(study_reference)

REGENERATE = "docs/study.md's TOML reference is stale: run .venv/bin/python bench/study_reference.py --write"
ROW_KEY = re.compile(r"^\| `([^`]+)` \|", re.M)


def _sections(text: str) -> dict[str, list[str]]:
    """Documented keys per ``#### `[section]``` heading of the generated reference."""
    out: dict[str, list[str]] = {}
    for block in study_reference.documented(text).split("#### ")[1:]:
        heading = block.split("\n", 1)[0].strip("`")
        out[heading] = ROW_KEY.findall(block)
    return out


def test_reference_is_generated_from_the_config_classes():
    text = DOC.read_text(encoding="utf-8")
    assert study_reference.documented(text) == study_reference.reference_markdown(), REGENERATE


def test_documented_keys_equal_the_config_fields():
    documented = _sections(DOC.read_text(encoding="utf-8"))
    expected = {heading: [f.alias or name for name, f in cls.model_fields.items()]
                for heading, cls, _ in study_reference.SECTIONS}
    assert documented == expected, REGENERATE


def test_every_preset_key_is_documented():
    import tomllib

    from recfair.study.config import PRESETS, preset_text

    documented = _sections(DOC.read_text(encoding="utf-8"))
    keys = set(documented["[study]"])
    for name in PRESETS:
        raw = tomllib.loads(preset_text(name))
        used = set(raw.get("study", {})) | {k for k in raw if k != "study"}
        assert used <= keys, (name, used - keys)
        assert set(raw["audit"]) <= set(documented["[audit]"])


def test_worked_example_cell_ids_are_the_quick_preset_plan():
    from recfair.study.config import load_study_config, preset_path
    from recfair.study.runner import plan_study

    cells = plan_study(load_study_config(preset_path("quick")))
    lines = [f"{c.cell_id}  {c.model}  {c.mitigation}  seed={c.seed}  done" for c in cells]
    text = DOC.read_text(encoding="utf-8")
    assert "\n".join(lines) in text  # the `recfair study status` output quoted in the worked example
    baseline = next(c for c in cells if c.model == "bpr" and c.mitigation == "none")
    penalised = next(c for c in cells if c.model == "bpr" and c.stage == "in")
    assert f"recfair compare qstudy {baseline.cell_id} {penalised.cell_id}" in text
