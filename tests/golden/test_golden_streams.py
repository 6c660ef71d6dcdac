"""Golden streams: files written by an earlier version must still be read -- and written -- the same.

Regenerate them only on purpose: ``python tests/golden/regenerate.py``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import zlib
from pathlib import Path

import numpy as np
import pytest

from discover_core.bitstream import CRC, FORMAT_VERSION, MAGIC, PREFIX, Stream
from discover_core.pipeline import decode

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("discover_golden_regenerate", HERE / "regenerate.py")
regenerate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(regenerate)

CASES = sorted(regenerate.CASES)
PSNR_MARGIN_DB = 1.0  # decoders may round differently across library versions


@pytest.fixture(params=CASES)
def golden(request):
    name = request.param
    data = (regenerate.STREAMS / f"{name}.dscv").read_bytes()
    sidecar = json.loads((regenerate.STREAMS / f"{name}.json").read_text())
    return name, data, sidecar


def test_every_case_has_its_files():
    files = sorted(p.name for p in regenerate.STREAMS.iterdir())
    assert files == sorted([f"{c}.dscv" for c in CASES] + [f"{c}.json" for c in CASES])


def test_golden_set_covers_codecs_regions_and_partials():
    cases = regenerate.CASES.values()
    assert {c["options"]["codec"] for c in cases} == {"jpeg", "avif"}
    assert any(c["regions"] for c in cases) and any(not c["regions"] for c in cases)
    assert any(c.get("extract") for c in cases)


def test_container_prefix_is_pinned(golden):
    _, data, sidecar = golden
    assert MAGIC == b"DSCV" and FORMAT_VERSION == (1, 0) and PREFIX.size == 10 and CRC.size == 4
    assert data[:6] == b"DSCV\x01\x00"
    hlen = int.from_bytes(data[6:10], "big")
    packed = data[10:10 + hlen]
    assert int.from_bytes(data[10 + hlen:14 + hlen], "big") == zlib.crc32(packed)
    assert json.loads(zlib.decompress(packed))["width"] == sidecar["size"][0]
    assert len(data) == sidecar["bytes"] and hashlib.sha256(data).hexdigest() == sidecar["sha256"]


def test_header_and_chunk_table_match_the_sidecar(golden):
    _, data, sidecar = golden
    stream = Stream.from_bytes(data)
    assert stream.header.model_dump(mode="json") == sidecar["header"]
    assert regenerate.chunk_table(stream) == sidecar["chunks"]
    assert list(stream.size) == sidecar["size"]
    assert stream.is_partial == bool(sidecar["extract"])


def test_reserialising_gives_identical_bytes(golden):
    _, data, sidecar = golden
    stream = Stream.from_bytes(data)
    again = stream.to_bytes()
    # Payloads are copied as they are; the header is re-compressed, which is byte-exact for the same zlib.
    assert again[-sum(c["length"] for c in sidecar["chunks"]):] == data[-sum(c["length"] for c in sidecar["chunks"]):]
    assert Stream.from_bytes(again).header == stream.header
    if zlib.ZLIB_RUNTIME_VERSION != sidecar["libraries"]["zlib"]:
        pytest.skip(f"zlib {zlib.ZLIB_RUNTIME_VERSION} here, {sidecar['libraries']['zlib']} wrote the files")
    assert again == data


def test_decodes_close_to_the_synthetic_image(golden):
    _, data, sidecar = golden
    stream = Stream.from_bytes(data)
    picture = decode(stream)
    image = regenerate.synthetic_image()
    assert picture.shape == image.shape == (sidecar["size"][1], sidecar["size"][0], 3)
    assert picture.dtype == np.uint8
    assert regenerate.psnr(picture, image) >= sidecar["psnr"] - PSNR_MARGIN_DB
    mask = regenerate.region_mask(stream)
    if sidecar["psnr_regions"] is not None:
        assert regenerate.psnr(picture, image, mask) >= sidecar["psnr_regions"] - PSNR_MARGIN_DB
    # Absolute floors, whatever the sidecar says: the picture resembles the image everywhere, and
    # the regions that arrived are at least as good as the full picture was.
    assert regenerate.psnr(picture, image) > 14
    if mask is not None:
        assert regenerate.psnr(picture, image, mask) > 20


def test_partial_golden_streams_are_extracts_of_full_ones():
    for name, case in regenerate.CASES.items():
        if not case.get("extract"):
            continue
        full_name = next(n for n, c in regenerate.CASES.items()
                         if not c.get("extract") and c["options"] == case["options"] and c["regions"] == case["regions"])
        full = Stream.from_bytes((regenerate.STREAMS / f"{full_name}.dscv").read_bytes())
        part = Stream.from_bytes((regenerate.STREAMS / f"{name}.dscv").read_bytes())
        assert full.extract(**case["extract"]).to_bytes() == part.to_bytes()


def test_encoding_today_gives_the_same_payloads(golden):
    name, data, sidecar = golden
    codec = regenerate.CASES[name]["options"]["codec"]
    if codec == "avif":
        here, there = regenerate.libraries()["libavif"], sidecar["libraries"]["libavif"]
        if here != there:
            pytest.skip(f"AVIF bytes depend on libavif: {here} here, {there} wrote the golden file")
    stream = regenerate.build(regenerate.CASES[name])
    golden_stream = Stream.from_bytes(data)
    assert [c.name for c in stream.chunks] == [c.name for c in golden_stream.chunks]
    for new, old in zip(stream.chunks, golden_stream.chunks):
        assert new.payload == old.payload, f"{name}: chunk '{new.name}' is coded differently today"
    assert stream.chunks == golden_stream.chunks

    def without_versions(header):
        d = header.model_dump(mode="json")
        d["entropy_model"].pop("version")
        d["composer"].pop("version")
        return d

    assert without_versions(stream.header) == without_versions(golden_stream.header)
