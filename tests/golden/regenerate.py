"""Regenerate the golden streams in ``tests/golden/streams/`` -- only on purpose.

    python tests/golden/regenerate.py               # streams of today's format version (streams/<major.minor>/)
    python tests/golden/regenerate.py --pin-pixels  # re-pin what today's decoder makes of every version's files

One folder per stream format version: ``streams/1.0/`` and ``streams/1.1/``
(zlib-compressed JSON headers) and ``streams/2.0/`` (the binary header) hold
files written by earlier versions of discover: fixtures that today's code
must keep reading, and writes back in their own version when it re-serialises
them; ``streams/<FORMAT_VERSION>/`` (3.0, the binary header with the static
string table) holds the files today's code writes. The first command
(re)writes only the folder of today's version, so a format bump gets a new
folder and the old ones stay.

Each case encodes the same deterministic synthetic picture (built below, no
files involved) with a pipeline built from a dict, and writes

* ``<case>.dscv``: the stream;
* ``<case>.json``: a sidecar with the pipeline, the regions, the expected
  header, the chunk table, the versions of the libraries that made the bytes,
  and ``decoded``: the sha256 of the decoded picture and the versions of the
  libraries that decoded it;
* ``<case>.decoded.png``: the decoded picture itself (lossless), which the
  test compares with, within a small tolerance, where the decoding libraries
  differ from those recorded (see ``test_golden_streams.py``).

``--pin-pixels`` leaves the streams alone and rewrites ``decoded`` and the
PNG of every version's files: use it when a decoder or composer changes its
output on purpose, and say so in the change.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import zlib
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
STREAMS = HERE / "streams"
WIDTH, HEIGHT = 64, 48

PIPELINE: dict[str, Any] = {
    "schema_version": 2,
    "name": "golden",
    "tasks": [{"name": "detection", "description": "golden streams",
               "label_source": {"plugin": "static", "options": {"labels": ["cat", "dog", "bird"]}}}],
    "grounders": [{"plugin": "boxes", "options": {"file": "unused.json"}}],  # never built: regions are given
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


def version_name(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


def current_version() -> str:
    from discover_core.bitstream import FORMAT_VERSION

    return version_name(FORMAT_VERSION)


def folders() -> dict[str, Path]:
    """Every version folder under ``streams/``, by version name."""
    return {p.name: p for p in sorted(STREAMS.iterdir()) if p.is_dir()}


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
    """Versions of the libraries that make (and decode) the payloads."""
    import PIL
    from PIL import features

    return {"pillow": PIL.__version__, "libjpeg_turbo": features.version("libjpeg_turbo"),
            "libavif": features.version("avif"), "zlib": zlib.ZLIB_RUNTIME_VERSION, "numpy": np.__version__}


DECODER_LIBRARIES = {"jpeg": ("pillow", "libjpeg_turbo", "numpy"), "avif": ("pillow", "libavif", "numpy")}
"""The libraries a case's decoded pixels depend on (codec, Pillow's resampling in the composer, numpy)."""


def decoder_libraries(codec: str) -> dict[str, str | None]:
    here = libraries()
    return {k: here[k] for k in DECODER_LIBRARIES[codec]}


def pixels_sha256(picture: np.ndarray) -> str:
    """sha256 of a decoded picture: its shape, dtype and bytes."""
    a = np.ascontiguousarray(picture)
    return hashlib.sha256(repr((a.shape, a.dtype.str)).encode() + a.tobytes()).hexdigest()


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


def pin_pixels(folder: Path, name: str) -> dict[str, Any]:
    """Decode ``<name>.dscv`` with today's code: write ``<name>.decoded.png`` and update the sidecar."""
    from PIL import Image

    from discover_core.bitstream import Stream
    from discover_core.pipeline import decode

    picture = decode(Stream.from_bytes((folder / f"{name}.dscv").read_bytes()))
    Image.fromarray(picture).save(folder / f"{name}.decoded.png", optimize=True)
    sidecar_path = folder / f"{name}.json"
    sidecar = json.loads(sidecar_path.read_text())
    for stale in ("psnr", "psnr_regions"):  # the PSNR window these pins replace
        sidecar.pop(stale, None)
    sidecar["decoded"] = {"sha256": pixels_sha256(picture), "shape": list(picture.shape),
                          "libraries": decoder_libraries(CASES[name]["options"]["codec"])}
    sidecar_path.write_text(json.dumps(sidecar, indent=1) + "\n")
    return sidecar


def write_current() -> Path:
    """(Re)write the streams of today's format version, with their sidecars and decoded pictures."""
    folder = STREAMS / current_version()
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    for name, case in CASES.items():
        stream = build(case)
        data = stream.to_bytes()
        sidecar = {
            "case": name,
            "format_version": current_version(),
            "pipeline": pipeline_for(case),
            "regions": case["regions"],
            "extract": case.get("extract"),
            "size": [WIDTH, HEIGHT],
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "header": stream.header.model_dump(mode="json"),
            "chunks": chunk_table(stream),
            "libraries": libraries(),
        }
        (folder / f"{name}.dscv").write_bytes(data)
        (folder / f"{name}.json").write_text(json.dumps(sidecar, indent=1) + "\n")
        pin_pixels(folder, name)
        print(f"{folder.name}/{name}: {len(data)} bytes, {len(stream.chunks)} chunks")
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pin-pixels", action="store_true",
                        help="leave the streams alone; re-pin the decoded pictures of every version's files")
    args = parser.parse_args(argv)
    if args.pin_pixels:
        for version, folder in folders().items():
            for name in CASES:
                sidecar = pin_pixels(folder, name)
                print(f"{version}/{name}: decoded sha256 {sidecar['decoded']['sha256'][:16]}...")
        return 0
    write_current()
    return 0


if __name__ == "__main__":
    sys.exit(main())
