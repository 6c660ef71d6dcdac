"""A short bounded fuzz pass over the three codecs: no input may crash, hang, exhaust memory or raise
anything but a clean refusal (a DiscoverError) while decoding.

The known crafted cases (discover_core.testing.fuzz.KNOWN: short and filled latent strings on a larger
declared image, 0xFF payloads, oversized architecture options, threads, groups, seeds, 4096x4096 headers)
are made afresh from this version's own streams, so they keep testing the decoder if the stream format
changes; then mutated seeds follow. Failing inputs are left in the test's tmp folder
(``<class>-<codec>-<hash>.dscv`` with ``index.jsonl``); ``scripts/fuzz_streams.py`` runs longer passes.
"""

from __future__ import annotations

from discover_core.testing import fuzz

INPUTS = 90
SEED = 1234


def test_short_fuzz_pass_finds_no_failure(tmp_path):
    seeds = fuzz.make_seeds(fuzz.CODECS, images=2)
    assert {s.codec for s in seeds} == set(fuzz.CODECS)
    known = fuzz.known_cases(seeds)
    assert {c.codec for c in known} == set(fuzz.CODECS)
    report = fuzz.fuzz(seeds, codecs=fuzz.CODECS, inputs=INPUTS, seed=SEED, jobs=1, timeout=30,
                       out=tmp_path / "failures", extra=known)
    failures = "\n".join(f"  {r['outcome']}: {case.recipe}\n      -> {r['detail'][:200]}"
                         for case, r in report.failures)
    assert report.failed == 0, f"{report.table()}\n\nfailing inputs (in {tmp_path / 'failures'}):\n{failures}"
    assert report.inputs == INPUTS + len(known)
    assert set(report.by_codec) == set(fuzz.CODECS)
    assert report.counts[fuzz.OK] > 0 and report.counts[fuzz.REFUSED] > 0
