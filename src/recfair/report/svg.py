"""A very small SVG plotting kit: linear scales, nice ticks, axes, marks and a legend.

The report draws its charts as inline SVG written here, so the HTML file needs
no JavaScript, no plotting library and no network, and prints sharply.  Colours
follow the Okabe–Ito palette (distinguishable with the common colour-vision
deficiencies), and series also differ by marker shape and dash pattern, so a
grey-scale print stays readable.  Every data mark carries ``class="mark"``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape
from typing import Sequence

__all__ = ["DASHES", "PALETTE", "SHAPES", "Chart", "fmt", "nice_ticks"]

#: Okabe & Ito (2008) colours, yellow last (weak on white paper).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
SHAPES = ("circle", "square", "triangle", "diamond")
DASHES = ("", "6 3", "2 3", "8 3 2 3")
GREY = "#6b6b6b"


def fmt(value: float, digits: int = 3) -> str:
    """Compact number text: ``0.123``, ``0.00956``, ``1.2e-05``, ``1234``; ``—`` for NaN/None.

    >>> fmt(0.5), fmt(-0.0), fmt(0.009561), fmt(1234.5), fmt(float("nan"))
    ('0.5', '0', '0.00956', '1234', '—')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    v = float(value)
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v:.0f}"
    return f"{v:.{digits}g}"


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering ``[lo, hi]`` (steps of 1, 2 or 5 × 10^k)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0]
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(n, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    start = math.floor(lo / step) * step
    ticks, t = [], start
    while t <= hi + step * 1e-9:
        ticks.append(0.0 if abs(t) < step * 1e-9 else round(t, 12))
        t += step
    if ticks[-1] < hi:
        ticks.append(round(t, 12))
    return ticks


@dataclass
class Chart:
    """One SVG chart with a linear x and y axis (``y`` may be categorical rows instead).

    Parameters
    ----------
    title : str
        Accessible name (``<title>`` and ``aria-label``).
    x_domain, y_domain : (lo, hi)
        Data ranges mapped onto the plot area (widened to nice ticks by :meth:`axes`).
    width, height : int
        Size in CSS pixels.
    margin : (top, right, bottom, left)
    """

    title: str
    x_domain: tuple[float, float]
    y_domain: tuple[float, float]
    width: int = 640
    height: int = 360
    margin: tuple[int, int, int, int] = (20, 20, 48, 64)
    parts: list[str] = field(default_factory=list)

    # ----------------------------------------------------------- scales
    def x(self, v: float) -> float:
        """Pixel x of data value ``v``."""
        lo, hi = self.x_domain
        left, right = self.margin[3], self.width - self.margin[1]
        return left + (v - lo) / ((hi - lo) or 1.0) * (right - left)

    def y(self, v: float) -> float:
        """Pixel y of data value ``v`` (up is larger)."""
        lo, hi = self.y_domain
        top, bottom = self.margin[0], self.height - self.margin[2]
        return bottom - (v - lo) / ((hi - lo) or 1.0) * (bottom - top)

    # ------------------------------------------------------------- axes
    def axes(self, x_label: str, y_label: str, *, x_ticks: Sequence[float] | None = None,
             y_ticks: Sequence[float] | None = None, grid: bool = True) -> "Chart":
        """Frame, ticks, grid lines and axis labels; ticks default to :func:`nice_ticks`."""
        xt = list(x_ticks) if x_ticks is not None else nice_ticks(*self.x_domain)
        yt = list(y_ticks) if y_ticks is not None else nice_ticks(*self.y_domain)
        if x_ticks is None:
            self.x_domain = (min(xt[0], self.x_domain[0]), max(xt[-1], self.x_domain[1]))
        if y_ticks is None:
            self.y_domain = (min(yt[0], self.y_domain[0]), max(yt[-1], self.y_domain[1]))
        top, right = self.margin[0], self.width - self.margin[1]
        bottom, left = self.height - self.margin[2], self.margin[3]
        out = [f'<g class="axes" font-size="11" fill="#222">']
        for t in xt:
            px = self.x(t)
            if grid:
                out.append(f'<line x1="{px:.1f}" y1="{top}" x2="{px:.1f}" y2="{bottom}" stroke="#e3e3e3"/>')
            out.append(f'<text x="{px:.1f}" y="{bottom + 16}" text-anchor="middle">{escape(fmt(t))}</text>')
        for t in yt:
            py = self.y(t)
            if grid:
                out.append(f'<line x1="{left}" y1="{py:.1f}" x2="{right}" y2="{py:.1f}" stroke="#e3e3e3"/>')
            out.append(f'<text x="{left - 6}" y="{py + 4:.1f}" text-anchor="end">{escape(fmt(t))}</text>')
        out.append(f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}" '
                   f'fill="none" stroke="#444"/>')
        out.append(f'<text x="{(left + right) / 2:.1f}" y="{self.height - 10}" text-anchor="middle" '
                   f'font-size="12">{escape(x_label)}</text>')
        out.append(f'<text transform="translate(14,{(top + bottom) / 2:.1f}) rotate(-90)" text-anchor="middle" '
                   f'font-size="12">{escape(y_label)}</text></g>')
        self.parts[:0] = out
        return self

    # ------------------------------------------------------------ marks
    def line(self, points: Sequence[tuple[float, float]], color: str, *, dash: str = "", width: float = 2.0,
             mark: bool = True, label: str = "") -> None:
        """A polyline through data points."""
        pts = " ".join(f"{self.x(a):.1f},{self.y(b):.1f}" for a, b in points if _finite(a, b))
        if not pts:
            return
        cls = ' class="mark"' if mark else ""
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        tip = f"<title>{escape(label)}</title>" if label else ""
        self.parts.append(f'<polyline{cls} points="{pts}" fill="none" stroke="{color}" '
                          f'stroke-width="{width}"{dash_attr}>{tip}</polyline>')

    def band(self, low: Sequence[tuple[float, float]], high: Sequence[tuple[float, float]], color: str, *,
             opacity: float = 0.18, label: str = "") -> None:
        """A translucent area between two lines of data points (a confidence band)."""
        pts = [(a, b) for a, b in list(low) + list(reversed(list(high))) if _finite(a, b)]
        if len(pts) < 3:
            return
        tip = f"<title>{escape(label)}</title>" if label else ""
        path = " ".join(f"{self.x(a):.1f},{self.y(b):.1f}" for a, b in pts)
        self.parts.append(f'<polygon class="band" points="{path}" fill="{color}" fill-opacity="{opacity}" '
                          f'stroke="none">{tip}</polygon>')

    def marker(self, a: float, b: float, color: str, shape: str = "circle", *, size: float = 5.0,
               label: str = "") -> None:
        """One data point drawn as a filled shape with a hover title."""
        if not _finite(a, b):
            return
        self.parts.append(shape_svg(self.x(a), self.y(b), shape, color, size, label))

    def segment(self, a0: float, b0: float, a1: float, b1: float, color: str = GREY, *, width: float = 1.5,
                dash: str = "", mark: bool = False) -> None:
        """A straight segment between two data points (CI whiskers, reference lines)."""
        if not _finite(a0, b0, a1, b1):
            return
        cls = ' class="mark"' if mark else ""
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        self.parts.append(f'<line{cls} x1="{self.x(a0):.1f}" y1="{self.y(b0):.1f}" x2="{self.x(a1):.1f}" '
                          f'y2="{self.y(b1):.1f}" stroke="{color}" stroke-width="{width}"{dash_attr}/>')

    def bar(self, a0: float, a1: float, b0: float, b1: float, color: str, *, label: str = "") -> None:
        """A filled rectangle spanning x in [a0, a1] and y in [b0, b1] (data units)."""
        if not _finite(a0, a1, b0, b1):
            return
        x0, x1 = sorted((self.x(a0), self.x(a1)))
        y0, y1 = sorted((self.y(b0), self.y(b1)))
        tip = f"<title>{escape(label)}</title>" if label else ""
        self.parts.append(f'<rect class="mark" x="{x0:.1f}" y="{y0:.1f}" width="{max(x1 - x0, 0.5):.1f}" '
                          f'height="{max(y1 - y0, 0.5):.1f}" fill="{color}">{tip}</rect>')

    def text(self, px: float, py: float, value: str, *, anchor: str = "start", size: int = 11,
             color: str = "#222", rotate: float = 0.0) -> None:
        """Text at pixel coordinates (``rotate`` degrees about its anchor point, e.g. -35 for crowded axes)."""
        turn = f' transform="rotate({rotate:g} {px:.1f} {py:.1f})"' if rotate else ""
        self.parts.append(f'<text x="{px:.1f}" y="{py:.1f}" text-anchor="{anchor}" font-size="{size}" '
                          f'fill="{color}"{turn}>{escape(value)}</text>')

    def legend(self, items: Sequence[tuple[str, str, str, str]], *, x: float | None = None, y: float | None = None) -> None:
        """Legend rows ``(label, colour, shape, dash)`` stacked at the top right of the plot."""
        px = x if x is not None else self.width - self.margin[1] - 190
        py = y if y is not None else self.margin[0] + 12
        out = ['<g class="legend">']
        for i, (label, color, shape, dash) in enumerate(items):
            yy = py + i * 16
            dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
            out.append(f'<line x1="{px:.1f}" y1="{yy:.1f}" x2="{px + 22:.1f}" y2="{yy:.1f}" stroke="{color}" '
                       f'stroke-width="2"{dash_attr}/>')
            if shape:
                out.append(shape_svg(px + 11, yy, shape, color, 4.0, "", cls=""))
            out.append(f'<text x="{px + 28:.1f}" y="{yy + 4:.1f}" font-size="11">{escape(label)}</text>')
        out.append("</g>")
        self.parts.extend(out)

    def render(self) -> str:
        """The chart as one ``<svg>`` element string."""
        title = escape(self.title)
        return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{title}" '
                f'viewBox="0 0 {self.width} {self.height}" width="{self.width}" height="{self.height}" '
                f'font-family="Helvetica, Arial, sans-serif"><title>{title}</title>'
                + "".join(self.parts) + "</svg>")


def shape_svg(px: float, py: float, shape: str, color: str, size: float, label: str, *, cls: str = "mark") -> str:
    """SVG of one marker shape centred at pixel ``(px, py)``."""
    tip = f"<title>{escape(label)}</title>" if label else ""
    c = f' class="{cls}"' if cls else ""
    style = f'fill="{color}" stroke="#fff" stroke-width="0.8"'
    if shape == "square":
        return f'<rect{c} x="{px - size:.1f}" y="{py - size:.1f}" width="{2 * size:.1f}" height="{2 * size:.1f}" {style}>{tip}</rect>'
    if shape in ("triangle", "diamond"):
        if shape == "triangle":
            pts = [(px, py - 1.2 * size), (px + 1.1 * size, py + 0.8 * size), (px - 1.1 * size, py + 0.8 * size)]
        else:
            pts = [(px, py - 1.3 * size), (px + 1.3 * size, py), (px, py + 1.3 * size), (px - 1.3 * size, py)]
        text = " ".join(f"{a:.1f},{b:.1f}" for a, b in pts)
        return f'<polygon{c} points="{text}" {style}>{tip}</polygon>'
    return f'<circle{c} cx="{px:.1f}" cy="{py:.1f}" r="{size:.1f}" {style}>{tip}</circle>'


def _finite(*values: float) -> bool:
    return all(v is not None and math.isfinite(float(v)) for v in values)
