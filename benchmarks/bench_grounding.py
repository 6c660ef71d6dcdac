"""Grounding with many candidate labels, and how many requests the label cache saves, in the same run.

    python benchmarks/bench_grounding.py [--repeat 5]

1. Grounding time of a tiny Grounding DINO (random weights, the real architecture and tokenizer; see
   ``discover_opensets.tiny``) on one image for 100 and 300 candidate labels, which are split into several
   prompts run as one batch, as ratios against one prompt of 20 labels (median of ``--repeat``, the three
   label counts timed alternately).
2. The requests a local OpenAI-compatible stand-in server counts for a first and a second
   ``discover labels generate`` of a two-task pipeline (the second is answered from the label cache).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml


def bench_grounding(repeat: int, tmp: Path) -> list[tuple[int, int, float]]:
    from discover_core.interfaces import Context, ImageMeta
    from discover_opensets.grounding_dino import GroundingDino
    from discover_opensets.tiny import tiny_grounding_dino

    words = [f"w{i}" for i in range(300)] + ["object", "small", "red", "large"]
    folder = tiny_grounding_dino(tmp / "tiny-gdino", words, num_queries=100, image_size=320)
    grounder = GroundingDino(GroundingDino.Options(model=str(folder)), Context())
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    # labels of 1-3 words, as an LLM writes them
    labels = [" ".join(["small", "red", "large"][: i % 3] + [f"w{i}"]) for i in range(300)]
    sets = {n: labels[:n] for n in (20, 100, 300)}
    meta = ImageMeta("bench")
    for labs in sets.values():  # warm-up; tokenized prompts are cached per label set, as in a real run
        grounder.ground(image, labs, meta)
    times: dict[int, list[float]] = {n: [] for n in sets}
    for _ in range(repeat):
        for n, labs in sets.items():
            t = time.perf_counter()
            grounder.ground(image, labs, meta)
            times[n].append(time.perf_counter() - t)
    return [(n, len(grounder.plan(sets[n])[1]), statistics.median(times[n])) for n in sets]


def bench_requests(tmp: Path) -> tuple[int, int]:
    from discover_core import build
    from discover_core.cli import cli, main
    from discover_core.cli_labels import labels
    from discover_llm.fakes import FakeOpenAI

    if "labels" not in cli.commands:
        cli.add_command(labels)
    os.environ["DISCOVER_CACHE_DIR"] = str(tmp / "cache")
    os.environ.setdefault("BENCH_OPENAI_KEY", "sk-bench")
    with FakeOpenAI() as server:
        source = {"plugin": "openai", "options": {"base_url": server.base_url, "api_key_env": "BENCH_OPENAI_KEY"}}
        data = {"schema_version": 2,
                "tasks": [{"name": "detection", "description": "detect objects", "label_source": source},
                          {"name": "classification", "description": "classify the photo", "label_source": source}],
                "grounders": [{"plugin": "boxes", "options": {"file": "boxes.json"}}],
                "entropy_model": {"plugin": "roi-image"}, "composer": {"plugin": "paste"}}
        (tmp / "pipeline.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
        counts = []
        for _ in range(2):
            build.clear()
            before = server.count
            code = main(["labels", "generate", "-c", str(tmp / "pipeline.yaml")])
            if code != 0:
                raise SystemExit(f"discover labels generate exited with {code}")
            counts.append(server.count - before)
    return counts[0], counts[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        rows = bench_grounding(args.repeat, tmp)
        base = rows[0][2]
        print("| candidate labels | prompts | grounding time (median) | ratio to 20 labels |")
        print("|---:|---:|---:|---:|")
        for n, prompts, t in rows:
            print(f"| {n} | {prompts} | {t * 1000:.0f} ms | {t / base:.2f}x |")
        first, second = bench_requests(tmp)
        print()
        print("| `discover labels generate` (2 tasks) | requests the server counted |")
        print("|---|---:|")
        print(f"| first | {first} |")
        print(f"| second (label cache) | {second} |")


if __name__ == "__main__":
    main()
