"""Rate-distortion curves of results stores: which cells form a curve, which metrics they carry, the anchor.

A *curve* is the set of cells of a run that differ only along the run's rate axis (an ablation's ``rate:``),
for one stream (``full`` or a task's part ``task:<name>``); a run without a rate axis gives one curve of all
its cells per stream (e.g. several evaluate runs at different qualities).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from .store import Store

QUALITY = ("psnr", "ms_ssim", "psnr_in", "psnr_out", "ssim_in", "ssim_out")
LOWER_IS_BETTER = ("fid", "kid", "lpips", "dists")
HEAD_METRICS = ("top1", "ap", "agreement", "segm_ap", "mask_ap")


def headline_metrics(m: dict) -> dict[str, float]:
    """The heads' main figures of an aggregate (``task/head/top1``, ``.../ap``, ``.../agreement``)."""
    return {k: v for k, v in m.items() if k.count("/") >= 2 and k.rsplit("/", 1)[1] in HEAD_METRICS}


def lower_better(metric: str) -> bool:
    """FID, KID, LPIPS, DISTS (also with a proxy extractor's name: ``fid@proxy:mobilenet_v2``)."""
    return "/" not in metric and metric.split("@")[0] in LOWER_IS_BETTER


def is_task_metric(metric: str) -> bool:
    return metric.count("/") >= 2 and metric.rsplit("/", 1)[1] in HEAD_METRICS


@dataclass
class Curve:
    label: str
    """The method: run name, plus the cell group along the rate axis (``codecs: codec=jpeg``)."""
    run: str
    stream: str
    cells: list[dict] = field(default_factory=list)
    points: list[dict] = field(default_factory=list)
    """Per cell (sorted by bpp): the aggregate of this stream."""
    rate_key: str | None = None
    """The run's rate axis (an override path), if it has one."""

    def xy(self, metric: str) -> tuple[list[float], list[float]]:
        pts = [(p["bpp"], p.get(metric)) for p in self.points]
        pts = [(x, y) for x, y in pts if isinstance(y, (int, float)) and math.isfinite(y)]
        return [x for x, _ in pts], [y for _, y in pts]

    @property
    def name(self) -> str:
        """Label and stream, as plots and tables name a curve."""
        return self.label if self.stream == "full" else f"{self.label} [{self.stream}]"


def load_curves(runs: list[Path]) -> tuple[list[Curve], list[dict], str | None]:
    """Curves of every run, the runs' descriptions (with their open stores) and the first ablation's anchor."""
    from .sweep import cell_name

    curves: dict[tuple, Curve] = {}
    infos, anchor = [], None
    for run in runs:
        store = Store.open_existing(run)
        abl = store.meta("ablation") or {}
        anchor = anchor or abl.get("anchor")
        rate = abl.get("rate")
        aggs = store.aggregates()
        cells = store.cells()
        label_run = abl.get("name") or Path(run).name
        infos.append({"run": str(run), "name": label_run, "kind": store.meta("kind"), "cells": cells,
                      "last_run": store.meta("last_run"), "store": store, "rate": rate})
        one_curve = not rate and all(_rate_like(c["overrides"]) or not c["overrides"] for c in cells)
        for cell in cells:
            if rate:
                group = cell_name({k: v for k, v in cell["overrides"].items() if k != rate})
                group = "" if group == "base" else group
            else:
                group = "" if one_curve else cell["name"]
            for stream, m in aggs.get(cell["cell_id"], {}).items():
                label = f"{label_run}" + (f": {group}" if group else "")
                key = (str(run), group, stream)
                c = curves.setdefault(key, Curve(label, str(run), stream, rate_key=rate))
                c.cells.append(cell)
                c.points.append({**m, "cell": cell["name"], "cell_id": cell["cell_id"]})
    for c in curves.values():
        order = sorted(range(len(c.points)), key=lambda i: c.points[i]["bpp"])
        c.points = [c.points[i] for i in order]
        c.cells = [c.cells[i] for i in order]
    return _without_copies(list(curves.values())), infos, anchor


def _without_copies(curves: list[Curve]) -> list[Curve]:
    """A task's part that is the whole stream in every cell (whole-image baselines) is not a curve of its own."""
    full = {(c.run, c.label): {p["cell_id"]: p["bytes"] for p in c.points} for c in curves if c.stream == "full"}
    return [c for c in curves if c.stream == "full" or (c.run, c.label) not in full
            or any(full[(c.run, c.label)].get(p["cell_id"]) != p["bytes"] for p in c.points)]


def _rate_like(overrides: dict) -> bool:
    return bool(overrides) and all("quality" in k or k.endswith(".qp") for k in overrides)


def metrics_of(curves: list[Curve]) -> list[str]:
    """Task metrics first, then image quality and perception metrics, each sorted."""
    keys: dict[str, None] = {}
    for c in curves:
        for p in c.points:
            for k, v in p.items():
                if isinstance(v, (int, float)) and (k in QUALITY or lower_better(k) or is_task_metric(k)):
                    keys.setdefault(k, None)
    return sorted(keys, key=lambda k: (k.count("/") == 0, k))


def tasks_of(curves: list[Curve]) -> list[str]:
    """Task names, from the task metrics (``task/head/metric``) and the task parts (``task:<name>``)."""
    names: dict[str, None] = {}
    for m in metrics_of(curves):
        if is_task_metric(m):
            names.setdefault(m.split("/", 1)[0], None)
    for c in curves:
        if c.stream.startswith("task:"):
            names.setdefault(c.stream[len("task:"):], None)
    return list(names)


def pick_anchor(curves: list[Curve], anchor: str | None) -> list[Curve]:
    """Every stream's curve of the anchor method (the first curve's when ``anchor`` is None)."""
    if not curves:
        return []
    if anchor is None:
        first = curves[0].label
        return [c for c in curves if c.label == first]
    exact = [c for c in curves if c.label == anchor or c.label.split(": ", 1)[-1] == anchor]
    found = exact or [c for c in curves if anchor in c.label]
    if not found:
        raise InputError(f"no curve named {anchor!r} to use as the anchor",
                         "curves: " + "; ".join(sorted({c.label for c in curves})))
    label = found[0].label
    return [c for c in curves if c.label == label]


def anchor_for(curve: Curve, anchors: list[Curve]) -> Curve | None:
    """The anchor's curve of the same stream, else the anchor's full stream."""
    by_stream = {c.stream: c for c in anchors}
    return by_stream.get(curve.stream) or by_stream.get("full")


@dataclass(frozen=True)
class Unit:
    """How a metric is named, scaled and rounded on axes and in tables."""

    label: str
    unit: str = ""
    decimals: int = 2
    scale: float = 1.0
    context: str = ""
    """Where a task metric comes from: ``task/head``."""

    @property
    def full(self) -> str:
        return f"{self.label} [{self.context}]" if self.context else self.label

    def axis(self, full: bool = False) -> str:
        label = self.full if full else self.label
        return f"{label} ({self.unit})" if self.unit else label


_NAMES = {"psnr": Unit("PSNR", "dB", 2), "psnr_in": Unit("PSNR in regions", "dB", 2),
          "psnr_out": Unit("PSNR outside regions", "dB", 2), "ms_ssim": Unit("MS-SSIM", "", 4),
          "ssim_in": Unit("SSIM in regions", "", 4), "ssim_out": Unit("SSIM outside regions", "", 4),
          "fid": Unit("FID", "", 2), "kid": Unit("KID", "", 4), "lpips": Unit("LPIPS", "", 3),
          "dists": Unit("DISTS", "", 3), "bpp": Unit("rate", "bpp", 4)}


def unit_of(metric: str) -> Unit:
    """``psnr`` -> PSNR (dB); ``things/head/agreement`` -> agreement (%, scaled by 100) of ``things/head``;
    ``fid@proxy:mobilenet_v2`` -> FID@proxy:mobilenet_v2."""
    if is_task_metric(metric):
        where, name = metric.rsplit("/", 1)
        return Unit(name, "%", 1, 100.0, where)
    base, _, extractor = metric.partition("@")
    u = _NAMES.get(base, Unit(base))
    return Unit(u.label + (f"@{extractor}" if extractor else ""), u.unit, u.decimals, u.scale)
