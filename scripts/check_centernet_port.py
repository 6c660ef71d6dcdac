"""Check the PyTorch port of CenterNet against the original JavaScript runtime of @vladmandic/human.

    python scripts/check_centernet_port.py            # compare; exit 1 if a photo differs
    python scripts/check_centernet_port.py --write    # also (re)write tests/centernet/data/reference.json

It installs the pinned npm packages (the same @vladmandic/human version as the fetched model files, and the
tfjs 4.22.0 core, converter and WebAssembly backend that its ``dist/human.node-wasm.js`` build runs on) into
a temporary folder, writes the demo photos as raw RGB, runs ``check_centernet_port.cjs`` with Node, and
compares every raw detection row (boxes within 1 px of the photo, scores within 1e-3) and the final
``human.detect()`` results with the port's. Needs node and npm; the port itself never does.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "plugins"))

from discover_centernet import fetch  # noqa: E402
from discover_centernet.reference import RAW_MIN_SCORE, compare, pixels_sha256  # noqa: E402

PHOTOS = ("astronaut", "chelsea", "coffee", "stereo_motorcycle", "grace_hopper")
NPM_PACKAGES = (f"{fetch.NPM_PACKAGE}@{fetch.VERSION}", "@tensorflow/tfjs-core@4.22.0",
                "@tensorflow/tfjs-converter@4.22.0", "@tensorflow/tfjs-backend-wasm@4.22.0")
REFERENCE = ROOT / "tests" / "centernet" / "data" / "reference.json"


def npm_install(folder: Path) -> Path:
    (folder / "package.json").write_text('{"name": "centernet-port-check", "private": true}\n')
    subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent", *NPM_PACKAGES], cwd=folder, check=True)
    return folder / "node_modules"


def run_node(modules: Path, photos: dict[str, np.ndarray], work: Path) -> dict:
    listing = []
    for name, image in photos.items():
        path = work / f"{name}.rgb"
        path.write_bytes(np.ascontiguousarray(image, dtype=np.uint8).tobytes())
        listing.append({"name": name, "path": str(path), "width": image.shape[1], "height": image.shape[0]})
    (work / "images.json").write_text(json.dumps(listing))
    out = work / "out.json"
    subprocess.run(["node", str(ROOT / "scripts" / "check_centernet_port.cjs"), str(modules),
                    str(work / "images.json"), str(out)], check=True)
    return json.loads(out.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write {REFERENCE.relative_to(ROOT)}")
    parser.add_argument("--node-modules", type=Path, help="reuse a node_modules folder with the packages")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            print(f"error: {tool} is needed for the port check")
            return 2
    import torch

    from discover_core.demo import demo_photos
    from discover_core.interfaces import Context
    from discover_centernet.model import load

    photos = {Path(p.name).stem: p.image for p in demo_photos(list(PHOTOS))}
    with tempfile.TemporaryDirectory(prefix="centernet-check-") as tmp:
        work = Path(tmp)
        modules = args.node_modules or npm_install(work)
        ref = run_node(modules, photos, work)
    model_path = fetch.model_json(None, Context())
    model = load(model_path, torch.device(args.device))
    cfg = ref["object_config"]
    worst_box = worst_score = 0.0
    failed = False
    for name, image in photos.items():
        entry = ref["images"][name]
        entry["raw"] = [[round(v, 6) for v in row] for row in entry["raw"] if row[4] >= RAW_MIN_SCORE]
        entry["pixels_sha256"] = pixels_sha256(image)
        raw = model.raw(image)
        dets = model.detect(image, cfg["minConfidence"], cfg["iouThreshold"], cfg["maxDetected"])
        d = compare(name, entry, raw, dets)
        worst_box = max(worst_box, d.raw_box_px, d.human_box_px)
        worst_score = max(worst_score, d.raw_score, d.human_score)
        status = "ok" if d.ok() else "DIFFERS"
        failed |= not d.ok()
        print(f"{name:18s} {status}: {d.raw_rows} raw rows, max box diff {d.raw_box_px:.4f} px, max score diff "
              f"{d.raw_score:.2e}; human.detect {d.human_count[1]} objects (port {d.human_count[0]}), "
              f"box {d.human_box_px:.3f} px, truncated score {d.human_score:.3f}"
              + (f"; unmatched {d.unmatched_raw[:3]}" if d.unmatched_raw else "")
              + (f"; labels {d.label_mismatches}" if d.label_mismatches else ""))
    print(f"runtime {ref['runtime']}; worst box diff {worst_box:.4f} px, worst score diff {worst_score:.2e}")
    if args.write:
        ref["model"] = {"package": fetch.NPM_PACKAGE, "version": fetch.VERSION, "files": fetch.FILES}
        ref["raw_min_score"] = RAW_MIN_SCORE
        REFERENCE.parent.mkdir(parents=True, exist_ok=True)
        REFERENCE.write_text(json.dumps(ref, indent=1) + "\n")
        print(f"wrote {REFERENCE.relative_to(ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
