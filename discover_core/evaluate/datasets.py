"""Datasets to evaluate on, named by a spec string (``--data SPEC``).

- ``demo``: the bundled demo photos with their COCO-format annotations (boxes; ImageNet classes).
- ``folder:DIR`` (or a bare folder of images): every image file, no targets.
- ``coco:ANNOTATIONS.json[,images=DIR]``: COCO-format instances (detection boxes and, when present,
  instance segmentation); images next to the file unless ``images=`` says where (``images=demo``: the
  bundled photos by file name).
- ``classes:DIR[,wnids=FILE]`` (ImageNet-style): one sub-folder per class, named by class index, class
  name, or WordNet id (``n01440764``, looked up in ``FILE``: ``LOC_synset_mapping.txt``, one wnid per line
  in class order).

Every spec takes ``limit=N`` (the first N images, in a stable order). Targets are per task kind:
``detection`` and ``segmentation`` (COCO annotations: ``bbox`` [x, y, w, h], ``category_id`` given as the
category *name*, ``iscrowd``, ``segmentation``), ``classification`` (acceptable class indices or names).
The fingerprint hashes the pixels' files (or arrays) and the annotations, so a store refuses to mix data.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path, PurePath
from typing import Any, Callable

import numpy as np

from ..errors import InputError
from ..interfaces import ImageMeta

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".ppm", ".pgm", ".avif", ".heic"}
DEMO_ANNOTATIONS = "data/demo/annotations.json"


@dataclass
class Item:
    """One image of a dataset: a stable integer id, a name, how to load it, and its targets per task kind."""

    id: int
    name: str
    loader: Callable[[], tuple[np.ndarray, ImageMeta]]
    targets: dict[str, Any] = field(default_factory=dict)

    def load(self) -> tuple[np.ndarray, ImageMeta]:
        return self.loader()


@dataclass
class Dataset:
    spec: str
    kind: str
    items: list[Item]
    fingerprint: str
    categories: dict[int, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.items)


def _file_loader(path: Path) -> Callable[[], tuple[np.ndarray, ImageMeta]]:
    def load() -> tuple[np.ndarray, ImageMeta]:
        from ..images import load_image

        return load_image(path)
    return load


def _hash_files(h: "hashlib._Hash", paths: list[Path]) -> None:
    for p in paths:
        h.update(p.name.encode() + b"\0")
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)


def _parse(spec: str) -> tuple[str, str, dict[str, str]]:
    spec = spec.strip()
    if spec == "demo":
        return "demo", "", {}
    kind, sep, rest = spec.partition(":")
    if not sep or kind not in ("folder", "coco", "classes", "demo"):
        kind, rest = "", spec
    parts = rest.split(",")
    opts = {}
    for p in parts[1:]:
        k, eq, v = p.partition("=")
        if not eq or k not in ("images", "limit", "wnids"):
            raise InputError(f"dataset spec {spec!r}: cannot read {p!r}",
                             "options are images=DIR, wnids=FILE, limit=N (comma-separated after the path)")
        opts[k] = v
    path = parts[0]
    if not kind:
        p = Path(path)
        if path == "demo":
            kind = "demo"
        elif p.suffix == ".json":
            kind = "coco"
        elif p.is_dir() and any(c.is_dir() for c in p.iterdir()) and not _images_in(p):
            kind = "classes"
        else:
            kind = "folder"
    return kind, path, opts


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def open_dataset(spec: str) -> Dataset:
    """The dataset a spec names (see the module docstring); a wrong spec is one readable error."""
    kind, path, opts = _parse(spec)
    try:
        limit = int(opts["limit"]) if "limit" in opts else None
    except ValueError:
        raise InputError(f"dataset spec {spec!r}: limit must be a whole number") from None
    if kind == "demo":
        ds = _coco(spec, None, "demo", demo=True)
    elif kind == "coco":
        ds = _coco(spec, Path(path), opts.get("images"))
    elif kind == "classes":
        ds = _classes(spec, Path(path), opts.get("wnids"))
    else:
        ds = _folder(spec, Path(path))
    if limit is not None:
        ds.items = ds.items[:max(0, limit)]
        h = hashlib.sha256(ds.fingerprint.encode())
        h.update(f"limit={limit}".encode())
        ds.fingerprint = "sha256:" + h.hexdigest()
    if not ds.items:
        raise InputError(f"dataset {spec!r} holds no images", "check the path and the image file types")
    return ds


def _need_dir(path: Path, spec: str) -> None:
    if not path.is_dir():
        raise InputError(f"dataset {spec!r}: {path} is not a folder", "give a folder of images")


def _folder(spec: str, path: Path) -> Dataset:
    _need_dir(path, spec)
    files = _images_in(path)
    h = hashlib.sha256(b"folder\0")
    _hash_files(h, files)
    items = [Item(i + 1, f.name, _file_loader(f)) for i, f in enumerate(files)]
    return Dataset(spec, "folder", items, "sha256:" + h.hexdigest())


def _read_json(path: Path, spec: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"dataset {spec!r}: annotation file {path} not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"dataset {spec!r}: {path} is not readable JSON ({exc})") from None


def _demo_loaders() -> dict[str, Callable[[], tuple[np.ndarray, ImageMeta]]]:
    from ..photos import load_photo

    coco = json.loads(resources.files("discover_core").joinpath(DEMO_ANNOTATIONS).read_text(encoding="utf-8"))
    cache: dict[str, np.ndarray] = {}

    def loader(name: str):
        def load():
            if name not in cache:
                cache[name] = load_photo(name)
            return cache[name], ImageMeta(name=name)
        return load
    return {i["file_name"]: loader(i["file_name"]) for i in coco["images"]}


def _coco(spec: str, path: Path | None, images: str | None, demo: bool = False) -> Dataset:
    if demo:
        text = resources.files("discover_core").joinpath(DEMO_ANNOTATIONS).read_text(encoding="utf-8")
        data = json.loads(text)
    else:
        data = _read_json(path, spec)
        text = path.read_text(encoding="utf-8")
    try:
        cats = {int(c["id"]): str(c["name"]) for c in data["categories"]}
        imgs = sorted(data["images"], key=lambda i: int(i["id"]))
        anns = data.get("annotations", [])
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"dataset {spec!r}: not COCO-format annotations ({type(exc).__name__}: {exc})",
                         "needs images (id, file_name), annotations and categories") from None
    by_image: dict[int, list[dict]] = {}
    for a in anns:
        try:
            ann = {"bbox": [float(v) for v in a["bbox"]], "category_id": cats[int(a["category_id"])],
                   "iscrowd": int(a.get("iscrowd", 0) or 0)}
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"dataset {spec!r}: annotation {a.get('id')} is not valid ({exc})") from None
        if a.get("segmentation"):
            ann["segmentation"] = a["segmentation"]
        by_image.setdefault(int(a["image_id"]), []).append(ann)
    h = hashlib.sha256(b"coco\0" + text.encode())
    if images == "demo":
        loaders = _demo_loaders()
        missing = [i["file_name"] for i in imgs if PurePath(i["file_name"]).name not in loaders]
        if missing:
            raise InputError(f"dataset {spec!r}: {', '.join(missing[:5])} are not bundled demo photos")
        for img in imgs:
            arr, _ = loaders[PurePath(img["file_name"]).name]()
            h.update(img["file_name"].encode() + b"\0" + arr.tobytes())
        get = lambda img: loaders[PurePath(img["file_name"]).name]  # noqa: E731
    else:
        root = Path(images) if images else path.parent
        _need_dir(root, spec)
        files = [root / img["file_name"] for img in imgs]
        absent = [str(f) for f in files if not f.is_file()]
        if absent:
            raise InputError(f"dataset {spec!r}: {len(absent)} image file(s) are missing, e.g. {absent[0]}",
                             "give the image folder with images=DIR")
        _hash_files(h, files)
        get = lambda img: _file_loader(root / img["file_name"])  # noqa: E731
    items = []
    for img in imgs:
        boxes = by_image.get(int(img["id"]), [])
        # Segmentation heads take the same annotations: box AP from the boxes, mask scores where they have masks.
        targets: dict[str, Any] = {"detection": boxes, "segmentation": boxes}
        if img.get("imagenet_classes"):
            targets["classification"] = [int(c) for c in img["imagenet_classes"]]
        items.append(Item(int(img["id"]), PurePath(img["file_name"]).name, get(img), targets))
    return Dataset(spec, "coco", items, "sha256:" + h.hexdigest(), cats)


def _classes(spec: str, path: Path, wnids: str | None) -> Dataset:
    _need_dir(path, spec)
    mapping: dict[str, int] = {}
    if wnids:
        lines = Path(wnids).read_text(encoding="utf-8").splitlines() if Path(wnids).is_file() else None
        if lines is None:
            raise InputError(f"dataset {spec!r}: wnids file {wnids} not found")
        mapping = {line.split()[0]: i for i, line in enumerate(x for x in lines if x.strip())}
    h = hashlib.sha256(b"classes\0")
    items: list[Item] = []
    for folder in sorted(p for p in path.iterdir() if p.is_dir()):
        name = folder.name
        target: Any = mapping.get(name, int(name) if name.isdigit() else name.replace("_", " "))
        if name.startswith("n") and name[1:].isdigit() and name not in mapping:
            raise InputError(f"dataset {spec!r}: class folder {name} is a WordNet id",
                             "give the synset list with wnids=LOC_synset_mapping.txt")
        files = _images_in(folder)
        h.update(name.encode() + b"/")
        _hash_files(h, files)
        for f in files:
            items.append(Item(len(items) + 1, f"{name}/{f.name}", _file_loader(f), {"classification": target}))
    return Dataset(spec, "classes", items, "sha256:" + h.hexdigest())


def export_demo(folder: str | Path) -> Path:
    """Write the bundled demo photos as PNG files and their annotations to ``folder`` (a COCO-format dataset)."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, load in _demo_loaders().items():
        arr, _ = load()
        kind = "JPEG" if Path(name).suffix.lower() in (".jpg", ".jpeg") else "PNG"
        Image.fromarray(arr).save(folder / name, format=kind, **({"quality": 95} if kind == "JPEG" else {}))
    ann = folder / "annotations.json"
    ann.write_text(resources.files("discover_core").joinpath(DEMO_ANNOTATIONS).read_text(encoding="utf-8"),
                   encoding="utf-8")
    return ann
