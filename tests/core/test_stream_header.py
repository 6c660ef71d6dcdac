"""The stream header v1.1: component records, minor-version evolution, strict parsing, bounds, pruned parts."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest

from discover_core import bitstream
from discover_core.bitstream import (CRC, FORMAT_VERSION, MAGIC, MAX_BOXES, MAX_BOXES_PER_CHUNK, MAX_CHUNKS,
                                     MAX_DECODED_AREA, MAX_HEADER_DEPTH, MAX_LABELS, PREFIX, ComponentRecord,
                                     Stream)
from discover_core.errors import StreamError
from discover_core.images import MAX_PIXELS
from discover_core.interfaces import Chunk

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "streams"
WEIGHTS = "sha256:" + "ab" * 32


def craft(header: dict | bytes, payloads: bytes = b"", version=FORMAT_VERSION) -> bytes:
    """A stream with an arbitrary header (dict or raw JSON bytes) and a correct length and CRC."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    packed = zlib.compress(raw)
    return PREFIX.pack(MAGIC, *version, len(packed)) + packed + CRC.pack(zlib.crc32(packed)) + payloads


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
    assert data[4:6] == bytes(FORMAT_VERSION) == b"\x01\x01"
    back = Stream.from_bytes(data)
    assert back.header.entropy_model == rec and back.version == FORMAT_VERSION
    assert back.header.composer.format_version == 1 and back.header.composer.weights is None


@pytest.mark.parametrize("field, value", [
    ("weights", "md5:abc"), ("weights", "sha256:" + "AB" * 32), ("format_version", 0),
    ("format_version", True), ("format_version", "2"), ("plugin", ""), ("provider", 3),
])
def test_component_record_values_are_checked(field, value):
    record = {"plugin": "roi-image", field: value}
    with pytest.raises(StreamError, match="invalid header: entropy_model"):
        Stream.from_bytes(craft(minimal(entropy_model=record)))


# -- minor versions ----------------------------------------------------------------------------
def _with_unknown_fields() -> dict:
    h = minimal()
    h["novelty"] = {"anything": [1, 2]}
    h["entropy_model"]["licence"] = "MIT"
    h["chunks"][0]["priority"] = 3
    return h


def test_a_later_minor_version_may_add_fields():
    later = (FORMAT_VERSION[0], FORMAT_VERSION[1] + 1)
    stream = Stream.from_bytes(craft(_with_unknown_fields(), version=later))
    assert stream.header == Stream.from_bytes(craft(minimal())).header  # unknown fields are ignored
    assert stream.version == FORMAT_VERSION  # written back as what this code can vouch for
    assert Stream.from_bytes(stream.to_bytes()).header == stream.header


@pytest.mark.parametrize("minor", sorted({0, FORMAT_VERSION[1]}))
def test_unknown_fields_of_known_minor_versions_are_errors(minor):
    with pytest.raises(StreamError, match="invalid header: (novelty|entropy_model.licence|chunks.0.priority)"):
        Stream.from_bytes(craft(_with_unknown_fields(), version=(FORMAT_VERSION[0], minor)))


def test_a_later_minor_version_still_checks_known_fields():
    h = _with_unknown_fields()
    h["width"] = True
    with pytest.raises(StreamError, match="width"):
        Stream.from_bytes(craft(h, version=(FORMAT_VERSION[0], FORMAT_VERSION[1] + 1)))


def test_a_major_bump_is_refused():
    with pytest.raises(StreamError, match=r"format 2\.0; this discover reads 1\.x") as exc:
        Stream.from_bytes(craft(minimal(), version=(2, 0)))
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
        Stream.from_bytes(craft(raw))
    assert expected in exc.value.message


@pytest.mark.parametrize("depth", [MAX_HEADER_DEPTH, 256, 989, 5000])
def test_deep_nesting_is_refused(depth):
    nested = {"x": 1}
    for _ in range(depth):
        nested = {"x": nested}
    raw = json.dumps(minimal(params=nested)).encode() if depth < 900 else (
        b'{"params": ' + b'{"x": ' * depth + b"1" + b"}" * depth + b"}")
    with pytest.raises(StreamError, match="nested deeper than|nested too deeply"):
        Stream.from_bytes(craft(raw))


def test_moderate_nesting_is_fine():
    nested: dict = {"x": 1}
    for _ in range(MAX_HEADER_DEPTH - 4):
        nested = {"x": nested}
    Stream.from_bytes(craft(minimal(params=nested)))


@pytest.mark.parametrize("change, where", [
    (lambda h: h.__setitem__("width", True), "width"),
    (lambda h: h.__setitem__("width", 64.0), "width"),
    (lambda h: h.__setitem__("height", "48"), "height"),
    (lambda h: h["chunks"][0].__setitem__("length", False), "chunks.0.length"),
    (lambda h: h["chunks"][0].__setitem__("crc32", 0.0), "chunks.0.crc32"),
    (lambda h: h.__setitem__("content_chunks_encoded", True), "content_chunks_encoded"),
])
def test_integers_are_strict(change, where):
    h = minimal()
    change(h)
    with pytest.raises(StreamError, match=f"invalid header: {where}"):
        Stream.from_bytes(craft(h))


def test_boxes_hold_strict_integers():
    h = minimal(labels=["cat"], content_chunks_encoded=1)
    h["chunks"].append({"kind": "content", "name": "r", "length": 0, "crc32": 0, "labels": [0],
                        "boxes": [[0, 0, True, 8]]})
    with pytest.raises(StreamError, match="chunks.1.boxes.0.2"):
        Stream.from_bytes(craft(h))


def test_bytes_after_the_compressed_header_are_refused():
    packed = zlib.compress(json.dumps(minimal()).encode()) + b"extra"
    data = PREFIX.pack(MAGIC, *FORMAT_VERSION, len(packed)) + packed + CRC.pack(zlib.crc32(packed))
    with pytest.raises(StreamError, match="5 bytes follow the compressed header"):
        Stream.from_bytes(data)


def test_content_chunks_encoded_counts_at_least_the_chunks_present():
    h = minimal(labels=["cat"])
    h["chunks"].append({"kind": "content", "name": "r", "length": 0, "crc32": 0, "labels": [0],
                        "boxes": [[0, 0, 8, 8]]})
    with pytest.raises(StreamError, match="content_chunks_encoded is 0, but 1 content chunks are present"):
        Stream.from_bytes(craft(h))
    h["content_chunks_encoded"] = 1
    assert not Stream.from_bytes(craft(h)).is_partial


# -- what a header may declare -----------------------------------------------------------------
def _region(i: int, boxes, label: int = 0) -> dict:
    return {"kind": "content", "name": f"r{i}", "length": 0, "crc32": 0, "labels": [label],
            "boxes": [list(b) for b in boxes]}


def test_canvas_is_held_to_the_input_cap():
    side = int(MAX_PIXELS ** 0.5)
    assert side * side <= MAX_PIXELS < (side + 1) * (side + 1)
    Stream.from_bytes(craft(minimal(width=side, height=side)))
    with pytest.raises(StreamError, match=f"more than the {MAX_PIXELS} pixels"):
        Stream.from_bytes(craft(minimal(width=side + 1, height=side + 1)))
    data = craft(minimal(width=20000, height=20000))
    assert len(data) < 260
    with pytest.raises(StreamError, match="20000x20000"):
        Stream.from_bytes(data)


@pytest.mark.parametrize("chunks, labels, expected", [
    ([{"kind": "side", "name": "", "length": 0, "crc32": 0}] * (MAX_CHUNKS + 1), [], f"more than {MAX_CHUNKS}"),
    ([_region(0, [(i, 0, i + 1, 1) for i in range(MAX_BOXES_PER_CHUNK + 1)])], ["a"], "at most 1024 items"),
    ([_region(j, [(i % 64, j % 48, i % 64 + 1, j % 48 + 1) for i in range(MAX_BOXES_PER_CHUNK // 64 * 64)])
      for j in range(MAX_BOXES // MAX_BOXES_PER_CHUNK + 1)], ["a"], f"more than {MAX_BOXES}"),
    ([_region(0, [(0, 0, 8, 8), (0, 0, 8, 8)])], ["a"], "the same box twice"),
    ([_region(i, [(0, 0, 64, 48)]) for i in range(MAX_DECODED_AREA + 1)], ["a"],
     f"more than {MAX_DECODED_AREA} times the 64x48 image"),
    ([], [str(i) for i in range(MAX_LABELS + 1)], f"more than {MAX_LABELS}"),
    ([], ["cat", "cat"], "lists a label twice"),
])
def test_header_bounds(chunks, labels, expected):
    h = minimal(labels=labels, content_chunks_encoded=len(chunks))
    h["chunks"] = chunks
    with pytest.raises(StreamError, match="invalid header") as exc:
        Stream.from_bytes(craft(h))
    assert expected in exc.value.message


def test_the_bounds_leave_room():
    h = minimal(labels=["a"], content_chunks_encoded=MAX_DECODED_AREA)
    h["chunks"] += [_region(i, [(0, 0, 64, 48)]) for i in range(MAX_DECODED_AREA)]
    Stream.from_bytes(craft(h))


def test_constants_are_documented():
    source = Path(bitstream.__file__).read_text()
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
