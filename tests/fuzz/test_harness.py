"""The fuzz harness itself (discover_core.testing.fuzz): it tells every outcome apart, its mutations get past
the container's checksums, and a seed gives the same inputs every time."""

from __future__ import annotations

import json

import pytest

from discover_core.bitstream import Stream
from discover_core.errors import StreamError
from discover_core.testing import fuzz

EXPECTED = {
    b"ok": fuzz.OK, b"refuse": fuzz.REFUSED, b"segv": fuzz.SIGNAL, b"abort": fuzz.SIGNAL, b"hang": fuzz.HANG,
    b"alloc": fuzz.MEMORY, b"bug-memory": fuzz.MEMORY, b"bug": fuzz.PLUGIN_BUG, b"internal": fuzz.INTERNAL,
    b"exit": fuzz.INTERNAL,
}


@pytest.fixture(scope="module")
def seeds():
    return fuzz.make_seeds(["roi-image"], images=1)


def test_every_outcome_is_told_apart():
    cases = [fuzz.Case(k, "selftest", k.decode()) for k in EXPECTED]
    with fuzz.Pool(1, timeout=3, memory=1 << 30, decoder="discover_core.testing.fuzz:selftest_decode") as pool:
        got = {case.data: result for case, result in pool.run(cases)}
    assert {k: r["outcome"] for k, r in got.items()} == EXPECTED
    assert got[b"segv"]["detail"] == "killed by SIGSEGV"
    assert got[b"hang"]["seconds"] < 3 + 5
    assert all(r["peak_rss"] > 0 for r in got.values())


def test_a_worker_survives_its_children():
    """A crash kills only the forked child: the next input is decoded by the same worker."""
    cases = [fuzz.Case(b"segv", "selftest", "segv"), fuzz.Case(b"ok", "selftest", "ok")] * 3
    with fuzz.Pool(1, timeout=5, decoder="discover_core.testing.fuzz:selftest_decode") as pool:
        proc = pool.workers[0][0]
        outcomes = [r["outcome"] for _, r in pool.run(cases)]
        assert pool.workers[0][0] is proc and proc.poll() is None
    assert outcomes == [fuzz.SIGNAL, fuzz.OK] * 3


def test_seeds_round_trip(seeds):
    assert {s.codec for s in seeds} == {"roi-image"}
    assert any("-task-" in s.name for s in seeds)
    for s in seeds:
        assert fuzz.serialise(fuzz.parse(s.data)) == s.data
        assert fuzz.decode_bytes(s.data)[2] == 3


def test_structured_mutations_pass_the_checksums(seeds):
    """Every structured mutation is re-serialised with right lengths and CRC-32s: the container never refuses
    it for a checksum (only the plain byte-level mutations are meant to fail those)."""
    mutator = fuzz.Mutator(seeds, seed=3)
    structured = 0
    kinds = set()
    for case in (mutator.case("roi-image") for _ in range(400)):
        kinds.add(case.kind)
        if case.kind != "structured":
            continue
        structured += 1
        try:
            Stream.from_bytes(case.data)
        except StreamError as exc:
            assert "checksum" not in exc.message and "truncated" not in exc.message, (case.recipe, exc.message)
    assert structured > 250
    assert kinds == {"structured", "stale", "header-bytes", "bytes"}


def test_same_seed_same_inputs(seeds):
    a = [c.data for c, _ in zip(fuzz.Mutator(seeds, seed=11).cases(), range(50))]
    b = [c.data for c, _ in zip(fuzz.Mutator(seeds, seed=11).cases(), range(50))]
    c = [c.data for c, _ in zip(fuzz.Mutator(seeds, seed=12).cases(), range(50))]
    assert a == b != c


def test_failing_inputs_are_written_by_class_and_hash(tmp_path):
    case = fuzz.Case(b"DSCV-crafted", "hyperprior", "a recipe")
    path = fuzz.write_reproducer(tmp_path, case, {"outcome": fuzz.SIGNAL, "detail": "killed by SIGSEGV",
                                                  "seconds": 0.1, "peak_rss": 1})
    assert path.name == f"signal-hyperprior-{case.digest}.dscv" and path.read_bytes() == case.data
    (line,) = (tmp_path / "index.jsonl").read_text().splitlines()
    assert json.loads(line)["recipe"] == "a recipe"


@pytest.mark.parametrize("exc, outcome", [
    (StreamError("x"), fuzz.REFUSED), (MemoryError(), fuzz.MEMORY), (KeyError("k"), fuzz.INTERNAL),
    (RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 8 bytes"), fuzz.MEMORY),
    (None, fuzz.OK),
])
def test_classify(exc, outcome):
    assert fuzz.classify(exc)[0] == outcome
