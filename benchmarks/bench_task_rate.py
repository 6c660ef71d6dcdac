"""Task-only streams against whole-image AVIF at equal task agreement (issue 20).

    python benchmarks/bench_task_rate.py [-c default|detection|segmentation|FILE ...] [--data DIR] [--photos NAME,...]
        [--ladder 5,10,...] [--avif-qualities 0,1,...] [--quick] [--variants FILE.yaml] [--out FILE]

Each image is grounded once and encoded at every ``region_quality`` of the ladder with the pipeline's own
components; each task's part (``stream.extract(task=...)``) is decoded and the task's heads run on it. The
whole image is coded as one AVIF (Pillow, the entropy model's speed and chroma subsampling) at every quality
of ``--avif-qualities`` and decoded. Agreement is each head's own ``agreement`` against its prediction on
the original. Per pipeline and head it prints (and writes as JSON):

(a) heads scored per image (classification): each image's smallest agreeing bpp along each ladder and the
    ratio of the sums over the images (goal <= 0.7); an image that never agrees enters at the bpp of its
    ladder's top point, flagged, and is counted;
(b) agreement over the set (classification: agreement rate; detection: agreement AP@[.5:.95]; segmentation:
    mean mask IoU) against bpp (total bits / total pixels) for both, the BD-rate of task-only against AVIF
    (``bjontegaard`` through ``discover_core.evaluate.bdmetrics``: isotonic fit, cheapest point per level;
    method and overlap recorded) and the cheapest point of each curve that reaches ``--level`` (0.9);
(c) the bytes of the task parts summed over the images, split into header, framing, per-chunk fields, side
    chunks, region pixel (AV1) bytes and the AVIF container of the region chunks, at the pipeline's own
    region_quality (or the ladder's middle point); every point in the JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from task_rate_lib import TaskRate, analyse  # noqa: E402

from discover_core.demo import builtin_pipeline_path  # noqa: E402
from discover_core.errors import InputError  # noqa: E402
from discover_core.evaluate.datasets import open_dataset  # noqa: E402
from discover_core.config import load_yaml  # noqa: E402
from discover_core.pipeline import load_pipeline  # noqa: E402

BUILTIN = {"default": "classification", "detection": "detection", "segmentation": "segmentation"}
LADDER = tuple(range(5, 101, 5))
AVIF_QUALITIES = tuple(range(0, 101))
QUICK_LADDER = (20, 40, 60, 80, 100)
QUICK_AVIF = tuple(range(0, 101, 10))
SPLIT = ("header", "framing", "chunk_fields", "side", "region_pixels", "region_avif_floor")


def ints(text: str) -> list[int]:
    try:
        return sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers") from None


def images(data: Path | None, names: list[str]) -> list:
    """Items of ``--data DIR`` (or the bundled demo photos), restricted to ``names`` (file names or stems)."""
    items = open_dataset(str(data) if data else "demo").items
    if not names:
        return items
    known = {i.name: i for i in items} | {Path(i.name).stem: i for i in items}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InputError(f"no image named {', '.join(unknown)}", f"images: {', '.join(i.name for i in items)}")
    return list({id(known[n]): known[n] for n in names}.values())


def _pct(v) -> str:
    return "—" if v is None else f"{v:+.1f} %"


def _point(p) -> str:
    return "not reached" if p is None else f"{p['bpp']:.4f} bpp (q{p['q']}, agreement {p['agreement']:.3f})"


def report(name: str, res: dict) -> None:
    print(f"\n## {name} ({len(res['images'])} images; ladder {res['ladder']}; AVIF qualities "
          f"{res['avif_qualities'][0]}..{res['avif_qualities'][-1]} ({len(res['avif_qualities'])}), "
          f"{res['avif_settings']})")
    for key, e in res["heads"].items():
        if "per_image" in e:
            pi = e["per_image"]
            print(f"\n(a) {key}: smallest agreeing bpp per image (same top-1 as on the original)\n")
            print("| image | task-only q | task-only bpp | AVIF q | AVIF bpp | ratio | stable from: task-only q / "
                  "AVIF q |\n|---|---|---|---|---|---|---|")
            for r in pi["images"]:
                t, a = r["task_only"], r["avif"]
                print(f"| {r['image']} | {t['q']}{'' if t['agrees'] else ' (never)'} | {t['bpp']:.4f} | "
                      f"{a['q']}{'' if a['agrees'] else ' (never)'} | {a['bpp']:.4f} | {r['ratio']:.2f} | "
                      f"{t['stable_q']} / {a['stable_q']} |")
            both = pi["ratio_of_sums_both_agree"]
            print(f"\nratio of the sums: {pi['ratio_of_sums']:.3f} (goal <= 0.7); over the images where both agree: "
                  f"{'—' if both is None else f'{both:.3f}'}; never agree: task-only {pi['task_only_never_agree']}, "
                  f"AVIF {pi['avif_never_agree']} (they enter at {pi['never_agree_enter_at']})")
            st = pi["ratio_of_sums_stable"]
            print(f"ratio of the sums of the bpp from which every higher point agrees: "
                  f"{'—' if st is None else f'{st:.3f}'} ({pi['stable_images']} images where both have one)")
        bd = e["bd_rate"]
        print(f"\n(b) {key}: {e['agreement']} against bpp\n")
        print("| region_quality | task-only bpp | agreement |\n|---|---|---|")
        for c in e["task_only"]:
            print(f"| {c['q']} | {c['bpp']:.4f} | {c['agreement']:.3f} |")
        step = max(1, len(e["avif"]) // 11)
        print("\n| AVIF quality | bpp | agreement |\n|---|---|---|")
        for c in e["avif"][::step]:
            print(f"| {c['q']} | {c['bpp']:.4f} | {c['agreement']:.3f} |")
        print(f"\nBD-rate task-only vs AVIF: {_pct(bd['value'])} (goal <= -30 %; {bd['method']}, monotonic fit, "
              f"overlap {bd['overlap']:.0%}, points {bd['points']}{'; ' + bd['warning'] if bd['warning'] else ''})")
        print(f"agreement >= {e['level']}: task-only {_point(e['task_only_at_level'])}; "
              f"AVIF {_point(e['avif_at_level'])}")
    for task, b in res["bytes"].items():
        at = b["at"]
        print(f"\n(c) {task} parts, summed over the images at region_quality {b['representative_q']}: {at['total']} "
              f"bytes ({at['region_chunks']} region chunks)\n")
        print("| " + " | ".join(SPLIT) + " | overhead (framing + chunk fields + AVIF floor) |\n" + "|---" * 7 + "|")
        over = at["framing"] + at["chunk_fields"] + at["region_avif_floor"]
        print("| " + " | ".join(f"{at[k]} ({at[k] / at['total']:.1%})" for k in SPLIT)
              + f" | {over} ({over / at['total']:.1%}) |")
        print(f"\n(side chunks' own AVIF container: {at['side_avif_floor']} bytes, inside 'side')")
        print("\nper point (total / region pixels / overhead): " + "; ".join(
            f"q{q} {v['total']}/{v['region_pixels']}/{v['framing'] + v['chunk_fields'] + v['region_avif_floor']}"
            for q, v in b["per_point"].items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-c", "--config", action="append", help="default, detection, segmentation or a pipeline file "
                                                            "(repeatable; default: default and detection)")
    ap.add_argument("--data", type=Path, help="a folder of images (default: the bundled demo photos)")
    ap.add_argument("--photos", default="", help="comma-separated image names or stems")
    ap.add_argument("--ladder", type=ints, help=f"region_quality points (default {LADDER[0]}..{LADDER[-1]} step 5)")
    ap.add_argument("--avif-qualities", type=ints, help="whole-image AVIF qualities (default every one of 0..100)")
    ap.add_argument("--quick", action="store_true", help=f"ladder {QUICK_LADDER}, AVIF every 10: a smoke run")
    ap.add_argument("--level", type=float, default=0.9, help="agreement level to reach (default 0.9)")
    ap.add_argument("--bd-method", default="pchip", choices=("pchip", "akima", "cubic"))
    ap.add_argument("--variants", type=Path, help="a YAML mapping of variant names to overrides by path "
                                                   "(entropy_model.options.background_side: 256, ...), each run "
                                                   "on every -c pipeline (the whole-image AVIF side is shared)")
    ap.add_argument("--out", type=Path, default=Path("bench_task_rate.json"))
    args = ap.parse_args()
    ladder = args.ladder or (QUICK_LADDER if args.quick else LADDER)
    qualities = args.avif_qualities or (QUICK_AVIF if args.quick else AVIF_QUALITIES)
    configs = args.config or ["default", "detection"]
    paths = {c: builtin_pipeline_path(BUILTIN[c]) if c in BUILTIN else Path(c) for c in configs}
    pipelines = {c: load_pipeline(p) for c, p in paths.items()}  # every file checked before any work
    if args.variants:
        variants = load_yaml(args.variants)
        if not isinstance(variants, dict) or not all(isinstance(v, dict) for v in variants.values()):
            raise InputError(f"{args.variants}: expected a mapping of variant names to overrides by path")
        paths = {f"{c}/{v}": paths[c] for c in pipelines for v in variants}
        pipelines = {f"{c}/{v}": p.with_overrides(o) for c, p in pipelines.items() for v, o in variants.items()}
    items = images(args.data, [n.strip() for n in args.photos.split(",") if n.strip()])
    results = {"command": sys.argv, "data": str(args.data or "demo"), "pipelines": {}}
    t_all = time.perf_counter()
    for name, pipeline in pipelines.items():
        t0 = time.perf_counter()
        rate = TaskRate(pipeline, ladder, qualities)
        own = getattr(pipeline.resolved.options["entropy_model"], "region_quality", None)
        for n, item in enumerate(items, 1):
            image, meta = item.load()
            t = time.perf_counter()
            rate.add(image, meta)
            print(f"[{name}] {n}/{len(items)} {item.name}: {time.perf_counter() - t:.0f} s", file=sys.stderr,
                  flush=True)
        res = analyse(rate, args.level, args.bd_method, own)
        res.update(pipeline=str(paths[name]), seconds=time.perf_counter() - t0)
        results["pipelines"][name] = res
        report(name, res)
    results["seconds"] = time.perf_counter() - t_all
    args.out.write_text(json.dumps(results, indent=1, default=float))
    print(f"\n{results['seconds']:.0f} s in all; written to {args.out}")


if __name__ == "__main__":
    main()
