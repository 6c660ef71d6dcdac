"""Regenerate the golden streams in ``tests/golden/streams/`` -- only on purpose.

    python tests/golden/regenerate.py

Each case encodes the same deterministic synthetic picture (built below, no
files involved) with a pipeline built from a dict, and writes

* ``<case>.dscv``: the stream;
* ``<case>.json``: a sidecar with the pipeline, the regions, the expected
  header, the chunk table, the PSNR of the decoded picture and the versions of
  the libraries that made the bytes.

``tests/golden/test_golden_streams.py`` checks that today's code still reads
these files exactly, and (where the codec library is the same) still writes
them byte for byte. Regenerate only when the stream format or a codec's
output changes on purpose, and say so in the change.
"""

from __future__ import annotations

import hashlib
import json
import sys
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from discover_core.metrics import psnr

HERE = Path(__file__).resolve().parent
STREAMS = HERE / "streams"
WIDTH, HEIGHT = 64, 48

PIPELINE: dict[str, Any] = {
    "schema_version": 1,
    "name": "golden",
    "task": {"name": "detection", "description": "golden streams"},
    "label_source": {"plugin": "static", "options": {"labels": ["cat", "dog", "bird"]}},
    "grounder": {"plugin": "boxes", "options": {"file": "unused.json"}},  # never built: regions are given
    "entropy_model": {"plugin": "roi-image", "options": {}},
    "composer": {"plugin": "paste", "options": {}},
}

REGIONS = [  # two overlapping regions (one chunk) and a separate one
    {"box": [4.0, 4.0, 20.0, 20.0], "label": "cat"},
    {"box": [12.0, 10.0, 30.0, 22.0], "label": "dog"},
    {"box": [40.0, 26.0, 60.0, 44.0], "label": "bird"},
]

JPEG = {"codec": "jpeg", "region_quality": 80, "background_quality": 60, "rest_quality": 50, "align": 4}
AVIF = {"codec": "avif", "region_quality": 70, "background_quality": 50, "rest_quality": 50, "align": 4,
        "speed": 6, "threads": 1}

CASES: dict[str, dict[str, Any]] = {
    "jpeg-regions": {"options": JPEG, "regions": REGIONS},
    "jpeg-no-regions": {"options": JPEG, "regions": []},
    "jpeg-regions-task": {"options": JPEG, "regions": REGIONS, "extract": {"task": "detection"}},
    "avif-regions": {"options": AVIF, "regions": REGIONS},
    "avif-regions-no-rest": {"options": {**AVIF, "code_rest": False}, "regions": REGIONS},
    "avif-regions-bird": {"options": AVIF, "regions": REGIONS, "extract": {"labels": ["bird"]}},
}


def synthetic_image(width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """The golden picture: smooth gradients, a disc, a bar and a checkerboard; uint8 RGB."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    img = np.empty((height, width, 3), np.float64)
    img[..., 0] = 255.0 * x / (width - 1)
    img[..., 1] = 255.0 * y / (height - 1)
    img[..., 2] = 128.0 + 100.0 * np.sin(x / 5.0) * np.cos(y / 7.0)
    img[(x - 20.0) ** 2 + (y - 16.0) ** 2 < 81.0] = (250.0, 240.0, 30.0)
    img[34:38, 6:30] = (20.0, 30.0, 200.0)
    img[((x // 4 + y // 4) % 2 == 0) & (x >= 40) & (y >= 26)] = (255.0, 255.0, 255.0)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def libraries() -> dict[str, str | None]:
    import PIL
    from PIL import features

    return {"pillow": PIL.__version__, "libjpeg_turbo": features.version("libjpeg_turbo"),
            "libavif": features.version("avif"), "zlib": zlib.ZLIB_RUNTIME_VERSION}


def pipeline_for(case: dict[str, Any]) -> dict[str, Any]:
    data = json.loads(json.dumps(PIPELINE))
    data["entropy_model"]["options"] = dict(case["options"])
    return data


def build(case: dict[str, Any]):
    """The stream of one case, made by today's code."""
    from discover_core import Region
    from discover_core.pipeline import pipeline_from_dict

    pipeline = pipeline_from_dict(pipeline_for(case))
    regions = [Region(tuple(r["box"]), r["label"]) for r in case["regions"]]
    stream = pipeline.encode(synthetic_image(), regions=regions)
    if case.get("extract"):
        stream = stream.extract(**case["extract"])
    return stream


def chunk_table(stream) -> list[dict[str, Any]]:
    return [{"kind": c.kind, "name": c.name, "length": len(c.payload), "crc32": zlib.crc32(c.payload),
             "labels": list(c.labels), "boxes": [list(b) for b in c.boxes], "tasks": list(c.tasks)}
            for c in stream.chunks]


def region_mask(stream) -> np.ndarray | None:
    """Pixels covered by the boxes of the stream's content chunks (None if there are none)."""
    w, h = stream.size
    mask = np.zeros((h, w), bool)
    for c in stream.chunks:
        for x0, y0, x1, y1 in c.boxes:
            mask[y0:y1, x0:x1] = True
    return mask if mask.any() else None


def main() -> int:
    from discover_core.pipeline import decode

    STREAMS.mkdir(parents=True, exist_ok=True)
    for old in list(STREAMS.glob("*.dscv")) + list(STREAMS.glob("*.json")):
        old.unlink()
    image = synthetic_image()
    for name, case in CASES.items():
        stream = build(case)
        data = stream.to_bytes()
        picture, mask = decode(stream), region_mask(stream)
        sidecar = {
            "case": name,
            "pipeline": pipeline_for(case),
            "regions": case["regions"],
            "extract": case.get("extract"),
            "size": [WIDTH, HEIGHT],
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "header": stream.header.model_dump(mode="json"),
            "chunks": chunk_table(stream),
            "psnr": round(psnr(picture, image), 3),
            "psnr_regions": None if mask is None else round(psnr(picture, image, mask), 3),
            "libraries": libraries(),
        }
        (STREAMS / f"{name}.dscv").write_bytes(data)
        (STREAMS / f"{name}.json").write_text(json.dumps(sidecar, indent=1) + "\n")
        print(f"{name}: {len(data)} bytes, {len(stream.chunks)} chunks, PSNR {sidecar['psnr']:.2f} dB, "
              f"in regions {sidecar['psnr_regions']} dB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
