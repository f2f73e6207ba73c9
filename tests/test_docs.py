"""The user guide stays true: tagged examples print the numbers they quote, links stay inside.

The fast examples (``<!-- check -->`` markers, toy data) run here; the ML-100K ones
(``<!-- check slow ... -->``) are re-run by ``bench/check_docs.py``.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("check_docs", ROOT / "bench" / "check_docs.py")
check_docs = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("check_docs", check_docs)
_spec.loader.exec_module(check_docs)

EXAMPLES = [ex for f in check_docs.doc_files(ROOT) for ex in check_docs.parse_examples(f)]
FAST = [ex for ex in EXAMPLES if not ex.slow]
OUTSIDE = re.compile(r"METRICS\.md|ARCHITECTURE\.md|STYLE\.md|\.\./shared|/work/")


def test_there_are_fast_and_slow_examples():
    assert len(FAST) >= 3
    assert any(ex.slow for ex in EXAMPLES)
    assert not [ex.problems for ex in EXAMPLES if ex.problems]


@pytest.mark.parametrize("example", FAST, ids=[ex.where for ex in FAST])
def test_fast_example_prints_the_quoted_numbers(example):
    assert check_docs.check(example, timeout=300) == []


def _write(tmp_path: Path, text: str) -> check_docs.Example:
    doc = tmp_path / "page.md"
    doc.write_text(text, encoding="utf-8")
    (ex,) = check_docs.parse_examples(doc)
    return ex


def test_block_check_reports_a_drifted_number(tmp_path):
    ex = _write(tmp_path, "<!-- check -->\n```python\nprint(round(1 / 3, 4), 2)\n```\n```text\n0.3334 2\n```\n")
    assert check_docs.check(ex) == ["quoted 0.3334 but got 0.3333"]


def test_block_check_ignores_timings_but_not_other_numbers(tmp_path):
    code = "import time; t = time.perf_counter(); print(f'took {time.perf_counter() - t:.6f} s, ndcg 0.25')"
    ex = _write(tmp_path, f"<!-- check -->\n```python\n{code}\n```\n```\ntook 9.9 s, ndcg 0.25\n```\n")
    assert check_docs.check(ex) == []
    ex.expected = "took 9.9 s, ndcg 0.26"
    assert check_docs.check(ex) == ["quoted 0.26 but got 0.25"]


def test_region_check_matches_at_the_quoted_precision(tmp_path):
    region = "<!-- check\necho 'F 0.18531 gap -0.0149 p 5.0e-04'\n-->\nF .1853, gap −.0149, p .0005, `--x 0.7`, 98%\n<!-- /check -->\n"
    ex = _write(tmp_path, region)
    assert ex.kind == "region" and not ex.slow
    assert check_docs.check(ex) == []
    ex.expected = "F .1645 (stale), gap −.0149"
    assert check_docs.check(ex) == ["quoted .1645 is not in the output"]


def test_a_failing_command_is_reported(tmp_path):
    ex = _write(tmp_path, "<!-- check slow\nexit 3\n-->\n.5\n<!-- /check -->\n")
    assert ex.slow
    (problem,) = check_docs.check(ex)
    assert problem.startswith("exit status 3")


def test_malformed_markers_are_reported(tmp_path):
    unclosed = _write(tmp_path, "<!-- check\necho 1\n-->\n.5\n")
    assert unclosed.problems == [check_docs.UNCLOSED.format(where=unclosed.where)]
    no_output = _write(tmp_path, "<!-- check -->\n```python\nprint(1)\n```\n")
    assert no_output.problems == [check_docs.NO_OUTPUT_BLOCK.format(where=no_output.where)]


def test_docs_link_nothing_outside_the_repository():
    hits = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in check_docs.doc_files(ROOT)
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert hits == []


def test_relative_links_resolve():
    link = re.compile(r"\]\(([^)#\s]+\.md)(?:#[^)]*)?\)")
    broken = [
        f"{path.relative_to(ROOT)} → {target}"
        for path in check_docs.doc_files(ROOT)
        for target in link.findall(path.read_text(encoding="utf-8"))
        if not target.startswith("http") and not (path.parent / target).is_file()
    ]
    assert broken == []


def test_index_links_every_page():
    index = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    pages = sorted(p.name for p in (ROOT / "docs").glob("*.md") if p.name != "index.md")
    assert [p for p in pages if f"]({p})" not in index] == []
