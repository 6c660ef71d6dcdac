"""Chunked coding: every latent position in one chunk, every subset decodes, arrived positions bit-exact."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from discover_core.errors import PayloadError
from discover_core.interfaces import Region

from discover_learned.layout import REST, chunk_map, grid_size, plan_chunks

SIZE = (256, 192)  # the conftest's image: three region groups that share no latent position, and the rest


def test_every_position_belongs_to_exactly_one_chunk(regions):
    plans = plan_chunks(regions, *SIZE)
    assert len(plans) == 3, [p.name for p in plans]
    grid = grid_size(*SIZE)
    cmap = chunk_map([(p.name, p.cells) for p in plans], grid)
    painted = np.zeros(cmap.shape, int)
    for p in plans:
        own = np.zeros(cmap.shape, bool)
        for x0, y0, x1, y1 in p.cells:
            own[y0:y1, x0:x1] = True
        painted += own
    assert painted.max() == 1, "a position is in two region chunks"
    assert ((cmap == len(plans)) == (painted == 0)).all(), "rest must be exactly the uncovered positions"


def test_overlapping_regions_share_one_chunk():
    regs = [Region((0, 0, 40, 40), "a"), Region((30, 30, 70, 70), "b"), Region((200, 100, 250, 150), "c")]
    plans = plan_chunks(regs, 256, 192)
    assert [p.labels for p in plans] == [("a", "b"), ("c",)]


def _subsets(encoded):
    content = [c for c in encoded.chunks if c.kind == "content"]
    side = [c for c in encoded.chunks if c.kind == "side"]
    for k in range(len(content) + 1):
        for sub in itertools.combinations(content, k):
            yield side + list(sub), {c.name for c in sub}


def test_every_subset_decodes_and_arrived_positions_are_exact(tiny, image, regions, draw):
    y, z = draw(tiny, image)
    encoded = tiny.encode_latent(y, *SIZE, regions, z=z)
    names = [c.name for c in encoded.chunks]
    assert names == ["hyperprior", "region-0", "region-1", "region-2", REST]
    full, _, arrived_full = tiny.decode_latent(SIZE, encoded.params, encoded.chunks)
    assert arrived_full.all()
    # the full decode is the quantised latent: round(y - μ) + μ
    _, means = tiny.latent_coder.parameters(tiny.latent_coder.encode_side(y, z)[1])
    assert torch.equal(full, torch.round(y - means) + means)
    plans = plan_chunks(regions, *SIZE)
    cmap = chunk_map([(p.name, p.cells) for p in plans], grid_size(*SIZE))
    index = {p.name: i for i, p in enumerate(plans)} | {REST: len(plans)}
    for chunks, got in _subsets(encoded):
        y_hat, _, arrived = tiny.decode_latent(SIZE, encoded.params, chunks)
        want = np.isin(cmap, [index[n] for n in got])
        assert (arrived == want).all(), got
        a = torch.from_numpy(want)
        assert torch.equal(y_hat[0][:, a], full[0][:, a]), f"arrived positions differ with chunks {sorted(got)}"
        assert torch.equal(y_hat[0][:, ~a], means[0][:, ~a]), "missing positions must hold the means"


def test_decoded_pixels_and_missing_area(tiny, image, regions):
    encoded = tiny.encode(image, regions)
    side = [c for c in encoded.chunks if c.kind == "side"]
    one = [c for c in encoded.chunks if c.name == "region-1"]
    full = tiny.decode(SIZE, encoded.params, encoded.chunks, tiny.format_version)
    assert full.representation == "pixels" and full.coarse.shape == (SIZE[1], SIZE[0], 3)
    assert full.coarse.dtype == np.uint8 and full.missing is None and full.patches == []
    part = tiny.decode(SIZE, encoded.params, side + one, tiny.format_version)
    assert part.missing.shape == (SIZE[1], SIZE[0])
    x0, y0, x1, y1 = one[0].boxes[0]
    assert not part.missing[y0:y1, x0:x1].any(), "the region that arrived is not missing"
    assert part.missing.mean() > 0.5


def test_damaged_payloads_are_payload_errors(tiny, image, regions):
    encoded = tiny.encode(image, regions)
    chunks = list(encoded.chunks)

    def replaced(name, payload):
        return [c if c.name != name else type(c)(c.kind, c.name, payload, c.labels, c.boxes) for c in chunks]

    region = next(c for c in chunks if c.name == "region-0")
    with pytest.raises(PayloadError, match="region-0.*32-bit words"):
        tiny.decode(SIZE, encoded.params, replaced("region-0", region.payload + b"\0"), tiny.format_version)
    with pytest.raises(PayloadError, match="chunk .region-0. (holds|cannot)"):
        tiny.decode(SIZE, encoded.params, replaced("region-0", region.payload + b"\xff" * 8), tiny.format_version)
    with pytest.raises(PayloadError, match="side chunk"):
        tiny.decode(SIZE, encoded.params, [c for c in chunks if c.kind == "content"], tiny.format_version)
    with pytest.raises(PayloadError, match="layout"):
        tiny.decode(SIZE, {"layout": [["region-0", [[0, 0, 99, 99]]]]}, chunks, tiny.format_version)
    with pytest.raises(PayloadError, match="format version 1 .*not bounds-checked"):
        tiny.decode(SIZE, encoded.params, chunks, 1)
    with pytest.raises(PayloadError, match="format version"):
        tiny.decode(SIZE, encoded.params, chunks, tiny.format_version + 1)


@pytest.mark.parametrize("codec", ["hyperprior", "elic"])
def test_crafted_strings_never_read_outside_their_bytes(codec, build_model, image, regions):
    """Every cut of every string, and 0xFF / zero / random strings of many lengths, either decode (to the
    bounded values a string of those bytes holds) or are a PayloadError naming the chunk: compressai's rANS
    decoder read past such strings' end (SIGSEGV); the checked ANS coder reads only what it is given."""
    import numpy as np

    from discover_learned.component import Elic

    model = build_model(Elic) if codec == "elic" else build_model()
    encoded = model.encode(image, regions)
    chunks = list(encoded.chunks)
    rng = np.random.default_rng(0)
    for target in ("hyperprior", "region-1", "rest"):
        whole = next(c for c in chunks if c.name == target).payload
        payloads = [whole[:n] for n in range(0, len(whole), 4)]
        payloads += [fill * n for n in (4, 8, 12, 64, 4096) for fill in (b"\xff", b"\x00")]
        payloads += [rng.bytes(n) for n in (8, 16, 256)]
        for payload in payloads:
            crafted = [c if c.name != target else type(c)(c.kind, c.name, payload, c.labels, c.boxes)
                       for c in chunks]
            try:
                out = model.decode(SIZE, encoded.params, crafted, model.format_version)
            except PayloadError as exc:
                assert "chunk" in str(exc)
            else:
                assert out.coarse.shape == (SIZE[1], SIZE[0], 3)


def test_no_regions_gives_one_rest_chunk(tiny, image):
    encoded = tiny.encode(image, [])
    assert [c.name for c in encoded.chunks] == ["hyperprior", REST]


@pytest.mark.parametrize("size", [(1, 1), (7, 5), (33, 17), (130, 70)])
def test_odd_sizes(tiny, size):
    from discover_core.testing import samples

    img = samples.sample_image(*size)
    encoded = tiny.encode(img, samples.sample_regions(*size))
    out = tiny.decode(size, encoded.params, encoded.chunks, tiny.format_version)
    assert out.coarse.shape == (size[1], size[0], 3)
