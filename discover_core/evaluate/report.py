"""``discover report RUN... -o DIR``: RD curves per task and metric, BD tables, side-by-side pictures, HTML.

A *curve* is the set of cells of a run that differ only along the run's rate axis (an ablation's
``rate:``), for one stream (``full`` or a task's part ``task:<name>``); a run without a rate axis gives one
curve of all its cells per stream (e.g. several evaluate runs at different qualities). BD figures compare
every curve with the anchor's curve of the same stream (the anchor's ``full`` stream when it has no such
part): BD-rate and BD-<metric> on image quality, BD-rate after a monotonic fit on task metrics, BD-<metric>
(lower is better) on perception metrics.
"""

from __future__ import annotations

import html
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..images import atomic_write_bytes
from .bdmetrics import bd_quality, bd_rate
from .store import Store

QUALITY = ("psnr", "ms_ssim", "psnr_in", "psnr_out", "ssim_in", "ssim_out")
LOWER_IS_BETTER = ("fid", "kid", "lpips", "dists")
HEAD_METRICS = ("top1", "ap", "agreement", "segm_ap", "mask_ap")


def headline_metrics(m: dict) -> dict[str, float]:
    """The heads' main figures of an aggregate (``task/head/top1``, ``.../ap``, ``.../agreement``)."""
    return {k: v for k, v in m.items() if k.count("/") >= 2 and k.rsplit("/", 1)[1] in HEAD_METRICS}


@dataclass
class Curve:
    label: str
    run: str
    stream: str
    cells: list[dict] = field(default_factory=list)
    points: list[dict] = field(default_factory=list)
    """Per cell (sorted by bpp): the aggregate of this stream."""

    def xy(self, metric: str) -> tuple[list[float], list[float]]:
        pts = [(p["bpp"], p.get(metric)) for p in self.points]
        pts = [(x, y) for x, y in pts if isinstance(y, (int, float)) and math.isfinite(y)]
        return [x for x, _ in pts], [y for _, y in pts]


def load_curves(runs: list[Path]) -> tuple[list[Curve], list[dict], str | None]:
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
                      "last_run": store.meta("last_run"), "store": store})
        from .sweep import cell_name

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
                c = curves.setdefault(key, Curve(label, str(run), stream))
                c.cells.append(cell)
                c.points.append({**m, "cell": cell["name"], "cell_id": cell["cell_id"]})
    for c in curves.values():
        c.points.sort(key=lambda p: p["bpp"])
    return _without_copies(list(curves.values())), infos, anchor


def _without_copies(curves: list[Curve]) -> list[Curve]:
    """A task's part that is the whole stream in every cell (whole-image baselines) is not a curve of its own."""
    full = {(c.run, c.label): {p["cell_id"]: p["bytes"] for p in c.points} for c in curves if c.stream == "full"}
    return [c for c in curves if c.stream == "full" or (c.run, c.label) not in full
            or any(full[(c.run, c.label)].get(p["cell_id"]) != p["bytes"] for p in c.points)]


def _rate_like(overrides: dict) -> bool:
    return bool(overrides) and all("quality" in k or k.endswith(".qp") for k in overrides)


def _lower_better(metric: str) -> bool:
    """FID, KID, LPIPS, DISTS (also with a proxy extractor's name: ``fid@proxy:mobilenet_v2``)."""
    return "/" not in metric and metric.split("@")[0] in LOWER_IS_BETTER


def metrics_of(curves: list[Curve]) -> list[str]:
    keys: dict[str, None] = {}
    for c in curves:
        for p in c.points:
            for k, v in p.items():
                if isinstance(v, (int, float)) and (k in QUALITY or _lower_better(k) or k in headline_metrics(p)):
                    keys.setdefault(k, None)
    return sorted(keys, key=lambda k: (k.count("/") == 0, k))


def _plot(curves: list[Curve], metric: str, path: Path) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    drawn = 0
    for c in curves:
        xs, ys = c.xy(metric)
        if xs:
            ax.plot(xs, ys, marker="o", label=f"{c.label} [{c.stream}]")
            drawn += 1
    if not drawn:
        plt.close(fig)
        return False
    ax.set(xlabel="bpp (total bits / total pixels)", ylabel=metric, title=f"rate - {metric}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return True


def _pick_anchor(curves: list[Curve], anchor: str | None) -> list[Curve]:
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


def bd_tables(curves: list[Curve], anchor: str | None, method: str) -> list[dict]:
    anchors = _pick_anchor(curves, anchor)
    if not anchors:
        return []
    by_stream = {c.stream: c for c in anchors}
    out = []
    for metric in metrics_of(curves):
        base = metric.rsplit("/", 1)[-1].split("@")[0]
        for c in curves:
            if c in anchors:
                continue
            a = by_stream.get(c.stream) or by_stream.get("full")
            if a is None:
                continue
            ra, qa = a.xy(metric)
            rt, qt = c.xy(metric)
            if not ra or not rt:
                continue
            results = []
            if base in LOWER_IS_BETTER:
                results.append(bd_quality(ra, qa, rt, qt, method=method, metric=metric))
            elif metric in QUALITY:
                results += [bd_rate(ra, qa, rt, qt, method=method), bd_quality(ra, qa, rt, qt, method, metric)]
            else:
                results.append(bd_rate(ra, qa, rt, qt, method=method, monotonic=True))
            for r in results:
                out.append({"metric": metric, "curve": c.label, "stream": c.stream, "anchor": a.label,
                            "anchor_stream": a.stream, **r.as_dict()})
    return out


def _pictures(infos: list[dict], out_dir: Path, limit: int = 6) -> list[tuple[str, str]]:
    from PIL import Image

    from ..pictures import side_by_side

    made = []
    for info in infos:
        run = Path(info["run"])
        originals = sorted((run / "pictures" / "original").glob("*.png"))[:limit]
        store: Store = info["store"]
        sizes = {}
        for r in store.rows():
            sizes[(r["cell_id"], Path(r["image"]).stem.replace("/", "_"), r["stream"].replace(":", "-"))] = r["bpp"]
        for orig in originals:
            stem = orig.stem
            panels = []
            first = info["cells"][0]["cell_id"] if info["cells"] else None
            regions = run / "pictures" / str(first) / f"{stem}-regions.png"
            panels.append(("original + regions", Image.open(regions if regions.exists() else orig).convert("RGB")))
            for cell in info["cells"][:6]:
                for f in sorted((run / "pictures" / cell["cell_id"]).glob(f"{stem}-*.png")):
                    stream = f.stem[len(stem) + 1:]
                    if stream == "regions":
                        continue
                    b = sizes.get((cell["cell_id"], stem, stream), float("nan"))
                    panels.append((f"{cell['name'][:28]} {stream} {b:.3f} bpp", Image.open(f).convert("RGB")))
            name = f"pictures/{Path(info['run']).name}-{stem}.png"
            buf = io.BytesIO()
            side_by_side(panels[:10], height=220).save(buf, format="PNG")
            atomic_write_bytes(out_dir / name, buf.getvalue())
            made.append((f"{info['name']}: {stem}", name))
    return made


def _fmt(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.4g}"
    return str(v)


def _table(rows: list[dict], cols: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(c)))}</td>" for c in cols) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


CHECK_SCRIPT = """<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  var s = document.getElementById('load-status');
  s.textContent = ok + ' of ' + imgs.length + ' images loaded';
  s.setAttribute('data-loaded', ok); s.setAttribute('data-total', imgs.length);
});
</script>"""


def write_report(runs: list[Path], out_dir: Path, anchor: str | None = None, method: str = "akima") -> Path:
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir} is a file", "give a folder for the report")
    (out_dir / "plots").mkdir(parents=True, exist_ok=True)
    (out_dir / "pictures").mkdir(parents=True, exist_ok=True)
    curves, infos, abl_anchor = load_curves([Path(r) for r in runs])
    if not curves:
        raise InputError("the runs hold no finished cells (no aggregates)", "run discover evaluate or sweep first")
    anchor = anchor or abl_anchor
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bd = bd_tables(curves, anchor, method)
    import re

    plots = [(m, "plots/rd-" + re.sub(r"[^A-Za-z0-9_.-]", "_", m) + ".png") for m in metrics_of(curves)]
    plots = [(m, p) for m, p in plots if _plot(curves, m, out_dir / p)]
    pictures = _pictures(infos, out_dir)
    results = {"runs": [{k: v for k, v in i.items() if k != "store"} for i in infos],
               "curves": [{"label": c.label, "stream": c.stream, "points": c.points} for c in curves],
               "bd": bd, "interpolation": method, "anchor": _pick_anchor(curves, anchor)[0].label}
    atomic_write_bytes(out_dir / "results.json", json.dumps(results, indent=1, default=str).encode())
    agg_rows = [{"curve": c.label, "stream": c.stream, "cell": p["cell"], "images": p["images"], "bpp": p["bpp"],
                 "psnr": p.get("psnr"), "ms_ssim": p.get("ms_ssim"), "psnr_in": p.get("psnr_in"),
                 **{k: v for k, v in p.items() if _lower_better(k)}, **headline_metrics(p)} for c in curves for p in c.points]
    agg_cols = list(dict.fromkeys(k for r in agg_rows for k in r))
    run_rows = [{"run": i["run"], "name": i["name"], "kind": i["kind"], "cells": len(i["cells"]),
                 "dataset": i["cells"][0]["dataset_spec"] if i["cells"] else "",
                 "fingerprint": (i["cells"][0]["dataset_fingerprint"][:19] if i["cells"] else "")} for i in infos]
    bd_cols = ["metric", "curve", "stream", "anchor", "anchor_stream", "kind", "value", "method", "overlap",
               "monotonic_fit", "warning"]
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>discover report</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin-bottom:1em}}
td,th{{border:1px solid #ccc;padding:3px 6px;font-size:12px}}img{{max-width:100%}}.plots img{{width:48%}}</style>
</head><body><h1>discover report</h1><p id="load-status">images not yet loaded</p>
<h2>Runs</h2>{_table(run_rows, list(run_rows[0]))}
<h2>Dataset-level results</h2><p>bpp = total bits of all streams / total pixels; head metrics scored once
over the dataset; image quality averaged over images.</p>{_table(agg_rows, agg_cols)}
<h2>Rate-distortion curves</h2><div class="plots">{''.join(f"<img alt='{html.escape(m)}' src='{p}'>" for m, p in plots)}</div>
<h2>Bjøntegaard deltas against {html.escape(results['anchor'])}</h2>
<p>Interpolation: {html.escape(method)}. BD-rate in % (negative: fewer bits at equal quality; task metrics after
a monotonic fit); BD-&lt;metric&gt; in the metric's unit at equal rate. No figure without overlap; a warning
below 75 % overlap.</p>{_table(bd, bd_cols) if bd else '<p>no other curve to compare</p>'}
<h2>Pictures</h2>{''.join(f"<h3>{html.escape(t)}</h3><img alt='{html.escape(t)}' src='{p}'>" for t, p in pictures)}
<p>All figures: <a href="results.json">results.json</a>.</p>{CHECK_SCRIPT}</body></html>"""
    atomic_write_bytes(out_dir / "index.html", page.encode())
    return out_dir / "index.html"
