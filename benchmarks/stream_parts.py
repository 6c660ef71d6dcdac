"""Container bytes of a multi-task stream and of each task's part: format 1.1 (JSON), 2.0 (binary) and 3.0
(binary, with the static string table).

Runs a schema 2 pipeline (default: examples/pipelines/classification-and-faces.yaml: ImageNet
classification with `cam` and faces with `face`; the built-in ones are discover_core/data/default.yaml,
detection.yaml and segmentation.yaml) on the demo photos and prints, per photo, for the full stream and each
task's part, the payload bytes and the container bytes (everything but the payloads) of the same stream
written in format 1.1 as it was written before 2.0 (zlib-compressed JSON, every decoder option recorded), in
format 2.0 and in format 3.0 (what discover writes), each split into

* fixed: prefix, header length, CRCs, image size, components, params, task table (the container of the same
  header without chunks and labels);
* chunks: what the chunk entries add without their labels and boxes (kind, name, length, CRC-32, tasks;
  the name table), with the per-chunk mean;
* labels/boxes: what the label table and the chunks' labels and boxes add.

(zlib makes the 1.1 split approximate: its parts need not add up exactly; the total is exact.)

    python benchmarks/stream_parts.py [-c PIPELINE] [--photo chelsea ...]

The issue 20 goals: at most 64 bytes fixed and 8 bytes a chunk (the chunk entries; the per-chunk mean
printed also holds the chunk name table) in the format written.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from discover_core.bitstream import FORMAT_VERSION, ComponentRecord, Stream
from discover_core.demo import demo_photos
from discover_core.interfaces import path_options
from discover_core.pipeline import load_pipeline

ROOT = Path(__file__).resolve().parents[1]


def every_decoder_option(pipeline, kind: str, rec: ComponentRecord) -> ComponentRecord:
    """``rec`` with every decoder option recorded, defaults included (what ``record()`` wrote before 2.0)."""
    cls = pipeline.registry.get(kind, rec.plugin).cls
    options = cls.Options.model_validate(rec.options).model_dump(mode="json")
    keep, paths = cls.decoder_options, path_options(cls.Options)
    return rec.model_copy(update={"options": {k: v for k, v in options.items()
                                              if (keep is None or k in keep) and k not in paths}})


def as_1_1(pipeline, stream: Stream) -> Stream:
    h = stream.header
    records = {slot: every_decoder_option(pipeline, slot, getattr(h, slot)) for slot in ("entropy_model", "composer")}
    return Stream(h.model_copy(update=records), stream.chunks, (1, 1))


def split(stream: Stream) -> dict[str, int]:
    """The container bytes of ``stream``: total, fixed, chunks (without labels and boxes), labels/boxes."""
    h = stream.header

    def container(**update) -> int:
        return Stream(h.model_copy(update=update), [], stream.version).header_bytes()

    total = stream.header_bytes()
    fixed = container(chunks=[], labels=[], content_chunks_encoded=0)
    plain = container(labels=[], chunks=[e.model_copy(update={"labels": [], "boxes": []}) for e in h.chunks])
    return {"total": total, "fixed": fixed, "chunks": plain - fixed, "labels/boxes": total - plain,
            "n": len(stream.chunks)}


def show(s: dict[str, int]) -> str:
    per = f" ({s['chunks'] / s['n']:.1f}/chunk)" if s["n"] else ""
    return f"{s['total']} = {s['fixed']} + {s['chunks']}{per} + {s['labels/boxes']}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-c", "--config", type=Path, default=ROOT / "examples/pipelines/classification-and-faces.yaml")
    ap.add_argument("--photo", action="append", help="demo photo (repeatable); default: all")
    args = ap.parse_args()
    pipeline = load_pipeline(args.config).build_all()
    tasks = [t.name for t in pipeline.tasks]
    print(f"pipeline {args.config.name}: tasks {', '.join(tasks)}")
    now = f"{FORMAT_VERSION[0]}.{FORMAT_VERSION[1]}"
    print("| photo | stream | chunks | payload bytes | 1.1 container = fixed + chunks + labels/boxes "
          f"| 2.0 container = fixed + chunks + labels/boxes | {now} container = fixed + chunks + labels/boxes "
          f"| saved by {now} (of the 1.1 stream) | encode s |")
    print("|---" * 9 + "|")
    totals = {"1.1": 0, "2.0": 0, now: 0, "payloads": 0}
    for photo in demo_photos(args.photo):
        t0 = time.perf_counter()
        stream = pipeline.encode(photo.image)
        seconds = f"{time.perf_counter() - t0:.2f}"
        for what, s in [("full", stream)] + [(f"{t} part", stream.extract(task=t)) for t in tasks]:
            old, v2, new = split(as_1_1(pipeline, s)), split(Stream(s.header, s.chunks, (2, 0))), split(s)
            payloads = sum(len(c.payload) for c in s.chunks)
            saved = old["total"] - new["total"]
            totals["1.1"] += old["total"]
            totals["2.0"] += v2["total"]
            totals[now] += new["total"]
            totals["payloads"] += payloads
            print(f"| {photo.name} | {what} | {len(s.chunks)} | {payloads} | {show(old)} | {show(v2)} | {show(new)} "
                  f"| {saved} ({saved / (payloads + old['total']):.1%}) | {seconds} |")
            seconds = ""
    saved = totals["1.1"] - totals[now]
    print(f"| all | | | {totals['payloads']} | {totals['1.1']} | {totals['2.0']} | {totals[now]} "
          f"| {saved} ({saved / (totals['payloads'] + totals['1.1']):.1%}) | |")


if __name__ == "__main__":
    main()
