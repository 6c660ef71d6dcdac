"""Format 3.0: the static string table, float16s and ratios, release versions as numbers, the fixed header of the
built-in pipelines (at most 64 bytes) and the earlier formats that are still read."""

from __future__ import annotations

import hashlib
import math
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import discover_core
from discover_core import Region, binheader, dictionary, values
from discover_core.bitstream import FORMAT_VERSION, ComponentRecord, Stream, frame, pack_header, unframe
from discover_core.errors import StreamError
from discover_core.interfaces import Chunk
from discover_core.pipeline import decode, load_pipeline
from test_stream_header import same  # equal with the same types all the way down

V = values.varint
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "streams"
STRINGS_3_0 = "1339dd183644e8a43fd32c515e2498bc72bcc56020faa3e94a4b065c86c0ec3c"
"""sha256 of format 3.0's table (its strings joined by newlines): pinned, for the table is part of the format."""


def table_hash(n: int) -> str:
    return hashlib.sha256("\n".join(dictionary.STRINGS[:n]).encode()).hexdigest()


# -- the table ---------------------------------------------------------------------------------------------
def test_the_table_of_format_3_0_is_pinned():
    assert FORMAT_VERSION[0] == 3 and dictionary.SIZES[0] == 113
    assert table_hash(dictionary.SIZES[0]) == STRINGS_3_0, (
        "format 3.0's string table changed: streams already written would read other strings. Append new "
        "strings at the end, for a new minor version (SIZES), and bump FORMAT_VERSION's minor")


def test_the_table_only_grows():
    sizes = [dictionary.SIZES[m] for m in sorted(dictionary.SIZES)]
    assert sorted(dictionary.SIZES) == list(range(len(sizes))) and sizes == sorted(sizes)
    assert sizes[-1] == len(dictionary.STRINGS) and FORMAT_VERSION[1] == max(dictionary.SIZES)
    assert len(set(dictionary.STRINGS)) == len(dictionary.STRINGS), "a string twice"
    assert all(s and s == s.strip() and len(s.encode()) <= 64 for s in dictionary.STRINGS)


def test_the_built_in_names_are_in_the_table():
    """Every component name of the registry's built-ins, the plugins that provide them, the core's distribution,
    the chunk names of the built-in entropy models and the option keys a stream records."""
    from discover_core.decoding import recorded_options
    from discover_core.plugins import get_registry

    table = set(dictionary.STRINGS)
    missing = set()
    for kind, components in get_registry().components.items():
        for name, reg in components.items():
            if ":" in name or reg.distribution != binheader.CORE_DISTRIBUTION:
                continue
            missing |= {name, reg.plugin} - table
            if kind in ("entropy_model", "composer"):
                missing |= recorded_options(reg.cls) - table
    missing |= {binheader.CORE_DISTRIBUTION, "RGB", "background", "region", "rest", "image", "hyperprior",
                "background_size", "region_scale", "layout", "shape"} - table
    assert not missing, f"built-in names not in the string table: {sorted(missing)}"


def test_indices_cost_one_byte_where_they_are_used_most():
    """0-23: one byte in a value; 0-63 in a string table; 0-127 as a field."""
    at = {s: i for i, s in enumerate(dictionary.STRINGS)}
    assert all(at[k] < 24 for k in ("background_size", "region_scale", "feather", "codec", "avif", "jpeg"))
    assert all(at[k] < 64 for k in ("roi-image", "paste", "roi", "background", "region", "rest", "classification",
                                    "detection", "segmentation", "faces"))
    assert len(dictionary.STRINGS) <= 128


# -- every string, in every place a header holds one ---------------------------------------------------------
def stream_naming(s: str, mode: str = "RGB") -> Stream:
    em = ComponentRecord(plugin=s, provider=s, distribution=s, version=s, options={s: s, "k": [s, {s: 1}]})
    comp = ComponentRecord(plugin=s, provider="", options={s: 0.5})
    chunks = [Chunk("side", s, b"x"), Chunk("content", f"{s}-3", b"y", (s,), ((0, 0, 8, 8),), (s,))]
    return Stream.build(size=(16, 16), mode=mode, entropy_model=em, params={s: [s], "n": s}, composer=comp,
                        chunks=chunks, tasks=[s])


@pytest.mark.parametrize("s", dictionary.STRINGS)
def test_every_table_string_round_trips_as_a_reference(s):
    stream = stream_naming(s, mode=s if len(s) <= 16 else "RGB")
    data = stream.to_bytes()
    back = Stream.from_bytes(data)
    assert back.header == stream.header and back.chunks == stream.chunks and back.version == FORMAT_VERSION
    raw = unframe(data)[1]
    if len(s) >= 4:
        assert s.encode() not in raw, "written as text, not as its index"
    as_2_0 = Stream(stream.header, stream.chunks, (2, 0)).to_bytes()
    assert Stream.from_bytes(as_2_0).header == stream.header and len(as_2_0) > len(data)


def test_strings_outside_the_table_are_literals():
    s = "not-in-the-table ✓"
    stream = stream_naming(s)
    assert Stream.from_bytes(stream.to_bytes()).header == stream.header
    assert unframe(stream.to_bytes())[1].count(s.encode()) >= 8


def literal_header() -> bytes:
    """A 3.0 header that spells out as literals strings of the table (a writer would take their indices)."""
    def text(s: str) -> bytes:
        return V(2 * len(s.encode())) + s.encode()

    em = V(1 << 2 | 1) + values.string("roi-image") + V(2 << 2 | 1) + values.string("roi")
    em += V(6 << 2 | 2) + bytes([values.MAP << 5 | 1, values.STR << 5 | 5]) + b"codec" + bytes(
        [values.STR << 5 | 4]) + b"jpeg"
    comp = V(1 << 2 | 1) + values.string("paste")
    tasks = V(1) + text("detection")
    table = V(1) + V(1) + text("background") + V(1) + b"\0" + V(0) + V(1) + zlib.crc32(b"x").to_bytes(4, "big")
    return (V(1 << 2) + V(16) + V(2 << 2) + V(16) + V(3 << 2 | 1) + values.string("RGB")
            + V(4 << 2 | 1) + V(len(em)) + em + V(5 << 2 | 1) + V(len(comp)) + comp
            + V(7 << 2 | 1) + V(len(tasks)) + tasks + V(9 << 2 | 1) + V(len(table)) + table)


def test_a_literal_equal_to_a_table_string_is_that_string():
    data = frame(FORMAT_VERSION, literal_header(), [b"x"])
    stream = Stream.from_bytes(data)
    h = stream.header
    assert (h.entropy_model.plugin, h.entropy_model.provider, h.entropy_model.options) == ("roi-image", "roi",
                                                                                          {"codec": "jpeg"})
    assert h.composer.plugin == "paste" and h.tasks == ["detection"] and stream.chunks[0].name == "background"
    again = stream.to_bytes()  # the writer takes the indices
    assert Stream.from_bytes(again).header == h and len(again) < len(data)


# -- indices beyond the table ---------------------------------------------------------------------------------
def header_with(field: bytes, prefix: dict | None = None) -> bytes:
    h = {"width": 16, "height": 16, "entropy_model": {"plugin": "roi-image"}, "composer": {"plugin": "paste"},
         "chunks": [{"kind": "side", "name": "background", "length": 0, "crc32": 0}], **(prefix or {})}
    return pack_header(FORMAT_VERSION, h) + field


N = len(dictionary.STRINGS)
BEYOND = [
    ("mode", V(3 << 2) + V(N)),
    ("a task", V(7 << 2 | 1) + V(1 + len(V(2 * N + 1))) + V(1) + V(2 * N + 1)),
    ("params", V(6 << 2 | 2) + bytes([values.MAP << 5 | 1, values.TABLE << 5 | 24]) + V(N) + bytes([0])),
]


@pytest.mark.parametrize("where, field", BEYOND, ids=[b[0] for b in BEYOND])
def test_an_index_beyond_the_table_is_refused_naming_the_version(where, field):
    with pytest.raises(StreamError, match="unreadable header") as exc:
        Stream.from_bytes(frame(FORMAT_VERSION, header_with(field), []), "s.dscv")
    assert (f"string {N} of the format's string table, which has {N} strings in format "
            f"{FORMAT_VERSION[0]}.{FORMAT_VERSION[1]}") in exc.value.message, exc.value.message
    assert "damaged" in exc.value.hint


def test_an_index_of_a_later_minor_version_asks_for_an_upgrade():
    later = (FORMAT_VERSION[0], FORMAT_VERSION[1] + 1)
    em = V(1 << 2) + V(N + 5)  # plugin: a string a later table may have
    h = pack_header(later, {"width": 16, "height": 16, "composer": {"plugin": "paste"}, "chunks": []})
    data = frame(later, h + V(4 << 2 | 1) + V(len(em)) + em, [])
    with pytest.raises(StreamError, match="unreadable header") as exc:
        Stream.from_bytes(data)
    assert f"format {later[0]}.{later[1]} may have added" in exc.value.message
    assert f"knows the table of format {FORMAT_VERSION[0]}.{FORMAT_VERSION[1]} ({N} strings)" in exc.value.message
    assert "upgrade" in exc.value.hint
    # the strings it knows read as ever
    ok = Stream.from_bytes(frame(later, pack_header(later, {"width": 16, "height": 16, "entropy_model": {
        "plugin": "roi-image"}, "composer": {"plugin": "paste"}, "chunks": []}), []))
    assert ok.header.entropy_model.plugin == "roi-image" and ok.version == FORMAT_VERSION


def test_a_2_0_stream_has_no_table():
    """In format 2.0 a varint string field is a number, and values have no table strings, float16s or ratios."""
    h = {"width": 16, "height": 16, "entropy_model": {"plugin": "roi-image"}, "composer": {"plugin": "paste"},
         "chunks": []}
    bad = pack_header((2, 0), h) + V(3 << 2) + V(36)
    with pytest.raises(StreamError, match="invalid header: mode"):
        Stream.from_bytes(frame((2, 0), bad, []))
    for value, expected in ((bytes([values.TABLE << 5 | 1]), "unknown value type"),
                            (bytes([values.SIMPLE << 5 | values.FLOAT16, 0, 0]), "unknown simple value 5"),
                            (bytes([values.SIMPLE << 5 | values.RATIO, 1, 3]), "unknown simple value 6")):
        with pytest.raises(StreamError, match=expected):
            Stream.from_bytes(frame((2, 0), pack_header((2, 0), h) + V(6 << 2 | 2) + value, []))


# -- values: table strings, float16s, ratios --------------------------------------------------------------
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2 ** 64), 2 ** 64 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | st.fractions(max_denominator=5000).map(float) | st.text(max_size=12) | st.sampled_from(dictionary.STRINGS),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8) | st.sampled_from(
        dictionary.STRINGS), inner, max_size=5),
    max_leaves=40)


def decoded(data: bytes, table: int | None = 0):
    r = values.Reader(data)
    value = values.decode_value(r, 1, table)
    r.done()
    return value


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES)
def test_values_round_trip_in_format_3(value):
    data = values.encode_value(value, 1, 0)
    assert same(decoded(data), value)
    assert len(data) <= len(values.encode_value(value))


@pytest.mark.parametrize("value, size", [
    (256 / 300, 3), (0.1, 3), (1 / 3, 3), (-2 / 7, 3), (0.5, 3), (-0.0, 3), (0.0, 3), (2.0, 3), (65504.0, 3),
    (256 / 301, 5), (2 ** -30, 5), (1 / 1_000_003, 5), (math.pi, 9), (1 / 3_000_017, 9), ("feather", 1),
    ("region_scale", 1), ("roi-image", 2), ("x", 2), ({"background_size": [192, 128], "region_scale": 256 / 300}, 13),
])
def test_values_take_their_shortest_exact_form(value, size):
    data = values.encode_value(value, 1, 0)
    assert len(data) == size and same(decoded(data), value)


@pytest.mark.parametrize("data, expected", [
    (bytes([values.SIMPLE << 5 | values.RATIO, 0, 1]), "ratio 0/1"),
    (bytes([values.SIMPLE << 5 | values.NEGATIVE_RATIO, 1, 0]), "ratio 1/0"),
    (bytes([values.SIMPLE << 5 | values.RATIO]) + V(1 << 53) + V(3), "is not one of two integers"),
    (bytes([values.SIMPLE << 5 | values.RATIO, 1]), "cut short"),
    (bytes([values.SIMPLE << 5 | values.FLOAT16, 0x7c, 0]), "finite"),
    (bytes([values.SIMPLE << 5 | values.FLOAT16, 0x7e, 0]), "finite"),
    (bytes([values.SIMPLE << 5 | values.FLOAT16, 0]), "cut short"),
    (bytes([values.SIMPLE << 5 | 8]), "unknown simple value 8"),
    (bytes([7 << 5]), "unknown value type"),
    (bytes([values.TABLE << 5 | 24]) + V(2 ** 63), f"string {2 ** 63} of the format's string table"),
    (bytes([values.MAP << 5 | 1, values.TABLE << 5 | 2, values.TABLE << 5 | 2]), "feather"),
])
def test_malformed_format_3_values_are_refused(data, expected):
    if expected == "feather":  # a table string is a key like any other
        assert decoded(data) == {"feather": "feather"}
        return
    with pytest.raises(ValueError, match=expected):
        decoded(data)


# -- release versions ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("version, size", [
    ("0.1.0", 5), ("10.0", 4), ("2024.10.1", 6), ("1.2.3.4.5.6.7.8", 10), ("1.2.3.4.5.6.7.8.9", 19),
    ("01.2", 6), ("1.0rc1", 8), ("0.1.0+local", 13), ("1" * 19, 21), ("", 0),
])
def test_versions_round_trip_and_release_numbers_are_short(version, size):
    base = binheader.encode_header({"entropy_model": {"plugin": "e"}}, FORMAT_VERSION)
    data = binheader.encode_header({"entropy_model": {"plugin": "e", "version": version}}, FORMAT_VERSION)
    assert len(data) - len(base) == size
    assert binheader.decode_header(data, FORMAT_VERSION)["entropy_model"]["version"] == version


@pytest.mark.parametrize("payload, expected", [(b"", "without numbers"), (b"\1" * 9, "more than 8 numbers"),
                                               (b"\x80", "cut short")])
def test_malformed_release_versions_are_refused(payload, expected):
    em = V(1 << 2 | 1) + values.string("e") + V(4 << 2 | 1) + V(len(payload)) + payload
    with pytest.raises(ValueError, match=expected):
        binheader.decode_header(V(4 << 2 | 1) + V(len(em)) + em, FORMAT_VERSION)


# -- what the built-in pipelines cost -----------------------------------------------------------------------
BUILT_IN = Path(discover_core.__file__).parent / "data"


def fixed_bytes(stream: Stream) -> int:
    """The container without its chunks and labels (what benchmarks/stream_parts.py calls fixed)."""
    h = stream.header.model_copy(update={"chunks": [], "labels": [], "content_chunks_encoded": 0})
    return Stream(h, [], stream.version).header_bytes()


@pytest.mark.parametrize("name, label, expected", [("default", "tabby", 61), ("detection", "cat", 62),
                                                   ("segmentation", "person", 61)])
def test_the_fixed_header_of_each_built_in_pipeline_is_at_most_64_bytes(name, label, expected):
    """A real encode of a 451x300 picture (the size of the demo's chelsea) with each built-in pipeline, its
    region given (the grounder is not run): 6 magic and version, 1 header length, 4 CRC, 6 size, 13 roi-image
    (provider roi, version 0.1.0, format 2), 8 paste {feather: 4}, 4 the task, 5 the empty chunk table, and
    params {background_size: [192, 128], region_scale: 64/75} 14 (default; without region_scale 10 for
    detection; [385, 256] for segmentation). Format 2.0 took 134, 107 and 132."""
    y, x = np.mgrid[0:300, 0:451]
    picture = np.stack([x * 255 // 450, y * 255 // 299, (x * 3 + y) % 256], -1).astype(np.uint8)
    pipeline = load_pipeline(BUILT_IN / f"{name}.yaml")
    stream = pipeline.encode(picture, regions=[Region((100.0, 40.0, 300.0, 260.0), label, 0.9)])
    assert stream.version == FORMAT_VERSION
    assert fixed_bytes(stream) == expected <= 64
    assert fixed_bytes(Stream(stream.header, stream.chunks, (2, 0))) > 100
    back = Stream.from_bytes(stream.to_bytes())
    assert back.header == stream.header and back.header.params == stream.header.params
    # A chunk entry without its labels and boxes: head, name reference, length, CRC-32 (7 bytes + the length's
    # varint); the name table: one byte a name (background, region, rest).
    plain = stream.header.model_copy(update={"labels": [], "chunks": [
        e.model_copy(update={"labels": [], "boxes": []}) for e in stream.header.chunks]})
    chunks = Stream(plain, [], stream.version).header_bytes() - fixed_bytes(stream)
    names = {c.name.split("-")[0] for c in stream.chunks}
    assert chunks == len(names) + sum(6 + len(V(len(c.payload))) for c in stream.chunks)


# -- earlier formats ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", ["1.0", "1.1", "2.0"])
def test_streams_of_earlier_formats_still_decode_and_stay_in_their_format(version):
    paths = sorted((GOLDEN / version).glob("*.dscv"))
    assert paths
    for path in paths:
        data = path.read_bytes()
        stream = Stream.from_bytes(data)
        assert f"{stream.version[0]}.{stream.version[1]}" == version
        if version == "2.0":
            assert stream.to_bytes() == data
        now = Stream(stream.header, stream.chunks, FORMAT_VERSION).to_bytes()
        assert len(now) < len(stream.to_bytes())
        again = Stream.from_bytes(now)
        assert again.header == stream.header and again.chunks == stream.chunks
    assert decode(Stream.from_bytes(paths[0].read_bytes())).shape == (48, 64, 3)
