"""The demo's tables: Markdown (summary.md, logs), a rich table on a terminal, HTML from Markdown."""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from .stats import Row


def comparisons_markdown(comp: dict[str, Any], bd: bool = True) -> str:
    """Rate at equal agreement per method (and, with ``bd``, the BD-rate of PSNR in regions against AVIF)."""
    first = next(iter(comp["bpp_at_agreement"].values()), {})
    header = ["method", *(f"bpp at agreement ≥ {lv} ({h})" for h, lv_map in first.items() for lv in lv_map)]
    lines = ["| " + " | ".join(header + (["BD-rate of PSNR in regions vs AVIF"] if bd else [])) + " |"]
    ncols = lines[0].count("|") - 1
    lines.append("|" + "---|" * ncols)
    for m, per_head in comp["bpp_at_agreement"].items():
        cells = [_fmt(v) if v is not None else "not reached" for lv_map in per_head.values() for v in lv_map.values()]
        value = comp["bd_rate_psnr_in"].get(m)
        tail = ["—" if value is None else f"{value:+.1f} %"] if bd else []
        lines.append("| " + " | ".join([m, *cells, *tail]) + " |")
    return "\n".join(lines) + "\n"


def _fmt(v) -> str:
    if isinstance(v, float):
        return "—" if not np.isfinite(v) else f"{v:.4f}" if abs(v) < 10 else f"{v:.2f}"
    return str(v)


SUMMARY_COLUMNS = ("quality", "method", "bpp", "psnr_in", "psnr_out", "ms_ssim")


HEAD_COLUMNS = ("agreement[", "top1[", "agreement_ap50[", "ap[", "ap50[")
"""Per-head figures shown in the tables, in this order (results.json has them all)."""


def _summary_columns(summary: list[dict]) -> list[str]:
    extra = [k for prefix in HEAD_COLUMNS for k in sorted({k for e in summary for k in e if k.startswith(prefix)})]
    return [*SUMMARY_COLUMNS, *extra, "encode_s", "decode_s"]


def print_summary(console, summary: list[dict], title: str = "demo: means over the photos") -> None:
    from rich.table import Table

    if not console.is_terminal:  # a log file or a pipe: the Markdown table reads better than a wrapped grid
        console.print(f"{title}\n\n{markdown_table(summary)}", markup=False)
        return

    cols = _summary_columns(summary)
    table = Table(*cols, title=title, title_justify="left")
    for e in summary:
        table.add_row(*(_fmt(e.get(c, float("nan"))) for c in cols))
    console.print(table)


def markdown_table(summary: list[dict]) -> str:
    cols = _summary_columns(summary)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_fmt(e.get(c, float("nan"))) for c in cols) + " |" for e in summary]
    return "\n".join(lines) + "\n"


def detail_table(rows: list[Row]) -> str:
    """Every photo, quality point and method: bytes per chunk, bpp, fidelity inside / outside the regions."""
    heads = sorted({k for r in rows for k in r.agreement})
    cols = ["photo", "quality", "method", "bytes", "bpp", "psnr_in", "psnr_out", "ms_ssim",
            *[f"agree[{h}]" for h in heads], "bytes per chunk"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        cells = [r.photo, str(r.quality), r.method, str(r.bytes), _fmt(r.bpp), _fmt(r.metrics["psnr_in"]),
                 _fmt(r.metrics["psnr_out"]), _fmt(r.metrics["ms_ssim"]),
                 *[_agree(r.agreement.get(h)) for h in heads],
                 ", ".join(f"{k} {v}" for k, v in r.chunks.items())]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _agree(value) -> str:
    """A per-photo agreement: yes / no (same answer as on the original), or a set-scored head's own AP."""
    if isinstance(value, bool) or value is None:
        return "yes" if value else "no"
    return _fmt(float(value))


def md_to_html(md: str) -> str:
    lines = [ln.strip().strip("|").split(" | ") for ln in md.strip().splitlines() if not ln.startswith("|---")]
    head, body = lines[0], lines[1:]
    return ("<table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in head) + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in body)
            + "</table>")
