#!/usr/bin/env python
"""Fuzz the stream decoder: structure-aware mutations of real streams, each decoded in a child process.

    python scripts/fuzz_streams.py --minutes 5                       # every codec, one worker
    python scripts/fuzz_streams.py --inputs 2000 --codecs hyperprior --jobs 2 --seed 7 --out fuzz-out/
    python scripts/fuzz_streams.py --write-known tests/fuzz/reproducers/   # store the known crafted cases
    python scripts/fuzz_streams.py --self-test                       # check that every failure class is seen
    python scripts/fuzz_streams.py --atheris --minutes 10 -- -max_len=200000   # coverage-guided (atheris)

Seeds are small real photos encoded with roi-image (AVIF, JPEG), hyperprior (checkpoint builtin) and a tiny
elic (checkpoint null), and the task parts of each. Every input is decoded as ``discover decode`` does, in a
child forked from a warmed worker, under a timeout and an address-space limit. Outcomes: ok, refused (a
DiscoverError: exit code 2 of the CLI) and the failures signal, hang, memory, plugin-bug, internal. Failing
inputs are written to --out as ``<class>-<codec>-<hash>.dscv`` with ``index.jsonl`` (recipe and error). The
exit code is 1 if any failure was found. The logic lives in :mod:`discover_core.testing.fuzz`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, help="run this long (default: 1 minute unless --inputs is given)")
    p.add_argument("--inputs", type=int, help="decode this many mutated inputs")
    p.add_argument("--seed", type=int, default=0, help="seed of the mutations (same seed, same inputs)")
    p.add_argument("--codecs", default="roi-image,hyperprior,elic", help="comma-separated: roi-image,hyperprior,elic")
    p.add_argument("--jobs", type=int, default=1, help="worker processes (each decodes one input at a time)")
    p.add_argument("--out", type=Path, default=Path("fuzz-out"), help="folder for failing inputs")
    p.add_argument("--timeout", type=float, default=None, help="seconds one decode may take (default 20)")
    p.add_argument("--memory-mb", type=int, default=2048,
                   help="memory one decode may add to its worker: address space and peak RSS (MiB)")
    p.add_argument("--images", type=int, default=3, help="photos per codec to make seeds of (1-4)")
    p.add_argument("--no-known", action="store_true", help="skip the known crafted cases decoded first")
    p.add_argument("--write-known", type=Path, metavar="DIR",
                   help="write the known crafted cases to DIR as <name>.dscv (weights fingerprints removed), "
                        "then stop")
    p.add_argument("--self-test", action="store_true",
                   help="check that the harness tells every outcome apart (a stand-in decoder), then stop")
    p.add_argument("--verbose", action="store_true",
                   help="let the decoding children print to stderr; list the most frequent refusals")
    p.add_argument("--atheris", action="store_true",
                   help="coverage-guided in-process fuzzing with atheris (arguments after -- go to libFuzzer)")
    args, rest = p.parse_known_args(argv)
    if args.atheris:
        return run_atheris(args, rest)

    from discover_core.testing import fuzz

    codecs = [c.strip() for c in args.codecs.split(",") if c.strip()]
    unknown = sorted(set(codecs) - set(fuzz.CODECS))
    if unknown:
        p.error(f"unknown codec(s) {', '.join(unknown)}; choose from {', '.join(fuzz.CODECS)}")
    memory = args.memory_mb << 20
    timeout = args.timeout or fuzz.DEFAULT_TIMEOUT

    if args.self_test:
        return self_test(fuzz, timeout=min(timeout, 5.0))

    t0 = time.monotonic()
    seeds = fuzz.make_seeds(codecs, images=max(1, min(4, args.images)))
    print(f"{len(seeds)} seed streams ({', '.join(codecs)}) in {time.monotonic() - t0:.1f} s", file=sys.stderr)

    if args.write_known:
        args.write_known.mkdir(parents=True, exist_ok=True)
        for name, _, _ in fuzz.KNOWN:
            for case in fuzz.known_cases(seeds, [name], strip_weights=True):
                path = args.write_known / f"{name}.dscv"
                path.write_bytes(case.data)
                print(f"{path} ({len(case.data)} bytes)")
        return 0

    if rest:
        p.error(f"unrecognized arguments: {' '.join(rest)}")

    minutes = args.minutes if args.minutes is not None or args.inputs is not None else 1.0
    extra = [] if args.no_known else fuzz.known_cases(seeds)

    def progress(r) -> None:
        print(f"  {r.inputs} inputs, {r.inputs / max(r.seconds, 1e-9):.1f}/s, failures {r.failed} "
              f"({', '.join(f'{o} {r.counts[o]}' for o in fuzz.FAILURES if r.counts[o])})", file=sys.stderr)

    report = fuzz.fuzz(seeds, codecs=codecs, inputs=args.inputs, minutes=minutes, seed=args.seed, jobs=args.jobs,
                       timeout=timeout, memory=memory, out=args.out, extra=extra, progress=progress,
                       quiet=not args.verbose)
    print(report.table())
    if args.verbose:
        print(f"\nmost frequent refusals:\n{report.top_refusals(25)}")
    return 1 if report.failed else 0


def self_test(fuzz, timeout: float) -> int:
    """Every outcome of the stand-in decoder must be classified as expected."""
    expected = {b"ok": fuzz.OK, b"refuse": fuzz.REFUSED, b"segv": fuzz.SIGNAL, b"abort": fuzz.SIGNAL,
                b"hang": fuzz.HANG, b"alloc": fuzz.MEMORY, b"bug-memory": fuzz.MEMORY, b"bug": fuzz.PLUGIN_BUG,
                b"internal": fuzz.INTERNAL, b"exit": fuzz.INTERNAL}
    cases = [fuzz.Case(k, "selftest", k.decode()) for k in expected]
    wrong = 0
    with fuzz.Pool(1, timeout=timeout, memory=1 << 30, decoder="discover_core.testing.fuzz:selftest_decode") as pool:
        for case, result in pool.run(cases):
            ok = result["outcome"] == expected[case.data]
            wrong += not ok
            print(f"{case.recipe:<12} -> {result['outcome']:<11} {'ok' if ok else 'WRONG'}  {result['detail'][:70]}")
    return 1 if wrong else 0


def run_atheris(args, rest: list[str]) -> int:
    """libFuzzer through atheris, in this process, coverage of discover's own modules: a failure (crash, an
    exception other than a DiscoverError, timeout, RSS limit) stops it and leaves a ``crash-*`` / ``timeout-*``
    / ``oom-*`` file in --out. Structure-aware mutations (the same as the harness's) drive it."""
    try:
        import atheris
    except ImportError:
        print("atheris is not installed (pip install atheris; Linux, Python < 3.13)", file=sys.stderr)
        return 2
    import random

    ours = ["discover_core", "discover_learned", "discover_roi", "discover_static", "discover_boxes"]
    with atheris.instrument_imports(include=ours):
        from discover_core.testing import fuzz
        import discover_core.bitstream  # noqa: F401
        import discover_core.pipeline  # noqa: F401
        import discover_core.stills  # noqa: F401
        import discover_learned.component  # noqa: F401
        import discover_learned.elic_latent  # noqa: F401
        import discover_learned.latent  # noqa: F401
        import discover_roi.codec  # noqa: F401
        import discover_roi.paste  # noqa: F401
    from discover_core.errors import DiscoverError

    codecs = [c.strip() for c in args.codecs.split(",") if c.strip()]
    seeds = fuzz.make_seeds(codecs, images=max(1, min(4, args.images)))
    for data in {s.codec: s.data for s in seeds}.values():  # build the components once
        fuzz.decode_bytes(data)
    mutator = fuzz.Mutator(seeds, args.seed)
    corpus = args.out / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for s in seeds:
        (corpus / f"{s.name}.dscv").write_bytes(s.data)

    def test_one(data: bytes) -> None:
        try:
            fuzz.decode_bytes(data)
        except DiscoverError as exc:
            if fuzz.classify(exc)[0] != fuzz.REFUSED:  # OutOfMemory: the budget let it allocate too much
                raise

    def mutate(data: bytes, max_size: int, seed: int) -> bytes:
        mutator.rng = random.Random(seed)
        try:
            raw = fuzz.parse(data)
            codec = raw.header["entropy_model"]["plugin"]
        except Exception:  # noqa: BLE001 - not a stream any more: libFuzzer's own byte mutations
            return atheris.Mutate(data, max_size)
        if mutator.rng.random() < 0.1:
            return atheris.Mutate(data, max_size)
        (fn,) = mutator.rng.choices([f for _, f in mutator.structured], [w for w, _ in mutator.structured])
        try:
            fn(raw, codec)
            out = fuzz.serialise(raw)
        except Exception:  # noqa: BLE001
            return atheris.Mutate(data, max_size)
        return out[:max_size]

    timeout = int(args.timeout or fuzz.DEFAULT_TIMEOUT)
    libfuzzer = [sys.argv[0], str(corpus), f"-timeout={timeout}", f"-rss_limit_mb={args.memory_mb + 2048}",
                 f"-artifact_prefix={args.out}/", f"-seed={args.seed or 1}", "-max_len=1100000"]
    if args.minutes:
        libfuzzer.append(f"-max_total_time={int(args.minutes * 60)}")
    if args.inputs:
        libfuzzer.append(f"-runs={args.inputs}")
    atheris.Setup(libfuzzer + [a for a in rest if a != "--"], test_one, custom_mutator=mutate)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main())
