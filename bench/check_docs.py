"""Re-run the commands behind every tagged example in docs/ and report numbers that drifted.

Docs tag their examples with HTML comments (invisible on a rendered page):

* **Block form** — ``<!-- check -->`` (or ``<!-- check slow -->``) right before a code
  block, followed by the block holding its expected output::

      <!-- check -->
      ```python
      print(round(1 / 3, 4))
      ```
      ```text
      0.3333
      ```

  The code runs in a subprocess (``python`` blocks with this interpreter; ``bash`` /
  ``sh`` / ``console`` blocks with bash, ``$ `` prompts stripped, the interpreter's
  ``bin/`` first on ``PATH`` so ``recfair`` is this checkout's).  Every number of the
  expected output must appear, in order and as written, in the actual output.

* **Region form** — a command list in the marker, then prose or tables, closed by
  ``<!-- /check -->``::

      <!-- check slow
      recfair train bpr --dataset ml-100k --seed 0 --out run
      recfair audit run --groups gender
      -->
      | gender | F .1853 · M .1987 | gap .0134 |
      <!-- /check -->

  The commands run one after another (bash, in a fresh temporary folder; ``$RECFAIR_ROOT``
  is the checkout, so ``python "$RECFAIR_ROOT/bench/bench_classic.py"`` runs a bench script).  Every
  decimal number quoted in the region — outside inline code and outside code blocks
  that hold commands — must match some number of the output at the precision quoted
  (``.1853`` matches ``0.18531``; ``98%`` and integers are not checked).

In both forms numbers followed by a unit of time (``7.3 s``, ``15 ms``, ``390 items/s``)
are timings and never compared.  ``slow`` examples (ML-100K, training) are left to this
script; ``tests/test_docs.py`` runs the others on every ``make test``.

Run: .venv/bin/python bench/check_docs.py [--fast] [--file docs/fairness.md] [--list]
Exit status 1 when any example drifted or failed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC_FILES = ("README.md", "docs")

MARKER = re.compile(r"<!--\s*check(?P<slow>\s+slow)?(?P<body>[^>]*?)-->", re.S)
END_MARKER = "<!-- /check -->"
FENCE = re.compile(r"^```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^```[ \t]*$", re.S | re.M)
COMMAND_LANGS = ("python", "bash", "sh", "console", "shell")
# A number: optional sign (ASCII or Unicode minus) not glued to a word, digits with an
# optional thousands separator, optional fraction and exponent.
NUMBER = re.compile(
    r"(?<![\w.])(?P<sign>[−-])?(?P<num>(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:e[−+-]?\d+)?)(?![\w]|\.\d)",
    re.I,
)
TIME_UNIT = re.compile(r"^\s*(?:s|ms|µs|us|min|h|sec|seconds|minutes|items/s|it/s|users/s)\b", re.I)
INLINE_CODE = re.compile(r"`[^`\n]*`")

NO_OUTPUT_BLOCK = "{where}: a '<!-- check -->' marker must be followed by a code block and its output block."
EMPTY_REGION = "{where}: a '<!-- check' region needs at least one command line in the marker."
UNCLOSED = "{where}: a '<!-- check' region is not closed by '<!-- /check -->'."


@dataclass
class Example:
    """One tagged example: where it is, how to run it and what it should print."""

    path: Path
    line: int
    slow: bool
    kind: str  # "block" or "region"
    lang: str  # "python" or "bash"
    code: str
    expected: str
    problems: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        """``file:line`` of the marker, relative to the repository root."""
        try:
            rel = self.path.relative_to(ROOT)
        except ValueError:
            rel = self.path
        return f"{rel}:{self.line}"


def _numbers(text: str, *, skip_timings: bool = True) -> list[tuple[str, float, int]]:
    """``(as written, value, decimals)`` of every number in ``text``, timings left out."""
    out = []
    for m in NUMBER.finditer(text):
        num = m.group("num")
        if not num or not any(c.isdigit() for c in num):
            continue
        if skip_timings and TIME_UNIT.match(text[m.end():]):
            continue
        clean = num.replace(",", "")
        value = float(clean) * (-1.0 if m.group("sign") else 1.0)
        mantissa = clean.lower().split("e")[0]
        decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
        written = ("-" if m.group("sign") else "") + num
        out.append((written, value, decimals))
    return out


def _lang(tag: str) -> str:
    return "python" if tag == "python" else "bash"


def _block_example(path: Path, text: str, start: int, line: int, slow: bool) -> Example:
    fences = list(FENCE.finditer(text, start))[:2]
    ex = Example(path, line, slow, "block", "bash", "", "")
    if len(fences) < 2:
        ex.problems.append(NO_OUTPUT_BLOCK.format(where=ex.where))
        return ex
    ex.lang = _lang(fences[0].group("lang"))
    ex.code, ex.expected = fences[0].group("body"), fences[1].group("body")
    return ex


def _region_text(region: str) -> str:
    """The checked text of a region: command code blocks and inline code removed."""
    kept = FENCE.sub(lambda m: "" if m.group("lang") in COMMAND_LANGS else m.group("body"), region)
    return INLINE_CODE.sub("", kept)


def parse_examples(path: Path) -> list[Example]:
    """Every tagged example of one Markdown file, in order."""
    text = path.read_text(encoding="utf-8")
    examples = []
    for m in MARKER.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        slow, body = bool(m.group("slow")), m.group("body").strip()
        if not body:
            examples.append(_block_example(path, text, m.end(), line, slow))
            continue
        ex = Example(path, line, slow, "region", "bash", body, "")
        end = text.find(END_MARKER, m.end())
        if end < 0:
            ex.problems.append(UNCLOSED.format(where=ex.where))
        else:
            ex.expected = _region_text(text[m.end():end])
        examples.append(ex)
    return examples


def doc_files(root: Path = ROOT) -> list[Path]:
    """README.md and every Markdown file under docs/."""
    files = []
    for name in DOC_FILES:
        p = root / name
        files.extend(sorted(p.rglob("*.md")) if p.is_dir() else [p] if p.is_file() else [])
    return files


def run_example(ex: Example, timeout: float = 3600.0) -> tuple[int, str]:
    """Run an example's code in a fresh temporary folder; ``(exit status, stdout + stderr)``."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    env["COLUMNS"] = "200"  # rich tables: no wrapping that would split numbers
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env["RECFAIR_ROOT"] = str(ROOT)  # regions run in a temporary folder: "$RECFAIR_ROOT/bench/…" names a script
    if ex.lang == "python":
        cmd = [sys.executable, "-c", ex.code]
    else:
        lines = [ln[2:] if ln.startswith("$ ") else ln for ln in ex.code.splitlines()]
        cmd = ["bash", "-euo", "pipefail", "-c", "\n".join(lines)]
    with tempfile.TemporaryDirectory(prefix="recfair-docs-") as tmp:
        proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout + proc.stderr


def compare(ex: Example, output: str) -> list[str]:
    """What differs between the numbers quoted for ``ex`` and those in ``output`` (empty: none)."""
    got = _numbers(output)
    want = _numbers(ex.expected)
    if ex.kind == "block":
        got_w = [w for w, _, _ in got]
        want_w = [w for w, _, _ in want]
        if got_w == want_w:
            return []
        diffs = [f"quoted {a} but got {b}" for a, b in zip(want_w, got_w) if a != b][:5]
        if len(got_w) != len(want_w):
            diffs.append(f"{len(want_w)} numbers quoted, {len(got_w)} printed")
        return diffs
    values = [v for _, v, _ in got]
    missing = []
    for written, value, decimals in want:
        if decimals == 0:
            continue
        tol = 0.5 * 10.0**-decimals + 1e-12
        if not any(abs(v - value) <= tol for v in values):
            missing.append(f"quoted {written} is not in the output")
    return missing


def check(ex: Example, timeout: float = 3600.0) -> list[str]:
    """Run one example and return its problems (empty: the docs are up to date)."""
    if ex.problems:
        return list(ex.problems)
    rc, output = run_example(ex, timeout)
    if rc != 0:
        tail = "\n".join(output.strip().splitlines()[-5:])
        return [f"exit status {rc}:\n{tail}"]
    return compare(ex, output)


def main() -> int:
    """Command-line entry: check every (or every fast) tagged example and report drift."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true", help="only the examples tests/test_docs.py runs")
    ap.add_argument("--file", action="append", default=None, help="only these Markdown files")
    ap.add_argument("--list", action="store_true", help="list the tagged examples without running them")
    args = ap.parse_args()
    files = [Path(f).resolve() for f in args.file] if args.file else doc_files()
    examples = [ex for f in files for ex in parse_examples(f) if not (args.fast and ex.slow)]
    failed = 0
    for ex in examples:
        label = f"{ex.where} [{'slow' if ex.slow else 'fast'} {ex.kind}]"
        if args.list:
            print(label, ex.code.strip().splitlines()[0] if ex.code.strip() else "")
            continue
        print(f"{label} …", flush=True)
        problems = check(ex)
        failed += bool(problems)
        print("  ok" if not problems else "  DRIFT\n" + "\n".join("  - " + p for p in problems), flush=True)
    if not args.list:
        print(f"{len(examples) - failed} of {len(examples)} examples up to date")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
