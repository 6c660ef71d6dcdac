"""Speed of the roi-image codec relative to plain whole-image AVIF, in the same process.

    python benchmarks/bench_codec.py [--repeat 5]

For each demo photo (oracle boxes from the demo annotations) it times, best of
``--repeat``: roi-image encode, whole-image AVIF encode at the same quality,
full-stream decode (+ paste), whole-image AVIF decode, and container parsing.
Figures are ratios against the AVIF baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import discover_core as dc
from discover_core.demo import demo_photos
from discover_core.stills import decode_still, encode_still

ANNOTATIONS = Path(dc.__file__).parent / "data" / "demo" / "annotations.json"


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--quality", type=int, default=60)
    args = ap.parse_args()
    pipeline = dc.pipeline_from_dict({
        "schema_version": 1, "task": {"name": "objects"},
        "label_source": {"plugin": "static", "options": {"preset": "coco-80"}},
        "grounder": {"plugin": "boxes", "options": {"file": str(ANNOTATIONS)}},  # COCO-80 boxes only
        "entropy_model": {"plugin": "roi-image", "options": {"region_quality": args.quality,
                                                              "rest_quality": args.quality}},
        "composer": {"plugin": "paste", "options": {}},
    })
    rows = []
    for photo in demo_photos():
        img, meta = photo.image, dc.ImageMeta(photo.name)
        h, w = img.shape[:2]
        regions = pipeline.ground(img, meta)
        stream = pipeline.encode(img, meta, regions=regions)
        data = stream.to_bytes()
        avif = encode_still(img, "avif", args.quality)
        t_enc = best(lambda: pipeline.encode(img, meta, regions=regions).to_bytes(), args.repeat)
        t_avif = best(lambda: encode_still(img, "avif", args.quality), args.repeat)
        t_dec = best(lambda: pipeline.decode(dc.Stream.from_bytes(data)), args.repeat)
        t_avif_dec = best(lambda: decode_still(avif, "avif", (w, h)), args.repeat)
        t_parse = best(lambda: dc.Stream.from_bytes(data), args.repeat)
        rows.append((photo.name, t_enc / t_avif, t_dec / t_avif_dec, t_parse / t_avif_dec, len(data) / len(avif)))
    print(f"{'photo':22} {'encode/avif':>12} {'decode/avif':>12} {'parse/avif-dec':>15} {'bytes/avif':>11}")
    for r in rows:
        print(f"{r[0]:22} {r[1]:12.2f} {r[2]:12.2f} {r[3]:15.3f} {r[4]:11.2f}")
    m = np.mean([r[1:] for r in rows], axis=0)
    print(f"{'mean':22} {m[0]:12.2f} {m[1]:12.2f} {m[2]:15.3f} {m[3]:11.2f}")


if __name__ == "__main__":
    main()
