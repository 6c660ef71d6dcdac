"""The container format: round trip, extraction, and every way a stream can be damaged or foreign."""

from __future__ import annotations

import dataclasses
import io
import json
import pickle
import random
import time
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from discover_core.bitstream import (FORMAT_VERSION, MAGIC, MAX_HEADER_BYTES, Stream, StreamHeader, _entry, frame,
                                     pack_header, unframe)
from discover_core.values import varint
from discover_core.errors import DiscoverError, StreamError
from discover_core.interfaces import Chunk
from discover_core.pipeline import decode, pipeline_from_dict


# -- helpers --------------------------------------------------------------------------------
def regions_of(data: bytes) -> list[tuple[str, int, int]]:
    """(name, start, end) of the prefix, header, header CRC and each chunk payload of a 2.x or 3.x stream."""
    stream = Stream.from_bytes(data)
    _, raw, pos = unframe(data)
    start = pos - 4 - len(raw)
    out = [("magic", 0, 4), ("major", 4, 5), ("minor", 5, 6), ("hlen", 6, start),
           ("header", start, pos - 4), ("hcrc", pos - 4, pos)]
    for i, c in enumerate(stream.chunks):
        out.append((f"chunk {i}", pos, pos + len(c.payload)))
        pos += len(c.payload)
    assert pos == len(data)
    return out


def craft(header: dict | list | str | bytes, payloads: bytes = b"", version=FORMAT_VERSION,
          compress=True) -> bytes:
    """A stream with an arbitrary header that still has a correct length and CRC: a dict (in the format of
    ``version``), JSON data or bytes (1.x: compressed unless ``compress`` is false; 2.x and 3.x: the header bytes)."""
    if isinstance(header, dict) or version[0] != 1:
        packed = header if isinstance(header, bytes) else pack_header(version, header)
    else:
        raw = header if isinstance(header, bytes) else json.dumps(header).encode()
        packed = zlib.compress(raw) if compress else raw
    return frame(version, packed, [payloads])


def header_dict(stream: Stream) -> dict:
    return stream.header.model_dump(mode="json")


def payloads(stream: Stream) -> bytes:
    return b"".join(c.payload for c in stream.chunks)


def with_chunks(stream: Stream, chunks: list[Chunk]) -> Stream:
    """``stream`` with other chunks (header chunk table and CRCs recomputed)."""
    h = stream.header
    entries = [_entry(c, h.labels, h.tasks) for c in chunks]
    return Stream(StreamHeader.model_validate({**h.model_dump(), "chunks": entries}), list(chunks))


@pytest.fixture(scope="module")
def encoded(synth, regions, make_dict) -> dict[str, bytes]:
    """Full streams of the synthetic image with each codec."""
    return {codec: pipeline_from_dict(make_dict(codec=codec, align=4, speed=10)).encode(synth(), regions=regions)
            .to_bytes() for codec in ("jpeg", "webp", "avif")}


@pytest.fixture
def data(jpeg_stream) -> bytes:
    return jpeg_stream.to_bytes()


# -- round trip -----------------------------------------------------------------------------
def test_round_trip(jpeg_stream, image):
    data = jpeg_stream.to_bytes()
    assert data[:6] == MAGIC + bytes(FORMAT_VERSION)
    back = Stream.from_bytes(data)
    assert back.header == jpeg_stream.header
    assert back.chunks == jpeg_stream.chunks
    assert back.to_bytes() == data
    assert len(back) == len(data)
    assert back.size == (64, 48)
    assert not back.is_partial and back.content_count == 3
    assert back.header_bytes() == len(data) - len(payloads(back))
    decoded = decode(back)
    assert decoded.shape == image.shape and decoded.dtype == np.uint8


def test_stream_is_deterministic(make_pipeline, image, regions):
    a = make_pipeline(codec="jpeg").encode(image, regions=regions).to_bytes()
    b = make_pipeline(codec="jpeg").encode(image, regions=regions).to_bytes()
    assert a == b


def test_chunk_table_describes_chunks(jpeg_stream):
    h = jpeg_stream.header
    assert [c.name for c in h.chunks] == ["background", "region-0", "region-1", "rest"]
    assert [c.kind for c in h.chunks] == ["side", "content", "content", "content"]
    for entry, chunk in zip(h.chunks, jpeg_stream.chunks):
        assert entry.length == len(chunk.payload)
        assert entry.crc32 == zlib.crc32(chunk.payload)
        assert [h.labels[i] for i in entry.labels] == list(chunk.labels)
        assert [h.tasks[i] for i in entry.tasks] == list(chunk.tasks)
    assert h.labels == ["bird", "cat", "dog"] and h.tasks == ["detection"]
    assert h.content_chunks_encoded == 3


# -- extract --------------------------------------------------------------------------------
def check_part(full: Stream, part: Stream, kept: list[str]) -> None:
    assert [c.name for c in part.chunks] == kept
    by_name = {c.name: c for c in full.chunks}
    for c in part.chunks:  # byte-identical payloads: nothing was re-encoded
        assert c.payload == by_name[c.name].payload
        assert c == by_name[c.name]
    data = part.to_bytes()
    back = Stream.from_bytes(data)  # a valid stream in its own right
    assert back.chunks == part.chunks and back.header == part.header
    assert len(data) == part.header_bytes() + sum(len(c.payload) for c in part.chunks)
    assert back.is_partial == (part.content_count < full.content_count)
    assert back.header.content_chunks_encoded == full.header.content_chunks_encoded
    assert decode(back).shape == (full.size[1], full.size[0], 3)


def test_extract_by_task(jpeg_stream):
    part = jpeg_stream.extract(task="detection")
    check_part(jpeg_stream, part, ["background", "region-0", "region-1"])  # 'rest' has no task
    assert part.is_partial


@pytest.mark.parametrize("labels, kept", [
    (["dog"], ["background", "region-0"]),
    (["cat"], ["background", "region-0"]),
    (["bird"], ["background", "region-1"]),
    ([" bird ", "cat"], ["background", "region-0", "region-1"]),
    (["bird", "zebra"], ["background", "region-1"]),  # some unknown labels are fine
])
def test_extract_by_labels(jpeg_stream, labels, kept):
    check_part(jpeg_stream, jpeg_stream.extract(labels=labels), kept)


def test_extract_of_a_partial_stream(jpeg_stream):
    part = Stream.from_bytes(jpeg_stream.extract(task="detection").to_bytes())
    check_part(jpeg_stream, part.extract(labels=["bird"]), ["background", "region-1"])


def test_extract_unknown_task_names_available(jpeg_stream):
    with pytest.raises(StreamError) as exc:
        jpeg_stream.extract(task="segmentation")
    assert "segmentation" in exc.value.message
    assert "detection" in exc.value.hint


def test_extract_unknown_labels_names_available(jpeg_stream):
    with pytest.raises(StreamError) as exc:
        jpeg_stream.extract(labels=["zebra", "yak"])
    assert "zebra" in exc.value.message and "yak" in exc.value.message
    assert "bird, cat, dog" in exc.value.hint


@pytest.mark.parametrize("labels", [[], [""], [" ", ""]])
def test_extract_with_no_labels_is_an_error(jpeg_stream, labels):
    with pytest.raises(StreamError) as exc:
        jpeg_stream.extract(labels=labels)
    assert "empty list of labels" in exc.value.message
    assert "bird, cat, dog" in exc.value.hint


@pytest.mark.parametrize("kwargs", [{}, {"task": "detection", "labels": ["cat"]}])
def test_extract_needs_exactly_one_selector(jpeg_stream, kwargs):
    with pytest.raises(StreamError):
        jpeg_stream.extract(**kwargs)


def test_extract_of_stream_without_content(make_pipeline, image):
    stream = make_pipeline(codec="jpeg", code_rest=False).encode(image, regions=[])
    assert [c.kind for c in stream.chunks] == ["side"]
    # The header records the task it was encoded for, so its part (side chunks only) can be cut out.
    part = stream.extract(task="detection")
    assert part.to_bytes() == stream.to_bytes()
    with pytest.raises(StreamError) as exc:
        stream.extract(task="segmentation")
    assert "detection" in exc.value.hint
    assert decode(stream).shape == image.shape


# -- corruption -----------------------------------------------------------------------------
EXPECTED_MESSAGE = {
    "magic": "is not a discover stream",
    "major": "uses stream format",
    "minor": "header checksum mismatch",  # 2.x and 3.x: the header CRC covers the prefix too
    "header": "header checksum mismatch",
    "hcrc": "header checksum mismatch",
}


def test_every_flipped_byte_is_detected_and_named(data):
    """Flip each byte of the stream in turn: the error names the damaged part."""
    stream = Stream.from_bytes(data)
    for name, start, end in regions_of(data):
        for pos in range(start, end):
            bad = bytearray(data)
            bad[pos] ^= 0xFF
            with pytest.raises(StreamError) as exc:
                Stream.from_bytes(bytes(bad), source="s.dscv")
            message = exc.value.message
            assert message.startswith("s.dscv "), message
            if name.startswith("chunk"):
                i = int(name.split()[1])
                c = stream.chunks[i]
                assert f"chunk {i} ({c.kind} '{c.name}') fails its checksum" in message
            elif name == "hlen":
                assert "header" in message or "truncated" in message, message
            else:
                assert EXPECTED_MESSAGE[name] in message, (name, pos, message)


def test_every_truncation_is_detected(data):
    stream = Stream.from_bytes(data)
    ends = {name: (start, end) for name, start, end in regions_of(data)}
    for n in range(len(data)):
        with pytest.raises(StreamError) as exc:
            Stream.from_bytes(data[:n])
        message = exc.value.message
        if n == 0:
            assert "it is empty" in message
        elif n < 4:
            assert "is not a discover stream" in message
        elif n < ends["hcrc"][1]:
            assert "truncated" in message, (n, message)
        else:
            i = max(i for i in range(len(stream.chunks)) if ends[f"chunk {i}"][0] <= n)
            assert f"truncated: chunk {i}" in message, (n, message)


def test_trailing_garbage(data):
    for extra in (b"\x00", b"garbage", data):
        with pytest.raises(StreamError, match=rf"{len(extra)} unexpected bytes after the last chunk"):
            Stream.from_bytes(data + extra)


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 200, 30)).save(buf, "PNG")
    return buf.getvalue()


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 200, 30)).save(buf, "JPEG")
    return buf.getvalue()


@pytest.mark.parametrize("blob, what", [
    (_png(), "PNG"),
    (_jpeg(), "JPEG"),
    (pickle.dumps({"payload": [1, 2, 3]}), "pickle"),
    (b"", "empty"),
    (random.Random(7).randbytes(1000), "starts with"),
    (b"DSC", "starts with"),
    (b"dscv" + bytes(100), "starts with"),
])
def test_foreign_input(blob, what):
    with pytest.raises(StreamError) as exc:
        Stream.from_bytes(blob, source="in.dscv")
    assert "in.dscv is not a discover stream" in exc.value.message
    assert what in exc.value.message
    assert "discover encode" in exc.value.hint


@pytest.mark.parametrize("seed", range(20))
def test_random_bytes_after_magic(seed):
    blob = MAGIC + random.Random(seed).randbytes(random.Random(seed).randrange(0, 3000))
    with pytest.raises(StreamError):
        Stream.from_bytes(blob)


def test_future_major_version_asks_to_upgrade(data):
    future = bytearray(data)
    future[4] = FORMAT_VERSION[0] + 1
    with pytest.raises(StreamError) as exc:
        Stream.from_bytes(bytes(future))
    assert f"format {FORMAT_VERSION[0] + 1}.{FORMAT_VERSION[1]}" in exc.value.message
    assert "upgrade" in exc.value.hint
    past = bytearray(data)
    past[4] = 0
    with pytest.raises(StreamError) as exc:
        Stream.from_bytes(bytes(past))
    assert "re-encode" in exc.value.hint


def test_implausible_header_length(data):
    _, raw, pos = unframe(data)
    bad = data[:6] + varint(MAX_HEADER_BYTES + 1) + data[pos - 4 - len(raw):]
    with pytest.raises(StreamError, match="header length .* is implausible"):
        Stream.from_bytes(bad)
    with pytest.raises(StreamError, match="corrupt: the header length is a varint longer than 10 bytes"):
        Stream.from_bytes(data[:6] + b"\xff" * 11 + data[6:])


def test_the_1_x_prefix_is_still_read(data):
    old = Stream(Stream.from_bytes(data).header, Stream.from_bytes(data).chunks, (1, 1)).to_bytes()
    assert Stream.from_bytes(old).header == Stream.from_bytes(data).header
    bad = bytearray(old)
    bad[6:10] = (MAX_HEADER_BYTES + 1).to_bytes(4, "big")
    with pytest.raises(StreamError, match="header length .* is implausible"):
        Stream.from_bytes(bytes(bad))
    with pytest.raises(StreamError, match="shorter than the fixed 10-byte prefix"):
        Stream.from_bytes(old[:8])


# -- crafted headers (correct length and CRC, bad content) ----------------------------------
def test_crafted_helper_makes_valid_streams(jpeg_stream):
    back = Stream.from_bytes(craft(header_dict(jpeg_stream), payloads(jpeg_stream)))
    assert back.header == jpeg_stream.header and back.chunks == jpeg_stream.chunks


def _edit(jpeg_stream, change) -> dict:
    h = header_dict(jpeg_stream)
    change(h)
    return h


@pytest.mark.parametrize("change, expected", [
    (lambda h: h["chunks"][1]["boxes"].__setitem__(0, [4, 4, 65, 20]), "outside the 64x48 image"),
    (lambda h: h["chunks"][1]["boxes"].__setitem__(0, [-1, 4, 20, 20]), "outside the 64x48 image"),
    (lambda h: h["chunks"][1]["boxes"].__setitem__(0, [20, 4, 20, 20]), "outside the 64x48 image"),
    (lambda h: h["chunks"][1]["boxes"].__setitem__(0, [4, 4, 20, 49]), "outside the 64x48 image"),
    (lambda h: h["chunks"][1].__setitem__("labels", [3]), "label index outside the label table"),
    (lambda h: h["chunks"][1].__setitem__("labels", [-1]), "chunks.1.labels.0"),
    (lambda h: h["chunks"][1].__setitem__("tasks", [1]), "task index outside the task table"),
    (lambda h: h["chunks"][0].__setitem__("length", -1), "chunks.0.length"),
    (lambda h: h["chunks"][0].__setitem__("crc32", 1 << 32), "chunks.0.crc32"),
    (lambda h: h["chunks"][0].__setitem__("kind", "executable"), "chunks.0.kind"),
    (lambda h: h.__setitem__("width", 0), "width"),
    (lambda h: h.__setitem__("height", 70000), "height"),
    (lambda h: h.__setitem__("tag 11", 1), "tag 11"),  # a field of a later minor version
    (lambda h: h.pop("chunks"), "chunks"),
    (lambda h: h["entropy_model"].__setitem__("plugin", ["roi-image"]), "entropy_model.plugin"),
])
def test_invalid_header_fields(jpeg_stream, change, expected):
    blob = craft(_edit(jpeg_stream, change), payloads(jpeg_stream))
    with pytest.raises(StreamError) as exc:
        Stream.from_bytes(blob, source="x.dscv")
    assert "x.dscv has an invalid header" in exc.value.message
    assert expected in exc.value.message, exc.value.message


@pytest.mark.parametrize("header, compress, expected", [
    ([1, 2, 3], True, "invalid header"),
    ("a string", True, "invalid header"),
    (b"{not json", True, "unreadable header"),
    (b"\xff\xfe\x00bad utf-8", True, "unreadable header"),
    (b"this is not zlib at all", False, "unreadable header"),
    (b"", False, "unreadable header"),
    (zlib.compress(b'{"width": 1}')[:-3], False, "unreadable header"),  # cut-off zlib stream
])
def test_unreadable_1_x_headers(header, compress, expected):
    with pytest.raises(StreamError, match=expected):
        Stream.from_bytes(craft(header, compress=compress, version=(1, 1)))


def test_deeply_nested_1_x_header_is_a_stream_error():
    nested = b'{"params": {"x": ' + b"[" * 200_000 + b"]" * 200_000 + b"}}"
    with pytest.raises(StreamError, match="header"):
        Stream.from_bytes(craft(nested, version=(1, 1)))


def test_zlib_bomb_header_is_refused_quickly():
    raw = b'{"width": 64, "padding": "' + b" " * (MAX_HEADER_BYTES + (1 << 20)) + b'"}'
    packed = zlib.compress(raw, 9)
    assert len(packed) < 100_000
    blob = craft(packed, compress=False, version=(1, 1))
    start = time.perf_counter()
    with pytest.raises(StreamError, match="unreadable header"):
        Stream.from_bytes(blob)
    assert time.perf_counter() - start < 2.0


def test_chunk_lengths_must_match_the_data(jpeg_stream):
    h = header_dict(jpeg_stream)
    h["chunks"][-1]["length"] += 1
    with pytest.raises(StreamError, match="truncated: chunk 3"):
        Stream.from_bytes(craft(h, payloads(jpeg_stream)))
    h = header_dict(jpeg_stream)
    h["chunks"][-1]["length"] -= 1
    with pytest.raises(StreamError):  # chunk 3 checksum (its payload is shorter) or trailing bytes
        Stream.from_bytes(craft(h, payloads(jpeg_stream)))


# -- payloads that pass their checksum but are not what the header says ---------------------
def test_swapped_payloads_decode_to_stream_error(jpeg_stream):
    chunks = list(jpeg_stream.chunks)
    chunks[1], chunks[2] = (dataclasses.replace(chunks[1], payload=chunks[2].payload),
                            dataclasses.replace(chunks[2], payload=chunks[1].payload))
    blob = with_chunks(jpeg_stream, chunks).to_bytes()
    with pytest.raises(StreamError, match=r"the jpeg payload is \d+x\d+, the stream header says \d+x\d+"):
        decode(blob)


@pytest.mark.parametrize("change, error", [
    (lambda h: h["params"].__setitem__("background_size", [9, 6]), StreamError),
    (lambda h: h["params"].pop("background_size"), StreamError),
    (lambda h: h["params"].__setitem__("background_size", "8x6"), StreamError),
    (lambda h: h["entropy_model"]["options"].__setitem__("codec", "webp"), StreamError),
    (lambda h: h["entropy_model"]["options"].__setitem__("codec", "gif"), StreamError),
    (lambda h: h["entropy_model"]["options"].__setitem__("surprise", 1), StreamError),
    (lambda h: h["composer"]["options"].__setitem__("feather", -1), StreamError),
    (lambda h: h.__setitem__("chunks", h["chunks"][1:]), StreamError),  # no background side chunk
    (lambda h: h["entropy_model"].__setitem__("plugin", "not-installed"), DiscoverError),
])
def test_consistent_but_wrong_headers_fail_at_decode(jpeg_stream, change, error):
    h = _edit(jpeg_stream, change)
    chunks = jpeg_stream.chunks[1:] if len(h["chunks"]) == 3 else jpeg_stream.chunks
    stream = Stream.from_bytes(craft(h, b"".join(c.payload for c in chunks)))
    with pytest.raises(error) as exc:
        decode(stream)
    if error is DiscoverError:
        assert "not-installed" in exc.value.message


def test_side_chunk_tagged_as_content_fails_at_decode(jpeg_stream):
    h = header_dict(jpeg_stream)
    h["chunks"][0]["kind"] = "content"
    with pytest.raises(StreamError):
        decode(craft(h, payloads(jpeg_stream)))


# -- fuzzing --------------------------------------------------------------------------------
def parse_and_decode(blob: bytes) -> None:
    """Either a picture of the header's size, or a StreamError: nothing else."""
    try:
        stream = Stream.from_bytes(blob)
        picture = decode(stream)
    except StreamError:
        return
    assert picture.shape == (stream.size[1], stream.size[0], 3)
    assert picture.dtype == np.uint8


CODECS = st.sampled_from(["jpeg", "webp", "avif"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(codec=CODECS, data=st.data())
def test_fuzz_raw_mutations(encoded, codec, data):
    parse_and_decode(mutated(data, encoded[codec]))


def mutated(data, blob: bytes) -> bytes:
    """``blob`` after 1-4 byte edits drawn from ``data`` (flip, set, insert, delete, truncate)."""
    blob = bytearray(blob)
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        if not blob:
            break
        op = data.draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]), label="op")
        pos = data.draw(st.integers(0, max(0, len(blob) - 1)), label="pos")
        if op == "flip":
            blob[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "set":
            blob[pos] = data.draw(st.integers(0, 255))
        elif op == "insert":
            blob[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del blob[pos:pos + data.draw(st.integers(1, 8))]
        else:
            del blob[pos:]
    return bytes(blob)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_damaged_binary_headers_are_refused_cleanly(jpeg_stream, data):
    """Edits of a real 2.0 header, or random bytes, behind a right length and CRC: a StreamError naming the
    header, or a valid header (then decoding fails cleanly or works)."""
    _, raw, _ = unframe(jpeg_stream.to_bytes())
    blob = mutated(data, raw) if data.draw(st.booleans()) else data.draw(st.binary(max_size=300))
    try:
        Stream.from_bytes(craft(blob, payloads(jpeg_stream)))
    except StreamError as exc:
        assert "header" in exc.message or "chunk" in exc.message, exc.message


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(codec=CODECS, data=st.data())
def test_fuzz_payload_mutations_with_valid_checksums(encoded, codec, data):
    """Damage inside chunk payloads with the checksums made to match: the decoders must cope."""
    stream = Stream.from_bytes(encoded[codec])
    i = data.draw(st.integers(0, len(stream.chunks) - 1), label="chunk")
    payload = bytearray(stream.chunks[i].payload)
    for _ in range(data.draw(st.integers(1, 6), label="edits")):
        op = data.draw(st.sampled_from(["flip", "set", "delete", "truncate", "insert"]), label="op")
        pos = data.draw(st.integers(0, max(0, len(payload) - 1)), label="pos")
        if op == "flip" and payload:
            payload[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "set" and payload:
            payload[pos] = data.draw(st.integers(0, 255))
        elif op == "delete":
            del payload[pos:pos + data.draw(st.integers(1, 16))]
        elif op == "truncate":
            del payload[pos:]
        else:
            payload[pos:pos] = data.draw(st.binary(min_size=1, max_size=16))
    chunks = list(stream.chunks)
    chunks[i] = dataclasses.replace(chunks[i], payload=bytes(payload))
    parse_and_decode(with_chunks(stream, chunks).to_bytes())
