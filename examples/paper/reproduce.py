"""Reproduce the paper's evaluation with discover commands: train (or take) the rate family, sweep it and the
VTM-12.1 anchor over the paper's datasets, and write Fig. 5 and the BD-rate / BD-FID table.

    python examples/paper/reproduce.py -o runs/paper-repro --train-folder data/discover-train \\
        --coco data/coco/annotations/instances_val2017.json,images=data/coco/val2017 \\
        --imagenet data/imagenet/val,wnids=data/imagenet/LOC_synset_mapping.txt \\
        --clic data/clic2020/valid --kodak data/kodak --device cuda

Stages (``--stages``, default all, in this order; each resumes what an earlier run of it left):

  labels    ``discover labels generate``: Algorithm 1 once per task (cached; later stages never ask again)
  train     ``discover train`` stage I (λ_R 1, 2, 4, 8 -> quality-1..4, ControlNet with each), then stage II per
            rate point from its stage I codec and ControlNet (``--nproc N``: torchrun on N GPUs). ``--family DIR``
            takes a trained stage II family instead (quality-N.safetensors + controlnet-quality-N/).
  evaluate  ``discover sweep`` of DISCOVER's rate points (full stream and each task's part) and of VTM-12.1 (QP 22,
            27, 32, 37) on COCO val2017 (Faster / Mask R-CNN), ImageNet val (ResNet-50) and CLIC2020 / Kodak
            (FID, KID, LPIPS, DISTS with 50 sampling steps); the ablation files are written to OUT/ablations/
  report    ``discover report`` per dataset against VTM, then OUT/fig5.{png,pdf} (accuracy against bpp per task)
            and OUT/table.{md,csv,json} (BD-rate per task, BD-FID / BD-KID / BD-LPIPS / BD-DISTS per perception set)

Every command is printed and appended to OUT/commands.sh as you would type it. Sizes and paths are flags, so the
same script runs end to end on tiny models (tests/paper/test_reproduce.py): ``--set`` overrides the pipeline,
``--train-set`` the training configs, ``--train-steps`` / ``--steps`` / ``--limit`` shrink the work.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PIPELINE = HERE / "discover-paper.yaml"
STAGE1 = ROOT / "examples" / "training" / "discover-sd-latent-stage1.yaml"
STAGE2 = ROOT / "examples" / "training" / "discover-sd-latent-stage2.yaml"
STAGES = ("labels", "train", "evaluate", "report")
VTM_QPS = (22, 27, 32, 37)
PERCEPTION = "fid,kid,lpips,dists"

TASK_METRICS = {  # Fig. 5: (task, head, metric, dataset, axis label)
    "detection": ("coco-detector", "ap", "coco", "detection AP (%)"),
    "instance-segmentation": ("coco-instance-segmenter", "mask_ap", "coco", "instance segmentation mask AP (%)"),
    "classification": ("resnet50-classifier", "top1", "imagenet", "classification top-1 (%)"),
}
DATASET_TASKS = {"coco": ("detection", "instance-segmentation"), "imagenet": ("classification",),
                 "clic": (), "kodak": ()}
PAPER = {"detection": "-80.41", "instance-segmentation": "-80.32", "classification": "-77.63",
         "bd-fid (detection part)": "-45.615", "bd-dists (detection part)": "-0.123"}
"""The paper's figures against VTM-12.1 (section 4.2): BD-rate (%) per task; BD-FID and BD-DISTS of the
detection-only stream (the dataset of Fig. 6's upper-left panels)."""


# -- commands ---------------------------------------------------------------------------------------------------
class Runner:
    """Runs discover commands in this process (one import of torch for all), logs them as shell lines."""

    def __init__(self, out: Path, dry_run: bool = False):
        self.out, self.dry_run = out, dry_run
        self.log = out / "commands.sh"
        out.mkdir(parents=True, exist_ok=True)
        if not self.log.exists():
            self.log.write_text("#!/usr/bin/env bash\n# the discover commands reproduce.py ran, in order\nset -e\n")

    def record(self, argv: list[str]) -> None:
        line = " ".join(shlex.quote(str(a)) for a in argv)
        print(f"\n$ {line}", flush=True)
        with self.log.open("a") as f:
            f.write(line + "\n")

    def discover(self, *args: Any) -> None:
        argv = [str(a) for a in args]
        self.record(["discover", *argv])
        if self.dry_run:
            return
        from discover_core.cli import main

        t = time.perf_counter()
        rc = main(argv)
        if rc:
            raise SystemExit(f"`discover {argv[0]}` failed (exit {rc}); fix what it says and run again: finished "
                             f"work is kept")
        print(f"  ({time.perf_counter() - t:.1f} s)", flush=True)

    def torchrun(self, nproc: int, *args: Any) -> None:
        import shutil

        exe = shutil.which("discover") or "discover"
        argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc), exe,
                *map(str, args)]
        self.record(argv)
        if not self.dry_run:
            subprocess.run(argv, check=True)


# -- pipelines and ablations --------------------------------------------------------------------------------------
def parse_value(text: str) -> Any:
    return yaml.safe_load(text) if text.strip() else ""


def pairs(items: list[str], flag: str) -> dict[str, Any]:
    out = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise SystemExit(f"{flag} {item!r}: write PATH=VALUE")
        out[key.strip()] = parse_value(value)
    return out


KEYWORDS = ("hub", "package", "builtin")


def absolute_paths(data: dict, base_dir: Path) -> dict:
    """The pipeline mapping with every relative file option made absolute (hub ids and keywords left alone), so
    that it can be written anywhere."""
    import copy

    from discover_core.config import resolve, slots
    from discover_core.interfaces import Context, path_options
    from discover_core.plugins import get_registry
    from discover_core.weights import classify

    data = copy.deepcopy(data)
    reg = get_registry()
    config = resolve(data, "paper pipeline", base_dir, reg).config  # validated where it is (relative to base_dir)
    ctx = Context(base_dir=base_dir)
    for ref in slots(config):
        cls = reg.get(ref.kind, ref.slot.plugin).cls
        node = _node(data, ref.path)
        opts = node.get("options") or {}
        for name in path_options(cls.Options):
            value = opts.get(name)
            if not isinstance(value, str) or value in KEYWORDS or ":" in value.split("/")[0]:
                continue
            kind, _ = classify(value, ctx)
            if kind == "local":
                opts[name] = str(ctx.resolve(value).resolve())
    return data


def _node(data: dict, path: str) -> dict:
    import re

    node: Any = data
    for part in [p for p in re.split(r"\.|\[(\d+)\]", path) if p]:
        node = node[int(part)] if part.isdigit() else node[part]
    return node


def derive(base: dict, *, heads_for: tuple[str, ...] | None, human: bool, steps: int | None) -> dict:
    """The paper pipeline for one dataset: task heads of its tasks only (every task still shapes the stream),
    50 sampling steps for perception sets."""
    import copy

    p = copy.deepcopy(base)
    for task in p["tasks"]:
        if heads_for is not None and task["name"] not in heads_for:
            task["task_heads"] = []
    comp = p["composer"].setdefault("options", {})
    if human:
        comp["purpose"] = "human"
    if steps:
        comp["steps"] = steps
    return p


def vtm_pipeline(discover: dict, encoder: str, decoder: str, config: str | None) -> dict:
    """The anchor: the same tasks, analysis and heads; the whole image coded with VTM-12.1 intra."""
    import copy

    p = copy.deepcopy(discover)
    p["name"] = "vtm-12.1"
    opts = {"encoder": encoder, "decoder": decoder}
    if config:
        opts["config"] = str(Path(config).resolve())
    p["entropy_model"] = {"plugin": "vtm", "options": opts}
    p["composer"] = {"plugin": "plain"}
    return p


# -- stages -------------------------------------------------------------------------------------------------------
def rate_points(args) -> list[tuple[int, float]]:
    """(quality, λ_R) of every rate point stage I trains: its config with the --train-set overrides."""
    from discover_core.config import set_path

    cfg = yaml.safe_load(Path(args.stage1).read_text())
    for path, value in pairs(args.train_set, "--train-set").items():
        cfg = set_path(cfg, path if path.split(".")[0].split("[")[0] in cfg else f"training.{path}", value)
    t = cfg["training"]
    lams = t["lambda_rate"] if isinstance(t["lambda_rate"], list) else [t["lambda_rate"]]
    first = int(t.get("quality", 1))
    return [(first + i, float(lam)) for i, lam in enumerate(lams)]


def stage_train(args, run: Runner) -> Path:
    if args.family:
        return Path(args.family).resolve()
    if not args.train_folder:
        raise SystemExit("the train stage needs --train-folder (examples/paper/build_training_folder.py makes one), "
                         "or give a trained family with --family")
    points = rate_points(args)
    s2 = yaml.safe_load(Path(args.stage2).read_text())["training"]
    diff = next((i for i, t in enumerate(s2.get("distortion", [])) if t.get("kind") == "diffusion"), None)
    out1, out2 = args.out / "train" / "stage1", args.out / "train" / "stage2"
    common = ["--device", args.device, "--set", f"data.folder={Path(args.train_folder).resolve()}"]
    for item in args.train_set:
        common += ["--set", item]
    if args.train_steps:
        common += ["--set", f"steps={args.train_steps[0]}"]

    def train(config: Path, *extra: str) -> None:
        cmd = ["train", config, *common, *extra]
        if args.nproc > 1:
            run.torchrun(args.nproc, *cmd)
        else:
            run.discover(*cmd)

    train(Path(args.stage1), "--set", f"output={out1}")
    for q, lam in points:
        extra = ["--set", f"output={out2}", "--set", f"quality={q}", "--set", f"lambda_rate={lam}",
                 "--set", f"init={out1 / f'quality-{q}.safetensors'}"]
        if diff is not None:
            extra += ["--set", f"distortion[{diff}].options.controlnet={out1 / f'controlnet-quality-{q}'}"]
        if args.train_steps and len(args.train_steps) > 1:
            extra += ["--set", f"steps={args.train_steps[1]}"]
        train(Path(args.stage2), *extra)
    return out2


def datasets(args) -> dict[str, str]:
    limit = f",limit={args.limit}" if args.limit else ""
    out = {}
    if args.coco:
        out["coco"] = f"coco:{args.coco}{limit}"
    if args.imagenet:
        out["imagenet"] = f"classes:{args.imagenet}{limit}"
    for name in ("clic", "kodak"):
        if getattr(args, name):
            out[name] = f"folder:{getattr(args, name)}{limit}"
    return out


def qualities(args, family: Path) -> list[int]:
    """The rate points to sweep: --qualities, else every quality-N of the family (a dry run before training:
    those the stage I config would write)."""
    import re

    if args.qualities:
        return args.qualities
    found = sorted(int(m.group(1)) for p in family.glob("quality-*.safetensors")
                   if (m := re.fullmatch(r"quality-(\d+)\.safetensors", p.name)))
    if not found and args.dry_run:
        return [q for q, _ in rate_points(args)]
    if not found:
        raise SystemExit(f"{family} holds no quality-N.safetensors: train first (--stages train) or give --family")
    return found


def stage_evaluate(args, run: Runner, family: Path, base: dict) -> dict[str, dict[str, Path]]:
    data = datasets(args)
    if not data:
        raise SystemExit("no dataset given: --coco, --imagenet, --clic and/or --kodak")
    qs = qualities(args, family)
    (args.out / "pipelines").mkdir(parents=True, exist_ok=True)
    (args.out / "ablations").mkdir(parents=True, exist_ok=True)
    runs: dict[str, dict[str, Path]] = {}
    for name, spec in data.items():
        human = not DATASET_TASKS[name]
        steps = (args.steps or [None, None]) + [None]
        p = derive(base, heads_for=DATASET_TASKS[name], human=human, steps=steps[1] if human else steps[0])
        p["name"] = f"discover-{name}"
        p["entropy_model"].setdefault("options", {})["checkpoint"] = str(family)
        p["composer"]["options"]["controlnet"] = str(family)
        files = {}
        for method, pipeline in (("discover", p), ("vtm", vtm_pipeline(p, args.vtm_encoder, args.vtm_decoder,
                                                                          args.vtm_config))):
            pf = args.out / "pipelines" / f"{method}-{name}.yaml"
            pf.write_text(yaml.safe_dump(pipeline, sort_keys=False, allow_unicode=True))
            if method == "discover":  # the rate points: the codec and its ControlNet of each quality, together
                ablation = {"name": f"discover-{name}", "base": f"../pipelines/{pf.name}",
                            "cells": [{"name": f"quality={q}", "overrides": {"entropy_model.options.quality": q,
                                                                              "composer.options.quality": q}}
                                      for q in qs]}
            else:
                ablation = {"name": f"vtm-{name}", "base": f"../pipelines/{pf.name}",
                            "grid": {"entropy_model.options.qp": list(args.vtm_qps)},
                            "rate": "entropy_model.options.qp"}
            af = args.out / "ablations" / f"{method}-{name}.yaml"
            af.write_text(yaml.safe_dump(ablation, sort_keys=False))
            files[method] = args.out / "runs" / f"{method}-{name}"
            cmd = ["sweep", af, "--data", spec, "-o", files[method], "--device", args.device,
                   "--pictures", str(args.pictures)]
            if human and args.perception:
                cmd += ["--perception", args.perception, "--features", args.features]
                if args.weights_dir:
                    cmd += ["--weights-dir", args.weights_dir]
            run.discover(*cmd)
            if not run.dry_run:
                check_run(files[method])
        runs[name] = files
    return runs


def check_run(folder: Path) -> None:
    """A reproduction with silently skipped images would be wrong: every image of every cell must be in."""
    from discover_core.evaluate.store import Store

    store = Store.open_existing(folder)
    failed = store.failures()
    if failed:
        first = failed[0]
        raise SystemExit(f"{folder}: {len(failed)} image evaluation(s) failed, e.g. {first.get('image')}: "
                         f"{first.get('error')}; run again to retry them")


def stage_report(args, run: Runner, runs: dict[str, dict[str, Path]]) -> dict:
    results = {}
    for name, files in runs.items():
        out = args.out / "reports" / name
        run.discover("report", files["discover"], files["vtm"], "-o", out, "--anchor", f"vtm-{name}")
        if not run.dry_run:
            results[name] = json.loads((out / "results.json").read_text())
    if run.dry_run:
        return {}
    figure(results, args.out, args.formats)
    return table(results, args.out)


# -- Fig. 5 and the table ------------------------------------------------------------------------------------------
def _curve(results: dict, label: str, stream: str) -> dict | None:
    return next((c for c in results.get("curves", []) if c["label"] == label and c["stream"] == stream), None)


def _bd(results: dict, metric: str, label: str, stream: str) -> dict | None:
    return next((b for b in results.get("bd", []) if b["metric"] == metric and b["curve"] == label
                 and b["stream"] == stream), None)


def _metric(task: str) -> str:
    head, metric, _, _ = TASK_METRICS[task]
    return f"{task}/{head}/{metric}"


def _perception_metrics(results: dict) -> list[str]:
    keys: dict[str, None] = {}
    for c in results.get("curves", []):
        for p in c["points"]:
            for k in p:
                if k.split("@")[0] in ("fid", "kid", "lpips", "dists"):
                    keys.setdefault(k, None)
    order = ("fid", "kid", "lpips", "dists")
    return sorted(keys, key=lambda k: (order.index(k.split("@")[0]), k))


def figure(results: dict[str, dict], out: Path, formats: tuple[str, ...]) -> list[Path]:
    """Fig. 5: one panel per machine task, accuracy against bpp: DISCOVER's task part (the stream the task
    gets), its full stream, and VTM-12.1."""
    from matplotlib.figure import Figure

    panels = [t for t, (_, _, ds, _) in TASK_METRICS.items() if ds in results]
    if not panels:
        return []
    fig = Figure(figsize=(3.4 * len(panels), 3.0), layout="constrained")
    for k, task in enumerate(panels):
        _, _, ds, axis = TASK_METRICS[task]
        res, metric = results[ds], _metric(task)
        ax = fig.add_subplot(1, len(panels), k + 1)
        for label, stream, style, name in ((f"discover-{ds}", f"task:{task}", "*-", "DISCOVER (task part)"),
                                           (f"discover-{ds}", "full", "*--", "DISCOVER (full stream)"),
                                           (f"vtm-{ds}", "full", "o-", "VTM-12.1")):
            c = _curve(res, label, stream)
            pts = [(p["bpp"], p[metric] * 100) for p in (c or {}).get("points", []) if p.get(metric) is not None]
            if pts:
                ax.plot(*zip(*sorted(pts)), style, label=name, markersize=6 if "*" in style else 4)
        ax.set_xlabel("rate (bpp)")
        ax.set_ylabel(axis)
        ax.set_title({"coco": "COCO val2017", "imagenet": "ImageNet val"}[ds], fontsize=9, loc="left")
        ax.grid(alpha=0.3)
        if k == 0:
            ax.legend(fontsize=7)
    written = []
    for fmt in formats:
        path = out / f"fig5.{fmt}"
        fig.savefig(path, dpi=200)
        written.append(path)
    return written


def _note(b: dict | None) -> str:
    if b is None:
        return "no such curve in the report"
    return (b.get("warning") or "").replace("|", "/")


def _fmt(v: float | None, decimals: int) -> str:
    return "—" if v is None else f"{v:+.{decimals}f}"


def table(results: dict[str, dict], out: Path) -> dict:
    """BD-rate (%) of each task's accuracy and BD-<metric> of each perception metric, against VTM-12.1, for
    DISCOVER's task part and full stream; the paper's figures beside them."""
    rows = []
    for task, (head, metric, ds, _) in TASK_METRICS.items():
        if ds not in results:
            continue
        for stream in (f"task:{task}", "full"):
            b = _bd(results[ds], _metric(task), f"discover-{ds}", stream)
            rows.append({"dataset": ds, "figure": f"BD-rate (%), {TASK_METRICS[task][3].rsplit(' (', 1)[0]}",
                         "stream": "task part" if stream != "full" else "full",
                         "value": None if b is None else b["value"], "overlap": None if b is None else b["overlap"],
                         "note": _note(b), "paper": PAPER[task] if stream != "full" else None, "decimals": 2})
    for ds in ("clic", "kodak"):
        if ds not in results:
            continue
        for m in _perception_metrics(results[ds]):
            for stream in ("task:detection", "full"):
                b = _bd(results[ds], m, f"discover-{ds}", stream)
                base = m.split("@")[0]
                paper = PAPER.get(f"bd-{base} (detection part)") if stream != "full" else None
                name = f"BD-{base.upper()}" + (f" ({m.split('@', 1)[1]})" if "@" in m else "")
                rows.append({"dataset": ds, "figure": name,
                             "stream": "detection part" if stream != "full" else "full",
                             "value": None if b is None else b["value"],
                             "overlap": None if b is None else b["overlap"], "note": _note(b), "paper": paper,
                             "decimals": {"kid": 4}.get(base, 3)})
    header = ["dataset", "figure (against VTM-12.1)", "stream", "this run", "curve overlap (%)", "paper", "note"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    body = []
    for r in rows:
        cells = [r["dataset"], r["figure"], r["stream"], _fmt(r["value"], r["decimals"]),
                 "—" if r["overlap"] is None else f"{100 * r['overlap']:.0f}",
                 r["paper"] or "", r["note"]]
        body.append(cells)
        lines.append("| " + " | ".join(cells) + " |")
    note = ("BD-rate: mean bpp difference at equal accuracy (negative: fewer bits than VTM-12.1); BD-<metric>: mean "
            "difference at equal bpp (negative: better). Paper: section 4.2 (BD-FID / BD-DISTS: detection part, "
            "the set of Fig. 6's upper-left panels). — : no figure (the note says why).")
    (out / "table.md").write_text("\n".join(lines) + "\n\n" + note + "\n")
    with (out / "table.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(body)
    (out / "table.json").write_text(json.dumps(rows, indent=1))
    print("\n" + "\n".join(lines) + "\n", flush=True)
    return {"rows": rows}


# -- main -----------------------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("-o", "--out", type=Path, required=True, help="work folder (resumed when it exists)")
    ap.add_argument("-c", "--pipeline", type=Path, default=PIPELINE, help="the paper pipeline (default: %(default)s)")
    ap.add_argument("--stages", default=",".join(STAGES), help="comma-separated subset of " + ", ".join(STAGES))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dry-run", action="store_true", help="print the commands only")
    g = ap.add_argument_group("training")
    g.add_argument("--train-folder", help="the training images (build_training_folder.py)")
    g.add_argument("--family", help="a trained stage II family instead of training (quality-N + controlnet-quality-N)")
    g.add_argument("--stage1", default=str(STAGE1))
    g.add_argument("--stage2", default=str(STAGE2))
    g.add_argument("--train-set", action="append", default=[], metavar="PATH=VALUE",
                   help="`discover train --set` for both stages (repeatable)")
    g.add_argument("--train-steps", type=lambda s: [int(x) for x in s.split(",")], default=None, metavar="I[,II]",
                   help="steps of stage I (and II) instead of the paper's 300000 (and 50000)")
    g.add_argument("--nproc", type=int, default=1, help="GPUs per training run (torchrun)")
    g = ap.add_argument_group("evaluation")
    g.add_argument("--coco", help="COCO val2017: ANNOTATIONS.json[,images=DIR]")
    g.add_argument("--imagenet", help="ImageNet val: DIR of class folders[,wnids=FILE]")
    g.add_argument("--clic", help="CLIC2020 (valid or test) image folder")
    g.add_argument("--kodak", help="Kodak image folder")
    g.add_argument("--limit", type=int, help="the first N images of each set")
    g.add_argument("--qualities", type=lambda s: [int(x) for x in s.split(",")], default=None,
                   help="rate points to sweep (default: every quality-N of the family)")
    g.add_argument("--steps", type=lambda s: [int(x) for x in s.split(",")], default=None, metavar="M[,H]",
                   help="sampling steps for machines (and people) instead of 8 (and 50)")
    g.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                   help="override a value of the pipeline by path (repeatable), e.g. "
                        "tasks[0].task_heads[0].options.min_size=512")
    g.add_argument("--vtm-encoder", default="EncoderApp")
    g.add_argument("--vtm-decoder", default="DecoderApp")
    g.add_argument("--vtm-config", help="VTM's encoder_intra_vtm.cfg")
    g.add_argument("--vtm-qps", type=lambda s: [int(x) for x in s.split(",")], default=list(VTM_QPS))
    g.add_argument("--perception", default=PERCEPTION, help="on CLIC / Kodak (default: %(default)s)")
    g.add_argument("--features", default="inception", help="FID / KID features (or proxy:mobilenet_v2)")
    g.add_argument("--weights-dir", help="folder of the perception weights files")
    g.add_argument("--pictures", type=int, default=3, help="reconstructions saved per run (the report's strips)")
    g.add_argument("--formats", default="png,pdf", help="Fig. 5's files")
    return ap


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    args.out = args.out.resolve()
    args.formats = tuple(f for f in args.formats.split(",") if f)
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    bad = [s for s in stages if s not in STAGES]
    if bad:
        raise SystemExit(f"unknown stage(s) {bad}; stages: {', '.join(STAGES)}")
    run = Runner(args.out, args.dry_run)
    base_file = args.pipeline.resolve()
    base = yaml.safe_load(base_file.read_text())
    from discover_core.config import set_path

    for path, value in pairs(args.set, "--set").items():
        base = set_path(base, path, value)
    base = absolute_paths(base, base_file.parent)
    (args.out / "pipelines").mkdir(parents=True, exist_ok=True)
    paper = args.out / "pipelines" / "discover-paper.yaml"
    paper.write_text(yaml.safe_dump(base, sort_keys=False, allow_unicode=True))
    done: dict[str, Any] = {"out": str(args.out)}
    if "labels" in stages:
        run.discover("labels", "generate", "-c", paper)
    family = args.out / "train" / "stage2" if not args.family else Path(args.family).resolve()
    if "train" in stages:
        family = stage_train(args, run)
    done["family"] = str(family)
    runs: dict[str, dict[str, Path]] = {}
    if "evaluate" in stages:
        runs = stage_evaluate(args, run, family, base)
    elif "report" in stages:
        runs = {n: {m: args.out / "runs" / f"{m}-{n}" for m in ("discover", "vtm")} for n in datasets(args)}
    if "report" in stages:
        done["table"] = stage_report(args, run, runs)
    done["runs"] = {k: {m: str(p) for m, p in v.items()} for k, v in runs.items()}
    if not args.dry_run and "report" in stages:
        print(f"Fig. 5: {args.out / 'fig5.png'}; table: {args.out / 'table.md'}; reports: {args.out / 'reports'}/")
    return done


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
