"""Stage II of the learned ``hyperprior``: its task-only pictures against stage I's at the same bits, and
against whole-image AVIF at the same bytes.

    python benchmarks/bench_stage2.py --stage2 runs/hyperprior-pixels-stage2/quality-1.safetensors
        [--stage1 builtin] [--photos astronaut,chelsea,...]

Stage II (``examples/training/hyperprior-pixels-stage2.yaml``) freezes g_a, the hyperprior and the entropy
bottleneck, so both checkpoints code an image into the same latent bits (checked: the payloads are compared)
and only the synthesis g_s differs. The pipeline is ``examples/pipelines/learned-hyperprior.yaml`` (regions:
the demo photos' annotated objects); the six demo photos were never trained on. Per photo and for the set:

* the detection task's part (``stream.extract(task="detection")``): bytes, PSNR inside the regions and
  outside them (what the decoder fills from M(ẑ) where no chunk arrived), for stage I and stage II;
* the full stream's PSNR for both (stage II must not spoil what a full stream shows);
* whole-image AVIF at the task part's bytes (the still closest in size): PSNR inside the regions;
* agreement AP@[.5:.95] over the set of the built-in detection head (CenterNet) on each picture against its
  detections on the originals, as ``bench_task_rate.py`` scores detection.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from discover_core.builtin import builtin_pipeline_path
from discover_core.demo.baselines import closest_bpp
from discover_core.interfaces import ImageMeta
from discover_core.metrics import psnr, region_mask
from discover_core.photos import demo_photos
from discover_core.pipeline import load_pipeline
from discover_core.stills import decode_still

ROOT = Path(__file__).resolve().parents[1]
HELD_OUT = ["astronaut", "chelsea", "coffee", "rocket", "stereo_motorcycle", "grace_hopper"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stage1", default="builtin", help="stage I checkpoint (default: the shipped one)")
    ap.add_argument("--stage2", required=True, help="stage II checkpoint (discover train's quality-N.safetensors)")
    ap.add_argument("--photos", default=",".join(HELD_OUT))
    args = ap.parse_args()
    torch.set_num_threads(1)
    base = load_pipeline(ROOT / "examples/pipelines/learned-hyperprior.yaml")
    stage2 = str(Path(args.stage2).resolve()) if args.stage2 != "builtin" else "builtin"
    stage1 = str(Path(args.stage1).resolve()) if args.stage1 != "builtin" else "builtin"
    codecs = {name: base.with_overrides({"entropy_model.options.checkpoint": ckpt})
              for name, ckpt in (("stage I", stage1), ("stage II", stage2))}
    head = load_pipeline(builtin_pipeline_path("detection")).task_heads[0]
    pictures: dict[str, list] = {"stage I": [], "stage II": [], "AVIF": []}
    refs = []
    rows = []
    for photo in demo_photos([n.strip() for n in args.photos.split(",") if n.strip()]):
        img = photo.image
        h, w = img.shape[:2]
        refs.append(head.predict(img))
        row: dict = {"photo": photo.name}
        payloads = {}
        for name, pipeline in codecs.items():
            stream = pipeline.encode(img, ImageMeta(name=photo.name))  # the boxes grounder finds it by name
            part = stream.extract(task="detection")
            boxes = [b for c in part.chunks for b in c.boxes]
            mask = region_mask(w, h, boxes)
            picture = pipeline.decode(part)
            payloads[name] = [c.payload for c in stream.chunks]
            pictures[name].append(head.predict(picture))
            row[name] = {"part_bytes": len(part.to_bytes()), "psnr_in": psnr(img, picture, mask),
                         "psnr_out": psnr(img, picture, ~mask), "full_psnr": psnr(img, pipeline.decode(stream)),
                         "full_bytes": len(stream.to_bytes())}
        if payloads["stage I"] != payloads["stage II"]:
            sys.exit(f"{photo.name}: the two checkpoints code different latent bits: is stage II's encoder frozen?")
        _, data = closest_bpp(img, "avif", row["stage I"]["part_bytes"])
        recon = decode_still(data, "avif", (w, h))
        pictures["AVIF"].append(head.predict(recon))
        row["AVIF"] = {"part_bytes": len(data), "psnr_in": psnr(img, recon, mask), "psnr_out": psnr(img, recon, ~mask)}
        rows.append(row)

    print("| photo | task part bytes (I = II) | AVIF bytes | PSNR in: I / II / AVIF | PSNR out: I / II | "
          "full stream PSNR: I / II |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        one, two, avif = r["stage I"], r["stage II"], r["AVIF"]
        print(f"| {r['photo']} | {one['part_bytes']} | {avif['part_bytes']} | {one['psnr_in']:.2f} / "
              f"{two['psnr_in']:.2f} / {avif['psnr_in']:.2f} | {one['psnr_out']:.2f} / {two['psnr_out']:.2f} | "
              f"{one['full_psnr']:.2f} / {two['full_psnr']:.2f} |")
    mean = {k: {m: float(np.nanmean([r[k][m] for r in rows])) for m in ("psnr_in", "psnr_out")}
            for k in pictures}
    ap_ = {k: head.score(v, references=refs).get("agreement", float("nan")) for k, v in pictures.items()}
    bits = sum(r["stage I"]["part_bytes"] for r in rows) / sum(r["AVIF"]["part_bytes"] for r in rows)
    print(f"\nmeans over {len(rows)} photos: PSNR in regions stage I {mean['stage I']['psnr_in']:.2f}, "
          f"stage II {mean['stage II']['psnr_in']:.2f}, AVIF {mean['AVIF']['psnr_in']:.2f} dB; outside stage I "
          f"{mean['stage I']['psnr_out']:.2f}, stage II {mean['stage II']['psnr_out']:.2f} dB; full stream "
          f"stage I {np.mean([r['stage I']['full_psnr'] for r in rows]):.2f}, stage II "
          f"{np.mean([r['stage II']['full_psnr'] for r in rows]):.2f} dB")
    print(f"agreement AP@[.5:.95] over the set (detection head vs its detections on the originals): stage I "
          f"{ap_['stage I']:.3f}, stage II {ap_['stage II']:.3f}, AVIF at the same bytes {ap_['AVIF']:.3f} "
          f"(task part / AVIF bytes {bits:.3f})")


if __name__ == "__main__":
    main()
