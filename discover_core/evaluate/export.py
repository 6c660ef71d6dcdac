"""Tables of a report as HTML, CSV, LaTeX (booktabs) and Markdown, from one :class:`Table`.

Cells are the text a reader sees, fixed precision included (:func:`number`); the CSV and LaTeX files hold
the same cells, so a table in a paper matches the page. Raw figures are in the report's ``results.json``.
"""

from __future__ import annotations

import csv
import html
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..images import atomic_write_bytes

MISSING = "—"


def number(value, decimals: int, sign: bool = False, mark: str = "") -> str:
    """``value`` with ``decimals`` digits (``+`` on positives when ``sign``), ``—`` when there is none."""
    if value is None or not isinstance(value, (int, float)) or not math.isfinite(value):
        return MISSING
    text = f"{value:+.{decimals}f}" if sign else f"{value:.{decimals}f}"
    if re.fullmatch(r"[+-]?0\.?0*", text):
        text = f"{0:.{decimals}f}"  # no "-0.0" or "+0.0"
    return text + mark


@dataclass
class Table:
    name: str
    """File stem: ``tables/<name>.csv`` and ``tables/<name>.tex``."""
    title: str
    columns: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)
    text_columns: int = 1
    """How many leading columns are text (left-aligned); the others are figures (right-aligned)."""
    align: str = ""
    """``l`` / ``r`` per column, instead of ``text_columns``."""

    def aligns(self) -> str:
        return self.align or "l" * self.text_columns + "r" * (len(self.columns) - self.text_columns)

    def csv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(self.columns)
        writer.writerows(self.rows)
        return buf.getvalue()

    def latex(self) -> str:
        align = self.aligns()
        lines = ["% " + self.title.replace("\n", " "), "\\begin{table}[t]", "\\centering", "\\small",
                 f"\\caption{{{latex_text(self.title)}}}", f"\\begin{{tabular}}{{{align}}}", "\\toprule",
                 " & ".join(latex_text(c) for c in self.columns) + " \\\\", "\\midrule"]
        lines += [" & ".join(latex_text(c) for c in row) + " \\\\" for row in self.rows]
        lines += ["\\bottomrule", "\\end{tabular}"]
        if self.notes:
            lines += ["\\par\\smallskip\\footnotesize " + " ".join(latex_text(n) for n in self.notes)]
        return "\n".join([*lines, "\\end{table}"]) + "\n"

    def markdown(self) -> str:
        def esc(c: str) -> str:
            return c.replace("|", "\\|")

        lines = ["| " + " | ".join(esc(c) for c in self.columns) + " |",
                 "|" + "".join(":---|" if a == "l" else "---:|" for a in self.aligns())]
        lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in self.rows]
        return "\n".join(lines) + "\n" + "".join(f"\n{n}\n" for n in self.notes)

    def html(self, links: str = "") -> str:
        e = html.escape
        head = "".join(f"<th>{e(c)}</th>" for c in self.columns)
        align = self.aligns()
        body = "".join("<tr>" + "".join(f"<td class='{'n' if a == 'r' else 't'}'>{e(c)}</td>"
                                         for a, c in zip(align, row)) + "</tr>" for row in self.rows)
        notes = "".join(f"<p class='note'>{e(n)}</p>" for n in self.notes)
        return (f"<table class='data' id='table-{e(self.name)}'><caption>{e(self.title)}{links}</caption>"
                f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{notes}")

    def write(self, out_dir: Path, folder: str = "tables") -> str:
        """Write ``<folder>/<name>.csv`` and ``.tex`` under ``out_dir``; the HTML table linking both."""
        (Path(out_dir) / folder).mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(Path(out_dir) / folder / f"{self.name}.csv", self.csv().encode("utf-8"))
        atomic_write_bytes(Path(out_dir) / folder / f"{self.name}.tex", self.latex().encode("utf-8"))
        links = (f" <span class='links'>(<a href='{folder}/{html.escape(self.name)}.csv'>CSV</a> · "
                 f"<a href='{folder}/{html.escape(self.name)}.tex'>LaTeX</a>)</span>")
        return self.html(links)


_LATEX_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                  "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}",
                  "—": "--", "–": "--", "×": r"$\times$", "≥": r"$\geq$", "≤": r"$\leq$", "<": r"$<$",
                  ">": r"$>$", "ø": r"{\o}", "Ø": r"{\O}", "µ": r"$\mu$"}


def latex_text(text: str) -> str:
    """Text for a LaTeX cell: special characters escaped, a leading minus as a math minus, ``*`` raised."""
    m = re.fullmatch(r"([-+]?)(\d[\d.]*)(\*?)", text)
    if m:
        sign = {"-": "$-$", "+": "$+$", "": ""}[m.group(1)]
        return sign + m.group(2) + ("\\textsuperscript{*}" if m.group(3) else "")
    out = "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)
    return re.sub(r"\*$", r"\\textsuperscript{*}", out)
