"""The demo's whole-image baselines code each (photo, codec, quality) once, and stay within their byte bound."""

from __future__ import annotations

import numpy as np

from discover_core.demo import baselines
from discover_core.stills import encode_still


def test_searches_share_their_stills(monkeypatch):
    image = (np.random.default_rng(0).random((48, 64, 3)) * 255).astype(np.uint8)
    coded = []

    def counting(pixels, codec, quality, **kw):
        coded.append(quality)
        return encode_still(pixels, codec, quality, **kw)

    monkeypatch.setattr(baselines, "encode_still", counting)
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
