"""Golden streams: files written by an earlier version must still be read -- and today's written -- the same.

``streams/<major.minor>/`` holds one folder per stream format version. Files of today's
``FORMAT_VERSION`` must be re-written byte for byte (where the codec libraries are the same); files of an
earlier version are fixtures that today's code must still read, decode and cut into parts.

Decoded pixels are pinned exactly: the sidecar records the sha256 of the decoded picture and the versions
of the libraries it depends on (Pillow, the codec's library, numpy). Where they are the ones here, the hash
must match. Where they differ (another Pillow or libavif may round differently), a hash cannot be expected
to match, so the picture is compared with the pinned one stored losslessly next to it
(``<case>.decoded.png``): it must stay within ``TOLERANCE`` levels of it. Both ways can fail; neither is a
PSNR window around the source image.

Regenerate only on purpose: ``python tests/golden/regenerate.py`` (today's version) or
``python tests/golden/regenerate.py --pin-pixels`` (today's decoder output, every version).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from discover_core.bitstream import (CRC, FORMAT_VERSION, LATEST_MINOR, MAGIC, PREFIX, Stream, StreamHeader,
                                     header_dict, unframe)
from discover_core.pipeline import decode
from discover_core.plugins import get_registry
from discover_core.values import Reader

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("discover_golden_regenerate", HERE / "regenerate.py")
regenerate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(regenerate)

CASES = sorted(regenerate.CASES)
CURRENT = regenerate.version_name(FORMAT_VERSION)
VERSIONS = sorted(regenerate.folders())
TOLERANCE = 6
"""Largest difference (levels of 8 bits) from the pinned picture where the decoding libraries differ."""


def _versions_of(name: str) -> tuple[int, int]:
    major, minor = name.split(".")
    return int(major), int(minor)


@pytest.fixture(params=[(v, c) for v in VERSIONS for c in CASES], ids=lambda p: f"{p[0]}-{p[1]}")
def golden(request):
    version, name = request.param
    folder = regenerate.STREAMS / version
    data = (folder / f"{name}.dscv").read_bytes()
    sidecar = json.loads((folder / f"{name}.json").read_text())
    return version, name, data, sidecar


def test_every_version_has_every_case():
    assert CURRENT in VERSIONS, (f"no golden streams of today's format {CURRENT}: write them on purpose with "
                                 f"`python tests/golden/regenerate.py`")
    assert [v for v in VERSIONS if _versions_of(v) < FORMAT_VERSION], "no streams written by an earlier version"
    for version in VERSIONS:
        files = sorted(p.name for p in (regenerate.STREAMS / version).iterdir())
        assert files == sorted(f"{c}{ext}" for c in CASES for ext in (".dscv", ".json", ".decoded.png")), version


def test_golden_set_covers_codecs_regions_and_partials():
    cases = regenerate.CASES.values()
    assert {c["options"]["codec"] for c in cases} == {"jpeg", "avif"}
    assert any(c["regions"] for c in cases) and any(not c["regions"] for c in cases)
    assert any(c.get("extract", {}).get("task") for c in cases) and any(c.get("extract", {}).get("labels")
                                                                      for c in cases)


def test_container_prefix_is_pinned(golden):
    version, _, data, sidecar = golden
    assert MAGIC == b"DSCV" and PREFIX.size == 10 and CRC.size == 4
    major, minor = _versions_of(version)
    assert data[:6] == b"DSCV" + bytes([major, minor]), f"the files in {version}/ must be version {version}"
    assert minor <= LATEST_MINOR[major], "today's code reads every 1.x, 2.x and 3.x up to the latest it knows"
    if major == 1:  # 4-byte header length, zlib JSON, CRC-32 of the compressed header
        hlen = int.from_bytes(data[6:10], "big")
        packed = data[10:10 + hlen]
        assert int.from_bytes(data[10 + hlen:14 + hlen], "big") == zlib.crc32(packed)
        assert json.loads(zlib.decompress(packed))["width"] == sidecar["size"][0]
    else:  # varint header length, binary header, CRC-32 of everything before it
        r = Reader(data, 6)
        end = r.varint("the header length") + r.pos
        assert int.from_bytes(data[end:end + 4], "big") == zlib.crc32(data[:end])
        assert unframe(data)[1] == data[r.pos:end]
        assert header_dict(major, data[r.pos:end])["width"] == sidecar["size"][0]
    assert len(data) == sidecar["bytes"] and hashlib.sha256(data).hexdigest() == sidecar["sha256"]


def test_today_writes_the_current_version():
    stream = regenerate.build(regenerate.CASES["jpeg-regions"])
    assert stream.to_bytes()[:6] == b"DSCV" + bytes(FORMAT_VERSION)


def test_header_and_chunk_table_match_the_sidecar(golden):
    version, _, data, sidecar = golden
    stream = Stream.from_bytes(data)
    # The header as recorded, read by today's model: fields added since take their defaults.
    assert stream.header == StreamHeader.model_validate(sidecar["header"])
    if version == CURRENT:
        assert stream.header.model_dump(mode="json") == sidecar["header"]
    if version == "1.0":  # what a 1.0 record lacks reads as unknown, never as something made up
        for record in (stream.header.entropy_model, stream.header.composer):
            assert record.provider == "" and record.distribution == "" and record.format_version == 1
            assert record.weights is None
    assert regenerate.chunk_table(stream) == sidecar["chunks"]
    assert list(stream.size) == sidecar["size"]
    assert stream.is_partial == bool(sidecar["extract"])


def test_reserialising_gives_identical_bytes(golden):
    version, _, data, sidecar = golden
    stream = Stream.from_bytes(data)
    again = stream.to_bytes()
    payload_bytes = sum(c["length"] for c in sidecar["chunks"])
    assert again[-payload_bytes:] == data[-payload_bytes:], "payloads are copied as they are"
    assert Stream.from_bytes(again).header == stream.header
    assert again[:6] == data[:6], f"a stream read as {version} is written back as {version}"
    if _versions_of(version)[0] > 1 or zlib.ZLIB_RUNTIME_VERSION == sidecar["libraries"]["zlib"]:
        assert again == data  # a 1.x header is re-compressed: byte-exact for the same zlib


def test_decoded_pixels_are_pinned(golden):
    version, name, data, sidecar = golden
    pinned = sidecar["decoded"]
    folder = regenerate.STREAMS / version
    with Image.open(folder / f"{name}.decoded.png") as im:
        reference = np.asarray(im.convert("RGB"))
    assert regenerate.pixels_sha256(reference) == pinned["sha256"], \
        f"{version}/{name}.decoded.png is not the picture the sidecar pins (regenerate with --pin-pixels)"
    picture = decode(Stream.from_bytes(data))
    assert picture.dtype == np.uint8 and list(picture.shape) == pinned["shape"] == [*sidecar["size"][::-1], 3]
    here = regenerate.decoder_libraries(regenerate.CASES[name]["options"]["codec"])
    if here == pinned["libraries"]:
        assert regenerate.pixels_sha256(picture) == pinned["sha256"], (
            f"{version}/{name} decodes to other pixels than pinned, with the same libraries {here}: the decoder "
            f"or composer changed its output (on purpose? then `regenerate.py --pin-pixels`)")
    else:
        diff = np.abs(picture.astype(int) - reference.astype(int))
        assert diff.max() <= TOLERANCE, (
            f"{version}/{name} decodes up to {diff.max()} levels away from the pinned picture (libraries here "
            f"{here}, pinned with {pinned['libraries']}); more than decoders' rounding explains")


def test_partial_streams_are_extracts_of_full_ones():
    for version in VERSIONS:
        folder = regenerate.STREAMS / version
        for name, case in regenerate.CASES.items():
            if not case.get("extract"):
                continue
            full_name = next(n for n, c in regenerate.CASES.items() if not c.get("extract")
                             and c["options"] == case["options"] and c["regions"] == case["regions"])
            full = Stream.from_bytes((folder / f"{full_name}.dscv").read_bytes())
            part = Stream.from_bytes((folder / f"{name}.dscv").read_bytes())
            today = full.extract(**case["extract"])
            assert today.chunks == part.chunks, f"{version}/{name}: extracting today keeps other chunks"
            if version == CURRENT:
                assert today.to_bytes() == part.to_bytes()
            # a part lists only the labels and tasks of the chunks it holds
            assert sorted(today.header.labels) == sorted({lab for c in today.chunks for lab in c.labels})


def test_encoding_today_gives_the_same_streams(golden):
    version, name, data, sidecar = golden
    codec = regenerate.CASES[name]["options"]["codec"]
    if codec == "avif":
        here, there = regenerate.libraries()["libavif"], sidecar["libraries"]["libavif"]
        if here != there:
            pytest.skip(f"AVIF bytes depend on libavif: {here} here, {there} wrote the golden file")
    stream = regenerate.build(regenerate.CASES[name])
    golden_stream = Stream.from_bytes(data)
    rec, then = stream.header.entropy_model, golden_stream.header.entropy_model
    assert [c.name for c in stream.chunks] == [c.name for c in golden_stream.chunks]
    if rec.format_version == then.format_version:  # else payloads of another component format: not comparable
        for new, old in zip(stream.chunks, golden_stream.chunks):
            assert new.payload == old.payload, f"{version}/{name}: chunk '{new.name}' is coded differently today"
        assert stream.chunks == golden_stream.chunks
    elif version == CURRENT:
        pytest.fail(f"{rec.plugin} writes its format {rec.format_version} today, {version}/{name} holds format "
                    f"{then.format_version}: write the {CURRENT} set again on purpose (tests/golden/regenerate.py)")

    def comparable(header, fields):
        d = header.model_dump(mode="json")
        for slot in ("entropy_model", "composer"):
            d[slot] = {k: v for k, v in d[slot].items() if k in fields}
        return d

    if version == CURRENT:  # everything but the package versions
        fields = set(StreamHeader.model_fields["composer"].annotation.model_fields) - {"version"}
        assert comparable(stream.header, fields) == comparable(golden_stream.header, fields)
    else:  # what the earlier version recorded of its components (its parts listed every label: not compared)
        for slot in ("entropy_model", "composer"):
            today, then = getattr(stream.header, slot), getattr(golden_stream.header, slot)
            assert today.plugin == then.plugin
            assert effective_options(slot, today) == effective_options(slot, then), \
                f"{version}/{name}: the {slot}'s recorded options mean something else today"
        assert stream.header.params == golden_stream.header.params and stream.size == golden_stream.size


def effective_options(kind: str, record) -> dict:
    """The options a decoder builds from a record: the recorded ones over the component's defaults (1.x streams
    recorded every decoder option, 2.0 streams only those that differ from the defaults)."""
    return get_registry().get(kind, record.plugin).cls.Options.model_validate(record.options).model_dump(mode="json")
