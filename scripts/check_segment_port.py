"""Check the PyTorch port of the selfie / meet segmenters against the original JavaScript runtime of @vladmandic/human.

    python scripts/check_segment_port.py            # compare; exit 1 if a photo differs
    python scripts/check_segment_port.py --write    # also (re)write tests/segment/data/reference.json

It installs the pinned npm packages (@vladmandic/human 3.3.6 and the tfjs 4.22.0 core, converter and
WebAssembly backend that its ``dist/human.node-wasm.js`` build runs on) into a temporary folder, writes the
demo photos as raw RGB, runs ``check_segment_port.cjs`` with Node on the fetched model files
(``discover models fetch selfie`` / ``meet``), and compares on every pixel: the model's raw output, the
person probability at the model's and at the image's resolution (within 1e-4), and for selfie what
``human.segmentation()`` returns (alpha 0..255: within one level of the port's probability x 255). For
meet, ``human.segmentation()`` takes its softmax along image rows, not over the two channels (see
``discover_segment.model``); its alpha is reported, not compared. Needs node and npm; the port never does.
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

from discover_segment import fetch  # noqa: E402
from discover_segment.reference import compare, pixels_sha256, summary  # noqa: E402

PHOTOS = ("astronaut", "grace_hopper", "chelsea", "coffee", "stereo_motorcycle")
HUMAN_VERSION = "3.3.6"
NPM_PACKAGES = (f"@vladmandic/human@{HUMAN_VERSION}", "@tensorflow/tfjs-core@4.22.0",
                "@tensorflow/tfjs-converter@4.22.0", "@tensorflow/tfjs-backend-wasm@4.22.0")
REFERENCE = ROOT / "tests" / "segment" / "data" / "reference.json"
TOLERANCE = 1e-4


def npm_install(folder: Path) -> Path:
    (folder / "package.json").write_text('{"name": "segment-port-check", "private": true}\n')
    subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent", *NPM_PACKAGES], cwd=folder, check=True)
    return folder / "node_modules"


def run_node(modules: Path, photos: dict[str, np.ndarray], models: dict[str, Path], work: Path) -> dict:
    """The runtime's arrays: ``out[model][photo][kind]`` (raw (h, w, C), prob (H, W), human (H, W))."""
    listing = []
    for name, image in photos.items():
        path = work / f"{name}.rgb"
        path.write_bytes(np.ascontiguousarray(image, dtype=np.uint8).tobytes())
        listing.append({"name": name, "path": str(path), "width": image.shape[1], "height": image.shape[0]})
    (work / "job.json").write_text(json.dumps({"models": {k: str(v) for k, v in models.items()}, "images": listing}))
    out = work / "out"
    out.mkdir()
    subprocess.run(["node", str(ROOT / "scripts" / "check_segment_port.cjs"), str(modules), str(work / "job.json"),
                    str(out)], check=True)
    runtime = json.loads((out / "runtime.json").read_text())
    arrays: dict = {"runtime": runtime}
    for model in models:
        h, w = runtime[model]["input"]
        arrays[model] = {}
        for name, image in photos.items():
            read = lambda kind: np.fromfile(out / f"{model}-{name}-{kind}.f32", dtype="<f4")  # noqa: E731
            arrays[model][name] = {"raw": read("raw").reshape(h, w, -1),
                                   "prob": read("prob").reshape(image.shape[:2]),
                                   "human": read("human").reshape(image.shape[:2])}
    return arrays


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

    from discover_core.photos import demo_photos
    from discover_core.interfaces import Context
    from discover_segment.model import load

    photos = {Path(p.name).stem: p.image for p in demo_photos(list(PHOTOS))}
    paths = {m: fetch.model_json(m, None, Context()) for m in fetch.FILES}
    with tempfile.TemporaryDirectory(prefix="segment-check-") as tmp:
        work = Path(tmp)
        modules = args.node_modules or npm_install(work)
        js = run_node(modules, photos, {m: p.parent for m, p in paths.items()}, work)
    ref: dict = {"model": {"package": fetch.NPM_PACKAGE, "version": fetch.VERSION, "files": fetch.FILES},
                 "runtime": js["runtime"], "tolerance": TOLERANCE, "largest_difference": {}, "images": {}}
    failed = False
    for model, path in paths.items():
        port = load(path, torch.device(args.device))
        worst = {"raw": 0.0, "model_probability": 0.0, "probability": 0.0}
        if model == "selfie":
            worst["human_alpha_levels"] = 0.0
        ref["images"][model] = {}
        for name, image in photos.items():
            theirs = js[model][name]
            raw = port.raw(image)[0].cpu().numpy()
            model_prob = port.model_probability(image).cpu().numpy()
            prob = port.probability(image)
            js_model_prob = theirs["raw"][..., 0] if theirs["raw"].shape[-1] == 1 else \
                1.0 / (1.0 + np.exp(theirs["raw"][..., 0] - theirs["raw"][..., 1]))
            diffs = {"raw": np.abs(raw - theirs["raw"]).max(),
                     "model_probability": np.abs(model_prob - js_model_prob).max(),
                     "probability": np.abs(prob - theirs["prob"]).max()}
            note = ""
            if model == "selfie":  # human: alpha = int32(resized probability x 255), truncated
                diffs["human_alpha_levels"] = np.abs(np.floor(prob * 255.0) - theirs["human"]).max()
            else:
                note = f"; human.segmentation alpha max {theirs['human'].max():.0f} (its softmax along rows)"
            for k, v in diffs.items():
                worst[k] = max(worst[k], float(v))
            entry = summary(js_model_prob, theirs["prob"])
            entry.update(width=image.shape[1], height=image.shape[0], pixels_sha256=pixels_sha256(image))
            ref["images"][model][name] = entry
            d = compare(entry, model_prob, prob)
            bad = diffs["probability"] > TOLERANCE or diffs["model_probability"] > TOLERANCE or not d.ok(TOLERANCE) \
                or diffs.get("human_alpha_levels", 0) > 1
            failed |= bad
            print(f"{model:6s} {name:18s} {'DIFFERS' if bad else 'ok'}: "
                  + ", ".join(f"{k} {float(v):.2e}" for k, v in diffs.items())
                  + f"; mask {entry['area'] / prob.size:.3f} of the image{note}")
        ref["largest_difference"][model] = {k: float(f"{v:.3g}") for k, v in worst.items()}
        print(f"{model}: largest differences " + ", ".join(f"{k} {v:.2e}" for k, v in worst.items()))
    print(f"runtime {ref['runtime']}")
    if args.write:
        REFERENCE.parent.mkdir(parents=True, exist_ok=True)
        REFERENCE.write_text(json.dumps(ref, indent=1) + "\n")
        print(f"wrote {REFERENCE.relative_to(ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
