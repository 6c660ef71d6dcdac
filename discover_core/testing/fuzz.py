"""Fuzzing the stream decoder: seed streams, structure-aware mutations, and a decoder in a child process.

Used by ``scripts/fuzz_streams.py`` (the command line) and ``tests/fuzz/`` (a short bounded pass and the
stored reproducers). The pieces:

* :func:`make_seeds`: small real photos encoded with ``roi-image`` (AVIF and JPEG), ``hyperprior`` (the
  shipped ``builtin`` checkpoint) and ``elic`` (tiny, seeded initial weights), plus the task parts
  (:meth:`~discover_core.bitstream.Stream.extract`) of every stream.
* :class:`Raw` / :func:`parse` / :func:`serialise`: a stream as prefix version, header (a plain dict, not
  validated) and payloads; serialising recomputes every length and CRC-32 (chunks and header), so the
  container accepts whatever was mutated and the decoder behind it is what gets tested.
* :class:`Mutator`: truncations and fills of chunk payloads at every length, chunk swaps (between chunks and
  between streams), duplication and removal, header edits (every option to huge / negative / zero / NaN /
  strings, image size up to the limit, layout params, format versions, component names, chunk table),
  bit flips, and plain byte-level mutations of the whole file (whose CRCs then fail).
* :class:`Pool`: ``jobs`` long-lived worker processes (fresh interpreters, imports and decoders warmed once),
  each of which forks one child per input. The child sets an address-space limit and decodes as ``discover decode``
  does; the worker waits with a timeout and reads the child's peak RSS (``wait4``). Outcomes: ``ok``,
  ``refused`` (a :class:`~discover_core.errors.DiscoverError`: what the CLI exits 2 for), and the failures
  ``signal``, ``hang``, ``memory``, ``plugin-bug`` (:class:`~discover_core.errors.PluginBug`, exit 1) and
  ``internal`` (any other exception).
* :func:`known_cases`: the crafted inputs of bugs found so far, made from fresh seeds (so they follow format
  changes); ``tests/fuzz/reproducers/`` holds them as files too.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import os
import random
import resource
import select
import signal
import struct
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

OK, REFUSED = "ok", "refused"
SIGNAL, HANG, MEMORY, PLUGIN_BUG, INTERNAL = "signal", "hang", "memory", "plugin-bug", "internal"
FAILURES = (SIGNAL, HANG, MEMORY, PLUGIN_BUG, INTERNAL)
OUTCOMES = (OK, REFUSED) + FAILURES
CODECS = ("roi-image", "hyperprior", "elic")

DEFAULT_TIMEOUT = 20.0
"""Seconds one decode may take (a decode of the seeds' size takes well under one)."""
DEFAULT_MEMORY = 2 << 30
"""Bytes of RSS one decode may add to the warmed worker it is forked from (the decoders' default memory budget,
:mod:`discover_core.budget`, is the same 2 GiB); above it the input counts as a memory failure."""
ADDRESS_SLACK = 1 << 30
"""Address space a decode may map beyond that (thread stacks, allocator arenas, estimates that run over); the
child's RLIMIT_AS is its size at the fork plus the memory limit plus this, so a runaway allocation fails there."""

TINY_ELIC = {"checkpoint": None, "channels": 32, "latent_channels": 32, "global_channels": 8, "seed": 0}
TASKS = {"animals": ["cat", "dog"], "people": ["person"]}
REGIONS = ((0.08, 0.10, 0.45, 0.60, "cat"), (0.35, 0.35, 0.70, 0.95, "dog"), (0.60, 0.05, 0.95, 0.40, "person"))
"""Regions of every seed image, as fractions of its size: two overlapping animals and a person."""
PHOTOS = (("chelsea", (144, 96)), ("astronaut", (128, 128)), ("coffee", (160, 104)), ("rocket", (100, 150)))
"""scikit-image photos and the size each is shrunk to (a synthetic picture stands in without scikit-image)."""


# -- seeds --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Seed:
    codec: str
    name: str
    data: bytes


def pipeline_dict(codec: str, roi_codec: str = "avif") -> dict:
    """A two-task pipeline around ``codec``; its ``boxes`` grounder is never built (regions are given)."""
    entropy = {
        "roi-image": {"plugin": "roi-image", "options": {"codec": roi_codec, "speed": 10, "align": 8}},
        "hyperprior": {"plugin": "hyperprior", "options": {"checkpoint": "builtin"}},
        "elic": {"plugin": "elic", "options": dict(TINY_ELIC)},
    }[codec]
    composer = {"plugin": "paste", "options": {"feather": 4}} if codec == "roi-image" else {"plugin": "plain"}
    return {
        "schema_version": 2,
        "name": f"fuzz-{codec}",
        "tasks": [{"name": t, "label_source": {"plugin": "static", "options": {"labels": labels}}}
                  for t, labels in TASKS.items()],
        "grounders": [{"plugin": "boxes", "options": {"file": "boxes.json", "missing": "empty"}}],
        "entropy_model": entropy,
        "composer": composer,
    }


def synthetic_picture(width: int, height: int) -> "Any":
    import numpy as np

    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    img = np.stack([255 * x / max(1, width - 1), 255 * y / max(1, height - 1),
                    128 + 100 * np.sin(x / 5.0) * np.cos(y / 7.0)], -1)
    img[(x - width * 0.3) ** 2 + (y - height * 0.35) ** 2 < (min(width, height) * 0.2) ** 2] = (250, 240, 30)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def photos(count: int = 3) -> list[tuple[str, "Any"]]:
    """``count`` small real photos (scikit-image's data module), shrunk; synthetic pictures without it."""
    import numpy as np
    from PIL import Image

    out = []
    for name, (w, h) in PHOTOS[:count]:
        try:
            from skimage import data

            img = np.asarray(getattr(data, name)())
            if img.ndim == 2:
                img = np.repeat(img[:, :, None], 3, 2)
            img = np.asarray(Image.fromarray(np.ascontiguousarray(img[:, :, :3])).resize((w, h), Image.LANCZOS))
        except Exception:  # noqa: BLE001 - no scikit-image or no data file: any picture will do
            img = synthetic_picture(w, h)
        out.append((name, np.ascontiguousarray(img, dtype=np.uint8)))
    return out


def make_seeds(codecs: Sequence[str] = CODECS, images: int = 3) -> list[Seed]:
    """Every codec's streams of ``images`` photos, and the parts of each (per task, and by one label)."""
    from discover_core.interfaces import ImageMeta, Region
    from discover_core.pipeline import pipeline_from_dict

    pictures = photos(images)
    seeds: list[Seed] = []
    for codec in codecs:
        variants = ["avif", "jpeg"] if codec == "roi-image" else [None]
        for variant in variants:
            pipeline = pipeline_from_dict(pipeline_dict(codec, variant or "avif"))
            for k, (name, img) in enumerate(pictures):
                h, w = img.shape[:2]
                regions = [Region((x0 * w, y0 * h, x1 * w, y1 * h), label) for x0, y0, x1, y1, label in REGIONS]
                if k % 2:  # every other photo without the person: a task whose part has no content chunk
                    regions = regions[:2]
                stream = pipeline.encode(img, ImageMeta(name=name), regions=regions)
                tag = f"{codec}{'-' + variant if variant else ''}-{name}"
                seeds.append(Seed(codec, tag, stream.to_bytes()))
                for task in TASKS:
                    seeds.append(Seed(codec, f"{tag}-task-{task}", stream.extract(task=task).to_bytes()))
                seeds.append(Seed(codec, f"{tag}-label-dog", stream.extract(labels=["dog"]).to_bytes()))
    return seeds


# -- the container, unvalidated ---------------------------------------------------------------------------
@dataclass
class Raw:
    """A stream as the container lays it out, with a header that is only JSON (mutations may break it)."""

    version: tuple[int, int]
    header: Any
    payloads: list[bytes]


def parse(data: bytes) -> Raw:
    """A well-formed stream (e.g. a seed) as :class:`Raw`, read with the container's own framing and header
    reader (any format version it reads), the header left unvalidated."""
    from discover_core import bitstream as bs

    if hasattr(bs, "unframe") and hasattr(bs, "header_dict"):
        version, packed, pos = bs.unframe(data, "seed")
        header = bs.header_dict(version, packed)
    else:  # a core that writes only format 1.x (zlib-compressed JSON behind a fixed prefix)
        _, major, minor, hlen = bs.PREFIX.unpack_from(data)
        version = (major, minor)
        header = json.loads(zlib.decompress(data[bs.PREFIX.size:bs.PREFIX.size + hlen]))
        pos = bs.PREFIX.size + hlen + bs.CRC.size
    payloads = []
    for entry in header["chunks"]:
        payloads.append(data[pos:pos + entry["length"]])
        pos += entry["length"]
    return Raw(tuple(version), header, payloads)  # type: ignore[arg-type]


def header_bytes(header: Any) -> bytes:
    """A header as 1.x JSON text, whatever it holds (non-finite floats as NaN/Infinity; lone surrogates escaped):
    the container's own writer may refuse what a crafted header needs to say."""
    try:
        return json.dumps(header, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(header, separators=(",", ":"), sort_keys=True).encode("utf-8")
    except TypeError:  # keys of mixed types cannot be sorted
        return json.dumps(header, separators=(",", ":"), ensure_ascii=True).encode("utf-8")


def pack(version: tuple[int, int], header: Any) -> tuple[tuple[int, int], bytes]:
    """``(version, header bytes)``: the container's own header writer for ``version`` (formats 2.x and 3.x: binary), or,
    for 1.x or a header that writer cannot hold (NaN, say), compressed JSON text as a 1.1 stream."""
    from discover_core import bitstream as bs

    if version[0] != 1 and hasattr(bs, "pack_header"):
        try:
            return version, bs.pack_header(version, header)
        except Exception:  # noqa: BLE001 - not expressible in the binary header: the JSON header says it
            version = (1, 1)
    return version, zlib.compress(header_bytes(header), 9)


def frame(version: tuple[int, int], packed: bytes, payloads: Sequence[bytes]) -> bytes:
    """Prefix, header bytes, header CRC-32 and payloads, as the container's own framing writes them."""
    from discover_core import bitstream as bs

    version = (version[0] & 0xFF, version[1] & 0xFF)
    if hasattr(bs, "frame"):
        return bs.frame(version, packed, payloads)
    return (bs.PREFIX.pack(bs.MAGIC, *version, len(packed) & 0xFFFFFFFF) + packed
            + bs.CRC.pack(zlib.crc32(packed)) + b"".join(payloads))


def serialise(raw: Raw, fix_chunks: bool = True, packed: bytes | None = None) -> bytes:
    """The stream's bytes, with the header length and CRC (and each chunk's length and CRC) right.

    ``packed`` replaces the header bytes (its CRC is still computed over them).
    """
    header = raw.header
    if fix_chunks and isinstance(header, dict) and isinstance(header.get("chunks"), list):
        for entry, payload in zip(header["chunks"], raw.payloads):
            if isinstance(entry, dict):
                entry["length"], entry["crc32"] = len(payload), zlib.crc32(payload)
    version = raw.version
    if packed is None:
        version, packed = pack(version, header)
    return frame(version, packed, raw.payloads)


# -- mutations --------------------------------------------------------------------------------------------
INTS = (0, 1, -1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 63, 64, 65, 127, 128, 255, 256, 1023, 1024, 1025, 4096,
        65535, 65536, 65537, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 53 + 1, 2 ** 63 - 1, 2 ** 63, 2 ** 64, -2 ** 31,
        -2 ** 63, 10 ** 30, 10 ** 300)
FLOATS = (0.0, -0.0, 0.5, 1.5, -1.5, 8.0, 1024.0, 1e-300, 2e70, 1e308, -1e308, math.nan, math.inf, -math.inf)
STRINGS = ("", "x", "builtin", "pixels", "sd-latent", "avif", "jpeg", "webp", "0", "1024", "-1", "NaN",
           "../../../etc/passwd", "/dev/zero", "/proc/self/mem", "\x00", "\ud800", "é" * 300, "x" * 5000,
           "hf://x/y", "https://example.invalid/w.safetensors")
OTHERS: tuple = (None, True, False, [], {}, [0], [1, 2], [32], [0, 32], [-1, 33], [16, 16], [8] * 4, [1] * 32,
                 [1] * 1024, {"a": 1}, [[0, 0, 1, 1]], {"__class__": "x"})
VALUES: tuple = INTS + FLOATS + STRINGS + OTHERS
SIDES = (0, -1, 1, 2, 3, 8, 15, 16, 17, 63, 64, 65, 127, 129, 255, 256, 257, 1000, 1024, 2048, 4096, 8191,
         8192, 16383, 16384, 32768, 65535, 65536, 65537, 2 ** 31, "64", 64.0, 64.5, None)
CHUNK_NAMES = ("rest", "hyperprior", "background", "region-0", "region-1", "region-99", "", "x" * 1024)
PLUGINS = ("roi-image", "hyperprior", "elic", "paste", "plain", "roi:roi-image", "learned:hyperprior",
           "nonexistent", "", "x" * 2000, "controlnet", "whole-image")
FILL_LENGTHS = (0, 1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 100, 255, 256, 1000, 1024, 4096)
BIG_FILL = 64 << 10


def _small_length(rng: random.Random, most: int = 4096) -> int:
    """A length biased towards the small ones (where parsers of coded strings break), up to ``most``."""
    r = rng.random()
    if r < 0.35:
        return rng.choice(FILL_LENGTHS)
    if r < 0.7:
        return rng.randint(0, 64)
    return rng.randint(0, most)


def _value(rng: random.Random) -> Any:
    r = rng.random()
    if r < 0.1:
        return rng.randint(-2 ** 70, 2 ** 70)
    if r < 0.15:
        return rng.uniform(-1e6, 1e6)
    if r < 0.18:
        nested: Any = 0
        for _ in range(rng.choice((8, 31, 33, 100))):
            nested = [nested]
        return nested
    return copy.deepcopy(rng.choice(VALUES))


@dataclass
class Case:
    """One fuzz input: its bytes, the codec of the seed it came from, and what was done to it."""

    data: bytes
    codec: str
    recipe: str
    kind: str = "structured"
    """``structured`` (lengths and CRC-32s right), ``stale`` (structured, chunk lengths/CRCs left as they were),
    ``header-bytes`` (the header's text or compressed bytes edited, header CRC right), ``bytes`` (the file)."""

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.data).hexdigest()[:16]


class Mutator:
    """Structure-aware mutations of seed streams (deterministic for a given ``seed``)."""

    def __init__(self, seeds: Sequence[Seed], seed: int = 0, option_names: dict[str, list[str]] | None = None):
        if not seeds:
            raise ValueError("no seeds to mutate")
        self.seeds = list(seeds)
        self.raws = [parse(s.data) for s in self.seeds]
        self.rng = random.Random(seed)
        self.by_codec: dict[str, list[int]] = {}
        for i, s in enumerate(self.seeds):
            self.by_codec.setdefault(s.codec, []).append(i)
        self.option_names = option_names if option_names is not None else component_options()
        self.structured: list[tuple[float, Callable[[Raw, str], str]]] = [
            (6, self.truncate_chunk), (6, self.fill_chunk), (3, self.flip_chunk_bits), (2, self.splice_chunk),
            (2, self.swap_between_streams), (1, self.swap_entries_between_streams), (2, self.swap_within),
            (2, self.duplicate_chunk), (2, self.remove_chunk), (6, self.edit_option), (1, self.drop_weights),
            (3, self.edit_size), (4, self.edit_params), (2, self.edit_format_version),
            (2, self.edit_component), (1, self.swap_component_record), (3, self.edit_chunk_entry),
            (1, self.edit_tables), (1, self.edit_prefix_version), (1, self.edit_header_field),
            (5, self.grow_and_damage),
        ]

    # -- driving ----------------------------------------------------------------
    def cases(self, codecs: Sequence[str] | None = None) -> Iterator[Case]:
        """Endless cases, round robin over ``codecs`` (default: every codec with seeds)."""
        order = [c for c in (codecs or list(self.by_codec)) if c in self.by_codec]
        if not order:
            raise ValueError(f"no seeds of codecs {', '.join(codecs or [])}")
        n = 0
        while True:
            yield self.case(order[n % len(order)])
            n += 1

    def case(self, codec: str) -> Case:
        rng = self.rng
        i = rng.choice(self.by_codec[codec])
        seed = self.seeds[i]
        r = rng.random()
        if r < 0.08:
            data, what = self.byte_level(seed.data)
            return Case(data, codec, f"{seed.name}: {what}", "bytes")
        if r < 0.12:
            data, what = self.header_text(self.raws[i])
            return Case(data, codec, f"{seed.name}: {what}", "header-bytes")
        raw = copy.deepcopy(self.raws[i])
        steps = 1 if rng.random() < 0.7 else rng.randint(2, 4)
        done = []
        weights = [w for w, _ in self.structured]
        for _ in range(steps):
            (fn,) = rng.choices([f for _, f in self.structured], weights)
            try:
                done.append(fn(raw, codec))
            except (IndexError, KeyError, TypeError, ValueError, AttributeError) as exc:
                done.append(f"{fn.__name__} not applicable ({type(exc).__name__})")
        fix = rng.random() > 0.02
        if not fix:
            done.append("chunk lengths/CRCs left stale")
        return Case(serialise(raw, fix_chunks=fix), codec, f"{seed.name}: " + "; ".join(done),
                    "structured" if fix else "stale")

    # -- helpers ------------------------------------------------------------------
    def _chunk(self, raw: Raw, kind: str | None = None) -> int:
        idx = [i for i, e in enumerate(raw.header["chunks"]) if kind is None or e.get("kind") == kind]
        if not idx:
            raise IndexError("no such chunk")
        if kind is None and self.rng.random() < 0.5:  # content chunks are where the coded strings are
            content = [i for i in idx if raw.header["chunks"][i].get("kind") == "content"] or idx
            return self.rng.choice(content)
        return self.rng.choice(idx)

    def _name(self, raw: Raw, i: int) -> str:
        e = raw.header["chunks"][i]
        return f"{e.get('kind')} '{str(e.get('name'))[:20]}'"

    # -- payloads -----------------------------------------------------------------
    def truncate_chunk(self, raw: Raw, codec: str) -> str:
        i = self._chunk(raw)
        p = raw.payloads[i]
        n = min(len(p), _small_length(self.rng, len(p))) if self.rng.random() < 0.8 else self.rng.randint(0, len(p))
        raw.payloads[i] = p[:n]
        return f"{self._name(raw, i)} cut to {n} of {len(p)} bytes"

    def fill_chunk(self, raw: Raw, codec: str) -> str:
        rng = self.rng
        i = self._chunk(raw)
        n = _small_length(rng) if rng.random() < 0.97 else rng.choice((BIG_FILL, 1 << 20))
        kind = rng.choice(("ff", "00", "random", "pattern"))
        if kind == "ff":
            payload = b"\xff" * n
        elif kind == "00":
            payload = b"\x00" * n
        elif kind == "random":
            payload = rng.randbytes(n)
        else:
            payload = (bytes([rng.randrange(256)]) * rng.randint(1, 8) + b"\x00" * rng.randint(0, 4)) * n
            payload = payload[:n]
        raw.payloads[i] = payload
        return f"{self._name(raw, i)} replaced by {n} bytes of {kind}"

    def flip_chunk_bits(self, raw: Raw, codec: str) -> str:
        rng = self.rng
        i = self._chunk(raw)
        p = bytearray(raw.payloads[i])
        if not p:
            raise IndexError("empty payload")
        flips = rng.choice((1, 1, 2, 3, 8, 32))
        for _ in range(flips):
            if rng.random() < 0.2:
                p[rng.randrange(len(p))] = rng.choice((0x00, 0xFF, 0x7F, 0x80, 0x01))
            else:
                p[rng.randrange(len(p))] ^= 1 << rng.randrange(8)
        raw.payloads[i] = bytes(p)
        return f"{self._name(raw, i)}: {flips} bit flip(s)"

    def splice_chunk(self, raw: Raw, codec: str) -> str:
        rng = self.rng
        i = self._chunk(raw)
        p = raw.payloads[i]
        how = rng.choice(("append", "double", "splice", "prepend"))
        if how == "append":
            raw.payloads[i] = p + rng.randbytes(_small_length(rng))
        elif how == "double":
            raw.payloads[i] = p + p
        elif how == "prepend":
            raw.payloads[i] = rng.randbytes(rng.randint(1, 16)) + p
        else:
            other = rng.choice(rng.choice(self.raws).payloads or [b""])
            raw.payloads[i] = p[:rng.randint(0, len(p))] + other[rng.randint(0, len(other)):]
        return f"{self._name(raw, i)}: {how}"

    def swap_between_streams(self, raw: Raw, codec: str) -> str:
        rng = self.rng
        i = self._chunk(raw)
        j = rng.randrange(len(self.seeds))
        other = self.raws[j]
        if not other.payloads:
            raise IndexError("no payloads")
        k = rng.randrange(len(other.payloads))
        raw.payloads[i] = other.payloads[k]
        return f"{self._name(raw, i)} payload <- chunk {k} of {self.seeds[j].name}"

    def swap_entries_between_streams(self, raw: Raw, codec: str) -> str:
        """A whole chunk (entry and payload) of another stream, in place of one or added."""
        rng = self.rng
        j = rng.randrange(len(self.seeds))
        other = self.raws[j]
        k = rng.randrange(len(other.payloads))
        entry = copy.deepcopy(other.header["chunks"][k])
        entry["labels"], entry["tasks"] = [], []
        if rng.random() < 0.5 and raw.payloads:
            i = rng.randrange(len(raw.payloads))
            raw.header["chunks"][i], raw.payloads[i] = entry, other.payloads[k]
            return f"chunk {i} <- chunk {k} of {self.seeds[j].name} (entry and payload)"
        raw.header["chunks"].append(entry)
        raw.payloads.append(other.payloads[k])
        return f"added chunk {k} of {self.seeds[j].name}"

    def swap_within(self, raw: Raw, codec: str) -> str:
        n = len(raw.payloads)
        if n < 2:
            raise IndexError("one chunk")
        i, j = self.rng.sample(range(n), 2)
        if self.rng.random() < 0.5:
            raw.payloads[i], raw.payloads[j] = raw.payloads[j], raw.payloads[i]
            return f"payloads of chunks {i} and {j} swapped"
        ch = raw.header["chunks"]
        ch[i], ch[j] = ch[j], ch[i]
        raw.payloads[i], raw.payloads[j] = raw.payloads[j], raw.payloads[i]
        return f"chunks {i} and {j} swapped (order)"

    def duplicate_chunk(self, raw: Raw, codec: str) -> str:
        i = self._chunk(raw)
        times = self.rng.choice((1, 1, 2, 7))
        for _ in range(times):
            at = self.rng.randint(0, len(raw.payloads))
            raw.header["chunks"].insert(at, copy.deepcopy(raw.header["chunks"][i]))
            raw.payloads.insert(at, raw.payloads[i])
        return f"{self._name(raw, i)} duplicated {times}x"

    def remove_chunk(self, raw: Raw, codec: str) -> str:
        i = self._chunk(raw)
        what = self._name(raw, i)
        del raw.header["chunks"][i], raw.payloads[i]
        return f"{what} removed"

    # -- header ---------------------------------------------------------------------
    def edit_option(self, raw: Raw, codec: str) -> str:
        rng = self.rng
        slot = "entropy_model" if rng.random() < 0.75 else "composer"
        rec = raw.header[slot]
        options = rec.setdefault("options", {})
        names = sorted(set(options) | set(self.option_names.get(str(rec.get("plugin")), [])) | {"unknown_option"})
        key = rng.choice(names)
        if rng.random() < 0.1 and key in options:
            del options[key]
            return f"{slot}.options.{key} removed"
        options[key] = value = _value(rng)
        return f"{slot}.options.{key} = {_show(value)}"

    def drop_weights(self, raw: Raw, codec: str) -> str:
        rec = raw.header["entropy_model"]
        if self.rng.random() < 0.5:
            rec.pop("weights", None)
            return "entropy_model.weights removed"
        rec["weights"] = value = self.rng.choice(("sha256:" + "0" * 64, "sha256:" + "f" * 63, "", None, 0))
        return f"entropy_model.weights = {_show(value)}"

    def edit_size(self, raw: Raw, codec: str) -> str:
        rng = self.rng
        h = raw.header
        if rng.random() < 0.6:  # grow, keeping boxes and layout valid: mostly moderately, up to the pixel limit
            from discover_core.images import MAX_PIXELS

            ints = [v for v in SIDES if isinstance(v, int)]
            for key, other in (("width", "height"), ("height", "width")):
                cur = h[key]
                most = 1024 if rng.random() < 0.85 else min(65536, MAX_PIXELS // max(1, h[other]))
                choices = [v for v in ints if cur <= v <= most] + [max(cur, most)]
                h[key] = rng.choice(choices)
        else:
            key = rng.choice(("width", "height", "both"))
            for k in (("width", "height") if key == "both" else (key,)):
                h[k] = rng.choice(SIDES)
        return f"size = {h['width']!r}x{h['height']!r}"

    def grow_and_damage(self, raw: Raw, codec: str) -> str:
        """A larger declared image (more latent positions per chunk) and a short or filled chunk: a coder that
        reads past the end of a string then reads far past it."""
        rng = self.rng
        w = rng.choice((256, 384, 512, 512, 640, 768, 1024))
        h = rng.choice((w, w, w // 2))
        raw.header["width"], raw.header["height"] = max(w, raw.header["width"]), max(h, raw.header["height"])
        what = f"size = {raw.header['width']}x{raw.header['height']}"
        layout = raw.header.get("params", {}).get("layout")
        names = [e.get("name") for e in raw.header["chunks"]]
        if layout and (rng.random() < 0.5 or "rest" not in names):  # a region chunk over the whole grid
            entry = rng.choice(layout)
            gw, gh = -(-raw.header["width"] // 64) * 4, -(-raw.header["height"] // 64) * 4
            entry[1] = [[0, 0, gw, gh]]
            target = entry[0]
            what += f"; layout '{target}' covers the {gw}x{gh} grid"
        else:
            target = "rest"
        i = names.index(target) if target in names else self._chunk(raw)
        n = rng.choice((0, 8, 9, 10, 12, 16, 24, 32, 64)) if rng.random() < 0.7 else _small_length(rng)
        p = raw.payloads[i]
        how = rng.choice(("cut", "cut", "ff", "00", "random"))
        raw.payloads[i] = {"cut": p[:n], "ff": b"\xff" * n, "00": b"\x00" * n}.get(how) or rng.randbytes(n)
        return f"{what}; {self._name(raw, i)} {how} to {len(raw.payloads[i])} bytes"

    def edit_params(self, raw: Raw, codec: str) -> str:
        rng = self.rng
        params = raw.header.setdefault("params", {})
        if "layout" in params and isinstance(params["layout"], list) and rng.random() < 0.85:
            layout = params["layout"]
            how = rng.choice(("coord", "coord", "whole", "many", "empty-cells", "rename", "dup", "drop",
                              "clear", "value", "extend"))
            if how == "coord" and layout:
                entry = rng.choice(layout)
                if entry[1]:
                    cell = rng.choice(entry[1])
                    k = rng.randrange(4)
                    cell[k] = v = rng.choice(INTS[:25] + (rng.randint(-3, 70),))
                    return f"params.layout '{entry[0]}' cell coordinate {k} = {v}"
            if how == "whole" and layout:
                entry = rng.choice(layout)
                entry[1] = [[0, 0, 1 << 12, 1 << 12]] if rng.random() < 0.3 else [[0, 0, 1, 1]] * rng.choice((2, 100))
                return f"params.layout '{entry[0]}' cells = {_show(entry[1])}"
            if how == "many" and layout:
                entry = rng.choice(layout)
                n = rng.choice((64, 1000, 10000))
                entry[1] = [[i % 8, i // 8 % 8, i % 8 + 1, i // 8 % 8 + 1] for i in range(n)]
                return f"params.layout '{entry[0]}' has {n} cells"
            if how == "empty-cells" and layout:
                entry = rng.choice(layout)
                entry[1] = []
                return f"params.layout '{entry[0]}' has no cells"
            if how == "rename" and layout:
                entry = rng.choice(layout)
                entry[0] = v = rng.choice(CHUNK_NAMES + (0, None))
                return f"params.layout entry renamed {_show(v)}"
            if how == "dup" and layout:
                layout.append(copy.deepcopy(rng.choice(layout)))
                return "params.layout entry duplicated"
            if how == "drop" and layout:
                layout.pop(rng.randrange(len(layout)))
                return "params.layout entry removed"
            if how == "extend":
                layout.append(["region-9", [[0, 0, 2, 2]]])
                return "params.layout entry added"
            if how == "clear":
                params["layout"] = []
                return "params.layout = []"
            params["layout"] = v = _value(rng)
            return f"params.layout = {_show(v)}"
        if "background_size" in params and rng.random() < 0.85:
            bs = params["background_size"]
            how = rng.choice(("item", "item", "value", "image"))
            if how == "item" and isinstance(bs, list) and bs:
                k = rng.randrange(len(bs))
                bs[k] = v = rng.choice(SIDES + (rng.randint(1, 200),))
                return f"params.background_size[{k}] = {_show(v)}"
            if how == "image":
                params["background_size"] = [raw.header["width"], raw.header["height"]]
                return "params.background_size = the image size"
            params["background_size"] = v = _value(rng)
            return f"params.background_size = {_show(v)}"
        key = rng.choice(sorted(params) + ["layout", "background_size", "extra"])
        if rng.random() < 0.3:
            params.pop(key, None)
            return f"params.{key} removed"
        params[key] = v = _value(rng)
        return f"params.{key} = {_show(v)}"

    def edit_format_version(self, raw: Raw, codec: str) -> str:
        slot = self.rng.choice(("entropy_model", "composer"))
        v = self.rng.choice((0, 1, 2, 3, 255, 2 ** 31, 2 ** 31 + 1, -1, "1", 1.0, None))
        raw.header[slot]["format_version"] = v
        return f"{slot}.format_version = {_show(v)}"

    def edit_component(self, raw: Raw, codec: str) -> str:
        rng = self.rng
        slot = rng.choice(("entropy_model", "composer"))
        key = rng.choice(("plugin", "plugin", "provider", "distribution", "version", "options"))
        if key == "options":
            raw.header[slot]["options"] = v = _value(rng) if rng.random() < 0.5 else {}
        elif key == "plugin":
            raw.header[slot]["plugin"] = v = rng.choice(PLUGINS)
        else:
            raw.header[slot][key] = v = rng.choice(("", "roi", "learned", "discover-codec", "0.0.0", "99.0",
                                                    "x" * 1025, None))
        return f"{slot}.{key} = {_show(v)}"

    def swap_component_record(self, raw: Raw, codec: str) -> str:
        j = self.rng.randrange(len(self.seeds))
        slot = self.rng.choice(("entropy_model", "composer", "params", "both"))
        for s in (("entropy_model", "params") if slot == "both" else (slot,)):
            raw.header[s] = copy.deepcopy(self.raws[j].header.get(s, {}))
        return f"{slot} <- {self.seeds[j].name}"

    def edit_chunk_entry(self, raw: Raw, codec: str) -> str:
        rng = self.rng
        i = self._chunk(raw)
        e = raw.header["chunks"][i]
        key = rng.choice(("kind", "name", "name", "boxes", "boxes", "labels", "tasks"))
        if key == "kind":
            e["kind"] = v = rng.choice(("side", "content", "other", ""))
        elif key == "name":
            e["name"] = v = rng.choice(CHUNK_NAMES)
        elif key == "boxes":
            w, h = raw.header["width"], raw.header["height"]
            how = rng.choice(("none", "whole", "tiny", "many", "edge", "value"))
            v = {"none": [], "whole": [[0, 0, w, h]], "tiny": [[0, 0, 1, 1]],
                 "many": [[x, y, x + 1, y + 1] for x in range(min(w, 32)) for y in range(min(h, 32))],
                 "edge": [[w - 1, h - 1, w, h]]}.get(how)
            if v is None:
                v = _value(rng)
            e["boxes"] = v
            v = f"{how} ({len(v) if isinstance(v, list) else _show(v)})"
        elif key == "labels":
            e["labels"] = v = rng.choice(([], [0], [0, 1], [99], [-1], "x"))
        else:
            e["tasks"] = v = rng.choice(([], [0], [0, 1], [99], [-1], "x"))
        return f"{self._name(raw, i)}.{key} = {_show(v)}"

    def edit_tables(self, raw: Raw, codec: str) -> str:
        rng = self.rng
        key = rng.choice(("labels", "tasks", "content_chunks_encoded", "mode"))
        h = raw.header
        if key == "content_chunks_encoded":
            h[key] = v = rng.choice((0, 1, 2, 100, 4096, 2 ** 40, -1, "3", None))
        elif key == "mode":
            h[key] = v = rng.choice(("L", "RGB", "RGBA", "P", "I;16", "1", "CMYK", "", "x" * 16, "x" * 17, 0))
        else:
            table = h.setdefault(key, [])
            how = rng.choice(("add", "dup", "clear", "rename"))
            if how == "add":
                table.append(f"new-{len(table)}")
            elif how == "dup" and table:
                table.append(table[0])
            elif how == "clear":
                table.clear()
            elif table:
                table[rng.randrange(len(table))] = rng.choice(("", "X" * 1025, "Cat", " cat "))
            v = how
        return f"{key}: {_show(v)}"

    def edit_prefix_version(self, raw: Raw, codec: str) -> str:
        raw.version = v = self.rng.choice(((1, 0), (1, 1), (1, 2), (1, 255), (0, 1), (2, 0), (2, 1), (2, 255),
                                           (3, 0), (3, 1), (3, 255), (4, 0), (255, 255)))
        return f"container version {v[0]}.{v[1]}"

    def edit_header_field(self, raw: Raw, codec: str) -> str:
        rng = self.rng
        h = raw.header
        key = rng.choice(sorted(h) + ["unknown_field"])
        if rng.random() < 0.3:
            h.pop(key, None)
            return f"header.{key} removed"
        h[key] = v = _value(rng)
        return f"header.{key} = {_show(v)}"

    # -- bytes ------------------------------------------------------------------------
    def header_text(self, raw: Raw) -> tuple[bytes, str]:
        """Byte-level mutations of the header's bytes (binary, or JSON text and its compressed form), with the
        header CRC recomputed."""
        rng = self.rng
        raw = copy.deepcopy(raw)
        version, packed = pack(raw.version, raw.header)
        if version[0] != 1:
            b = bytearray(packed)
            n = rng.choice((1, 1, 2, 4, 16))
            for _ in range(n):
                k = rng.randrange(len(b))
                op = rng.random()
                if op < 0.4:
                    b[k] ^= 1 << rng.randrange(8)
                elif op < 0.6:
                    b[k] = rng.choice((0x00, 0x01, 0x7F, 0x80, 0xFF))
                elif op < 0.75:
                    del b[k:k + rng.randint(1, 8)]
                elif op < 0.9:
                    b[k:k] = rng.choice((b"\xff" * rng.randint(1, 10), b"\x80" * 9 + b"\x01", b"\x00",
                                         rng.randbytes(rng.randint(1, 8))))
                else:
                    j = rng.randrange(len(b))
                    b[k:k] = b[j:j + rng.randint(1, 32)]
            return frame(version, bytes(b), raw.payloads), f"binary header: {n} byte edit(s)"
        text = bytearray(header_bytes(raw.header))
        if rng.random() < 0.5:
            n = rng.choice((1, 1, 2, 4, 16))
            for _ in range(n):
                k = rng.randrange(len(text))
                op = rng.random()
                if op < 0.4:
                    text[k] = rng.choice(b'{}[]",:0123456789-+.eE \\tnulfase\x00\xff')
                elif op < 0.7:
                    del text[k:k + rng.randint(1, 8)]
                else:
                    text[k:k] = rng.choice((b"[", b"{", b'"', b"1e999", b"-0", b'\\ud800', b"\xc3", b"9" * 400))
            packed = zlib.compress(bytes(text), 9)
            what = f"header JSON text: {n} byte edit(s)"
        else:
            b = bytearray(zlib.compress(bytes(text), 9))
            how = rng.choice(("flip", "cut", "append"))
            if how == "flip":
                b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
            elif how == "cut":
                del b[rng.randrange(len(b)):]
            else:
                b += rng.randbytes(rng.randint(1, 32))
            packed = bytes(b)
            what = f"compressed header: {how}"
        return frame(version, packed, raw.payloads), what

    def byte_level(self, data: bytes) -> tuple[bytes, str]:
        """Plain mutations of the whole file (checksums then fail: a clean refusal is expected)."""
        rng = self.rng
        b = bytearray(data)
        how = rng.choice(("flip", "flip", "byte", "insert", "delete", "truncate", "extend", "prefix", "range"))
        if how == "flip":
            n = rng.choice((1, 2, 8))
            for _ in range(n):
                b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
            how = f"{n} bit flip(s) in the file"
        elif how == "byte":
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif how == "insert":
            k = rng.randrange(len(b) + 1)
            b[k:k] = rng.randbytes(rng.randint(1, 16))
        elif how == "delete":
            k = rng.randrange(len(b))
            del b[k:k + rng.randint(1, 16)]
        elif how == "truncate":
            n = rng.choice((0, 1, 3, 4, 9, 10, 11, 13, 14)) if rng.random() < 0.3 else rng.randrange(len(b))
            del b[n:]
            how = f"file cut to {n} bytes"
        elif how == "extend":
            b += rng.randbytes(rng.randint(1, 64))
        elif how == "prefix":  # the length field of the header
            struct.pack_into(">I", b, 6, rng.choice((0, 1, 4, 1 << 22, (1 << 22) + 1, 2 ** 32 - 1,
                                                     rng.randrange(len(b)))))
            how = "header length field"
        else:
            k = rng.randrange(len(b))
            n = rng.randint(1, 64)
            b[k:k + n] = bytes([rng.choice((0, 0xFF))]) * n
        return bytes(b), how


def _show(value: Any, most: int = 60) -> str:
    try:
        text = json.dumps(value, ensure_ascii=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= most else text[:most] + f"...({len(text)} chars)"


def component_options() -> dict[str, list[str]]:
    """Option names of every installed entropy model and composer (what a header edit may set)."""
    try:
        from discover_core.plugins import get_registry

        reg = get_registry()
        return {r.name: sorted(r.cls.Options.model_fields) for kind in ("entropy_model", "composer")
                for r in reg.all(kind)}
    except Exception:  # noqa: BLE001 - the mutations work without it, on the recorded options only
        return {}


# -- known cases ------------------------------------------------------------------------------------------
def _first(seeds: Sequence[Seed], codec: str, part: bool = False) -> Seed:
    for s in seeds:
        if s.codec == codec and ("-task-" in s.name) == part and "-label-" not in s.name:
            return s
    raise LookupError(f"no {codec} seed")


def _chunk_named(raw: Raw, name: str) -> int:
    return next(i for i, e in enumerate(raw.header["chunks"]) if e["name"] == name)


def _cut(n: int, name: str = "region-0") -> Callable[[Raw], None]:
    def edit(raw: Raw) -> None:
        i = _chunk_named(raw, name)
        raw.payloads[i] = raw.payloads[i][:n]
    return edit


def _fill(byte: int, n: int, name: str = "region-0") -> Callable[[Raw], None]:
    def edit(raw: Raw) -> None:
        raw.payloads[_chunk_named(raw, name)] = bytes([byte]) * n
    return edit


def _option(**values: Any) -> Callable[[Raw], None]:
    def edit(raw: Raw) -> None:
        raw.header["entropy_model"].setdefault("options", {}).update(values)
    return edit


def _size(w: int, h: int) -> Callable[[Raw], None]:
    def edit(raw: Raw) -> None:
        raw.header["width"], raw.header["height"] = w, h
    return edit


def _both(*edits: Callable[[Raw], None]) -> Callable[[Raw], None]:
    def edit(raw: Raw) -> None:
        for e in edits:
            e(raw)
    return edit


_LEARNED = ("hyperprior", "elic")
KNOWN: tuple[tuple[str, str, Callable[[Raw], None]], ...] = tuple(
    [(f"{c}-content-cut-{n}", c, _cut(n)) for c in _LEARNED for n in (0, 8, 9)]
    + [(f"{c}-rest-cut-{n}-512px", c, _both(_size(512, 512), _cut(n, "rest"))) for c in _LEARNED for n in (8, 9)]
    + [(f"{c}-side-cut-{n}-1024px", c, _both(_size(1024, 1024), _cut(n, "hyperprior"))) for c in _LEARNED
       for n in (8, 9)]
    + [(f"{c}-rest-ff-8-512px", c, _both(_size(512, 512), _fill(0xFF, 8, "rest"))) for c in _LEARNED]
    + [(f"{c}-content-ff-64k", c, _fill(0xFF, BIG_FILL)) for c in _LEARNED]
    + [(f"{c}-rest-ff-64k-512px", c, _both(_size(512, 512), _fill(0xFF, BIG_FILL, "rest"))) for c in _LEARNED]
    + [(f"{c}-content-00-1024", c, _fill(0x00, 1024)) for c in _LEARNED]
    + [("elic-channels-1024", "elic", _option(channels=1024)),
       ("elic-latent-channels-1024", "elic", _option(latent_channels=1024)),
       ("elic-global-channels-1024", "elic", _option(global_channels=1024)),
       ("elic-threads-64", "elic", _option(threads=64)),
       ("hyperprior-threads-64", "hyperprior", _option(threads=64)),
       ("elic-groups-0", "elic", _option(groups=0)),
       ("elic-groups-minus-1", "elic", _option(groups=-1)),
       ("elic-groups-list-0", "elic", _option(groups=[0, 32])),
       ("elic-groups-list-minus-1", "elic", _option(groups=[-1, 33])),
       ("elic-seed-2e70", "elic", _option(seed=2e70)),
       ("elic-seed-2-64", "elic", _option(seed=2 ** 64)),
       ("hyperprior-seed-2e70", "hyperprior", _option(seed=2e70)),
       ("hyperprior-4096x4096", "hyperprior", _size(4096, 4096)),
       ("elic-4096x4096", "elic", _size(4096, 4096)),
       ("roi-image-4096x4096", "roi-image", _size(4096, 4096)),
       ("hyperprior-16384x16384", "hyperprior", _size(16384, 16384))]
)
"""Crafted inputs of bugs found so far: (name, codec, edit of a seed stream of that codec)."""


def known_cases(seeds: Sequence[Seed], names: Iterable[str] | None = None, strip_weights: bool = False) -> list[Case]:
    """The :data:`KNOWN` inputs, made from ``seeds`` (the first full stream of each codec)."""
    wanted = set(names) if names is not None else None
    out = []
    for name, codec, edit in KNOWN:
        if wanted is not None and name not in wanted:
            continue
        try:
            seed = _first(seeds, codec)
        except LookupError:
            continue
        raw = parse(seed.data)
        if strip_weights:  # decodes against whatever weights are installed (a shipped checkpoint may change)
            raw.header["entropy_model"].pop("weights", None)
        edit(raw)
        out.append(Case(serialise(raw), codec, f"known case {name} (from {seed.name})"))
    return out


def retarget(data: bytes) -> bytes | None:
    """``data`` with the component format versions the installed components write (lengths and CRCs right), so
    a stored reproducer reaches the decoder after a format change; ``None`` if nothing changes or the header
    cannot be read."""
    from discover_core.plugins import get_registry

    try:
        raw = parse(data)
        reg = get_registry()
        changed = False
        for slot, kind in (("entropy_model", "entropy_model"), ("composer", "composer")):
            rec = raw.header[slot]
            version = reg.get(kind, rec["plugin"]).cls.format_version
            if rec.get("format_version", 1) != version:
                rec["format_version"] = version
                changed = True
    except Exception:  # noqa: BLE001 - not a well-formed container, or a component that is not installed
        return None
    return serialise(raw) if changed else None


# -- decoding ---------------------------------------------------------------------------------------------
def decode_bytes(data: bytes) -> tuple[int, ...]:
    """What ``discover decode`` does with a stream file's bytes (without writing the picture)."""
    from discover_core.bitstream import Stream
    from discover_core.images import restore_mode
    from discover_core.interfaces import Context
    from discover_core.pipeline import compose, composer_for, decode_content, decoder_for
    from discover_core.plugins import get_registry

    registry = get_registry()
    context = Context(device="cpu", seed=0)
    stream = Stream.from_bytes(data, source="fuzz input")
    em = decoder_for(stream, registry, context)
    comp = composer_for(stream, registry, context, None, {})
    image = compose(decode_content(stream, em), comp)
    restore_mode(image, stream.header.mode)
    return tuple(image.shape)


def selftest_decode(data: bytes) -> Any:
    """A stand-in decoder that misbehaves on request, so tests can check that every outcome is detected."""
    from discover_core.errors import PluginBug, StreamError

    what = data.decode("ascii", "replace")
    if what == "segv":
        os.kill(os.getpid(), signal.SIGSEGV)
    elif what == "abort":
        os.abort()
    elif what == "hang":
        while True:
            time.sleep(0.01)
    elif what == "alloc":
        return bytearray(8 << 30)
    elif what == "bug":
        raise PluginBug("entropy_model", "x", "dist", "0", "decoding", ZeroDivisionError("boom"))
    elif what == "bug-memory":
        raise PluginBug("entropy_model", "x", "dist", "0", "decoding", RuntimeError(
            "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: not enough memory"))
    elif what == "internal":
        raise KeyError("boom")
    elif what == "exit":
        os._exit(3)
    elif what == "refuse":
        raise StreamError("refused")
    return what


_MEMORY_WORDS = ("can't allocate memory", "cannot allocate memory", "not enough memory", "out of memory",
                 "bad_alloc", "failed to allocate", "memory allocation failed")


def is_memory_error(exc: BaseException | None) -> bool:
    if exc is None:
        return False
    if isinstance(exc, MemoryError):
        return True
    text = str(exc).lower()
    return any(w in text for w in _MEMORY_WORDS)


def classify(exc: BaseException | None) -> tuple[str, str]:
    """The outcome of a decode that returned (``None``) or raised ``exc``, and a one-line detail.

    A refusal (any :class:`~discover_core.errors.DiscoverError`, e.g. a stream over the memory budget) is
    clean, except running out of memory (``OutOfMemory``, ``MemoryError``, an allocator's failure): the
    budget should have refused such a stream before anything was allocated.
    """
    from discover_core import errors
    from discover_core.errors import DiscoverError, PluginBug

    if exc is None:
        return OK, ""
    detail = f"{type(exc).__name__}: {exc}".replace("\n", " ")[:400]
    out_of_memory = getattr(errors, "OutOfMemory", None)
    if out_of_memory is not None and isinstance(exc, out_of_memory):
        return MEMORY, detail
    if isinstance(exc, DiscoverError):
        return REFUSED, detail
    if isinstance(exc, PluginBug):
        if is_memory_error(exc.error):
            return MEMORY, detail
        return PLUGIN_BUG, detail
    if is_memory_error(exc):
        return MEMORY, detail
    return INTERNAL, detail


def _vm_bytes() -> tuple[int, int]:
    """(address space, resident set) of this process, in bytes."""
    with open("/proc/self/statm") as f:
        size, rss = (int(v) for v in f.read().split()[:2])
    page = resource.getpagesize()
    return size * page, rss * page


def _child(data: bytes, decoder: Callable[[bytes], Any], memory: int, out_fd: int, quiet: bool) -> None:
    """Runs in the forked child: limits, decode, report one JSON line, exit (never returns)."""
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        size, rss = _vm_bytes()
        os.write(out_fd, (json.dumps({"start_rss": rss}) + "\n").encode())
        hard = resource.getrlimit(resource.RLIMIT_AS)[1]
        limit = size + memory + ADDRESS_SLACK
        limit = limit if hard == resource.RLIM_INFINITY else min(hard, limit)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
        if quiet:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.dup2(null, 2)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        try:
            decoder(data)
            outcome, detail = classify(None)
        except BaseException as exc:  # noqa: BLE001 - every exception is an outcome
            try:
                outcome, detail = classify(exc)
            except BaseException:  # noqa: BLE001
                outcome, detail = MEMORY, "could not even classify the exception (out of memory?)"
        os.write(out_fd, (json.dumps({"outcome": outcome, "detail": detail}) + "\n").encode())
    finally:
        os._exit(0)


def run_forked(data: bytes, decoder: Callable[[bytes], Any], timeout: float = DEFAULT_TIMEOUT,
               memory: int = DEFAULT_MEMORY, quiet: bool = True) -> dict:
    """Decode ``data`` in a forked child of this process; the outcome, detail, seconds and peak RSS.

    ``peak_rss`` is the child's maximum resident set (``wait4``; it counts the pages it shares with this
    process once it touches them); ``rss_growth`` is that minus the child's resident set when it started.
    """
    r, w = os.pipe()
    start = time.monotonic()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        _child(data, decoder, memory, w, quiet)
    os.close(w)
    buf = b""
    killed = False
    deadline = start + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                killed = True
                break
            ready, _, _ = select.select([r], [], [], left)
            if ready:
                piece = os.read(r, 65536)
                if not piece:
                    break
                buf += piece
    finally:
        os.close(r)
    # The child closed its end: it is exiting (bounded wait, in case it is stuck on the way out).
    while True:
        wpid, status, usage = os.wait4(pid, 0 if killed else os.WNOHANG)
        if wpid:
            break
        if time.monotonic() > deadline + 5:
            os.kill(pid, signal.SIGKILL)
            killed = True
        time.sleep(0.001)
    seconds = time.monotonic() - start
    peak = usage.ru_maxrss * 1024
    report, start_rss = None, peak
    for line in buf.decode("utf-8", "replace").splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if "start_rss" in item:
            start_rss = item["start_rss"]
        elif "outcome" in item:
            report = item
    result = {"seconds": seconds, "peak_rss": peak, "rss_growth": max(0, peak - start_rss), "detail": ""}
    if killed and report is None:
        result.update(outcome=HANG, detail=f"no result after {timeout:g} s (killed)")
    elif os.WIFSIGNALED(status) and report is None:
        sig = os.WTERMSIG(status)
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        if sig == signal.SIGKILL:  # not ours: the kernel's OOM killer
            result.update(outcome=MEMORY, detail="killed by SIGKILL (out of memory?)")
        else:
            result.update(outcome=SIGNAL, detail=f"killed by {name}", signal=name)
    elif report is None:
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else status
        result.update(outcome=INTERNAL, detail=f"the decoder exited (code {code}) without a result")
    else:
        result.update(outcome=report["outcome"], detail=report["detail"])
    if result["outcome"] in (OK, REFUSED) and result["rss_growth"] > memory:
        result.update(outcome=MEMORY, detail=f"peak RSS grew by {result['rss_growth'] >> 20} MiB "
                                             f"({result['outcome']}: {result['detail']})"[:400])
    return result


def warm_imports(components: Sequence[str] = ("roi-image", "hyperprior", "elic", "paste", "plain")) -> None:
    """Import what decoding the fuzzed codecs needs (the registry, the components' modules and requirements), so
    a child forked afterwards only builds and decodes."""
    import importlib

    from discover_core.plugins import get_registry

    reg = get_registry()
    for kind in ("entropy_model", "composer"):
        for r in reg.all(kind):
            if r.name not in components:
                continue
            for module in getattr(r.cls, "requires", ()):
                try:
                    importlib.import_module(module)
                except Exception:  # noqa: BLE001 - a missing extra shows up in the decodes
                    pass
    for module in ("discover_learned.component", "discover_learned.latent", "discover_learned.elic_latent",
                   "discover_learned.checkpoint", "discover_learned.elic_net", "discover_core.stills"):
        try:
            importlib.import_module(module)
        except Exception:  # noqa: BLE001
            pass


def _resolve(spec: str) -> Callable[[bytes], Any]:
    import importlib

    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def _serve(conn, decoder_spec: str, warm: list[bytes], timeout: float, memory: int, quiet: bool) -> None:
    """A worker: warm up (imports, components built by decoding ``warm``), then fork one child per input."""
    try:
        import torch

        torch.set_num_threads(1)  # one core per worker; and no thread pool to inherit across fork
    except ImportError:
        pass
    decoder = _resolve(decoder_spec)
    if decoder is decode_bytes:
        warm_imports()
    for data in warm:  # well-formed seeds: builds and caches the components children then share
        try:
            decoder(data)
        except Exception:  # noqa: BLE001 - a seed that fails still warmed the imports
            pass
    conn.send(("ready", _vm_bytes()[1]))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        conn.send(run_forked(msg, decoder, timeout, memory, quiet))


def worker_main(read_fd: int, write_fd: int) -> None:
    """Entry point of a worker process (see :class:`Pool`): its settings arrive as the first message."""
    from multiprocessing.connection import Connection

    conn = _Duplex(Connection(read_fd, writable=False), Connection(write_fd, readable=False))
    args = conn.recv()
    _serve(conn, *args)


class _Duplex:
    """One end of two one-way pipes, used like a multiprocessing Connection."""

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer

    def send(self, obj: Any) -> None:
        self.writer.send(obj)

    def recv(self) -> Any:
        return self.reader.recv()

    def fileno(self) -> int:
        return self.reader.fileno()

    def close(self) -> None:
        self.reader.close()
        self.writer.close()


class Pool:
    """``jobs`` warmed workers, each forking one child per input. Use as a context manager.

    Workers are fresh interpreters (``python -c``), so nothing of the caller (its ``__main__``, its threads)
    is inherited; a worker that dies is replaced.
    """

    def __init__(self, jobs: int = 1, warm: Sequence[bytes] = (), timeout: float = DEFAULT_TIMEOUT,
                 memory: int = DEFAULT_MEMORY, decoder: str = "discover_core.testing.fuzz:decode_bytes",
                 quiet: bool = True, offline: bool = True):
        self.args = (decoder, list(warm), timeout, memory, quiet)
        self.offline = offline
        self.jobs = max(1, jobs)
        self.workers: list[tuple[Any, _Duplex]] = []
        self.worker_rss = 0

    def __enter__(self) -> "Pool":
        try:
            self.workers = [self._start() for _ in range(self.jobs)]
            for _, conn in self.workers:
                self._ready(conn)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _ready(self, conn: _Duplex) -> None:
        try:
            _, rss = conn.recv()
        except (EOFError, OSError):
            raise RuntimeError("a fuzz worker died while starting (run with --verbose to see why)") from None
        self.worker_rss = max(self.worker_rss, rss)

    def _start(self) -> tuple[Any, _Duplex]:
        import subprocess
        from multiprocessing.connection import Connection

        to_worker = os.pipe()
        from_worker = os.pipe()
        code = f"from discover_core.testing.fuzz import worker_main; worker_main({to_worker[0]}, {from_worker[1]})"
        env = dict(os.environ)
        if self.offline:  # a stream naming a component whose weights are not here must not wait on the network
            env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", YOLO_OFFLINE="1")
        proc = subprocess.Popen([sys.executable, "-c", code], pass_fds=(to_worker[0], from_worker[1]),
                                stdin=subprocess.DEVNULL, env=env)
        os.close(to_worker[0])
        os.close(from_worker[1])
        conn = _Duplex(Connection(from_worker[0], writable=False), Connection(to_worker[1], readable=False))
        conn.send(self.args)
        return proc, conn

    def close(self) -> None:
        for proc, conn in self.workers:
            try:
                conn.send(None)
            except (OSError, ValueError):
                pass
        for proc, conn in self.workers:
            try:
                proc.wait(5)
            except Exception:  # noqa: BLE001 - subprocess.TimeoutExpired
                proc.kill()
                proc.wait()
            conn.close()
        self.workers = []

    def run(self, cases: Iterable[Case], deadline: float | None = None) -> Iterator[tuple[Case, dict]]:
        """Decode every case (until ``deadline``, a ``time.monotonic()``); yields ``(case, result)`` as they end."""
        from multiprocessing.connection import wait

        it = iter(cases)
        busy: dict[Any, tuple[int, Case]] = {}
        exhausted = False

        def feed(k: int) -> None:
            nonlocal exhausted
            if exhausted or (deadline is not None and time.monotonic() >= deadline):
                exhausted = True
                return
            case = next(it, None)
            if case is None:
                exhausted = True
                return
            conn = self.workers[k][1]
            conn.send(case.data)
            busy[conn] = (k, case)

        for k in range(len(self.workers)):
            feed(k)
        while busy:
            for ready in wait([c.reader for c in busy]):
                conn = next(c for c in busy if c.reader is ready)
                k, case = busy.pop(conn)
                try:
                    result = conn.recv()
                except (EOFError, OSError):  # the worker itself died: start another
                    result = {"outcome": INTERNAL, "detail": "the fuzz worker died", "seconds": 0.0,
                              "peak_rss": 0, "rss_growth": 0}
                    proc, old = self.workers[k]
                    proc.kill()
                    proc.wait()
                    old.close()
                    self.workers[k] = self._start()
                    self._ready(self.workers[k][1])
                yield case, result
                feed(k)


# -- a run ------------------------------------------------------------------------------------------------
@dataclass
class Report:
    inputs: int = 0
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=lambda: {o: 0 for o in OUTCOMES})
    by_codec: dict[str, dict[str, int]] = field(default_factory=dict)
    failures: list[tuple[Case, dict]] = field(default_factory=list, repr=False)
    worst_ok: tuple[int, int, str] = (0, 0, "")
    """(peak RSS, growth over the worker, case digest) of the accepted (decoded OK) input with the highest peak."""
    worker_rss: int = 0
    written: list[Path] = field(default_factory=list, repr=False)
    refusals: dict[str, int] = field(default_factory=dict, repr=False)
    """How often each kind of refusal was seen (the error class and the start of its message, digits masked)."""

    @property
    def failed(self) -> int:
        return sum(self.counts[o] for o in FAILURES)

    def add(self, case: Case, result: dict) -> None:
        o = result["outcome"]
        self.inputs += 1
        self.counts[o] = self.counts.get(o, 0) + 1
        per = self.by_codec.setdefault(case.codec, {x: 0 for x in OUTCOMES})
        per[o] = per.get(o, 0) + 1
        if o == REFUSED:
            import re

            key = re.sub(r"[0-9]+", "N", result["detail"].replace("fuzz input ", ""))[:70]
            self.refusals[key] = self.refusals.get(key, 0) + 1
        if o in FAILURES:
            self.failures.append((case, result))
        elif o == OK and result["peak_rss"] > self.worst_ok[0]:
            self.worst_ok = (result["peak_rss"], result["rss_growth"], case.digest)

    def top_refusals(self, n: int = 10) -> str:
        return "\n".join(f"  {k:>5} x {d}" for d, k in sorted(self.refusals.items(), key=lambda kv: -kv[1])[:n])

    def table(self) -> str:
        codecs = sorted(self.by_codec)
        rate = self.inputs / self.seconds if self.seconds else 0.0
        lines = [f"inputs: {self.inputs} in {self.seconds:.1f} s ({rate:.1f} inputs/s)", ""]
        head = f"{'outcome':<12}{'total':>8}" + "".join(f"{c:>12}" for c in codecs)
        lines += [head, "-" * len(head)]
        for o in OUTCOMES:
            mark = "  <- failure" if o in FAILURES and self.counts.get(o) else ""
            lines.append(f"{o:<12}{self.counts.get(o, 0):>8}"
                         + "".join(f"{self.by_codec[c].get(o, 0):>12}" for c in codecs) + mark)
        peak, growth, digest = self.worst_ok
        lines += ["", f"worst accepted (decoded OK) stream: peak RSS {peak / 2 ** 20:.0f} MiB in its decoding child "
                      f"(+{growth / 2 ** 20:.0f} MiB during the decode)" + (f", input {digest}" if digest else ""),
                  f"(the warmed worker it was forked from: {self.worker_rss / 2 ** 20:.0f} MiB, shared)"]
        if self.failures:
            lines += ["", f"failures: {self.failed}" + (f", written to {self.written[0].parent}" if self.written
                                                        else "")]
            seen: dict[tuple[str, str], int] = {}
            for case, result in self.failures:
                key = (result["outcome"], result["detail"][:90])
                seen[key] = seen.get(key, 0) + 1
            for (o, detail), n in sorted(seen.items(), key=lambda kv: -kv[1])[:15]:
                lines.append(f"  {n:>5} x {o}: {detail}")
        return "\n".join(lines)


def write_reproducer(out: Path, case: Case, result: dict) -> Path:
    """``out/<class>-<codec>-<hash>.dscv`` and a line in ``out/index.jsonl`` (recipe, detail, timing)."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{result['outcome']}-{case.codec}-{case.digest}.dscv"
    if not path.exists():
        path.write_bytes(case.data)
        with open(out / "index.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps({"file": path.name, "outcome": result["outcome"], "codec": case.codec,
                                "recipe": case.recipe, "detail": result["detail"],
                                "seconds": round(result["seconds"], 3), "peak_rss": result["peak_rss"],
                                "bytes": len(case.data)}) + "\n")
    return path


def fuzz(seeds: Sequence[Seed], *, codecs: Sequence[str] = CODECS, inputs: int | None = None,
         minutes: float | None = None, seed: int = 0, jobs: int = 1, timeout: float = DEFAULT_TIMEOUT,
         memory: int = DEFAULT_MEMORY, out: Path | None = None, extra: Sequence[Case] = (),
         progress: Callable[[Report], None] | None = None, quiet: bool = True,
         max_written: int = 1000) -> Report:
    """Decode ``extra`` and then mutated seeds (``inputs`` of them, or for ``minutes``); failing inputs go to
    ``out`` (at most ``max_written`` per class)."""
    codecs = [c for c in codecs if any(s.codec == c for s in seeds)]
    mutator = Mutator([s for s in seeds if s.codec in codecs], seed)
    cases: Iterable[Case] = mutator.cases(codecs)
    if inputs is not None:
        cases = (c for _, c in zip(range(inputs), cases))
    cases = itertools.chain(extra, cases)
    report = Report()
    warm = [next(s.data for s in seeds if s.codec == c) for c in codecs]
    written: dict[str, int] = {}
    with Pool(jobs, warm, timeout, memory, quiet=quiet) as pool:
        report.worker_rss = pool.worker_rss
        start = last = time.monotonic()  # the clock starts once the workers are warm
        deadline = start + minutes * 60 if minutes else None
        for case, result in pool.run(cases, deadline):
            report.add(case, result)
            o = result["outcome"]
            if out is not None and o in FAILURES and written.get(o, 0) < max_written:
                written[o] = written.get(o, 0) + 1
                report.written.append(write_reproducer(out, case, result))
            if progress and time.monotonic() - last > 10:
                last = time.monotonic()
                report.seconds = last - start
                progress(report)
    report.seconds = time.monotonic() - start
    return report
