"""Render a small study's report in headless Chromium: every plot drawn, a clean console, a screenshot.

Chromium is the Debian package ``chromium``; the set-up installs it with
apt-get when it is missing and skips only when that is impossible.  The page
has no script, so *any* console line from it is a failure; a negative control
proves the console scan catches an uncaught error.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from recfair.report import render_report
from tests.report.study_fixture import build_study

CONSOLE = re.compile(r"CONSOLE|Uncaught|Failed to load resource", re.I)


def ensure_chromium() -> str:
    """Path of chromium, installing the Debian package if needed; skip when impossible."""
    found = shutil.which("chromium")
    if found:
        return found
    if shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], env=env, capture_output=True, timeout=900)
        found = shutil.which("chromium")
        if found:
            return found
    pytest.skip("chromium is not installed and cannot be installed here (needs root and apt-get)")


def run_chromium(binary: str, page: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--enable-logging=stderr",
           "--v=0", "--allow-file-access-from-files", *args, page.resolve().as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


class Plots(HTMLParser):
    """Collects, per ``<figure class="plot">``, its svg sizes and number of data marks."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: list[dict] = []
        self.depth = 0

    def handle_starttag(self, tag, attrs) -> None:
        attrs = dict(attrs)
        if tag == "figure" and attrs.get("class") == "plot":
            self.figures.append({"svgs": [], "marks": 0})
        elif self.figures and tag == "svg":
            self.figures[-1]["svgs"].append((float(attrs.get("width", 0)), float(attrs.get("height", 0))))
        elif self.figures and "mark" in (attrs.get("class") or "").split():
            self.figures[-1]["marks"] += 1


@pytest.fixture(scope="module")
def chromium() -> str:
    return ensure_chromium()


def test_report_renders_in_headless_chromium(tmp_path, chromium):
    study = build_study(tmp_path / "study")
    page = render_report(study, tmp_path / "report.html")
    dom = run_chromium(chromium, page, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    parser = Plots()
    parser.feed(dom.stdout)
    assert len(parser.figures) == 11
    for fig in parser.figures:
        assert len(fig["svgs"]) == 1 and all(w > 0 and h > 0 for w, h in fig["svgs"])
        assert fig["marks"] > 0
    console = [line for line in dom.stderr.splitlines() if CONSOLE.search(line)]
    assert console == []

    shot = tmp_path / "report.png"
    result = run_chromium(chromium, page, f"--screenshot={shot}", "--window-size=1200,2400")
    assert result.returncode == 0 and shot.stat().st_size > 50_000
    assert [line for line in result.stderr.splitlines() if CONSOLE.search(line)] == []
    from PIL import Image

    image = Image.open(shot).convert("L")
    colours = image.getcolors(maxcolors=1 << 16)
    assert image.size == (1200, 2400) and (colours is None or len(colours) > 20)  # not a blank page


def test_console_scan_catches_an_uncaught_error(tmp_path, chromium):
    page = tmp_path / "broken.html"
    page.write_text('<html><body><script>throw new Error("boom")</script></body></html>')
    result = run_chromium(chromium, page, "--dump-dom")
    assert any("Uncaught Error: boom" in line for line in result.stderr.splitlines() if CONSOLE.search(line))
