"""Build the paper's training folder from local copies of its five sets (section 4.1.1).

The paper trains on 50k OpenImages images plus almost 10k high-resolution images from COCO train2017, the CLIC2020
training set, Flickr2K and DIV2K, with random 512x512 crops. This script links (or copies) the images of the sets
you have into one folder that ``discover train`` reads (``training.data.folder``; it searches sub-folders):

    python examples/paper/build_training_folder.py -o data/discover-train \\
        --openimages /data/openimages/train --coco /data/coco/train2017 --clic /data/clic2020/train \\
        --flickr2k /data/Flickr2K/Flickr2K_HR --div2k /data/DIV2K/DIV2K_train_HR

Nothing is downloaded. Each set's files are found recursively (.png, .jpg, .jpeg, .webp, .bmp, .tif); a random
but fixed (``--seed``) subset is taken where the paper uses a part of a set: 50,000 of OpenImages and, by default,
5,000 of COCO train2017 (the paper says "almost 10K" high-resolution images over four sets whose other three hold
1,633 + 2,650 + 800; how many COCO images it took is not stated). Images whose shorter side is under
``--min-side`` are left out (default 0: keep all; the trainer scales a smaller image up to the crop size).
Writes ``OUT/<set>/<file>`` (symbolic links unless ``--copy``) and ``OUT/manifest.tsv`` (set, source path, width,
height); running it again with the same arguments gives the same folder.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
from pathlib import Path

SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
SETS = {  # name: (flag help, default count: None = all)
    "openimages": ("OpenImages training images", 50_000),
    "coco": ("COCO train2017", 5_000),
    "clic": ("CLIC2020 training set (professional + mobile)", None),
    "flickr2k": ("Flickr2K (HR)", None),
    "div2k": ("DIV2K training set (HR)", None),
}


def images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)


def size_of(path: Path) -> tuple[int, int] | None:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.size
    except Exception:  # noqa: BLE001 - an unreadable file is left out and counted
        return None


def build(out: Path, sources: dict[str, Path], counts: dict[str, int | None], seed: int = 0, min_side: int = 0,
          copy: bool = False) -> dict[str, int]:
    """Fill ``out`` from ``sources`` (set name -> folder); returns how many images each set gave."""
    out.mkdir(parents=True, exist_ok=True)
    manifest, taken = [], {}
    for name, folder in sources.items():
        files = images_in(folder)
        if not files:
            raise SystemExit(f"--{name} {folder}: no images ({', '.join(SUFFIXES)}) there")
        want = counts.get(name)
        rng = random.Random(f"{seed}:{name}")
        order = files[:]
        rng.shuffle(order)
        target = out / name
        target.mkdir(exist_ok=True)
        kept = 0
        for src in order:
            if want is not None and kept >= want:
                break
            size = size_of(src)
            if size is None or min(size) < min_side:
                continue
            rel = src.relative_to(folder)
            dst = target / "__".join(rel.parts)
            if not dst.exists() and not dst.is_symlink():
                if copy:
                    shutil.copy2(src, dst)
                else:
                    os.symlink(src.resolve(), dst)
            manifest.append(f"{name}\t{src.resolve()}\t{size[0]}\t{size[1]}")
            kept += 1
        if want is not None and kept < want:
            print(f"warning: --{name} gave {kept} images, fewer than the {want} asked for", file=sys.stderr)
        taken[name] = kept
    (out / "manifest.tsv").write_text("set\tsource\twidth\theight\n" + "\n".join(manifest) + "\n")
    return taken


def main(argv: list[str] | None = None) -> dict[str, int]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("-o", "--out", type=Path, required=True, help="the training folder to fill")
    for name, (what, count) in SETS.items():
        ap.add_argument(f"--{name}", type=Path, help=f"local copy of {what}")
        ap.add_argument(f"--{name}-count", type=int, default=count,
                        help=f"images taken from it (default: {count if count is not None else 'all'})")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--min-side", type=int, default=0, help="leave out images with a shorter side under this")
    ap.add_argument("--copy", action="store_true", help="copy the files instead of linking them")
    args = ap.parse_args(argv)
    sources = {n: getattr(args, n) for n in SETS if getattr(args, n) is not None}
    if not sources:
        ap.error("give at least one set (--openimages, --coco, --clic, --flickr2k, --div2k)")
    missing = [f"--{n} {p}" for n, p in sources.items() if not p.is_dir()]
    if missing:
        ap.error("not a folder: " + ", ".join(missing))
    absent = [n for n in SETS if n not in sources]
    if absent:
        print(f"note: without {', '.join(absent)}: the folder is not the paper's mix", file=sys.stderr)
    taken = build(args.out, sources, {n: getattr(args, f"{n}_count") for n in SETS}, args.seed, args.min_side,
                  args.copy)
    total = sum(taken.values())
    print(f"{args.out}: {total} images (" + ", ".join(f"{n} {k}" for n, k in taken.items()) + ")")
    return taken


if __name__ == "__main__":
    main()
