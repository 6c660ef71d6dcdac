"""Stored crafted streams that once crashed or misbehaved (see reproducers/README.md): each decodes, in a
child process with a timeout and a memory limit, to a clean refusal or a clean picture; never a signal, a
hang, memory exhaustion, a plugin bug or another internal error.

Each file is decoded as stored and, if its components now write another format version, once more with the
header's format versions set to the installed ones (CRCs recomputed): a format change must not turn a
reproducer into a mere version refusal that no longer reaches the decoder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from discover_core.testing import fuzz

FOLDER = Path(__file__).parent / "reproducers"
FILES = sorted(FOLDER.glob("*.dscv"))


def test_the_reproducers_are_there_and_small():
    assert len(FILES) >= 20
    sizes = {p.name: p.stat().st_size for p in FILES}
    assert all(n < 100_000 for n in sizes.values()), sizes
    assert sum(sizes.values()) < 1_000_000
    assert all(p.read_bytes().startswith(b"DSCV") for p in FILES)


@pytest.fixture(scope="module")
def pool():
    with fuzz.Pool(1, timeout=60, memory=fuzz.DEFAULT_MEMORY) as p:
        yield p


def decode(pool, data: bytes, name: str) -> dict:
    ((_, result),) = list(pool.run([fuzz.Case(data, "", name)]))
    return result


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_reproducer_is_decoded_or_refused_cleanly(pool, path):
    data = path.read_bytes()
    result = decode(pool, data, path.name)
    assert result["outcome"] in (fuzz.OK, fuzz.REFUSED), f"{path.name}: {result['outcome']}: {result['detail']}"
    current = fuzz.retarget(data)
    if current is not None:
        result = decode(pool, current, path.name)
        assert result["outcome"] in (fuzz.OK, fuzz.REFUSED), \
            f"{path.name} (at the installed format version): {result['outcome']}: {result['detail']}"
