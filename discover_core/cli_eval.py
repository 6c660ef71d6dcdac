"""``discover evaluate``, ``discover sweep`` and ``discover report`` (added with ``cli.add_command``).

Errors are :class:`~.errors.DiscoverError` s (the main command prints them and exits with code 2).
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from .cli_engine import engine_options

console = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)

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
        out.print(f"{stats.failed} image evaluation(s) failed every attempt: their errors are in the store's "
                  f"failures table; run the same command again to retry them")
    out.print(f"results: {store.path}")


def _options(run: Path, analyzer_cache: bool, pictures: int, perception: str = "", features: str = "inception",
             weights_dir: Path | None = None):
    from .evaluate import Options

    return Options(analyzer_cache=analyzer_cache, save_pictures=pictures, pictures_dir=run / "pictures",
                   perception=tuple(m.strip() for m in perception.split(",") if m.strip()), features=features,
                   weights_dir=weights_dir)


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
    from .evaluate.runner import progress_bar

    return progress_bar(console)


@click.command()
@click.option("-c", "--config", "config", type=click.Path(path_type=Path), default=None,
              help="pipeline file (default: the built-in offline default pipeline)")
@click.option("--data", "data", default="demo", show_default=True, help=DATA_HELP)
@click.option("-o", "--output", "run", type=click.Path(path_type=Path), required=True,
              help="run folder (results.sqlite, pictures/); an existing one is resumed")
@click.option("--device", default="cpu", show_default=True)
@click.option("--no-analyzer-cache", is_flag=True, help="ground every image again (for timing)")
@click.option("--pictures", default=6, show_default=True, help="save reconstructions of the first N images")
@perception_options
@engine_options
def evaluate(config, data, run, device, no_analyzer_cache, pictures, perception, features, weights_dir, engine):
    """Evaluate a pipeline over a dataset: per image and task rows, dataset-level aggregates, resumable."""
    from .builtin import default_pipeline_path
    from .evaluate import Store, open_dataset, run_cells, single_cell
    from .pipeline import load_pipeline

    from .cli import output_folder

    output_folder(run)  # a file or an unwritable folder is refused before any model is built
    pipeline = load_pipeline(config or default_pipeline_path(), device=device)
    dataset = open_dataset(data)
    store = Store(run)
    store.set_meta("kind", "evaluate")
    opts = _options(run, not no_analyzer_cache, pictures, perception, features, weights_dir)
    stats = run_cells([single_cell(pipeline)], dataset, store, opts, progress=_progress, log=_log,
                      engine=engine.evaluate_engine())
    _summary(store, stats)


@click.command()
@click.argument("ablation", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--data", "data", default=None, help=DATA_HELP + " (default: the ablation file's data, else demo)")
@click.option("-o", "--output", "run", type=click.Path(path_type=Path), required=True,
              help="run folder (results.sqlite, pictures/); an existing one is resumed")
@click.option("--device", default="cpu", show_default=True)
@click.option("--no-analyzer-cache", is_flag=True, help="ground every image again in every cell (for timing)")
@click.option("--pictures", default=3, show_default=True, help="save reconstructions of the first N images")
@perception_options
@engine_options
def sweep(ablation, data, run, device, no_analyzer_cache, pictures, perception, features, weights_dir, engine):
    """Run an ablation grid (base pipeline + overrides by path): validated first, resumable, cached grounding."""
    from .evaluate import Store, load_ablation, open_dataset, run_cells

    from .cli import output_folder

    output_folder(run)
    abl = load_ablation(ablation, device=device)
    dataset = open_dataset(data or abl.data or "demo")
    store = Store(run)
    store.set_meta("kind", "sweep")
    store.set_meta("ablation", {"name": abl.name, "rate": abl.rate, "anchor": abl.anchor, "axes": abl.axes,
                                "file": str(ablation)})
    console.print(f"{abl.name}: {len(abl.cells)} cells x {len(dataset)} images ({dataset.spec})")
    opts = _options(run, not no_analyzer_cache, pictures, perception, features, weights_dir)
    stats = run_cells(abl.cells, dataset, store, opts, progress=_progress, log=_log, engine=engine.evaluate_engine())
    _summary(store, stats)


@click.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("-o", "--output", "out_dir", type=click.Path(path_type=Path), required=True, help="report folder")
@click.option("--anchor", default=None, help="the curve BD tables compare against (default: the ablation's, "
                                            "else the first curve)")
@click.option("--interpolation", type=click.Choice(["akima", "pchip", "cubic"]), default="akima",
              show_default=True, help="Bjøntegaard interpolation method (recorded in the tables)")
def report(runs, out_dir, anchor, interpolation):
    """RD curves per task and metric, BD tables against an anchor, side-by-side pictures, an HTML page."""
    from .evaluate.report import write_report

    page = write_report(list(runs), out_dir, anchor=anchor, method=interpolation)
    out.print(f"report: {page}")


__all__ = ["evaluate", "report", "sweep"]


@click.group()
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
