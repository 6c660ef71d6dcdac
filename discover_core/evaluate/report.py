"""``discover report RUN... -o DIR``: a page a paper can use, from results stores.

- one summary table per task: every method against the anchor (:mod:`.summary`), fixed precision;
- RD plots per metric, a column (3.5 in) and a page (7 in) wide, as PNG, PDF and SVG (:mod:`.plots`);
- picture strips: every cell of every curve, captions wrapped to their picture;
- details: the runs, the dataset-level figures of every cell, every curve and metric against the anchor.

Every table is also written as ``tables/<name>.csv`` and ``tables/<name>.tex`` (booktabs) and linked from
the page; every figure is in ``results.json``. Curves are described in :mod:`.curves`.
"""

from __future__ import annotations

import html
import json
import warnings
from pathlib import Path

from ..errors import InputError
from ..images import atomic_write_bytes
from .curves import (Curve, headline_metrics, load_curves, lower_better, metrics_of, pick_anchor,  # noqa: F401
                     unit_of)
from .export import Table, number
from .plots import FORMATS, write_plots
from .summary import bd_rows, detail_table, summary, summary_json, summary_table
from .store import Store

_lower_better = lower_better  # the name `discover evaluate` imports


def image_bpp(store: Store) -> dict[tuple[str, str, str], float]:
    """Each image's own bpp: ``(cell_id, picture stem, stream)`` -> bpp."""
    return {(r["cell_id"], Path(r["image"]).stem.replace("/", "_"), r["stream"]): r["bpp"] for r in store.rows()}


def _strip_rows(info: dict, curves: list[Curve], stem: str, sizes: dict) -> list[tuple[str, list]]:
    """Rows of a run's picture strip for one image: the original, then every curve with all its cells."""
    from PIL import Image

    from .sweep import cell_name

    run = Path(info["run"])

    def regions(cell: dict) -> Path:
        return run / "pictures" / cell["cell_id"] / f"{stem}-regions.png"

    def grounded(cell: dict) -> bytes:
        return regions(cell).read_bytes() if regions(cell).exists() else b""

    top = [("original", Image.open(run / "pictures" / "original" / f"{stem}.png").convert("RGB"))]
    shown = grounded(info["cells"][0]) if info["cells"] else b""
    if shown:
        top.append(("grounded regions", Image.open(regions(info["cells"][0])).convert("RGB")))
    rows = [("", top)]
    for c in curves:
        if c.run != info["run"]:
            continue
        stream = c.stream.replace(":", "-")
        panels = []
        if c.cells and grounded(c.cells[0]) not in (b"", shown):  # another analyzer: its own regions
            panels.append(("grounded regions", Image.open(regions(c.cells[0])).convert("RGB")))
        for cell in c.cells:
            f = run / "pictures" / cell["cell_id"] / f"{stem}-{stream}.png"
            if not f.exists():
                continue
            rate = c.rate_key
            name = cell_name({rate: cell["overrides"][rate]}) if rate in cell["overrides"] else cell["name"]
            b = sizes.get((cell["cell_id"], stem, c.stream))
            panels.append((f"{name}\n{number(b, 3)} bpp", Image.open(f).convert("RGB")))
        if panels:
            rows.append((c.name, panels))
    return rows


def _pictures(infos: list[dict], curves: list[Curve], out_dir: Path) -> list[tuple[str, str]]:
    """A strip per run and saved image: every cell of every curve of the run."""
    from ..images import atomic_save_image
    from ..pictures import picture_grid

    made = []
    for info in infos:
        run = Path(info["run"])
        sizes = image_bpp(info["store"])
        for orig in sorted((run / "pictures" / "original").glob("*.png")):
            rows = _strip_rows(info, curves, orig.stem, sizes)
            name = f"pictures/{run.name}-{orig.stem}.png"
            atomic_save_image(out_dir / name, picture_grid(rows, height=180))
            made.append((f"{info['name']}: {orig.stem}", name))
    return made


def _results_table(curves: list[Curve]) -> Table:
    metrics = [m for m in metrics_of(curves) if m in ("psnr", "ms_ssim", "psnr_in") or "/" in m or lower_better(m)]
    units = {m: unit_of(m) for m in metrics}
    columns = ["curve", "stream", "cell", "images", "rate (bpp)",
               *(u.axis(full=True) for u in units.values())]
    rows = [[c.label, c.stream, p["cell"], str(p["images"]), number(p["bpp"], 4),
             *(number(p[m] * units[m].scale if isinstance(p.get(m), (int, float)) else None, units[m].decimals)
               for m in metrics)] for c in curves for p in c.points]
    return Table("results", "Dataset-level results of every cell", columns, rows, text_columns=3)


def _runs_table(infos: list[dict]) -> Table:
    rows = [[i["name"], i["kind"] or "", str(len(i["cells"])), i["cells"][0]["dataset_spec"] if i["cells"] else "",
             str(i["cells"][0]["images"]) if i["cells"] else "",
             i["cells"][0]["dataset_fingerprint"][:19] if i["cells"] else "", i["run"]] for i in infos]
    return Table("runs", "Results stores in this report",
                 ["run", "kind", "cells", "dataset", "images", "dataset fingerprint", "folder"], rows,
                 align="llrlrll")


def _lead(infos: list[dict], curves: list[Curve], anchor: str, method: str) -> str:
    """The first line: what the report read, in words no one takes for a count of the dataset."""
    def one(i: dict) -> str:
        cells = len(i["cells"])
        counts = sorted({p["images"] for c in curves if c.run == i["run"] for p in c.points})
        data = ""
        if i["cells"] and counts:
            n = str(counts[0]) if len(counts) == 1 else f"{counts[0]} to {counts[-1]}"
            data = f", each cell evaluated on {n} images of dataset {i['cells'][0]['dataset_spec']}"
        return f"{i['name']} ({i['kind'] or 'run'}: {cells} cell{'s' if cells != 1 else ''}{data})"

    stores = "results store" if len(infos) == 1 else f"{len(infos)} results stores"
    return (f"This report reads {stores}: {'; '.join(one(i) for i in infos)}. Every method is compared with "
            f"{anchor} (Bjøntegaard, {method} interpolation).")


CHECK_SCRIPT = """<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var shown = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; });
  var missing = imgs.filter(function (i) { return shown.indexOf(i) < 0; }).map(function (i) {
    return i.getAttribute('src'); });
  var tables = Array.prototype.slice.call(document.querySelectorAll('table.data'));
  var okTables = tables.filter(function (t) {
    var n = t.tHead.rows[0].cells.length;
    var rows = Array.prototype.slice.call(t.tBodies[0].rows);
    var fits = !t.classList.contains('summary') ||
        t.getBoundingClientRect().right <= document.documentElement.clientWidth;
    return rows.every(function (r) { return r.cells.length === n; }) && fits;
  });
  var links = Array.prototype.slice.call(document.querySelectorAll('span.links a'));
  var okLinks = links.filter(function (a) {
    try { var x = new XMLHttpRequest(); x.open('GET', a.href, false); x.send();
          return (x.status === 200 || x.status === 0) && x.responseText.length > 0; } catch (e) { return false; }
  });
  var s = document.getElementById('load-status');
  s.textContent = 'Page check: ' + (missing.length ? shown.length + ' of ' + imgs.length +
      ' plots and picture strips displayed (missing: ' + missing.join(', ') + ')'
      : 'all ' + imgs.length + ' plots and picture strips displayed') + '; ' + okTables.length + ' of ' +
      tables.length + ' tables well-formed; ' + okLinks.length + ' of ' + links.length + ' CSV/LaTeX files readable.';
  s.setAttribute('data-loaded', shown.length); s.setAttribute('data-total', imgs.length);
  s.setAttribute('data-tables-ok', okTables.length); s.setAttribute('data-tables', tables.length);
  s.setAttribute('data-links-ok', okLinks.length); s.setAttribute('data-links', links.length);
});
</script>"""

STYLE = """body{font-family:sans-serif;margin:2em;max-width:1500px}h2{margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.4em 0 .2em}td,th{border:1px solid #ccc;padding:3px 7px;font-size:13px}
th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
caption{text-align:left;font-weight:bold;padding:4px 0}.links{font-weight:normal;font-size:12px}
.note{font-size:12px;color:#444;margin:.2em 0;max-width:1000px}.check{font-size:12px;color:#666}
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:1em}
figure{margin:0}figure img{width:100%}figcaption{font-size:12px}.strip{max-width:100%}
.detail{overflow-x:auto}"""


def _figure(metric: str, files: dict[str, list[str]]) -> str:
    e = html.escape
    links = "; ".join(f"{width} ({'3.5' if width == 'column' else '7'} in): " + " · ".join(
        f"<a href='{e(p)}'>{e(Path(p).suffix[1:].upper())}</a>" for p in paths) for width, paths in files.items())
    what = unit_of(metric).axis(full=True)
    return (f"<figure><img alt='{e(what)} against rate' src='{e(files['page'][0])}'>"
            f"<figcaption>{e(what)} against rate. {links}</figcaption></figure>")


def write_report(runs: list[Path], out_dir: Path, anchor: str | None = None, method: str = "akima",
                 log_bpp: bool = False, formats: tuple[str, ...] = FORMATS) -> Path:
    """Write the report of ``runs`` into ``out_dir``; returns its ``index.html``.

    ``log_bpp``: a logarithmic rate axis; ``formats``: the plots' files (PNG is always written first)."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir} is a file", "give a folder for the report")
    for sub in ("plots", "pictures", "tables"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    curves, infos, abl_anchor = load_curves([Path(r) for r in runs])
    if not curves:
        raise InputError("the runs hold no finished cells (no aggregates)", "run discover evaluate or sweep first")
    anchor = anchor or abl_anchor
    anchor_label = pick_anchor(curves, anchor)[0].label
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summaries = summary(curves, anchor, method)
        detail = bd_rows(curves, anchor, method)
    formats = ("png", *(f for f in formats if f != "png"))
    plots = {m: write_plots(curves, m, out_dir, log_bpp, formats, anchor_label) for m in metrics_of(curves)}
    plots = {m: f for m, f in plots.items() if f}
    pictures = _pictures(infos, curves, out_dir)
    tables = [summary_table(s, f"summary-{s['task'] or 'image-quality'}") for s in summaries]
    summary_html = "".join(t.write(out_dir).replace("class='data'", "class='data summary'", 1) for t in tables)
    if not any(t.rows for t in tables):
        summary_html += "<p>No other method to compare with the anchor.</p>"
    details = [_runs_table(infos), _results_table(curves), detail_table(detail)]
    results = {"runs": [{k: v for k, v in i.items() if k != "store"} for i in infos],
               "curves": [{"label": c.label, "stream": c.stream, "points": c.points} for c in curves],
               "summary": [summary_json(s) for s in summaries], "bd": detail, "interpolation": method,
               "anchor": anchor_label, "plots": plots, "pictures": [p for _, p in pictures],
               "tables": [f"tables/{t.name}.{x}" for t in tables + details for x in ("csv", "tex")]}
    atomic_write_bytes(out_dir / "results.json", json.dumps(results, indent=1, default=str).encode())
    e = html.escape
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>discover report</title>
<style>{STYLE}</style></head><body><h1>discover report</h1>
<p class="lead">{e(_lead(infos, curves, anchor_label, method))}</p>
<p id="load-status" class="check">Page check: not run (it needs JavaScript).</p>
<h2>Summary</h2>
<p class="note">One table per task; a row per method and stream (the full stream, or the task's part that
<code>discover extract --task</code> gives). bpp = total bits of all streams over total pixels; task metrics are
scored once over the dataset; image quality is averaged over images.</p>{summary_html}
<h2>Rate–distortion plots</h2>
<p class="note">Each plot is written {'with a logarithmic' if log_bpp else 'with a linear'} rate axis, a column
(3.5 in) and a page (7 in) wide; solid lines are full streams, dashed lines a task's part.</p>
<div class="plots">{''.join(_figure(m, f) for m, f in plots.items())}</div>
<h2>Pictures</h2>
<p class="note">For each saved image: the original and its grounded regions, then a row per curve with every
cell along its rate axis (that image's own bpp under each picture).</p>
{''.join(f"<h3>{e(t)}</h3><img class='strip' alt='{e(t)}' src='{e(p)}'>" for t, p in pictures)}
<h2>Details</h2><div class="detail">{''.join(t.write(out_dir) for t in details)}</div>
<p>All figures: <a href="results.json">results.json</a>.</p>{CHECK_SCRIPT}</body></html>"""
    atomic_write_bytes(out_dir / "index.html", page.encode())
    return out_dir / "index.html"
