"""Rate-distortion plots sized for a paper: a column (3.5 in) and a page (7 in) wide, as PNG, PDF and SVG.

Every method (curve label) has its own colour and marker; a task's part is dashed beside the full stream's
solid line. The legend sits outside the axes (below them in a column, to the right on a page), axes carry
units (bpp, dB, %), and the rate axis can be logarithmic.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from ..pictures import save_figure
from .curves import Curve, unit_of

WIDTHS = {"column": 3.5, "page": 7.0}
"""Figure widths in inches."""
FORMATS = ("png", "pdf", "svg")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*", "h", "p")
FONT = {"column": 7.5, "page": 9.0}
LABEL_CHARS = {"column": 56, "page": 34}
"""Legend labels wrap at this many characters (a column's legend sits below the axes, a page's beside them)."""


def slug(metric: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", metric)


def _styles(curves: list[Curve]) -> dict[str, tuple[str, str]]:
    """Colour and marker of each method, in order of first appearance."""
    from matplotlib import colormaps

    colours = colormaps["tab10"].colors
    methods = list(dict.fromkeys(c.label for c in curves))
    return {m: (colours[i % len(colours)], MARKERS[i % len(MARKERS)]) for i, m in enumerate(methods)}


def rd_figure(curves: list[Curve], metric: str, width: str = "page", log_bpp: bool = False,
              anchor: str | None = None):
    """The figure of one metric against bpp over all curves that have it, or None when none has.
    ``anchor``: the method whose curves the legend marks as the anchor."""
    from matplotlib import rc_context, ticker
    from matplotlib.figure import Figure

    drawn = [(c, *c.xy(metric)) for c in curves]
    drawn = [(c, xs, ys) for c, xs, ys in drawn if xs and (not log_bpp or min(xs) > 0)]
    if not drawn:
        return None
    unit, styles = unit_of(metric), _styles(curves)
    font = FONT[width]
    labels = [textwrap.fill(c.name + (" (anchor)" if c.label == anchor else ""), LABEL_CHARS[width],
                            break_on_hyphens=False) for c, _, _ in drawn]
    ncols = 2 if width == "column" and max(len(x) for x in labels) <= LABEL_CHARS["column"] // 2 else 1
    lines = [x.count("\n") + 1 for x in labels]
    legend_rows = sum(lines) if ncols == 1 else sum(max(lines[i:i + 2]) for i in range(0, len(lines), 2))
    height = max(3.0, 0.6 + 0.17 * legend_rows) if width == "page" else 2.4 + 0.14 * legend_rows
    with rc_context({"font.size": font, "axes.labelsize": font, "legend.fontsize": font - 1,
                     "xtick.labelsize": font - 1, "ytick.labelsize": font - 1, "lines.markersize": 4,
                     "lines.linewidth": 1.2, "svg.hashsalt": "discover"}):
        fig = Figure(figsize=(WIDTHS[width], height), layout="constrained")
        ax = fig.add_subplot()
        for (c, xs, ys), label in zip(drawn, labels):
            colour, marker = styles[c.label]
            ax.plot(xs, [y * unit.scale for y in ys], color=colour, marker=marker,
                    linestyle="-" if c.stream == "full" else "--", label=label)
        ax.set_xlabel("rate (bpp)")
        ax.set_ylabel(unit.axis())
        if unit.context:
            ax.set_title(unit.context, fontsize=font - 1, loc="left")
        if log_bpp:
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
            ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        ax.grid(alpha=0.3, which="both" if log_bpp else "major")
        if width == "page":
            fig.legend(loc="outside right upper", frameon=False)
        else:
            fig.legend(loc="outside lower center", ncols=ncols, frameon=False)
    return fig


def write_plots(curves: list[Curve], metric: str, out_dir: Path, log_bpp: bool = False,
                formats: tuple[str, ...] = FORMATS, anchor: str | None = None) -> dict[str, list[str]]:
    """``plots/rd-<metric>-<width>.<format>`` for both widths; per width the paths written (relative to
    ``out_dir``), PNG first. Empty when no curve has the metric."""
    out: dict[str, list[str]] = {}
    for width in WIDTHS:
        fig = rd_figure(curves, metric, width, log_bpp, anchor)
        if fig is None:
            return {}
        stem = Path(out_dir) / "plots" / f"rd-{slug(metric)}-{width}"
        written = save_figure(fig, stem, formats, dpi=200 if width == "column" else 150)
        out[width] = [str(p.relative_to(out_dir)) for p in written]
    return out
