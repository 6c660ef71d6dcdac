"""The demo's output files: results.json, summary.md, one rate-agreement plot and one table of Bjøntegaard
figures (HTML, CSV, LaTeX) per pipeline, the HTML page."""

from __future__ import annotations

import json
from pathlib import Path

from ..evaluate.export import Table
from ..evaluate.summary import summary_json, summary_table
from ..images import atomic_write_bytes
from ..pictures import save_figure
from .loop import Run
from .page import page, set_text, timing_text
from .stats import bd_summary
from .tables import comparisons_markdown, detail_table, markdown_table


def plot(summary: list[dict], path: Path, set_heads: list[str] = (), title: str = "") -> None:
    """Agreement (and, for set-scored heads, AP against the annotations, dashed) and PSNR in regions vs bpp."""
    from matplotlib.figure import Figure

    heads = sorted({k for e in summary for k in e if k.startswith("agreement[")})
    fig = Figure(figsize=(11, 4.2), layout="tight")
    axes = fig.subplots(1, 2)
    for m in dict.fromkeys(e["method"] for e in summary):
        pts = sorted((e["bpp"], e) for e in summary if e["method"] == m)
        xs = [p[0] for p in pts]
        for hk in heads:
            line, = axes[0].plot(xs, [p[1][hk] for p in pts], marker="o", label=f"{m} {hk[len('agreement'):]}")
            ap = f"ap{hk[len('agreement'):]}"
            if any(ap in p[1] for p in pts):
                axes[0].plot(xs, [p[1].get(ap, float("nan")) for p in pts], marker="x", linestyle="--",
                             color=line.get_color(), label="_nolegend_")  # same colour; the axis names it
        axes[1].plot(xs, [p[1]["psnr_in"] for p in pts], marker="o", label=m)
    ylabel = ("agreement AP (o) / AP vs annotations (x)"
              if set_heads and len(set_heads) == len(heads) else "agreement (same answer as on the original)")
    axes[0].set(xlabel="bpp", ylabel=ylabel, title=f"{title} rate - agreement".strip(), ylim=(-0.05, 1.05))
    axes[1].set(xlabel="bpp", ylabel="PSNR inside task regions (dB)", title=f"{title} rate - region fidelity".strip())
    if not heads:
        axes[0].text(0.5, 0.5, "the pipeline has no task heads", ha="center", transform=axes[0].transAxes)
    for ax in axes:
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    save_figure(fig, path, dpi=110)


def run_json(run: Run) -> dict:
    return {
        "pipeline": run.pipeline, "task": run.task, "folder": run.folder, "qualities": list(run.qualities),
        "build_s": run.build_s, "warmup_s": run.warmup_s, "ground_s": run.ground_s(), "photos": run.photos,
        "rows": [r.__dict__ for r in run.rows], "summary": run.summary, "comparisons": run.comparisons,
        "scored_over_set": run.set_heads, "original": run.original,
        "bd_summary": [summary_json(s) for s in bd_summary(run.summary, run.task)],
    }


def bd_tables(run: Run) -> list[Table]:
    """The run's Bjøntegaard figures against whole-image AVIF, as ``discover report`` tables them."""
    return [summary_table(s, f"bd-{run.name}") for s in bd_summary(run.summary, run.task)]


def run_markdown(run: Run) -> str:
    notes = "\n\n".join(t for t in (timing_text(run), set_text(run)) if t)
    return (f"# {run.name}: pipeline '{run.pipeline_name}', task '{run.task}'\n\n{notes}\n\n"
            f"## Means over the photos\n\n{markdown_table(run.summary)}\n"
            f"## Rate at equal agreement\n\n{comparisons_markdown(run.comparisons, bd=False)}\n"
            + "".join(f"## {t.title}\n\n{t.markdown()}\n" for t in bd_tables(run)) +
            f"## Every photo\n\n{detail_table(run.rows)}")


def run_dir(out_dir: Path, run: Run) -> Path:
    return out_dir / run.folder if run.folder else out_dir


def write_reports(out_dir: Path, runs: list[Run]) -> None:
    results = {"runs": {run.name: run_json(run) for run in runs}}
    atomic_write_bytes(out_dir / "results.json", json.dumps(results, indent=1, default=float).encode())
    atomic_write_bytes(out_dir / "summary.md", "\n".join(run_markdown(run) for run in runs).encode())
    for run in runs:
        plot(run.summary, run_dir(out_dir, run) / "rate-agreement.png", run.set_heads, run.name)
    from ..evaluate.report import write_report

    # The quality points' results store of every pipeline, as ``discover report`` shows them (RD curves, BD
    # tables); the demo's own page adds the whole-image baselines and the rate at equal agreement. Its plots
    # as PNG only: ``discover report`` on the same folders writes the PDF / SVG a paper needs.
    write_report([run_dir(out_dir, run) / "evaluate" for run in runs], out_dir / "report", formats=("png",))
    tables = {run.name: "".join(t.write(out_dir, f"{run.folder}/tables" if run.folder else "tables")
                                for t in bd_tables(run)) for run in runs}
    atomic_write_bytes(out_dir / "index.html", page(runs, tables).encode())
