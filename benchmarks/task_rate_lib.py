"""What benchmarks/bench_task_rate.py measures: task-only parts along a quality ladder against whole-image AVIF.

- :func:`avif_floor` / :func:`part_split`: the bytes of a task's part, split through the :class:`Stream` API
  (no offsets of the container are assumed) into header, framing, per-chunk fields, side chunks, region pixel
  (AV1) bytes and the AVIF container of each region chunk (its ISOBMFF boxes besides the 'mdat' payload);
- :class:`TaskRate`: one pipeline over a set of images, every head's prediction on every decoded picture;
- :func:`analyse`: per head, agreement against bpp for both methods, BD-rate (:mod:`discover_core.evaluate.bdmetrics`),
  and for heads scored per image (classification) the smallest agreeing bpp of each image.
"""

from __future__ import annotations

import dataclasses
import hashlib
import struct

import numpy as np

from discover_core import bitstream
from discover_core.bitstream import Stream
from discover_core.demo.sets import scored_over_set
from discover_core.evaluate.bdmetrics import bd_rate
from discover_core.evaluate.runner import head_key, head_paths
from discover_core.metrics import bpp
from discover_core.stills import decode_still, encode_still


AGREEMENT = {"detection": "AP@[.5:.95] over the set",
             "segmentation": "mask IoU against the mask on the original (mean over the images)"}
"""What a set-scored head's ``agreement`` is, by task (the head's own definition)."""


def isobmff_boxes(data: bytes):
    """``(type, header bytes, box bytes)`` of each top-level ISOBMFF box; ValueError if they do not tile ``data``."""
    pos = 0
    while pos < len(data):
        if pos + 8 > len(data):
            raise ValueError(f"{len(data) - pos} trailing bytes")
        size, kind = struct.unpack_from(">I4s", data, pos)
        head = 8
        if size == 1:  # 64-bit size follows the type
            if pos + 16 > len(data):
                raise ValueError("truncated large box")
            size, head = struct.unpack_from(">Q", data, pos + 8)[0], 16
        elif size == 0:  # the box runs to the end of the file
            size = len(data) - pos
        if size < head or pos + size > len(data):
            raise ValueError(f"box {kind!r} at {pos} overruns the file")
        yield kind.decode("latin-1"), head, size
        pos += size


def avif_floor(data: bytes) -> int | None:
    """Bytes of an AVIF file that are not AV1 data (all but the 'mdat' payloads); None if it is not ISOBMFF."""
    if data[4:8] != b"ftyp":
        return None
    try:
        boxes = list(isobmff_boxes(data))
    except ValueError:
        return None
    return len(data) - sum(size - head for kind, head, size in boxes if kind == "mdat")


def _framing(data: bytes) -> int:
    """Fixed container bytes of a stream: all before its first payload but the header itself (magic, version,
    header length, header CRC-32), as the bitstream module frames it."""
    _, header, start = bitstream.unframe(data)
    return start - len(header)


def part_split(part: Stream) -> dict[str, int]:
    """A part's bytes: ``total = header + framing + chunk_fields + side + region_pixels + region_avif_floor``.

    ``chunk_fields``: what the chunks add to the container besides their payloads (their table entries:
    kind, name, length, CRC, boxes, labels, tasks; the label and task tables), measured as the container
    of the part minus that of the same header with no chunks. ``header``: the rest of the container but the
    fixed ``framing``. ``side_avif_floor`` (inside ``side``) is the AVIF container of the side chunks."""
    total = len(part.to_bytes())
    payloads = sum(len(c.payload) for c in part.chunks)
    empty = {k: [] for k in ("chunks", "labels", "tasks") if k in type(part.header).model_fields}
    bare = len(dataclasses.replace(part, header=part.header.model_copy(update=empty), chunks=[]).to_bytes())
    content = [c.payload for c in part.chunks if c.kind == "content"]
    side = [c.payload for c in part.chunks if c.kind == "side"]
    floor = sum(avif_floor(c) or 0 for c in content)
    framing = _framing(part.to_bytes())
    return {"total": total, "header": bare - framing, "framing": framing, "chunk_fields": total - payloads - bare,
            "side": sum(map(len, side)), "side_avif_floor": sum(avif_floor(c) or 0 for c in side),
            "region_pixels": sum(map(len, content)) - floor, "region_avif_floor": floor, "region_chunks": len(content)}


_STILLS: dict[tuple, bytes] = {}
"""Whole-image AVIF stills by (image hash, quality, settings): shared by the pipelines of one run."""


class TaskRate:
    """One pipeline over images: each task's part at every ladder point, and whole-image AVIF at every quality."""

    def __init__(self, pipeline, ladder, avif_qualities, knob: str = "region_quality"):
        self.pipeline = pipeline.build_all()
        self.ladder, self.qualities = list(ladder), list(avif_qualities)
        self.variants = {q: pipeline.variant(entropy_model={knob: q}) for q in self.ladder}
        opts = pipeline.resolved.options["entropy_model"]
        self.avif = {"speed": getattr(opts, "speed", 6), "subsampling": getattr(opts, "subsampling", "4:2:0")}
        self.heads = {head_key(pipeline, path): (task, head)
                      for (path, task, _), head in zip(head_paths(pipeline), pipeline.task_heads)}
        self.tasks = [t.name for t in pipeline.tasks]
        self.names: list[str] = []
        self.pixels: list[int] = []
        self.refs: dict[str, list] = {k: [] for k in self.heads}
        self.parts = {(t, q): [] for t in self.tasks for q in self.ladder}
        """Per (task, ladder point), per image: ``{"split": part_split(...), "preds": {head: prediction}}``."""
        self.whole = {q: [] for q in self.qualities}
        """Per AVIF quality, per image: ``{"bytes": n, "preds": {head: prediction}}``."""

    def _still(self, image: np.ndarray, q: int) -> bytes:
        key = (hashlib.sha256(image.tobytes()).hexdigest(), image.shape, q, tuple(sorted(self.avif.items())))
        if key not in _STILLS:
            _STILLS[key] = encode_still(image, "avif", q, **self.avif)
        return _STILLS[key]

    def add(self, image: np.ndarray, meta) -> None:
        h, w = image.shape[:2]
        self.names.append(meta.name)
        self.pixels.append(w * h)
        for k, (_, head) in self.heads.items():
            self.refs[k].append(head.predict(image))
        regions = self.pipeline.ground(image, meta)  # the grounders' options are the same at every ladder point
        for q, variant in self.variants.items():
            stream = variant.encode(image, meta, regions=regions)
            for task in self.tasks:
                part = stream.extract(task=task)
                recon = variant.decode(part)
                self.parts[(task, q)].append({"split": part_split(part), "preds": {
                    k: head.predict(recon) for k, (t, head) in self.heads.items() if t == task}})
        for q in self.qualities:
            data = self._still(image, q)
            recon = decode_still(data, "avif", (w, h))
            self.whole[q].append({"bytes": len(data),
                                  "preds": {k: head.predict(recon) for k, (_, head) in self.heads.items()}})


def _curve(head, key: str, refs: list, points: dict, pixels: int, size) -> list[dict]:
    """Agreement over the set (``head.score``) and bpp (total bits / total pixels) at every point."""
    return [{"q": q, "bpp": bpp(sum(size(r) for r in recs), pixels, 1),
             "agreement": float(head.score([r["preds"][key] for r in recs], references=refs)["agreement"])}
            for q, recs in points.items()]


def _first_at(curve: list[dict], level: float) -> dict | None:
    return next((c for c in sorted(curve, key=lambda c: c["bpp"]) if c["agreement"] >= level - 1e-9), None)


def _smallest_agreeing(head, key, ref, points: dict, i: int, pixels: int, size) -> dict:
    """The cheapest point whose top-1 on image ``i`` agrees (if none: the top point, ``agrees: False``), and
    ``stable_q`` / ``stable_bpp``: the lowest point from which every higher point agrees (None if the top does not)."""
    flags = [(q, bpp(size(recs[i]), pixels, 1),
              head.score([recs[i]["preds"][key]], references=[ref])["agreement"] == 1.0)
             for q, recs in sorted(points.items())]
    stable = None
    for q, b, ok in reversed(flags):
        if not ok:
            break
        stable = {"stable_q": q, "stable_bpp": b}
    agree = [(b, q) for q, b, ok in flags if ok]
    b, q = min(agree) if agree else (flags[-1][1], flags[-1][0])
    return {"q": q, "bpp": b, "agrees": bool(agree), **(stable or {"stable_q": None, "stable_bpp": None})}


def per_image(rate: TaskRate, key: str, task: str) -> dict:
    """(a): each image's smallest agreeing task-only bpp and whole-image AVIF bpp, and the ratio of the sums."""
    head = rate.heads[key][1]
    parts = {q: rate.parts[(task, q)] for q in rate.ladder}
    rows = []
    for i, name in enumerate(rate.names):
        ref = rate.refs[key][i]
        t = _smallest_agreeing(head, key, ref, parts, i, rate.pixels[i], lambda r: r["split"]["total"])
        a = _smallest_agreeing(head, key, ref, rate.whole, i, rate.pixels[i], lambda r: r["bytes"])
        rows.append({"image": name, "task_only": t, "avif": a, "ratio": t["bpp"] / a["bpp"]})
    both = [r for r in rows if r["task_only"]["agrees"] and r["avif"]["agrees"]]

    stable = [r for r in rows if r["task_only"]["stable_q"] is not None and r["avif"]["stable_q"] is not None]

    def ratio(rs, field="bpp"):
        return sum(r["task_only"][field] for r in rs) / sum(r["avif"][field] for r in rs) if rs else None
    return {"images": rows, "ratio_of_sums": ratio(rows), "ratio_of_sums_both_agree": ratio(both),
            "ratio_of_sums_stable": ratio(stable, "stable_bpp"), "stable_images": len(stable),
            "task_only_never_agree": sum(not r["task_only"]["agrees"] for r in rows),
            "avif_never_agree": sum(not r["avif"]["agrees"] for r in rows),
            "never_agree_enter_at": "the bpp of the ladder's top point (task-only: highest region_quality; "
                                    "AVIF: highest quality), flagged agrees=false"}


def analyse(rate: TaskRate, level: float = 0.9, method: str = "pchip", at: int | None = None) -> dict:
    """Per head: (a) per image where the head is scored per image, (b) curves + BD-rate, (c) bytes split."""
    pixels = sum(rate.pixels)
    out: dict = {"images": rate.names, "ladder": rate.ladder, "avif_qualities": rate.qualities,
                 "avif_settings": rate.avif, "heads": {}, "bytes": {}}
    for key, (task, head) in rate.heads.items():
        refs = rate.refs[key]
        parts = {q: rate.parts[(task, q)] for q in rate.ladder}
        tcurve = _curve(head, key, refs, parts, pixels, lambda r: r["split"]["total"])
        acurve = _curve(head, key, refs, rate.whole, pixels, lambda r: r["bytes"])
        bd = bd_rate([c["bpp"] for c in acurve], [c["agreement"] for c in acurve],
                     [c["bpp"] for c in tcurve], [c["agreement"] for c in tcurve], method=method, monotonic=True)
        entry = {"task": task, "agreement": AGREEMENT.get(head.task, "agreement over the set") if scored_over_set(head)
                 else "fraction of images with the original's top-1",
                 "task_only": tcurve, "avif": acurve, "bd_rate": bd.as_dict(),
                 "level": level, "task_only_at_level": _first_at(tcurve, level),
                 "avif_at_level": _first_at(acurve, level)}
        if not scored_over_set(head):
            entry["per_image"] = per_image(rate, key, task)
        out["heads"][key] = entry
    at = at if at in rate.ladder else rate.ladder[len(rate.ladder) // 2]
    for task in rate.tasks:
        per_point = {q: {k: sum(r["split"][k] for r in recs) for k in recs[0]["split"]}
                     for q in rate.ladder if (recs := rate.parts[(task, q)])}
        out["bytes"][task] = {"representative_q": at, "at": per_point[at], "per_point": per_point}
    return out
