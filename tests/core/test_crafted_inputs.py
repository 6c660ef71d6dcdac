"""Crafted and fuzzed streams: every case decodes or is refused with a StreamError, in bounded time and memory.

Streams are made with ``roi-image`` and decoded with ``roi-image`` + ``paste`` directly (as the pipeline
does), each case under a wall-clock deadline (SIGALRM) and an address-space limit (RLIMIT_AS).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import resource
import signal
import socket
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from discover_core.bitstream import CRC, MAGIC, PREFIX, ComponentRecord, Stream, header_dict, unframe
from discover_core import files
from discover_core.errors import DiscoverError, InputError, PayloadError, StreamError
from discover_core.files import read_stream_file
from discover_core.interfaces import Chunk, Region
from discover_roi.codec import RoiImage
from discover_roi.paste import Paste

CASE_SECONDS = 5
"""Wall-clock limit of one case."""
CASE_MEMORY = 2 << 30
"""Address space one case may add (bytes)."""


# -- limits ------------------------------------------------------------------------------------
@contextlib.contextmanager
def bounded(seconds: float = CASE_SECONDS, memory: int = CASE_MEMORY):
    """Fail the case if it runs longer than ``seconds`` or maps more than ``memory`` more bytes."""
    def expire(signum, frame):
        raise TimeoutError(f"the case ran longer than {seconds} s")

    with open("/proc/self/statm") as f:
        in_use = int(f.read().split()[0]) * resource.getpagesize()
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = in_use + memory if hard == resource.RLIM_INFINITY else min(hard, in_use + memory)
    old = signal.signal(signal.SIGALRM, expire)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


# -- streams -----------------------------------------------------------------------------------
def picture(width: int, height: int) -> np.ndarray:
    """Gradients and a fine pattern, cheap to make at any size."""
    x, y = np.arange(width), np.arange(height)
    img = np.empty((height, width, 3), np.uint8)
    img[:, :, 0] = (x * 255 // max(1, width - 1)).astype(np.uint8)[None, :]
    img[:, :, 1] = (y * 255 // max(1, height - 1)).astype(np.uint8)[:, None]
    img[:, :, 2] = (x & 255).astype(np.uint8)[None, :] ^ (y & 255).astype(np.uint8)[:, None]
    return img


def make_stream(codec: str = "jpeg", size=(64, 48), regions=(), feather: int = 0, **options) -> Stream:
    """A stream as the pipeline writes it: roi-image chunks, content chunks tagged with the task."""
    w, h = size
    em = RoiImage(RoiImage.Options(codec=codec, align=4, speed=10, **options))
    encoded = em.encode(picture(w, h), list(regions))
    chunks = [Chunk(c.kind, c.name, c.payload, c.labels, c.boxes, ("detection",) if c.labels else ())
              for c in encoded.chunks]
    return Stream.build(size=size, mode="RGB",
                        entropy_model=ComponentRecord(plugin="roi-image", options={"codec": codec},
                                                      format_version=RoiImage.format_version),
                        params=encoded.params, composer=ComponentRecord(plugin="paste", options={"feather": feather}),
                        chunks=chunks, tasks=["detection"])


def decode(data: bytes | Stream) -> np.ndarray:
    """What the pipeline does with a stream of roi-image + paste: header options validated, decode, compose."""
    stream = data if isinstance(data, Stream) else Stream.from_bytes(data)
    h = stream.header
    if (h.entropy_model.plugin, h.composer.plugin) != ("roi-image", "paste"):
        raise StreamError("the stream names other components")
    try:
        em = RoiImage(RoiImage.Options.model_validate(h.entropy_model.options))
        comp = Paste(Paste.Options.model_validate(h.composer.options))
    except ValidationError as exc:
        raise StreamError(f"the stream's options do not validate: {exc.errors()[0]['msg']}") from None
    if not em.reads(h.entropy_model.format_version):
        raise StreamError("format version not read")
    out = comp.compose(em.decode(stream.size, h.params, stream.chunks, h.entropy_model.format_version))
    assert out.shape == (h.height, h.width, 3) and out.dtype == np.uint8
    return out


def split(data: bytes) -> tuple[dict, list[bytes]]:
    """A valid stream's header (as a dict) and its payloads."""
    stream = Stream.from_bytes(data)
    version, raw, _ = unframe(data)
    return header_dict(version[0], raw), [c.payload for c in stream.chunks]


def join(header: dict | bytes, payloads: list[bytes], fix_chunks: bool = True) -> bytes:
    """A stream of ``header`` and ``payloads`` with the header length and CRC (and chunk lengths/CRCs) right."""
    if isinstance(header, dict) and fix_chunks and isinstance(header.get("chunks"), list):
        for entry, p in zip(header.get("chunks", []), payloads):
            if isinstance(entry, dict):
                entry["length"], entry["crc32"] = len(p), zlib.crc32(p)
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    packed = zlib.compress(raw)
    return PREFIX.pack(MAGIC, 1, 1, len(packed)) + packed + CRC.pack(zlib.crc32(packed)) + b"".join(payloads)


def tiny_jpeg(size=(8, 8)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buf, "JPEG")
    return buf.getvalue()


def claims(jpeg: bytes, width: int, height: int) -> bytes:
    """``jpeg`` with its frame header rewritten to claim ``width`` x ``height``."""
    i = jpeg.index(b"\xff\xc0")
    return jpeg[:i + 5] + height.to_bytes(2, "big") + width.to_bytes(2, "big") + jpeg[i + 9:]


# -- fuzzing -----------------------------------------------------------------------------------
REGIONS = (Region((4, 4, 20, 20), "cat"), Region((12, 10, 30, 22), "dog"), Region((40, 26, 60, 44), "bird"))
VALUES = [0, -1, 1, 7, 2 ** 31, 2 ** 64, 10 ** 6, True, False, None, "", "x" * 300, "rest", "background",
          [], {}, [0, 0, 64, 48], [[0, 0, 64, 48]] * 3, [8, 6], [1, 1], [4096, 4096], 0.5, "jpeg", "webp", "avif",
          {"codec": "webp"}, {"feather": 64}, {"background_size": [64, 48]}]


@pytest.fixture(scope="module")
def seeds() -> list[bytes]:
    return [make_stream("jpeg", regions=REGIONS).to_bytes(),
            make_stream("webp", regions=REGIONS, code_rest=False).to_bytes(),
            make_stream("avif", regions=REGIONS[:1]).to_bytes(),
            make_stream("jpeg", regions=REGIONS, feather=4).extract(labels=["bird"]).to_bytes(),
            make_stream("jpeg", size=(7, 5)).to_bytes()]


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


def mutate(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    """One random mutation of a valid stream, and what it was."""
    roll = rng.random()
    if roll < 0.2:
        pos = rng.randrange(len(data))
        return f"bit flip at {pos}", data[:pos] + bytes([data[pos] ^ (1 << rng.randrange(8))]) + data[pos + 1:]
    if roll < 0.3:
        n = rng.randrange(len(data))
        return f"truncated to {n}", data[:n]
    header, payloads = split(data)
    if roll < 0.75:  # an edit of the header, checksums recomputed
        path = rng.choice([p for p in _paths(header) if p])
        parent = header
        for key in path[:-1]:
            parent = parent[key]
        if rng.random() < 0.15 and isinstance(parent, dict):
            del parent[path[-1]]
            what = f"deleted {path}"
        elif path[-1] in ("width", "height"):
            parent[path[-1]] = rng.choice([1, 2, 63, 65, 1000, 4096])
            what = f"{path} = {parent[path[-1]]}"
        else:
            parent[path[-1]] = rng.choice(VALUES)
            what = f"{path} = {str(parent[path[-1]])[:40]}"
        return what, join(header, payloads, fix_chunks=rng.random() < 0.8)
    # an edit of one payload, its length and CRC recomputed
    i = rng.randrange(len(payloads))
    p = bytearray(payloads[i])
    kind = rng.choice(["flip", "zero", "cut", "swap"])
    if kind == "flip" and p:
        for _ in range(rng.randint(1, 8)):
            p[rng.randrange(len(p))] ^= 1 << rng.randrange(8)
    elif kind == "zero" and p:
        a = rng.randrange(len(p))
        p[a:a + rng.randint(1, 64)] = bytes(min(len(p) - a, 64))
    elif kind == "cut":
        p = p[:rng.randrange(len(p) + 1)]
    else:
        p = bytearray(payloads[rng.randrange(len(payloads))])
    payloads[i] = bytes(p)
    return f"payload {i}: {kind}", join(header, payloads)


def test_fuzzed_streams_decode_or_are_refused(seeds):
    rng = random.Random(2026)
    outcomes = {"decoded": 0, "refused": 0}
    start = time.perf_counter()
    for case in range(1000):
        what, data = mutate(seeds[case % len(seeds)], rng)
        try:
            with bounded():
                decode(data)
            outcomes["decoded"] += 1
        except DiscoverError:
            outcomes["refused"] += 1
        except Exception as exc:  # anything else is a crash
            pytest.fail(f"case {case} ({what}): {type(exc).__name__}: {exc}")
    assert outcomes["decoded"] > 10 and outcomes["refused"] > 100, outcomes
    assert time.perf_counter() - start < 20


def test_fuzzed_streams_through_the_pipeline_never_crash(seeds):
    """The same mutations through ``discover_core.pipeline.decode``: a plugin bug (PluginBug) fails the test."""
    from discover_core.pipeline import decode as pipeline_decode

    rng = random.Random(7)
    for case in range(500):
        what, data = mutate(seeds[case % len(seeds)], rng)
        try:
            with bounded():
                pipeline_decode(data)
        except DiscoverError:
            pass
        except Exception as exc:  # noqa: BLE001 - PluginBug, or anything else, is a crash
            pytest.fail(f"case {case} ({what}): {type(exc).__name__}: {exc}")


def test_the_fuzz_seeds_decode(seeds):
    for data in seeds:
        decode(data)


# -- hand-crafted regressions (issue 7, point 9) ---------------------------------------------
def test_one_box_a_million_times_is_refused_by_the_header():
    header, payloads = split(make_stream(regions=REGIONS[:1]).to_bytes())
    header["chunks"][1]["boxes"] = header["chunks"][1]["boxes"] * 1_000_000
    with bounded(seconds=10):
        with pytest.raises(StreamError, match="more than 16384|at most 1024 items|decompresses to more than"):
            Stream.from_bytes(join(header, payloads))


def test_one_box_a_million_times_decodes_in_bounded_work():
    """Even handed to the decoder directly (no header bounds), a repeated box costs one mask fill."""
    stream = make_stream(regions=REGIONS[:1], code_rest=False)
    side, region = stream.chunks
    chunks = [side, Chunk("content", region.name, region.payload, region.labels, region.boxes * 1_000_000)]
    em, comp = RoiImage(RoiImage.Options(codec="jpeg")), Paste()
    with bounded(seconds=5):
        out = comp.compose(em.decode(stream.size, stream.header.params, chunks, 1))
    np.testing.assert_array_equal(out, decode(stream))


def test_feather_64_on_a_4096_canvas_is_bounded():
    from discover_core.stills import encode_still

    # The chunks roi-image would write for one large region (made directly: encoding 4096² is slow).
    side, box = 4096, (256, 256, 3840, 3840)
    chunks = [Chunk("side", "background", encode_still(picture(512, 512), "jpeg", 50)),
              Chunk("content", "region-0", encode_still(picture(box[2] - box[0], box[3] - box[1]), "jpeg", 20),
                    ("cat",), (box,), ("detection",))]
    stream = Stream.build(size=(side, side), mode="RGB", entropy_model=ComponentRecord(
        plugin="roi-image", options={"codec": "jpeg"}), params={"background_size": [512, 512]},
        composer=ComponentRecord(plugin="paste", options={"feather": 64}), chunks=chunks, tasks=["detection"])
    start = time.perf_counter()
    sharp = Paste().compose(RoiImage(RoiImage.Options(codec="jpeg")).decode(stream.size, stream.header.params,
                                                                            stream.chunks, 1))
    hard_edges = time.perf_counter() - start
    start = time.perf_counter()
    with bounded(seconds=20):
        out = decode(stream.to_bytes())
    feathered = time.perf_counter() - start
    # Was over 60 s; now a small multiple of pasting with hard edges (the machine may be busy).
    assert feathered < max(5.0, 3 * hard_edges), (feathered, hard_edges)
    inner = (slice(256 + 65, 3840 - 65), slice(256 + 65, 3840 - 65))
    np.testing.assert_array_equal(out[inner], sharp[inner])
    edge = (slice(1000, 1010), slice(256, 256 + 64))
    assert not np.array_equal(out[edge], sharp[edge])


def test_a_few_bytes_declaring_a_huge_canvas_are_refused():
    header, payloads = split(make_stream().to_bytes())
    header["width"] = header["height"] = 20000
    header["params"] = {"background_size": [1, 1]}
    payloads = [tiny_jpeg((1, 1))]
    data = join(header, payloads)
    with bounded(seconds=2, memory=256 << 20):
        with pytest.raises(StreamError, match="20000x20000 is more than"):
            Stream.from_bytes(data)


def test_many_chunks_declaring_large_patches_are_refused_before_decoding():
    size = 9000
    header, payloads = split(make_stream().to_bytes())
    header.update(width=size, height=size, params={"background_size": [1, 1]}, labels=["cat"], tasks=["t"])
    small = make_stream("avif", size=(8, 8)).chunks[0].payload
    chunk = {"kind": "content", "name": "region-0", "labels": [0], "tasks": [0], "boxes": [[0, 0, size, size]]}
    for count, expected in ((12, "more than 8 times the 9000x9000 image"),
                            (8, r"the avif payload is \d+x\d+, the stream header says 9000x9000")):
        header["chunks"] = [{"kind": "side", "name": "background"}] + [dict(chunk, name=f"r{i}") for i in range(count)]
        header["content_chunks_encoded"] = count
        header["entropy_model"]["options"] = {"codec": "avif"}
        data = join(header, [small] * (count + 1))
        with bounded(seconds=5, memory=1 << 30):
            with pytest.raises(StreamError, match=expected):
                decode(data)


@pytest.mark.parametrize("count, expected", [(250_000, "decompresses to more than"), (60_000, "more than 4096")])
def test_many_empty_side_chunks_are_refused_quickly(tmp_path, count, expected):
    header, payloads = split(make_stream().to_bytes())
    header["chunks"] += [{"kind": "side", "name": "", "length": 0, "crc32": 0}] * count
    data = join(header, payloads, fix_chunks=False)
    assert len(data) < 60_000
    path = tmp_path / "many.dscv"
    path.write_bytes(data)
    with bounded(seconds=5, memory=1 << 30):
        with pytest.raises(StreamError, match=expected):
            read_stream_file(path)


@pytest.mark.parametrize("edit, expected", [
    (lambda raw: raw.replace(b'"bird"', b'"\\ud800"'), "lone surrogate"),
    (lambda raw: raw.replace(b'"params":{', b'"params":{"deep":' + b"[" * 300 + b"]" * 300 + b","),
     "nested deeper"),
    (lambda raw: raw.replace(b'"params":{', b'"params":{"deep":' + b"[" * 989 + b"]" * 989 + b","),
     "nested"),
    (lambda raw: raw.replace(b'"width":64', b'"width":NaN'), "NaN"),
    (lambda raw: raw.replace(b'"width":64', b'"width":64,"width":64'), "appears twice"),
    (lambda raw: raw.replace(b'"width":64', b'"width":true'), "width"),
    (lambda raw: raw.replace(b'"content_chunks_encoded":3', b'"content_chunks_encoded":1'),
     "content_chunks_encoded is 1"),
])
def test_crafted_headers_are_refused(tmp_path, edit, expected):
    stream = make_stream(regions=REGIONS)
    raw = json.dumps(stream.header.model_dump(mode="json", exclude_defaults=True), separators=(",", ":"),
                     sort_keys=True).encode()
    bad = edit(raw)
    assert bad != raw
    path = tmp_path / "crafted.dscv"
    path.write_bytes(join(bad, [c.payload for c in stream.chunks]))
    with bounded(seconds=3):
        with pytest.raises(StreamError) as exc:
            read_stream_file(path)
    assert expected in exc.value.message


def test_bytes_after_the_compressed_header(tmp_path):
    stream = make_stream()
    packed = zlib.compress(json.dumps(stream.header.model_dump(mode="json")).encode()) + b"\x00"
    data = PREFIX.pack(MAGIC, 1, 1, len(packed)) + packed + CRC.pack(zlib.crc32(packed)) + stream.chunks[0].payload
    with pytest.raises(StreamError, match="1 bytes follow the compressed header"):
        Stream.from_bytes(data)


@pytest.mark.parametrize("where", ["background", "region"])
def test_a_jpeg_claiming_9000_square_but_holding_8x8_is_refused(where):
    size = 9000
    header, payloads = split(make_stream().to_bytes())
    big = claims(tiny_jpeg(), size, size)
    with Image.open(io.BytesIO(big)) as img:
        assert img.size == (size, size)  # what its own header says
    header.update(width=size, height=size)
    if where == "background":
        header["params"] = {"background_size": [size, size]}
        header["chunks"], payloads = header["chunks"][:1], [big]
    else:
        header.update(labels=["cat"], tasks=["t"], content_chunks_encoded=1)
        header["chunks"] = [header["chunks"][0], {"kind": "content", "name": "region-0", "labels": [0],
                                                  "tasks": [0], "boxes": [[0, 0, size, size]]}]
        payloads = [payloads[0], big]
    with bounded(seconds=5, memory=1 << 30):
        with pytest.raises(PayloadError, match=f"too few for a {size}x{size} picture"):
            decode(join(header, payloads))


# -- stream files (discover info / decode / extract read them with read_stream_file) ------------
def test_a_stream_file_reads(tmp_path):
    stream = make_stream(regions=REGIONS)
    path = tmp_path / "s.dscv"
    path.write_bytes(stream.to_bytes())
    back = read_stream_file(path)
    assert back.header == stream.header and back.chunks == stream.chunks


def _fifo(folder):
    path = folder / "pipe.dscv"
    os.mkfifo(path)
    return path


def _socket(folder):
    with socket.socket(socket.AF_UNIX) as sock:  # the socket file stays after the socket is closed
        sock.bind(str(folder / "sock"))
    return folder / "sock"


def _loop(folder):
    (folder / "a").symlink_to(folder / "b")
    (folder / "b").symlink_to(folder / "a")
    return folder / "a"


def _under_a_file(folder):
    (folder / "file").write_bytes(b"x")
    return folder / "file" / "s.dscv"


@pytest.mark.parametrize("make, expected", [
    (_fifo, "is a FIFO (named pipe), not a stream file"),
    (_socket, "is a socket, not a stream file"),
    (lambda folder: Path("/dev/null"), "is a character device, not a stream file"),
    (lambda folder: folder, "is a folder, not a stream file"),
    (_loop, "a symbolic link loop"),
    (_under_a_file, "a part of the path is a file, not a folder"),
    (lambda folder: folder / ("x" * 252 + ".dscv"), "more than the 255 a file system allows"),
    (lambda folder: folder / "missing.dscv", "stream not found"),
])
def test_odd_stream_paths_are_input_errors(tmp_path, make, expected):
    path = make(tmp_path)
    with bounded(seconds=3):
        with pytest.raises(InputError) as exc:
            read_stream_file(path)
    assert expected in exc.value.message and exc.value.hint


def test_an_unreadable_stream_file(tmp_path, monkeypatch):
    path = tmp_path / "s.dscv"
    path.write_bytes(make_stream().to_bytes())

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(files.os, "open", denied)
    with pytest.raises(InputError, match="permission denied"):
        read_stream_file(path)


def test_the_magic_is_checked_before_the_size(tmp_path):
    path = tmp_path / "photo.dscv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(4096))
    with pytest.raises(StreamError, match="is not a discover stream \\(it looks like a PNG image\\)"):
        read_stream_file(path, max_bytes=1024)
    path.write_bytes(make_stream().to_bytes())
    size = path.stat().st_size
    with pytest.raises(StreamError, match=f"is {size} bytes, more than the 100 a stream may have"):
        read_stream_file(path, max_bytes=100)
    assert read_stream_file(path, max_bytes=size).header.width == 64
