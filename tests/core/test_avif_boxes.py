"""roi-image AVIF chunks hold the AV1 data only; their boxes are rebuilt at decode (discover_roi/avif_boxes.py)."""

from __future__ import annotations

import io
import random

import numpy as np
import pytest
from PIL import Image

from discover_core import Region
from discover_core.errors import PayloadError
from discover_core.interfaces import Chunk
from discover_core.stills import decode_still, encode_still
from discover_roi.avif_boxes import TEMPORAL_DELIMITER, check, item_data, parse_sequence_header, rebuild, strip
from discover_roi.codec import RoiImage, Stills, background_size, resize

SIZES = [(1, 1), (2, 1), (1, 2), (3, 5), (5, 3), (8, 8), (9, 7), (16, 16), (33, 17), (64, 48), (127, 65),
         (200, 150)]
CONTAINER = 275
"""Bytes of a libavif file around its item's AV1 data: ftyp 32, meta 235, the mdat header 8."""


def picture(w: int, h: int, seed: int = 0) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    noise = np.random.default_rng(seed).integers(0, 60, (h, w, 3))
    img = np.stack([x * 255 // max(1, w - 1), y * 255 // max(1, h - 1), (x * 7 + y * 13) % 256], -1) + noise
    return np.clip(img, 0, 255).astype(np.uint8)


def encoded(w=8, h=8, quality=50, subsampling="4:2:0", seed=0) -> tuple[bytes, bytes]:
    """An AVIF file as roi-image's encoder makes it, and its chunk."""
    data = encode_still(picture(w, h, seed), "avif", quality, subsampling=subsampling)
    return data, strip(data, (w, h))


# -- bit-exactness -------------------------------------------------------------------------------------
@pytest.mark.parametrize("subsampling", ["4:2:0", "4:2:2", "4:4:4"])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_rebuilt_file_is_the_original_and_decodes_to_the_same_pixels(size, subsampling):
    w, h = size
    quality = (w * 7 + h * 3) % 90 + 5
    data, payload = encoded(w, h, quality, subsampling, seed=w * h)
    assert rebuild(payload, size) == data
    np.testing.assert_array_equal(Stills("avif", 2).decode(payload, size), decode_still(data, "avif", size))
    assert Stills("avif", 1).decode(data, size).shape == (h, w, 3)


@pytest.mark.parametrize("size", [(1, 1), (8, 8), (200, 150)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_a_chunk_is_the_av1_data_and_nothing_else(size):
    """The per-chunk floor: 275 bytes of boxes before, none after (and the empty temporal delimiter)."""
    data, payload = encoded(*size)
    obus = item_data(data)
    assert obus == TEMPORAL_DELIMITER + payload
    assert len(data) - len(payload) == CONTAINER + len(TEMPORAL_DELIMITER)
    seq = check(payload, size)  # every byte is in an OBU: the sequence header, then the frame
    assert (seq.width, seq.height, seq.profile, seq.bit_depth, seq.subsampling) == (*size, 0, 8, (1, 1))
    assert payload[0] == 0x0A and payload[1] <= 12  # the sequence header OBU: at most 14 bytes


def test_every_chunk_of_a_stream_is_the_same_av1_data_as_a_whole_file():
    """Background and regions: same encoder output (so the same rate), minus the boxes."""
    image = picture(96, 64, seed=3)
    em = RoiImage(RoiImage.Options(codec="avif", code_rest=False, background_scale=0.25))
    encoded_ = em.encode(image, [Region((0.0, 0.0, 96.0, 64.0), "cat")])
    background, region = encoded_.chunks
    o = em.options
    bg = resize(image, background_size(96, 64, 0.25), o.downscale)
    settings = dict(speed=o.speed, subsampling=o.subsampling, threads=o.threads)
    bg_file = encode_still(bg, "avif", o.background_quality, **settings)
    assert background.payload == strip(bg_file, (24, 16)) and len(bg_file) - len(background.payload) == 277
    region_file = encode_still(image, "avif", o.region_quality, **settings)
    assert region.payload == strip(region_file, (96, 64))
    decoded = em.decode((96, 64), encoded_.params, encoded_.chunks, RoiImage.format_version)
    np.testing.assert_array_equal(decoded.coarse, decode_still(bg_file, "avif", (24, 16)))
    np.testing.assert_array_equal(decoded.patches[0].pixels, decode_still(region_file, "avif", (96, 64)))


# -- what strip refuses (encoder output it cannot hold) --------------------------------------------------
def _pillow_avif(img: Image.Image, **options) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "AVIF", quality=50, **options)
    return buf.getvalue()


def test_strip_refuses_files_it_cannot_rebuild_exactly():
    rgb = Image.fromarray(picture(16, 8))
    rgba = rgb.copy()
    rgba.putalpha(128)
    exif = Image.Exif()
    exif[0x010F] = "discover"
    data, _ = encoded(16, 8)
    cases = {
        "alpha": (_pillow_avif(rgba), "meta box holds|one item"),
        "icc": (_pillow_avif(rgb, icc_profile=b"\0" * 200), "boxes are not the ones"),
        "exif": (_pillow_avif(rgb, exif=exif.tobytes()), "meta box holds|one item"),
        "jpeg": (encode_still(picture(16, 8), "jpeg", 50), "box|cut short"),
        "truncated": (data[:-3], "cut short|extent"),
        "brand": (data.replace(b"MA1B", b"MA1A"), "differ at byte 31"),
        "box size 0": (data[:32] + bytes(4) + data[36:], "size 0"),
        "another size": (data, "the avif payload is 16x8, the stream header says 8x16"),
    }
    for name, (bad, expected) in cases.items():
        with pytest.raises(ValueError, match=expected):
            strip(bad, (8, 16) if name == "another size" else (16, 8))


# -- what rebuild refuses (untrusted chunks) -------------------------------------------------------------
def _seq_end(payload: bytes) -> int:
    return 2 + payload[1]


@pytest.mark.parametrize("edit, expected", [
    (lambda p: b"", "does not start with an AV1 sequence header"),
    (lambda p: TEMPORAL_DELIMITER + p, "does not start with an AV1 sequence header"),
    (lambda p: p[_seq_end(p):], "does not start with an AV1 sequence header"),
    (lambda p: p[:1], "cut short in an AV1 OBU size"),
    (lambda p: p[:5], "past its end"),
    (lambda p: p[:-1], "past its end"),
    (lambda p: p + b"\x32", "cut short in an AV1 OBU size"),
    (lambda p: b"\x0a" + b"\xff" * 8 + b"\x01" + p, "longer than 8 bytes"),
    (lambda p: b"\x8a" + p[1:], "not AV1 data"),  # forbidden bit
    (lambda p: b"\x0e" + p[1:], "not AV1 data"),  # extension header
    (lambda p: b"\x08" + p[1:], "not AV1 data"),  # no size field
    (lambda p: b"\x0b" + p[1:], "not AV1 data"),  # reserved bit
    (lambda p: p[:_seq_end(p)], "types none after its sequence header"),
    (lambda p: p[:_seq_end(p)] + TEMPORAL_DELIMITER + p[_seq_end(p):], "types 2, 6 after"),
    (lambda p: p[:_seq_end(p)] + p, "types 1, 6 after"),
    (lambda p: p[:2] + bytes([p[2] | 0xE0]) + p[3:], "not a reduced still-picture one"),  # profile 7
    (lambda p: p[:2] + bytes([p[2] & ~0x08]) + p[3:], "not a reduced still-picture one"),
    (lambda p: b"\x0a\x02" + p[2:4] + p[_seq_end(p):], "sequence header is cut short"),
    (lambda p: p[:_seq_end(p) - 1] + b"\x00" + p[_seq_end(p):], "trailing bits|cut short"),
    (lambda p: p[:_seq_end(p) - 1] + b"\x43" + p[_seq_end(p):], "trailing bits"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_crafted_chunks_are_payload_errors(edit, expected):
    _, payload = encoded(8, 8)
    assert payload[_seq_end(payload) - 1] == 0x42  # the 8x8 sequence header ends with the bits 1 0 (trailing)
    with pytest.raises(PayloadError, match=expected):
        rebuild(edit(payload), (8, 8))


def test_a_chunk_of_another_size_is_refused_before_decoding():
    _, payload = encoded(8, 8)
    for size in ((9, 8), (8, 9), (9000, 9000)):
        with pytest.raises(PayloadError, match=f"the avif payload is 8x8, the stream header says {size[0]}x{size[1]}"):
            check(payload, size)
    em = RoiImage(RoiImage.Options(codec="avif"))
    background = Chunk("side", "background", payload)
    region = Chunk("content", "region-0", payload, ("cat",), ((0, 0, 16, 8),))
    with pytest.raises(PayloadError, match="the avif payload is 8x8, the stream header says 16x8"):
        em.decode((64, 64), {"background_size": [8, 8]}, [background, region], RoiImage.format_version)


def _bits(*fields: tuple[int, int]) -> bytes:
    """A sequence header from ``(value, bits)`` fields, with its trailing bits."""
    value, n = 0, 0
    for v, bits in fields + ((1, 1),):
        value, n = value << bits | v, n + bits
    pad = -n % 8
    return (value << pad).to_bytes((n + pad) // 8, "big")


def _header(profile: int, *colour_config: tuple[int, int], level=3, size=(5, 3)) -> list[tuple[int, int]]:
    return [(profile, 3), (1, 1), (1, 1), (level, 5), (2, 4), (1, 4), (size[0] - 1, 3), (size[1] - 1, 2),
            (0b011010, 6), *colour_config, (0, 1)]


@pytest.mark.parametrize("fields, expected, av1c", [
    # 12-bit 4:2:0 (profile 2), chroma sample position 2, no colour description
    (_header(2, (1, 1), (1, 1), (0, 1), (0, 1), (0, 1), (1, 1), (1, 1), (2, 2), (0, 1)),
     dict(bit_depth=12, subsampling=(1, 1), chroma_sample_position=2, colour=(2, 2, 2), full_range=False),
     bytes([0x81, 0x43, 0x6E, 0])),
    # 10-bit monochrome (profile 0), BT.709 colours, full range
    (_header(0, (1, 1), (1, 1), (1, 1), (1, 8), (1, 8), (1, 8), (1, 1)),
     dict(bit_depth=10, mono=True, subsampling=(1, 1), colour=(1, 1, 1), full_range=True),
     bytes([0x81, 0x03, 0x5C, 0])),
    # 8-bit 4:4:4 (profile 1) sRGB with the identity matrix: range and subsampling implied
    (_header(1, (0, 1), (1, 1), (1, 8), (13, 8), (0, 8), (0, 1)),
     dict(bit_depth=8, subsampling=(0, 0), colour=(1, 13, 0), full_range=True),
     bytes([0x81, 0x23, 0x00, 0])),
    # 8-bit 4:2:2 (profile 2, not 12-bit)
    (_header(2, (0, 1), (0, 1), (1, 1), (1, 8), (13, 8), (6, 8), (0, 1), (0, 1)),
     dict(bit_depth=8, subsampling=(1, 0), colour=(1, 13, 6), full_range=False),
     bytes([0x81, 0x43, 0x08, 0])),
], ids=["12-bit", "mono", "srgb-444", "422"])
def test_sequence_headers_of_every_colour_config(fields, expected, av1c):
    seq = parse_sequence_header(_bits(*fields))
    assert (seq.width, seq.height, seq.level) == (5, 3, 3)
    assert {k: getattr(seq, k) for k in expected} == expected
    obu = bytes([0x0A, len(_bits(*fields))]) + _bits(*fields)
    data = rebuild(obu + b"\x32\x01\x00", (5, 3))
    assert data[data.index(b"av1C") + 4:][:4] == av1c
    with pytest.raises(PayloadError, match="cannot be read|payload is"):  # no real frame: refused, not a crash
        Stills("avif", 2).decode(obu + b"\x32\x01\x00", (5, 3))


def test_mutated_chunks_decode_or_are_payload_errors():
    _, payload = encoded(12, 10, quality=60)
    stills, rng = Stills("avif", 2), random.Random(5)
    refused = 0
    for _ in range(300):
        p = bytearray(payload)
        roll = rng.random()
        if roll < 0.5:
            for _ in range(rng.randint(1, 3)):
                p[rng.randrange(len(p))] ^= 1 << rng.randrange(8)
        elif roll < 0.75:
            del p[rng.randrange(len(p)):]
        else:
            i = rng.randrange(len(p))
            p[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
        try:
            assert stills.decode(bytes(p), (12, 10)).shape == (10, 12, 3)
        except PayloadError:
            refused += 1
    assert 50 < refused < 300
