"""``discover evaluate``, ``discover sweep`` and ``discover report`` (added with ``cli.add_command``).

Errors are :class:`~.errors.DiscoverError` s (the main command prints them and exits with code 2).
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape

from .cli_common import PIPELINE, PIPELINE_HELP, Group, Outputs, console, out, progress
from .cli_engine import engine_options

RUN_HELP = "run folder (results.sqlite, pictures/; always a folder): an existing one is resumed"

DATA_HELP = ("dataset: demo | folder:DIR | coco:ANNOTATIONS.json[,images=DIR] | classes:DIR[,wnids=FILE], "
             "each with an optional ,limit=N")


def _summary(store, stats) -> None:
    from .evaluate.report import _lower_better, headline_metrics

    aggs = store.aggregates()
    out.print("[bold]dataset-level results[/bold] (bpp = total bits / total pixels; heads scored once over the "
              "dataset; PSNR / MS-SSIM averaged over images)")
    for cell in store.cells():
        out.print(f"[bold]{cell['name']}[/bold]")
        for stream, m in sorted(aggs.get(cell["cell_id"], {}).items()):
            figures = [f"bpp {m['bpp']:.4f}", f"PSNR {m.get('psnr', float('nan')):.2f}",
                       f"MS-SSIM {m.get('ms_ssim', float('nan')):.4f}"]
            figures += [f"{k.split('/', 1)[1]} {v:.3f}" for k, v in headline_metrics(m).items()]
            figures += [f"{k} {v:.4g}" for k, v in m.items() if _lower_better(k)]
            out.print(f"  {stream:<24} " + "  ".join(figures))
    rate = stats.images / stats.wall_s if stats.wall_s > 0 else float("nan")
    out.print(f"{stats.images} image evaluations in {stats.wall_s:.1f} s ({rate:.2f} images/s, models built "
              f"included); {stats.skipped} already in the store (skipped); analyzer cache: {stats.cache_hits} "
              f"hits, {stats.ground_saved_s:.2f} s of grounding saved, {stats.ground_s:.2f} s spent grounding")
    if stats.failed:
        unreadable = f" ({stats.input_errors} for their input: an unreadable image)" if stats.input_errors else ""
        out.print(f"{stats.failed} image evaluation(s) failed{unreadable}, skipped: their errors are in the store's "
                  f"failures table; run the same command again to retry them")
    out.print(f"results: {store.path}")


def perception_options(f):
    """--perception, --features, --weights-dir (shared by evaluate and sweep)."""
    f = click.option("--weights-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
                     help="folder with the perception weights files (besides the cache and torch hub folders)")(f)
    f = click.option("--features", default="inception", show_default=True,
                     help="FID / KID features: inception, or a named proxy (proxy:mobilenet_v2), labelled as such "
                          "in every output")(f)
    return click.option("--perception", default="", help="perception metrics on the CLIC view (shorter side 768, "
                        "centre crop 768, 256x256 patches for FID / KID): any of fid,kid,lpips,dists")(f)


def _log(text: str) -> None:
    if "failed after" in text:
        console.print(f"[yellow]warning:[/yellow] {escape(text)}", markup=True, highlight=False)


def _progress():
    return progress("images")


def _has_rows(store):
    """Whether a run holds finished images (then a failed command keeps its folder: the run resumes)."""
    return lambda: store is not None and store.count_rows()[0] > 0


@click.command()
@click.option("-c", "--config", "config", type=PIPELINE, default=None,
              help=f"the {PIPELINE_HELP}; default: the built-in default pipeline")
@click.option("--data", "data", default="demo", show_default=True, help=DATA_HELP)
@click.option("-o", "--output", "run", type=click.Path(path_type=Path), required=True, help=RUN_HELP)
@click.option("--device", default="cpu", show_default=True)
@click.option("--no-analyzer-cache", is_flag=True, help="ground every image again (for timing)")
@click.option("--pictures", default=6, show_default=True, help="save reconstructions of the first N images")
@perception_options
@engine_options
def evaluate(config, data, run, device, no_analyzer_cache, pictures, perception, features, weights_dir, engine):
    """Evaluate a pipeline over a dataset: per image and task rows, dataset-level aggregates, resumable."""
    from .builtin import default_pipeline_path
    from .evaluate import open_dataset, open_run, run_cells, single_cell
    from .pipeline import load_pipeline

    with Outputs() as outputs:
        outputs.check(run)  # a file or an unwritable folder is refused before any model is built
        pipeline = load_pipeline(config or default_pipeline_path(), device=device)
        dataset = open_dataset(data)
        opts, store = open_run(run, "evaluate", analyzer_cache=not no_analyzer_cache, pictures=pictures,
                               perception=perception, features=features, weights_dir=weights_dir)
        outputs.keep(_has_rows(store))
        stats = run_cells([single_cell(pipeline)], dataset, store, opts, progress=_progress, log=_log,
                          engine=engine.evaluate_engine())
    _summary(store, stats)
    if stats.exit_code:  # an image that could not be read: 2, as encode
        raise SystemExit(stats.exit_code)


@click.command()
@click.argument("ablation", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--data", "data", default=None, help=DATA_HELP + " (default: the ablation file's data, else demo)")
@click.option("-o", "--output", "run", type=click.Path(path_type=Path), required=True, help=RUN_HELP)
@click.option("--device", default="cpu", show_default=True)
@click.option("--no-analyzer-cache", is_flag=True, help="ground every image again in every cell (for timing)")
@click.option("--pictures", default=3, show_default=True, help="save reconstructions of the first N images")
@perception_options
@engine_options
def sweep(ablation, data, run, device, no_analyzer_cache, pictures, perception, features, weights_dir, engine):
    """Run an ablation grid (base pipeline + overrides by path): validated first, resumable, cached grounding."""
    from .evaluate import load_ablation, open_dataset, open_run, run_cells

    with Outputs() as outputs:
        outputs.check(run)
        abl = load_ablation(ablation, device=device)
        dataset = open_dataset(data or abl.data or "demo")
        meta = {"ablation": {"name": abl.name, "rate": abl.rate, "anchor": abl.anchor, "axes": abl.axes,
                             "file": str(ablation)}}
        opts, store = open_run(run, "sweep", analyzer_cache=not no_analyzer_cache, pictures=pictures,
                               perception=perception, features=features, weights_dir=weights_dir, meta=meta)
        outputs.keep(_has_rows(store))
        console.print(f"{abl.name}: {len(abl.cells)} cells x {len(dataset)} images ({dataset.spec})")
        stats = run_cells(abl.cells, dataset, store, opts, progress=_progress, log=_log,
                          engine=engine.evaluate_engine())
    _summary(store, stats)
    if stats.exit_code:
        raise SystemExit(stats.exit_code)


@click.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("-o", "--output", "out_dir", type=click.Path(path_type=Path), required=True,
              help="report folder (always a folder: created, or written into)")
@click.option("--anchor", default=None, help="the curve BD tables compare against (default: the ablation's, "
                                            "else the first curve)")
@click.option("--interpolation", type=click.Choice(["akima", "pchip", "cubic"]), default="akima",
              show_default=True, help="Bjøntegaard interpolation method (recorded in the tables)")
@click.option("--log-bpp", is_flag=True, help="plots with a logarithmic rate axis")
def report(runs, out_dir, anchor, interpolation, log_bpp):
    """A summary table per task against an anchor (HTML, CSV, LaTeX), RD plots sized for a paper (PNG, PDF,
    SVG), picture strips of every cell, an HTML page."""
    from .evaluate.report import write_report

    with Outputs() as outputs:
        outputs.check(out_dir)  # a file or an unwritable folder is refused before the runs are read
        page = write_report(list(runs), out_dir, anchor=anchor, method=interpolation, log_bpp=log_bpp)
    out.print(f"report: {page}")


__all__ = ["evaluate", "report", "sweep"]


@click.group(cls=Group)
def _standalone():
    """evaluate / sweep / report, until the main ``discover`` command adds them (python -m discover_core.cli_eval)."""


for _cmd in (evaluate, sweep, report):
    _standalone.add_command(_cmd)

if __name__ == "__main__":
    import sys

    from .errors import DiscoverError

    try:
        _standalone.main(standalone_mode=False)
    except DiscoverError as exc:
        console.print(f"[red]error:[/red] {exc}")
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
