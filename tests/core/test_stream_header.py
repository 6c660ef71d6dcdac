"""The stream header (formats 3.0, 2.0 and 1.x): component records, minor-version evolution, strict parsing,
bounds, pruned parts; the binary header's value encoding, grid, forward compatibility and refusals (the 3.x
static string table: test_string_table.py)."""

from __future__ import annotations

import json
import math
import re
import struct
import time
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from discover_core import binheader, bitstream, limits, values
from discover_core.bitstream import (CRC, FORMAT_VERSION, MAGIC, MAX_BOXES, MAX_BOXES_PER_CHUNK, MAX_CHUNKS,
                                     MAX_DECODED_AREA, MAX_HEADER_DEPTH, MAX_LABELS, MAX_TASKS, PREFIX,
                                     ComponentRecord, Stream, StreamHeader, frame, pack_header, unframe)
from discover_core.errors import StreamError
from discover_core.images import MAX_PIXELS
from discover_core.interfaces import Chunk
from discover_core.pipeline import decode

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "streams"
WEIGHTS = "sha256:" + "ab" * 32
V1 = (1, 1)
LATER = (FORMAT_VERSION[0], FORMAT_VERSION[1] + 1)


def craft(header: dict | bytes, payloads: bytes = b"", version=FORMAT_VERSION) -> bytes:
    """A stream with an arbitrary header and a correct length and CRC: a dict in the format of ``version``,
    or raw bytes (1.x: JSON text, compressed here; 2.x: the binary header)."""
    if isinstance(header, bytes):
        packed = zlib.compress(header) if version[0] == 1 else header
    else:
        packed = pack_header(version, header)
    return frame(version, packed, [payloads])


def minimal(**changes) -> dict:
    """The smallest valid header: one empty side chunk."""
    h = {"width": 64, "height": 48, "entropy_model": {"plugin": "roi-image"}, "composer": {"plugin": "paste"},
         "chunks": [{"kind": "side", "name": "background", "length": 0, "crc32": 0}],
         "content_chunks_encoded": 0}
    h.update(changes)
    return h


def content(i: int, boxes, labels=(), tasks=()) -> Chunk:
    return Chunk("content", f"region-{i}", bytes([i]) * 3, labels=tuple(labels), boxes=tuple(boxes),
                 tasks=tuple(tasks))


def two_task_stream() -> Stream:
    """A stream whose chunks belong to two tasks (detection: cat, dog; faces: face) and one to neither."""
    chunks = [Chunk("side", "background", b"bg"),
              content(0, [(0, 0, 8, 8)], ["cat"], ["detection"]),
              content(1, [(10, 0, 20, 8)], ["dog"], ["detection"]),
              content(2, [(30, 30, 40, 40)], ["face"], ["faces"]),
              Chunk("content", "rest", b"rest")]
    rec = ComponentRecord(plugin="roi-image", provider="roi", distribution="discover-codec", version="0.1.0",
                          format_version=1, options={"codec": "jpeg"})
    return Stream.build(size=(64, 48), mode="RGB", entropy_model=rec, params={}, composer=ComponentRecord(
        plugin="paste"), chunks=chunks, tasks=["detection", "faces", "segmentation"])


# -- component records -------------------------------------------------------------------------
def test_component_record_fields_round_trip():
    rec = ComponentRecord(plugin="roi-image", provider="roi", distribution="discover-codec", version="0.1.0",
                          format_version=3, options={"codec": "avif"}, weights=WEIGHTS)
    stream = Stream.build(size=(8, 8), mode="RGB", entropy_model=rec, params={}, composer=ComponentRecord(
        plugin="paste"), chunks=[Chunk("side", "background", b"x")])
    data = stream.to_bytes()
    assert data[4:6] == bytes(FORMAT_VERSION) == b"\x03\x00"
    back = Stream.from_bytes(data)
    assert back.header.entropy_model == rec and back.version == FORMAT_VERSION
    assert back.header.composer.format_version == 1 and back.header.composer.weights is None


@pytest.mark.parametrize("field, value", [
    ("weights", "md5:abc"), ("weights", "sha256:" + "AB" * 32), ("format_version", 0),
    ("format_version", True), ("format_version", "2"), ("plugin", ""), ("provider", 3),
])
@pytest.mark.parametrize("version", [FORMAT_VERSION, V1])
def test_component_record_values_are_checked(field, value, version):
    record = {"plugin": "roi-image", field: value}
    with pytest.raises(StreamError, match="invalid header: entropy_model"):
        Stream.from_bytes(craft(minimal(entropy_model=record), version=version))


# -- minor versions ----------------------------------------------------------------------------
UNKNOWN = {1: ("novelty", "licence", "priority"), 2: ("tag 20", "tag 20", "tag 1"), 3: ("tag 20", "tag 20", "tag 1")}
"""Fields no reader of today knows: names in a 1.x JSON header, tags in a 2.x or 3.x binary one."""


def _with_unknown_fields(major: int = FORMAT_VERSION[0], values=({"anything": [1, 2]}, "MIT", 3)) -> dict:
    top, record, entry = UNKNOWN[major]
    h = minimal()
    h[top] = values[0]
    h["entropy_model"][record] = values[1]
    h["chunks"][0][entry] = values[2]
    return h


@pytest.mark.parametrize("version", [LATER, (2, 1), (1, 2)])
def test_a_later_minor_version_may_add_fields(version):
    stream = Stream.from_bytes(craft(_with_unknown_fields(version[0]), version=version))
    assert stream.header == Stream.from_bytes(craft(minimal())).header  # unknown fields are ignored
    assert stream.version == (version[0], version[1] - 1)  # written back as what this code can vouch for
    assert Stream.from_bytes(stream.to_bytes()).header == stream.header


@pytest.mark.parametrize("values", [(7, b"raw bytes", {"a": [1.5, None]}), ("x", 2 ** 64 - 1, b""),
                                    ("roi", 0.85, {"feather": "paste"})])
@pytest.mark.parametrize("later", [LATER, (2, 1)])
def test_a_binary_reader_skips_fields_of_every_wire_type(values, later):
    """Unknown tags as a varint, as bytes and as a value, in the header, a component and a chunk entry."""
    h = _with_unknown_fields(later[0], values)
    h["composer"]["tag 30"] = [values[0]]
    assert Stream.from_bytes(craft(h, version=later)).header == Stream.from_bytes(craft(minimal())).header


@pytest.mark.parametrize("version", sorted({(3, 0), (2, 0), FORMAT_VERSION, (1, 0), (1, 1)}))
def test_unknown_fields_of_known_minor_versions_are_errors(version):
    fields = "|".join(f"{where}{name}" for where, name in zip(("", "entropy_model.", "chunks.0."),
                                                                UNKNOWN[version[0]]))
    with pytest.raises(StreamError, match=f"invalid header: ({fields})"):
        Stream.from_bytes(craft(_with_unknown_fields(version[0]), version=version))


@pytest.mark.parametrize("version", [LATER, (1, 2)])
def test_a_later_minor_version_still_checks_known_fields(version):
    h = _with_unknown_fields(version[0])
    h["width"] = True
    with pytest.raises(StreamError, match="width"):
        Stream.from_bytes(craft(h, version=version))


@pytest.mark.parametrize("version", [(4, 0), (255, 7)])
def test_a_major_bump_is_refused(version):
    with pytest.raises(StreamError, match=rf"format {version[0]}\.{version[1]}; this discover reads formats 1\.x, "
                                          rf"2\.x and 3\.x") as exc:
        Stream.from_bytes(craft(minimal(), version=version))
    assert "upgrade" in exc.value.hint


def test_format_1_0_streams_still_read():
    paths = sorted(GOLDEN.glob("**/*.dscv"))
    old = [p for p in paths if p.read_bytes()[4:6] == b"\x01\x00"]
    assert old, f"no format 1.0 golden streams among {len(paths)} under {GOLDEN}"
    for path in old:
        stream = Stream.from_bytes(path.read_bytes())
        assert stream.version == (1, 0), path.name
        rec = stream.header.entropy_model
        assert rec.plugin == "roi-image" and (rec.provider, rec.distribution, rec.format_version, rec.weights) == (
            "", "", 1, None), path.name
        assert Stream.from_bytes(stream.to_bytes()).to_bytes()[:6] == b"DSCV\x01\x00"  # rewritten as 1.0


# -- strict parsing ----------------------------------------------------------------------------
@pytest.mark.parametrize("raw, expected", [
    (b'{"width": NaN}', "NaN is not a number"),
    (b'{"width": Infinity}', "Infinity is not a number"),
    (b'{"width": -Infinity}', "Infinity is not a number"),
    (b'{"params": {"x": 1e999}}', "too large to be finite"),
    (b'{"width": 64, "width": 64}', "'width' appears twice"),
    (b'{"params": {"a": {"b": 1, "b": 2}}}', "'b' appears twice"),
    (b'{"labels": ["\\ud800"]}', "lone surrogate"),
    (b'{"params": {"\\udc00x": 1}}', "lone surrogate"),
])
def test_json_that_is_not_plain_data_is_unreadable(raw, expected):
    with pytest.raises(StreamError, match="unreadable header") as exc:
        Stream.from_bytes(craft(raw, version=V1))
    assert expected in exc.value.message


@pytest.mark.parametrize("depth", [MAX_HEADER_DEPTH, 256, 989, 5000])
def test_deep_nesting_is_refused(depth):
    nested = {"x": 1}
    for _ in range(depth):
        nested = {"x": nested}
    raw = json.dumps(minimal(params=nested)).encode() if depth < 900 else (
        b'{"params": ' + b'{"x": ' * depth + b"1" + b"}" * depth + b"}")
    with pytest.raises(StreamError, match="nested deeper than|nested too deeply"):
        Stream.from_bytes(craft(raw, version=V1))


@pytest.mark.parametrize("depth", [MAX_HEADER_DEPTH - 1, 256, 5000, 1 << 20])
def test_deep_nesting_of_binary_values_is_refused(depth):
    """Lists in lists as the params value: refused at the same level as in JSON, in bounded time."""
    params = bytes([values.LIST << 5 | 1]) * depth + bytes([values.INT << 5])
    header = bytearray(pack_header(FORMAT_VERSION, minimal()))
    header += values.varint(6 << 2 | 2) + params  # tag 6 (params) as a value
    with pytest.raises(StreamError, match=f"unreadable header: it is nested deeper than {MAX_HEADER_DEPTH} levels"):
        Stream.from_bytes(craft(bytes(header)))


@pytest.mark.parametrize("version", [FORMAT_VERSION, V1])
def test_moderate_nesting_is_fine(version):
    nested: dict = {"x": 1}
    for _ in range(MAX_HEADER_DEPTH - 3):  # params at the header's level 2: the innermost value at level 32
        nested = {"x": nested}
    Stream.from_bytes(craft(minimal(params=nested), version=version))
    with pytest.raises((StreamError, ValueError), match="nested"):  # 2.x: the writer refuses it already
        Stream.from_bytes(craft(minimal(params={"x": nested}), version=version))


@pytest.mark.parametrize("change, where", [
    (lambda h: h.__setitem__("width", True), "width"),
    (lambda h: h.__setitem__("width", 64.0), "width"),
    (lambda h: h.__setitem__("height", "48"), "height"),
    (lambda h: h["chunks"][0].__setitem__("length", False), "chunks.0.length"),
    (lambda h: h["chunks"][0].__setitem__("crc32", 0.0), "chunks.0.crc32"),
    (lambda h: h.__setitem__("content_chunks_encoded", True), "content_chunks_encoded"),
])
@pytest.mark.parametrize("version", [FORMAT_VERSION, V1])
def test_integers_are_strict(change, where, version):
    h = minimal()
    change(h)
    with pytest.raises(StreamError, match=f"invalid header: {where}"):
        Stream.from_bytes(craft(h, version=version))


@pytest.mark.parametrize("version", [FORMAT_VERSION, V1])
def test_boxes_hold_strict_integers(version):
    h = minimal(labels=["cat"], content_chunks_encoded=1)
    h["chunks"].append({"kind": "content", "name": "r", "length": 0, "crc32": 0, "labels": [0],
                        "boxes": [[0, 0, True, 8]]})
    with pytest.raises(StreamError, match="chunks.1.boxes.0.2"):
        Stream.from_bytes(craft(h, version=version))


def test_bytes_after_the_compressed_header_are_refused():
    packed = zlib.compress(json.dumps(minimal()).encode()) + b"extra"
    data = PREFIX.pack(MAGIC, *V1, len(packed)) + packed + CRC.pack(zlib.crc32(packed))
    with pytest.raises(StreamError, match="5 bytes follow the compressed header"):
        Stream.from_bytes(data)


@pytest.mark.parametrize("version", [FORMAT_VERSION, V1])
def test_content_chunks_encoded_counts_at_least_the_chunks_present(version):
    h = minimal(labels=["cat"])
    h["chunks"].append({"kind": "content", "name": "r", "length": 0, "crc32": 0, "labels": [0],
                        "boxes": [[0, 0, 8, 8]]})
    with pytest.raises(StreamError, match="content_chunks_encoded is 0, but 1 content chunks are present"):
        Stream.from_bytes(craft(h, version=version))
    h["content_chunks_encoded"] = 1
    assert not Stream.from_bytes(craft(h, version=version)).is_partial


# -- what a header may declare -----------------------------------------------------------------
def _region(i: int, boxes, label: int = 0) -> dict:
    return {"kind": "content", "name": f"r{i}", "length": 0, "crc32": 0, "labels": [label],
            "boxes": [list(b) for b in boxes]}


@pytest.mark.parametrize("version", [FORMAT_VERSION, V1])
def test_canvas_is_held_to_the_input_cap(version):
    side = int(MAX_PIXELS ** 0.5)
    assert side * side <= MAX_PIXELS < (side + 1) * (side + 1)
    Stream.from_bytes(craft(minimal(width=side, height=side), version=version))
    with pytest.raises(StreamError, match=f"more than the {MAX_PIXELS} pixels"):
        Stream.from_bytes(craft(minimal(width=side + 1, height=side + 1), version=version))
    data = craft(minimal(width=20000, height=20000), version=version)
    assert len(data) < 260
    with pytest.raises(StreamError, match="20000x20000"):
        Stream.from_bytes(data)


@pytest.mark.parametrize("chunks, labels, expected", [
    ([{"kind": "side", "name": "", "length": 0, "crc32": 0}] * (MAX_CHUNKS + 1), [], f"more than {MAX_CHUNKS}"),
    ([_region(0, [(i % 64, i // 64, i % 64 + 1, i // 64 + 1) for i in range(MAX_BOXES_PER_CHUNK + 1)])], ["a"],
     "(at most|more than) 1024"),
    ([_region(0, [(i, 0, i + 1, 1) for i in range(MAX_BOXES_PER_CHUNK + 1)])], ["a"], "at most 1024 items"),
    ([_region(j, [(i % 64, j % 48, i % 64 + 1, j % 48 + 1) for i in range(MAX_BOXES_PER_CHUNK // 64 * 64)])
      for j in range(MAX_BOXES // MAX_BOXES_PER_CHUNK + 1)], ["a"], f"more than {MAX_BOXES}"),
    ([_region(0, [(0, 0, 8, 8), (0, 0, 8, 8)])], ["a"], "the same box twice"),
    ([_region(i, [(0, 0, 64, 48)]) for i in range(MAX_DECODED_AREA + 1)], ["a"],
     f"more than {MAX_DECODED_AREA} times the 64x48 image"),
    ([], [str(i) for i in range(MAX_LABELS + 1)], f"more than {MAX_LABELS}"),
    ([], ["cat", "cat"], "lists a label twice"),
])
@pytest.mark.parametrize("version", [FORMAT_VERSION, V1])
def test_header_bounds(chunks, labels, expected, version):
    """The same bounds in either format (the binary reader checks counts before it reads the items)."""
    h = minimal(labels=labels, content_chunks_encoded=len(chunks))
    h["chunks"] = chunks
    with pytest.raises(StreamError, match="(invalid|unreadable) header") as exc:
        Stream.from_bytes(craft(h, version=version))
    assert re.search(expected, exc.value.message), exc.value.message


@pytest.mark.parametrize("version", [FORMAT_VERSION, V1])
def test_the_bounds_leave_room(version):
    h = minimal(labels=["a"], content_chunks_encoded=MAX_DECODED_AREA)
    h["chunks"] += [_region(i, [(0, 0, 64, 48)]) for i in range(MAX_DECODED_AREA)]
    Stream.from_bytes(craft(h, version=version))


def test_constants_are_documented():
    source = Path(limits.__file__).read_text()
    for name in ("MAX_HEADER_DEPTH", "MAX_CHUNKS", "MAX_BOXES_PER_CHUNK", "MAX_BOXES", "MAX_LABELS", "MAX_TASKS",
                 "MAX_DECODED_AREA", "MAX_NAME_CHARS"):
        line = next(i for i, l in enumerate(source.splitlines()) if l.startswith(f"{name} = "))
        assert source.splitlines()[line + 1].lstrip().startswith('"""'), name


# -- extracted parts keep only their own names -------------------------------------------------
def test_task_part_lists_only_its_labels_and_tasks():
    full = two_task_stream()
    assert full.header.tasks == ["detection", "faces", "segmentation"]
    assert full.header.labels == ["cat", "dog", "face"]
    faces = Stream.from_bytes(full.extract(task="faces").to_bytes())
    assert [c.name for c in faces.chunks] == ["background", "region-2"]
    assert faces.header.labels == ["face"] and faces.header.tasks == ["faces"]
    assert faces.chunks[1].labels == ("face",) and faces.chunks[1].tasks == ("faces",)
    assert faces.header.content_chunks_encoded == 4 and faces.is_partial
    detection = full.extract(task="detection")
    assert detection.header.labels == ["cat", "dog"] and detection.header.tasks == ["detection"]


def test_a_task_without_regions_extracts_to_side_chunks_and_keeps_its_name():
    part = two_task_stream().extract(task="segmentation")
    assert [c.kind for c in part.chunks] == ["side"]
    assert part.header.tasks == ["segmentation"] and part.header.labels == []
    assert Stream.from_bytes(part.to_bytes()).extract(task="segmentation").to_bytes() == part.to_bytes()


def test_label_part_lists_the_tasks_of_its_chunks_only():
    part = two_task_stream().extract(labels=["face"])
    assert part.header.labels == ["face"] and part.header.tasks == ["faces"]


@pytest.mark.parametrize("asked", [["DOG"], ["  dog "], ["Dog", "zebra"]])
def test_label_matching_ignores_case_and_whitespace(asked):
    part = two_task_stream().extract(labels=asked)
    assert [c.name for c in part.chunks] == ["background", "region-1"]
    assert part.header.labels == ["dog"]


def test_label_matching_collapses_inner_whitespace():
    chunks = [Chunk("side", "background", b"bg"), content(0, [(0, 0, 8, 8)], ["tiger cat"], ["t"])]
    stream = Stream.build(size=(16, 16), mode="RGB", entropy_model=ComponentRecord(plugin="e"), params={},
                          composer=ComponentRecord(plugin="c"), chunks=chunks)
    assert stream.extract(labels=["Tiger   CAT"]).content_count == 1


def unpruned(full: Stream, part: Stream) -> Stream:
    """``part`` with the full stream's label and task tables, as extract wrote it before pruning."""
    h = full.header
    entries = [bitstream._entry(c, h.labels, h.tasks).model_dump() for c in part.chunks]
    header = bitstream.StreamHeader.model_validate({**part.header.model_dump(), "labels": h.labels,
                                                    "tasks": h.tasks, "chunks": entries})
    return Stream(header, part.chunks, part.version)


def test_pruned_headers_are_smaller(jpeg_stream):
    """The roi-image sample (64x48, cat/dog/bird): a part for one label carries fewer header bytes."""
    part = jpeg_stream.extract(labels=["bird"])
    before, after = unpruned(jpeg_stream, part).header_bytes(), part.header_bytes()
    print(f"header bytes of the 'bird' part: {before} before pruning, {after} after")
    assert part.header.labels == ["bird"]
    assert after < before
    both = two_task_stream()
    faces = both.extract(task="faces")
    assert faces.header_bytes() < unpruned(both, faces).header_bytes()


@pytest.mark.parametrize("params, expected", [
    ({"x": float("nan")}, "too large to be finite"), ({"x": "\ud800"}, "lone surrogate"),
    ({"x": json.loads("[" * MAX_HEADER_DEPTH + "]" * MAX_HEADER_DEPTH)}, "nested deeper"),
])
def test_params_a_reader_would_refuse_are_not_written(params, expected):
    with pytest.raises(ValueError, match=f"params cannot be written to a stream: .*{expected}"):
        Stream.build(size=(8, 8), mode="RGB", entropy_model=ComponentRecord(plugin="e"), params=params,
                     composer=ComponentRecord(plugin="c"), chunks=[Chunk("side", "background", b"x")])


# -- format 2.0: the value encoding ------------------------------------------------------------
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2 ** 64), 2 ** 64 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=40)


def same(a, b) -> bool:
    """Equal, with the same types all the way down (``True`` is not ``1``, ``1.0`` is not ``1``, signs of 0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b and (not isinstance(a, float) or math.copysign(1, a) == math.copysign(1, b))


def decoded(data: bytes, depth: int = 1):
    r = values.Reader(data)
    value = values.decode_value(r, depth)
    r.done()
    return value


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES)
def test_values_round_trip(value):
    assert same(decoded(values.encode_value(value)), value)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2 ** 64 - 1))
def test_varints_round_trip(n):
    data = values.varint(n)
    assert len(data) == max(1, -(-n.bit_length() // 7)) <= 10
    assert values.Reader(data).varint("n") == n


@pytest.mark.parametrize("value, size", [
    (None, 1), (True, 1), (0, 1), (-24, 1), (23, 1), (24, 2), (-25, 2), (128, 3), (2 ** 64 - 1, 11), (-(2 ** 64), 11),
    (0.125, 5), (0.1, 9), ("", 1), ("avif", 5),
    ([8, 6], 3), ({"codec": "jpeg"}, 12), ([[]] * 23, 24), ([0] * 24, 26),
])
def test_values_take_their_shortest_form(value, size):
    assert len(values.encode_value(value)) == size


@pytest.mark.parametrize("value, expected", [
    (math.nan, "finite"), (-math.inf, "finite"), ("\ud800", "lone surrogate"), ({"\udc00": 1}, "lone surrogate"),
    (2 ** 64, "does not fit 64 bits"), (-(2 ** 64) - 1, "does not fit 64 bits"), ({1: 2}, "map key is int"),
    (b"bytes", "bytes is not a value"), (json.loads("[" * 33 + "]" * 33), "nested deeper than 32"),
])
def test_values_a_reader_would_refuse_are_not_written(value, expected):
    with pytest.raises(ValueError, match=expected):
        values.encode_value(value)


INT, STR, LIST, MAP, SIMPLE, NEGATIVE = (values.INT << 5, values.STR << 5, values.LIST << 5, values.MAP << 5,
                                         values.SIMPLE << 5, values.NEGATIVE << 5)


@pytest.mark.parametrize("data, expected", [
    (b"", "cut short"),
    (bytes([LIST | 8]), "8 items cannot fit in 0 bytes"),
    (bytes([LIST | 24]) + values.varint(2 ** 60) + b"\0" * 8, "cannot fit"),
    (bytes([MAP | 24]) + values.varint(2 ** 63) + b"\0" * 8, "cannot fit"),
    (bytes([STR | 5]) + b"ab", "a string needs 5 bytes, 2 remain"),
    (bytes([STR | 24]) + values.varint(2 ** 62) + b"ab", "needs 4611686018427387904 bytes"),
    (bytes([STR | 2]) + b"\xff\xfe", "not valid UTF-8"),
    (bytes([STR | 3]) + "\ud800".encode("utf-8", "surrogatepass"), "not valid UTF-8"),
    (bytes([SIMPLE | values.FLOAT64]) + struct.pack(">d", math.nan), "finite"),
    (bytes([SIMPLE | values.FLOAT32]) + struct.pack(">f", math.inf), "finite"),
    (bytes([SIMPLE | values.FLOAT64]) + b"\0\0", "cut short"),
    (bytes([SIMPLE | 9]), "unknown simple value 9"),
    (bytes([6 << 5]), "unknown value type"),
    (bytes([NEGATIVE | 25]), "unknown value type"),
    (bytes([NEGATIVE | 24]) + b"\xff" * 9 + b"\x02", "does not fit 64 bits"),
    (bytes([INT | 25]), "unknown value type"),
    (bytes([INT | 24]) + b"\xff" * 10 + b"\x01", "longer than 10 bytes"),
    (bytes([INT | 24]) + b"\xff" * 9 + b"\x7f", "does not fit 64 bits"),
    (bytes([INT | 24]) + b"\x80\x80", "cut short"),
    (bytes([MAP | 1, INT | 1, INT]), "map key is int"),
    (bytes([MAP | 2]) + b"\x21a\x00" * 2, "'a' appears twice"),
])
def test_malformed_values_are_refused(data, expected):
    with pytest.raises(ValueError, match=expected):
        decoded(data)


# -- format 2.0: the binary header ---------------------------------------------------------------
def rich_stream() -> Stream:
    """Every field away from its default: weights, format version, options, params, mode, a composer of
    another distribution, a partial stream with numbered, plain and odd chunk names and tasks out of order."""
    em = ComponentRecord(plugin="hyperprior", provider="learned", distribution="discover-codec", version="1.2.3",
                         format_version=3, options={"quality": 4, "target": "pixels", "scale": 0.1}, weights=WEIGHTS)
    comp = ComponentRecord(plugin="controlnet", provider="", distribution="", version="", format_version=2,
                           options={"steps": [8, 50], "prompt": "é ✓", "on": True, "none": None})
    chunks = [Chunk("side", "hyperprior", b"h" * 300),
              Chunk("content", "region-0", b"a", ("dog", "cat"), ((0, 0, 16, 32), (16, 16, 100, 75)), ("t2", "t1")),
              Chunk("content", "region-007", b"b", ("cat",), ((96, 64, 100, 75),), ("t1",)),
              Chunk("content", "region-12", b"", ("dog",), ((32, 0, 48, 16),), ("t0", "t1", "t2")),
              Chunk("content", "-3", b"c" * 20000)]
    stream = Stream.build(size=(100, 75), mode="L", entropy_model=em, composer=comp, chunks=chunks,
                          params={"layout": [["region-0", [[0, 0, 1, 2]]]], "scales": [-1.5, 2e70], "n": -7},
                          tasks=["t0", "t1", "t2", "t3"])
    return stream.extract(labels=["cat", "dog"])


def test_header_round_trip_of_every_field():
    stream = rich_stream()
    back = Stream.from_bytes(stream.to_bytes())
    assert back.header == stream.header and back.chunks == stream.chunks and back.is_partial
    assert back.header.composer.distribution == "" and back.header.entropy_model.weights == WEIGHTS
    assert back.to_bytes() == stream.to_bytes()
    header = binheader.decode_header(unframe(stream.to_bytes())[1], FORMAT_VERSION)
    assert StreamHeader.model_validate(header) == stream.header
    as_2_0 = Stream(stream.header, stream.chunks, (2, 0))  # the same header in format 2.0, still written
    assert Stream.from_bytes(as_2_0.to_bytes()).header == stream.header
    assert len(as_2_0.to_bytes()) > len(stream.to_bytes())


CHUNK_NAMES = st.sampled_from(["background", "rest", "region-0", "region-1", "region-12", "region-007", "a-b-2",
                               "-3", "", "x-"]) | st.text(max_size=12)


@st.composite
def chunk_sets(draw):
    """An image size and up to 6 chunks: boxes anywhere on a random grid, names, labels and tasks in any order."""
    g = draw(st.sampled_from([1, 2, 3, 4, 8, 16, 32]))
    w, h = draw(st.integers(1, 300)), draw(st.integers(1, 300))
    chunks = []
    for i in range(draw(st.integers(0, 6))):
        boxes = set()
        for _ in range(draw(st.integers(0, 4))):
            x0, y0 = draw(st.integers(0, (w - 1) // g)) * g, draw(st.integers(0, (h - 1) // g)) * g
            x1 = min(w, x0 + g * draw(st.integers(1, 1 + w // g)))
            y1 = min(h, y0 + g * draw(st.integers(1, 1 + h // g)))
            boxes.add((x0, y0, x1, y1))
        labels = draw(st.lists(st.sampled_from(["cat", "dog", "bird", "a b"]), unique=True, max_size=3))
        tasks = draw(st.lists(st.sampled_from([f"t{k}" for k in range(70)]), unique=True, max_size=4))
        kind = "content" if labels or boxes or draw(st.booleans()) else "side"
        chunks.append(Chunk(kind, draw(CHUNK_NAMES), draw(st.binary(max_size=20)), tuple(labels), tuple(boxes),
                            tuple(tasks) if kind == "content" else ()))
    return (w, h), chunks


@settings(max_examples=150, deadline=None)
@given(chunk_sets(), st.lists(st.sampled_from(["t0", "t1", "t69"]), max_size=2))
def test_chunk_tables_round_trip(size_and_chunks, more_tasks):
    size, chunks = size_and_chunks
    stream = Stream.build(size=size, mode="RGB", entropy_model=ComponentRecord(plugin="e"), params={},
                          composer=ComponentRecord(plugin="c"), chunks=chunks, tasks=more_tasks)
    back = Stream.from_bytes(stream.to_bytes())
    assert back.header == stream.header and back.chunks == stream.chunks
    for task in back.header.tasks:
        part = stream.extract(task=task)
        assert Stream.from_bytes(part.to_bytes()).chunks == part.chunks


@pytest.mark.parametrize("boxes, size, grid", [
    ([], (64, 48), 16),
    ([(0, 0, 16, 32)], (64, 48), 16),
    ([(16, 0, 63, 47)], (63, 47), 16),  # edges at the image's border need not be on the grid
    ([(8, 0, 16, 16)], (64, 48), 8),
    ([(4, 4, 20, 20), (12, 8, 32, 24)], (64, 48), 4),
    ([(0, 0, 2, 48)], (64, 48), 2),
    ([(0, 0, 3, 5)], (64, 48), 1),
    ([(0, 0, 63, 48)], (64, 48), 1),  # 63 is neither on the grid nor the width
    ([(0, 0, 16, 48)], (48, 64), 16),
    ([(0, 0, 64, 40)], (40, 64), 8),  # 40 ends the image only as a height
])
def test_grid(boxes, size, grid):
    assert binheader.grid_of(boxes, *size) == grid


def test_boxes_on_a_grid_take_fewer_bytes_and_keep_their_edges(monkeypatch):
    chunks = [Chunk("content", f"region-{i}", b"x", ("cat",), (box,)) for i, box in
              enumerate([(0, 0, 1000, 750), (160, 320, 1000, 750), (320, 480, 960, 640), (0, 640, 480, 750)])]

    def build():
        return Stream.build(size=(1000, 750), mode="RGB", entropy_model=ComponentRecord(plugin="e"), params={},
                            composer=ComponentRecord(plugin="c"), chunks=chunks)

    on_grid = build().to_bytes()
    monkeypatch.setattr(binheader, "GRIDS", ())
    per_pixel = build().to_bytes()
    assert Stream.from_bytes(on_grid).chunks == Stream.from_bytes(per_pixel).chunks == chunks
    assert len(on_grid) == len(per_pixel) - 12  # 12 varints of 128 or more at grid 1, of one byte at grid 16


def test_a_reader_takes_any_grid(monkeypatch):
    chunks = [Chunk("content", "r", b"x", ("cat",), ((3, 6, 9, 10), (0, 0, 10, 3)))]
    monkeypatch.setattr(binheader, "GRIDS", (3,))
    stream = Stream.build(size=(10, 10), mode="RGB", entropy_model=ComponentRecord(plugin="e"), params={},
                          composer=ComponentRecord(plugin="c"), chunks=chunks)
    assert binheader.grid_of([b for c in chunks for b in c.boxes], 10, 10) == 3
    data = stream.to_bytes()
    monkeypatch.undo()
    assert Stream.from_bytes(data).chunks == chunks


def table_header(table: bytes, **fields) -> bytes:
    """A binary header of :func:`minimal` with a hand-made chunk table (field 9)."""
    h = minimal(**fields)
    del h["chunks"]
    return pack_header(FORMAT_VERSION, h) + values.varint(9 << 2 | 1) + values.varint(len(table)) + table


V = values.varint
ENTRY = V(0) + V(0) + b"\0\0\0\0"  # name 0, length 0, CRC 0


@pytest.mark.parametrize("table, expected", [
    (V(0) + V(0) + V(0), "grid is 0"),
    (V(1 << 17) + V(0) + V(0), "grid is 131072"),
    (V(1) + V(0) + V(1) + b"\0" + ENTRY, "name reference 0 outside the name table"),
    (V(1) + V(1) + b"\0" + V(1) + b"\x80" + ENTRY, "reserved flag"),
    (V(1) + V(1) + b"\0" + V(1) + b"\x41" + ENTRY, "generic entry has flags 0x41"),
    (V(1) + V(1) + b"\0" + V(1) + b"\0" + ENTRY + b"!", "1 bytes follow the end of the header: chunks"),
    (V(1) + V(1) + b"\0" + V(2) + b"\0" + ENTRY, "chunk 1 needs 1 bytes, 0 remain"),
    (V(1) + V(1) + b"\0" + V(9) + b"\0" + ENTRY, "9 chunks cannot fit in 7 bytes"),
    (V(1) + V(1 << 40), "more than 4096"),
    (V(1) + V(1) + b"\0" + V(MAX_CHUNKS + 1), f"{MAX_CHUNKS + 1} chunks, more than {MAX_CHUNKS}"),
    (V(1) + V(1) + b"\0" + V(1) + b"\x05" + ENTRY + V(1 << 40), "more than 1024"),
    (V(1) + V(1) + b"\0" + V(1) + b"\x05" + ENTRY + V(1000), "1000 boxes of chunk 0 cannot fit"),
    (V(1) + V(1) + b"\0" + V(1) + b"\x03" + ENTRY + V(1 << 33), "more than 4096"),
    (V(1) + V(1) + b"\0" + V(1) + b"\x19" + ENTRY + V(257), "257 tasks of chunk 0, more than 256"),
    (V(1) + V(1) + b"\0" + V(1) + b"\x21" + ENTRY + V(9) + b"x", "extension needs 9 bytes, 1 remain"),
])
def test_malformed_chunk_tables_are_refused(table, expected):
    with pytest.raises(StreamError, match="unreadable header") as exc:
        Stream.from_bytes(craft(table_header(table)))
    assert expected in exc.value.message, exc.value.message


def test_boxes_need_an_image_size():
    table = V(1) + V(1) + b"\0" + V(1) + b"\x05" + ENTRY + V(1) + V(0) * 2 + V(1) * 2
    with pytest.raises(StreamError, match="chunk 0 has boxes, but the header gives no image size"):
        Stream.from_bytes(craft(table_header(table, width="64")))


@pytest.mark.parametrize("header, expected", [
    (b"\x07", f"wire type 3, which no {FORMAT_VERSION[0]}.x reader can skip"),
    (V(1 << 2) + V(64) + V(1 << 2) + V(64), "field width appears twice"),
    (V(1 << 2) + b"\x80" * 10 + b"\x01", "longer than 10 bytes"),
    (V(4 << 2 | 1) + V(200) + b"x", "entropy_model needs 200 bytes, 1 remain"),
    (V(7 << 2 | 1) + V(1 << 40), "cut short"),
    (V(7 << 2 | 1) + V(2) + V(1 << 20) + b"", "cut short"),
    (V(7 << 2 | 1) + V(2) + V(MAX_TASKS + 1) + b"", "257 tasks, more than 256"),
    (V(3 << 2 | 1) + V(2) + b"\xc3\x28", "mode is not valid UTF-8"),
    (V(6 << 2 | 2) + bytes([SIMPLE | 30]), "unknown simple value"),
])
def test_malformed_binary_headers_are_refused(header, expected):
    for version in (FORMAT_VERSION, LATER):  # a later minor version does not make these skippable
        with pytest.raises(StreamError, match="unreadable header") as exc:
            Stream.from_bytes(craft(pack_header(FORMAT_VERSION, minimal()) + header, version=version), "s.dscv")
        assert expected in exc.value.message and exc.value.message.startswith("s.dscv "), exc.value.message


def test_every_cut_of_a_binary_header_is_refused_cleanly(jpeg_stream):
    """A header cut short with a right length and CRC: a StreamError naming the header, whatever the cut."""
    _, raw, _ = unframe(jpeg_stream.to_bytes())
    payloads = b"".join(c.payload for c in jpeg_stream.chunks)
    for n in range(len(raw)):
        with pytest.raises(StreamError, match="(unreadable|invalid) header"):
            Stream.from_bytes(craft(raw[:n], payloads))


def test_huge_counts_are_refused_before_anything_is_allocated():
    start = time.perf_counter()
    for table in (V(1) + V(1) + b"\0" + V(1) + b"\x03" + ENTRY + V(2 ** 63),
                  V(1) + V(2 ** 63 + 5), V(1) + V(0) + V(2 ** 64 - 1)):
        with pytest.raises(StreamError, match="more than"):
            Stream.from_bytes(craft(table_header(table)))
    with pytest.raises(StreamError, match="cannot fit"):
        Stream.from_bytes(craft(pack_header(FORMAT_VERSION, minimal()) + V(6 << 2 | 2) + bytes([LIST | 24])
                                + V(2 ** 63) + b"\0" * 100))
    assert time.perf_counter() - start < 1


# -- format 3.0: what a stream costs -----------------------------------------------------------
def header_size(chunks, tasks=("t",)) -> int:
    return Stream.build(size=(640, 480), mode="RGB", entropy_model=ComponentRecord(plugin="e"), params={},
                        composer=ComponentRecord(plugin="c"), chunks=chunks, tasks=tasks).header_bytes()


@pytest.mark.parametrize("length", [0, 127, 128, 16383])
def test_a_chunk_costs_8_bytes_beyond_its_boxes_and_labels(length):
    first = Chunk("content", "region-0", b"x", ("cat", "dog"), ((0, 0, 16, 16),), ("t",))
    for chunk, extra in [
        (Chunk("content", "region-1", b"y" * length, (), (), ("t",)), 0),  # a numbered name: no table entry
        (Chunk("content", "region-1", b"y" * length, ("dog",), ((32, 32, 640, 480),), ("t",)), 2 + 5),
        (Chunk("content", "region-1", b"y" * length, ("cat", "dog"), ((0, 16, 32, 48), (16, 32, 48, 64)), ("t",)),
         3 + 9),
    ]:
        added = header_size([first, chunk]) - header_size([first])
        assert added - extra == (7 if length < 128 else 8), (chunk, added)


def test_the_fixed_part_of_a_typical_stream(jpeg_stream):
    """Everything but the chunk entries and the label table, for roi-image + paste, in format 3.0: magic and
    version 6, header length 1, CRC 4; size 4; roi-image (2), provider roi (2), version 0.1.0 (5), options
    {codec: jpeg} (4) with the record's key and length 15; paste 4 (the rest as the entropy model's); params
    {background_size: [8, 6]} 6; tasks [detection] 4; the empty chunk table 5. 49 bytes, where format 2.0 took
    101 (55 of them the text of the names) and 1.1 about 210."""
    h = jpeg_stream.header
    bare = h.model_copy(update={"chunks": [], "labels": [], "content_chunks_encoded": 0, "entropy_model":
                                h.entropy_model.model_copy(update={"format_version": 1})})
    fixed, v2, json_fixed = (len(Stream(bare, [], v).to_bytes()) for v in (FORMAT_VERSION, (2, 0), (1, 1)))
    print(f"fixed part of a typical stream: {fixed} bytes in format 3.0, {v2} in 2.0, {json_fixed} in 1.1")
    assert fixed <= 49 and v2 <= 101 and 4 * fixed < json_fixed


def test_streams_record_only_options_that_differ_from_the_defaults(make_pipeline, image, regions):
    avif = make_pipeline(codec="avif", align=4).encode(image, regions=regions)
    assert avif.header.entropy_model.options == {} and avif.header.composer.options == {}
    assert decode(Stream.from_bytes(avif.to_bytes())).shape == image.shape  # decoded with the default codec
    jpeg = make_pipeline(codec="jpeg", align=4).encode(image, regions=regions)
    assert jpeg.header.entropy_model.options == {"codec": "jpeg"}  # align is not a decoder option


def test_a_pipeline_decodes_a_stream_with_default_options_as_recorded(make_pipeline, image, regions):
    avif = make_pipeline(codec="avif", align=4).encode(image, regions=regions)
    assert make_pipeline(codec="jpeg").decode(avif).shape == image.shape
