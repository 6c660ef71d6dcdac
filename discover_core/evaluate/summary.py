"""Bjøntegaard figures of curves against an anchor: one summary table per task, and the per-curve detail.

The summary of a task has a row per method (each curve of the full stream or of the task's part, the anchor
aside) and, against the anchor's curve of the same stream (its full stream when it has no such part):

- BD-rate (%) on each task metric, after a monotonic fit (``bdmetrics.bd_rate(monotonic=True)``);
- where a task metric saturates and some BD-rate is undefined, a column for every method: the bpp at which
  it first reaches the anchor's best value, over the anchor's bpp there (``bdmetrics.rate_at_anchor_best``);
- BD-rate (%) and BD-<metric> (dB) on image quality (PSNR by default);
- BD-<metric> on each perception metric (FID, KID, LPIPS, DISTS; lower is better);
- the smallest overlap of the row's curves; figures below ``MIN_OVERLAP`` are marked ``*``.

Precision is fixed per figure: BD-rate 1 decimal, BD-PSNR 2, ratios 2, perception metrics their own.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from .bdmetrics import MIN_OVERLAP, BDResult, bd_quality, bd_rate, rate_at_anchor_best
from .curves import (QUALITY, Curve, anchor_for, is_task_metric, lower_better, metrics_of, pick_anchor, tasks_of,
                     unit_of)
from .export import MISSING, Table, number

UNRELIABLE = (f"* the curves overlap less than {MIN_OVERLAP:.0%} along the integration axis: the figure is "
              "unreliable.")
UNDEFINED = ("— no figure: the curves do not overlap, or a curve has fewer than 2 distinct points (a saturated "
             "task metric keeps one point after the monotonic fit).")


@dataclass
class Column:
    header: str
    metric: str
    kind: str
    """``bd-rate``, ``bd-quality`` or ``ratio``."""
    decimals: int


def _bd(kind: str, a: Curve, c: Curve, metric: str, method: str) -> BDResult | None:
    ra, qa = a.xy(metric)
    rt, qt = c.xy(metric)
    if not ra or not rt:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "bd-rate":
            return bd_rate(ra, qa, rt, qt, method=method, monotonic=is_task_metric(metric))
        return bd_quality(ra, qa, rt, qt, method=method, metric=metric)


def _columns(task: str | None, metrics: list[str], quality: tuple[str, ...]) -> list[Column]:
    task_metrics = [m for m in metrics if is_task_metric(m) and m.split("/", 1)[0] == task]
    heads = {m.split("/")[1] for m in task_metrics}
    cols = [Column(f"BD-rate {unit_of(m).label if len(heads) == 1 else m.split('/', 1)[1]} (%)", m, "bd-rate", 1)
            for m in task_metrics]
    for q in (q for q in quality if q in metrics):
        u = unit_of(q)
        cols += [Column(f"BD-rate {u.label} (%)", q, "bd-rate", 1),
                 Column(f"BD-{u.label}" + (f" ({u.unit})" if u.unit else ""), q, "bd-quality", u.decimals)]
    cols += [Column(f"BD-{unit_of(m).label}", m, "bd-quality", unit_of(m).decimals)
             for m in metrics if lower_better(m)]
    return cols


def summary(curves: list[Curve], anchor: str | None, method: str = "akima",
            quality: tuple[str, ...] = ("psnr",)) -> list[dict]:
    """Per task (``None``: no task, image quality only): the rows' raw figures and the columns."""
    anchors = pick_anchor(curves, anchor)
    if not anchors:
        return []
    metrics = metrics_of(curves)
    out = []
    for task in tasks_of(curves) or [None]:
        streams = ("full",) if task is None else ("full", f"task:{task}")
        cols = _columns(task, metrics, quality)
        rows = []
        for c in curves:
            a = anchor_for(c, anchors)
            if c.stream not in streams or any(c is x for x in anchors) or a is None:
                continue
            figures = {(col.kind, col.metric): _bd(col.kind, a, c, col.metric, method) for col in cols}
            ratios = {col.metric: rate_at_anchor_best(*a.xy(col.metric), *c.xy(col.metric))
                      for col in cols if col.kind == "bd-rate" and is_task_metric(col.metric)}
            rows.append({"method": c.label, "stream": c.stream, "anchor": a.label, "anchor_stream": a.stream,
                         "figures": figures, "ratios": ratios})
        saturated = [col.metric for col in cols if col.kind == "bd-rate" and is_task_metric(col.metric)
                     and any(_value(r["figures"].get(("bd-rate", col.metric))) is None for r in rows)]
        for m in saturated:
            at = next(i for i, col in enumerate(cols) if col.metric == m) + 1
            cols.insert(at, Column(f"bpp ratio at anchor's best {unit_of(m).label}", m, "ratio", 2))
        out.append({"task": task, "anchor": anchors[0].label, "interpolation": method, "columns": cols,
                    "rows": rows})
    return out


def _value(r: BDResult | None) -> float | None:
    return None if r is None else r.value


def summary_table(s: dict, name: str) -> Table:
    """The summary of one task as a table (method, stream, figures, smallest overlap)."""
    streams = {r["stream"] for r in s["rows"]}
    with_stream = len(streams) > 1 or streams - {"full"}
    columns = ["method", *(["stream"] if with_stream else []), *(c.header for c in s["columns"]),
               "min. overlap (%)"]
    rows, notes, unreliable, missing, bounds = [], [], False, False, False
    for r in s["rows"]:
        cells = [r["method"], *(["task part" if r["stream"].startswith("task:") else "full"] if with_stream else [])]
        overlaps = []
        for col in s["columns"]:
            if col.kind == "ratio":
                rb = r["ratios"][col.metric]
                bounds |= rb.ratio is not None and not rb.reached
                cells.append(number(rb.ratio, 2) if rb.reached or rb.ratio is None else ">" + number(rb.ratio, 2))
                continue
            f = r["figures"].get((col.kind, col.metric))
            scale = unit_of(col.metric).scale if col.kind == "bd-quality" else 1.0
            if f is None or f.value is None:
                cells.append(MISSING)
                missing = True
                continue
            overlaps.append(f.overlap)
            weak = f.overlap < MIN_OVERLAP
            unreliable |= weak
            cells.append(number(f.value * scale, col.decimals, sign=True, mark="*" if weak else ""))
        cells.append(number(100 * min(overlaps), 0) if overlaps else MISSING)
        rows.append(cells)
    anchor_note = f"Anchor: {s['anchor']}; Bjøntegaard interpolation: {s['interpolation']}. "
    anchor_note += ("BD-rate: mean rate difference at equal quality (negative: fewer bits); task metrics after a "
                    "monotonic fit. BD-<metric>: mean difference at equal rate.")
    notes.append(anchor_note)
    for col in s["columns"]:
        if col.kind == "ratio":
            u, seen = unit_of(col.metric), {}
            for r in s["rows"]:
                rb = r["ratios"][col.metric]
                if rb.anchor_best is not None:
                    seen.setdefault(r["anchor_stream"], f"{number(rb.anchor_best * u.scale, u.decimals)} {u.unit} "
                                                        f"first at {number(rb.anchor_rate, 4)} bpp")
            where = "; ".join(f"{'task part' if k.startswith('task:') else k}: {v}" if len(seen) > 1 else v
                              for k, v in seen.items())
            notes.append(f"{col.header}: the bpp at which the method first reaches the anchor's best value, over "
                         f"the anchor's bpp there (the anchor's best {u.label}: {where})."
                         + (" >r: not reached; r is the method's highest bpp over the anchor's." if bounds else ""))
    if unreliable:
        notes.append(UNRELIABLE)
    if missing:
        notes.append(UNDEFINED)
    title = (f"Task {s['task']}" if s["task"] else "Image quality") + f": Bjøntegaard figures against {s['anchor']}"
    return Table(name, title, columns, rows, notes, text_columns=2 if with_stream else 1)


def summary_json(s: dict) -> dict:
    """The raw figures of a summary (results.json)."""
    return {"task": s["task"], "anchor": s["anchor"], "interpolation": s["interpolation"],
            "rows": [{"method": r["method"], "stream": r["stream"], "anchor_stream": r["anchor_stream"],
                      "bd": [{"metric": m, **f.as_dict()} for (_, m), f in r["figures"].items() if f is not None],
                      "rate_at_anchor_best": {m: x.as_dict() for m, x in r["ratios"].items()}}
                     for r in s["rows"]]}


def bd_rows(curves: list[Curve], anchor: str | None, method: str) -> list[dict]:
    """Every metric of every curve against the anchor (the detail behind the summaries)."""
    anchors = pick_anchor(curves, anchor)
    out = []
    for metric in metrics_of(curves):
        for c in curves:
            a = anchor_for(c, anchors)
            if any(c is x for x in anchors) or a is None:
                continue
            kinds = (["bd-quality"] if lower_better(metric) else
                     ["bd-rate", "bd-quality"] if metric in QUALITY else ["bd-rate"])
            for kind in kinds:
                r = _bd(kind, a, c, metric, method)
                if r is not None:
                    out.append({"metric": metric, "curve": c.label, "stream": c.stream, "anchor": a.label,
                                "anchor_stream": a.stream, **r.as_dict()})
    return out


def detail_table(rows: list[dict]) -> Table:
    out = []
    for r in rows:
        u, v = unit_of(r["metric"]), r["value"]
        rate = r["kind"] == "bd-rate"
        value = number(v, 1, sign=True) if rate else number(None if v is None else v * u.scale, u.decimals, sign=True)
        out.append([u.full, r["curve"], r["stream"], r["anchor_stream"],
                    "BD-rate (%)" if rate else f"BD-{u.label}" + (f" ({u.unit})" if u.unit else ""),
                    value, number(100 * r["overlap"], 0), "yes" if r["monotonic_fit"] else "no", r["warning"] or ""])
    return Table("bd-detail", "Every curve and metric against the anchor",
                 ["metric", "curve", "stream", "anchor stream", "figure", "value", "overlap (%)", "monotonic fit",
                  "note"], out, align="lllllrrll")
