"""The demo's whole-image baselines code each (photo, codec, quality) once, and stay within their byte bound."""

from __future__ import annotations

import numpy as np
import pytest

from discover_core.demo import baselines
from discover_core.stills import encode_still


@pytest.fixture
def coded(monkeypatch) -> list[int]:
    """The qualities the baselines code, in order (encode_still counted)."""
    qualities: list[int] = []

    def counting(pixels, codec, quality, **kw):
        qualities.append(quality)
        return encode_still(pixels, codec, quality, **kw)

    monkeypatch.setattr(baselines, "encode_still", counting)
    return qualities


def test_searches_share_their_stills(monkeypatch, coded):
    image = (np.random.default_rng(0).random((48, 64, 3)) * 255).astype(np.uint8)
    monkeypatch.setattr(baselines, "STILLS", baselines.StillCache())
    q, data = baselines.closest_bpp(image, "jpeg", 1500)
    assert data == encode_still(image, "jpeg", q)
    first = len(coded)
    assert baselines.closest_bpp(image.copy(), "jpeg", 1500) == (q, data)  # same pixels, another array
    assert len(coded) == first and len(set(coded)) == len(coded)


def test_the_cache_drops_the_oldest_beyond_its_bound():
    image = np.zeros((32, 32, 3), np.uint8)
    cache = baselines.StillCache(max_bytes=1)
    cache.encode(image, "jpeg", 50)
    cache.encode(image, "jpeg", 60)
    assert len(cache._stills) == 0 and cache.size == 0
    roomy = baselines.StillCache()
    roomy.encode(image, "jpeg", 50)
    assert cache.size == 0 and roomy.size == len(encode_still(image, "jpeg", 50))


def test_smallest_quality_finds_the_first_passing_quality_of_any_monotone_measure():
    rng = np.random.default_rng(1)
    for trial in range(300):
        values = np.cumsum(rng.choice([0.0, 0.0, 0.5, 3.0, 40.0], 100)) if trial % 2 else \
            np.cumsum(rng.random(100)) ** 2  # flat stretches and jumps; and a smooth convex curve
        target = float(rng.uniform(values[0] - 1, values[-1] + 1))
        for strict in (False, True):
            passing = [q for q in range(1, 101) if (values[q - 1] > target if strict else values[q - 1] >= target)]
            found = baselines.smallest_quality(lambda q: float(values[q - 1]), target, strict)
            assert found == (passing[0] if passing else 100)


def test_smallest_quality_probes_a_smooth_curve_less_than_a_bisection():
    probes = []

    def log_size(q):  # a still codec's log size against quality: nearly linear
        probes.append(q)
        return 6.0 + 0.035 * q + 0.002 * np.sin(q)

    for target in np.linspace(6.2, 9.3, 25):
        probes.clear()
        q = baselines.smallest_quality(log_size, float(target), strict=True)
        assert len(probes) - 2 <= 3  # a bisection of 1..100 needs 6 or 7 probes besides the two ends
        assert log_size(q) > target and (q == 1 or log_size(q - 1) <= target)


def test_processes_share_stills_through_a_folder(tmp_path, coded):
    """A still another cache (process) coded is read from the shared folder; one being coded is waited for."""
    import threading

    image = (np.random.default_rng(2).random((40, 56, 3)) * 255).astype(np.uint8)
    first, second = baselines.StillCache(folder=tmp_path), baselines.StillCache(folder=tmp_path)
    assert first.encode(image, "jpeg", 40) == second.encode(image, "jpeg", 40) == encode_still(image, "jpeg", 40)
    assert coded == [40] and not list(tmp_path.glob("*.lock")) and not list(tmp_path.glob("*.tmp"))

    key = (second._image_key(image), "jpeg", 70)
    lock = tmp_path / f"{key[0][:40]}-jpeg-70.lock"
    lock.touch()  # "another process is coding it"
    got = []
    waiter = threading.Thread(target=lambda: got.append(second.encode(image, "jpeg", 70)))
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive() and coded == [40]  # waiting, not coding
    (tmp_path / f"{key[0][:40]}-jpeg-70").write_bytes(b"coded elsewhere")
    waiter.join(5)
    assert got == [b"coded elsewhere"] and coded == [40]
    impatient = baselines.StillCache(folder=tmp_path, wait_s=0.05)
    (tmp_path / f"{key[0][:40]}-jpeg-80.lock").touch()  # a crashed coder's lock: coded here after the wait
    assert impatient.encode(image, "jpeg", 80) == encode_still(image, "jpeg", 80) and coded == [40, 80]
