"""Bytes of a multi-task stream and of each task's part, and what pruning a part's header saves.

Runs a schema 2 pipeline (default: examples/pipelines/classification-and-faces.yaml: ImageNet
classification with `cam` and faces with `face`) on the demo photos and prints, per photo, the full
stream's bytes and each task's part, and the header bytes of each part with the header pruned to the
part's own labels and tasks (what `extract` writes) and with the full stream's label and task tables
kept (what it wrote before Core v2). Ratios are against the full stream of the same photo.

    python benchmarks/stream_parts.py [-c PIPELINE] [--photo chelsea ...]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from discover_core.bitstream import Stream, StreamHeader, _entry
from discover_core.demo import demo_photos
from discover_core.pipeline import load_pipeline

ROOT = Path(__file__).resolve().parents[1]


def unpruned(full: Stream, part: Stream) -> Stream:
    """``part`` with the full stream's label and task tables (the header as extract wrote it before v2)."""
    labels, tasks = list(full.header.labels), list(full.header.tasks)
    header = StreamHeader.model_validate({**part.header.model_dump(), "labels": labels, "tasks": tasks,
                                          "chunks": [_entry(c, labels, tasks).model_dump() for c in part.chunks]})
    return Stream(header, part.chunks)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-c", "--config", type=Path, default=ROOT / "examples/pipelines/classification-and-faces.yaml")
    ap.add_argument("--photo", action="append", help="demo photo (repeatable); default: all")
    args = ap.parse_args()
    pipeline = load_pipeline(args.config).build_all()
    tasks = [t.name for t in pipeline.tasks]
    print(f"pipeline {args.config.name}: tasks {', '.join(tasks)}")
    print("| photo | full bytes | " + " | ".join(f"{t} part (ratio)" for t in tasks)
          + " | " + " | ".join(f"{t} header pruned / unpruned" for t in tasks) + " | encode s |")
    print("|---" * (2 + 2 * len(tasks) + 1) + "|")
    totals = {"full": 0, **{t: 0 for t in tasks}}
    for photo in demo_photos(args.photo):
        t0 = time.perf_counter()
        stream = pipeline.encode(photo.image)
        seconds = time.perf_counter() - t0
        full = len(stream.to_bytes())
        totals["full"] += full
        parts, headers = [], []
        for t in tasks:
            part = stream.extract(task=t)
            n = len(part.to_bytes())
            totals[t] += n
            parts.append(f"{n} ({n / full:.2f})")
            headers.append(f"{part.header_bytes()} / {unpruned(stream, part).header_bytes()}")
        print(f"| {photo.name} | {full} | " + " | ".join(parts) + " | " + " | ".join(headers)
              + f" | {seconds:.2f} |")
    print("| all | " + str(totals["full"]) + " | "
          + " | ".join(f"{totals[t]} ({totals[t] / totals['full']:.2f})" for t in tasks) + " |")


if __name__ == "__main__":
    main()
