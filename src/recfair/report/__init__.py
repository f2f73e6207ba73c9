"""The study report: one self-contained HTML page (inline SVG, no script) read from a study store.

>>> from recfair.report import render_report                      # doctest: +SKIP
>>> render_report("runs/study", "runs/study/report.html")          # doctest: +SKIP
"""

from recfair.report.render import render_report

__all__ = ["render_report"]
