"""AVIF chunks without their container: the AV1 data of the image item, its HEIF boxes rebuilt at decode.

An AVIF file from :func:`discover_core.stills.encode_still` (Pillow's libavif) is ``ftyp``, ``meta`` (``hdlr``,
``pitm``, ``iloc``, ``iinf``, ``iprp`` with the ``ispe``, ``pixi``, ``av1C`` and ``colr`` properties) and
``mdat`` holding the one image item: the AV1 OBUs (a temporal delimiter, the sequence header, the frame).
About 275 bytes of it are boxes, the same for every chunk but for the picture size and what the AV1
sequence header says. A stripped chunk (``roi-image`` format 2) is the item's OBUs without the temporal
delimiter::

    sequence header OBU   (the frame size, profile, level, bit depth, chroma subsampling, colour description)
    frame OBU(s)

Everything the boxes hold is a function of that sequence header and the fixed template libavif writes:
``ispe`` is the frame size, ``av1C`` the sequence header's profile, level, tier, bit depth, monochrome flag
and chroma subsampling, ``pixi`` its bit depth and plane count, ``colr`` its colour description and range,
and the ``MA1B``/``MA1A`` brand its bit depth and subsampling. So no per-stream record is needed: the
sequence header, kept in each chunk (8-12 bytes), is also what lets a decoder check a chunk's frame size
against the size the stream declares before it decodes anything. It is not rebuilt from the chunk size:
its level is the encoder's choice for that size (libaom's table) and it is the payload's only
self-description.

:func:`strip` (encoder side) parses the file with a strict ISOBMFF box parser and refuses, with a
``ValueError``, anything it could not rebuild byte for byte (alpha or other items, grids, ``iref``, an ICC
profile, other properties or box layouts); :func:`rebuild` (decoder side, untrusted input) checks every OBU
length and the sequence header and raises :class:`~discover_core.errors.PayloadError` for anything else.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from discover_core.errors import PayloadError
from discover_core.values import Reader

TEMPORAL_DELIMITER = b"\x12\x00"
"""The temporal delimiter OBU (type 2, with an empty size field) every item starts with; it carries nothing."""
OBU_SEQUENCE_HEADER = 1
FRAME_OBUS = {3: "frame header", 4: "tile group", 5: "metadata", 6: "frame", 15: "padding"}
"""The OBU types a chunk may hold after its sequence header."""
MAX_OBU_SIZE = (1 << 32) - 1
_DAMAGED = "the stream is damaged or was crafted; encode the image again"


@dataclass(frozen=True)
class SequenceHeader:
    """What the boxes need from an AV1 sequence header (a reduced still-picture header)."""

    profile: int
    level: int
    width: int
    height: int
    bit_depth: int
    mono: bool
    subsampling: tuple[int, int]
    chroma_sample_position: int
    colour: tuple[int, int, int]
    """Colour primaries, transfer characteristics, matrix coefficients (2, 2, 2: unspecified)."""
    full_range: bool


class _Bits:
    """Big-endian bit reader over bytes; reading past the end raises PayloadError."""

    def __init__(self, data: bytes):
        self.value, self.left = int.from_bytes(data, "big"), 8 * len(data)

    def f(self, n: int) -> int:
        if n > self.left:
            raise PayloadError("the avif payload's AV1 sequence header is cut short", _DAMAGED)
        self.left -= n
        return (self.value >> self.left) & ((1 << n) - 1)


def parse_sequence_header(data: bytes) -> SequenceHeader:
    """The fields of a reduced still-picture AV1 sequence header (the OBU's payload); anything else is refused."""
    b = _Bits(data)
    profile, still, reduced = b.f(3), b.f(1), b.f(1)
    if profile > 2 or not (still and reduced):
        raise PayloadError(f"the avif payload's AV1 sequence header is not a reduced still-picture one of "
                           f"profile 0-2 (profile {profile}, still {still}, reduced {reduced})", _DAMAGED)
    level = b.f(5)
    width_bits, height_bits = b.f(4) + 1, b.f(4) + 1
    width, height = b.f(width_bits) + 1, b.f(height_bits) + 1
    b.f(6)  # 128x128 superblocks, filter intra, intra edge filter, superres, CDEF, loop restoration
    high = b.f(1)
    bit_depth = (12 if b.f(1) else 10) if profile == 2 and high else (10 if high else 8)
    mono = bool(b.f(1)) if profile != 1 else False
    colour = (b.f(8), b.f(8), b.f(8)) if b.f(1) else (2, 2, 2)
    csp = 0
    if mono:
        full_range, subsampling = bool(b.f(1)), (1, 1)
    else:
        if colour == (1, 13, 0):  # sRGB primaries and transfer, identity matrix: 4:4:4, full range
            full_range, subsampling = True, (0, 0)
        else:
            full_range = bool(b.f(1))
            if profile == 0:
                subsampling = (1, 1)
            elif profile == 1:
                subsampling = (0, 0)
            elif bit_depth == 12:
                ssx = b.f(1)
                subsampling = (ssx, b.f(1) if ssx else 0)
            else:
                subsampling = (1, 0)
            if subsampling == (1, 1):
                csp = b.f(2)
        b.f(1)  # separate_uv_delta_q
    b.f(1)  # film_grain_params_present
    if b.f(1) != 1 or b.value & ((1 << b.left) - 1):
        raise PayloadError("the avif payload's AV1 sequence header does not end with its trailing bits", _DAMAGED)
    return SequenceHeader(profile, level, width, height, bit_depth, mono, subsampling, csp, colour, full_range)


def _obus(payload: bytes) -> list[tuple[int, int, int]]:
    """``(type, start, end)`` of each OBU's payload; every header and size checked against the bytes left."""
    out, pos = [], 0
    while pos < len(payload):
        head = payload[pos]
        kind = head >> 3 & 15
        if head & 0x80 or head & 0x04 or head & 0x01 or not head & 0x02:
            raise PayloadError(f"the avif payload is not AV1 data as roi-image writes it: OBU header 0x{head:02x} "
                               f"at byte {pos} (forbidden bit, extension, no size field or reserved bit)", _DAMAGED)
        pos += 1
        size = shift = 0
        for i in range(8):
            if pos >= len(payload):
                raise PayloadError("the avif payload is cut short in an AV1 OBU size", _DAMAGED)
            byte = payload[pos]
            pos += 1
            size |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        else:
            raise PayloadError("the avif payload has an AV1 OBU size longer than 8 bytes", _DAMAGED)
        if size > MAX_OBU_SIZE or size > len(payload) - pos:
            raise PayloadError(f"the avif payload has an AV1 OBU of {size} bytes at byte {pos}, past its end "
                               f"({len(payload)} bytes)", _DAMAGED)
        out.append((kind, pos, pos + size))
        pos += size
    return out


def check(payload: bytes, size: tuple[int, int]) -> SequenceHeader:
    """Check a stripped chunk (its OBUs, its sequence header, its frame size against ``size``) without decoding.

    Raises :class:`~discover_core.errors.PayloadError` for anything :func:`strip` does not write.
    """
    obus = _obus(payload)
    if not obus or obus[0][0] != OBU_SEQUENCE_HEADER:
        raise PayloadError("the avif payload does not start with an AV1 sequence header", _DAMAGED)
    if len(obus) < 2 or not all(kind in FRAME_OBUS for kind, _, _ in obus[1:]):
        kinds = ", ".join(str(kind) for kind, _, _ in obus[1:]) or "none"
        raise PayloadError(f"the avif payload holds OBUs of types {kinds} after its sequence header, expected "
                           f"frame data ({', '.join(f'{k} {n}' for k, n in FRAME_OBUS.items())})", _DAMAGED)
    _, start, end = obus[0]
    seq = parse_sequence_header(payload[start:end])
    if (seq.width, seq.height) != tuple(size):
        raise PayloadError(f"the avif payload is {seq.width}x{seq.height}, the stream header says "
                           f"{size[0]}x{size[1]}", _DAMAGED)
    return seq


# -- writing the boxes ---------------------------------------------------------------------------------
def _box(kind: bytes, *parts: bytes) -> bytes:
    body = b"".join(parts)
    return struct.pack(">I", 8 + len(body)) + kind + body


def _full_box(kind: bytes, version: int, *parts: bytes) -> bytes:
    return _box(kind, bytes([version, 0, 0, 0]), *parts)


def _u16(*values: int) -> bytes:
    return struct.pack(f">{len(values)}H", *values)


def _u32(*values: int) -> bytes:
    return struct.pack(f">{len(values)}I", *values)


def rebuild(payload: bytes, size: tuple[int, int]) -> bytes:
    """The AVIF file of a stripped chunk whose picture the stream declares ``size`` (``(width, height)``).

    Byte for byte the file :func:`strip` was given. Raises :class:`~discover_core.errors.PayloadError` if the
    chunk is not what :func:`strip` writes, or its frame is not ``size``.
    """
    seq = check(payload, size)
    data = TEMPORAL_DELIMITER + payload
    if len(data) > MAX_OBU_SIZE - 8:
        raise PayloadError(f"the avif payload of {len(payload)} bytes is more than an AVIF file holds", _DAMAGED)
    ssx, ssy = seq.subsampling
    high = seq.bit_depth > 8
    brand = b""
    if seq.bit_depth in (8, 10) and not seq.mono:
        brand = {(1, 1): b"MA1B", (0, 0): b"MA1A"}.get(seq.subsampling, b"")
    av1c = bytes([0x81, seq.profile << 5 | seq.level,
                  high << 6 | (seq.bit_depth == 12) << 5 | seq.mono << 4 | ssx << 3 | ssy << 2
                  | seq.chroma_sample_position, 0])
    channels = 1 if seq.mono else 3
    properties = _box(b"ipco",
                      _full_box(b"ispe", 0, _u32(seq.width, seq.height)),
                      _full_box(b"pixi", 0, bytes([channels] + [seq.bit_depth] * channels)),
                      _box(b"av1C", av1c),
                      _box(b"colr", b"nclx", _u16(*seq.colour), bytes([seq.full_range << 7])))
    # item 1: ispe, pixi, av1C (essential), colr
    iprp = _box(b"iprp", properties, _full_box(b"ipma", 0, _u32(1), _u16(1), bytes([4, 1, 2, 0x83, 4])))
    ftyp = _box(b"ftyp", b"avif", _u32(0), b"avif", b"mif1", b"miaf", brand)

    def meta(offset: int) -> bytes:
        return _full_box(
            b"meta", 0,
            _full_box(b"hdlr", 0, _u32(0), b"pict", bytes(13)),
            _full_box(b"pitm", 0, _u16(1)),
            # 4-byte offsets and lengths, no base offset; item 1, data reference 0, one extent
            _full_box(b"iloc", 0, bytes([0x44, 0]), _u16(1, 1, 0, 1), _u32(offset, len(data))),
            _full_box(b"iinf", 0, _u16(1), _full_box(b"infe", 2, _u16(1, 0), b"av01", b"Color\0")),
            iprp)

    offset = len(ftyp) + len(meta(0)) + 8
    return ftyp + meta(offset) + _box(b"mdat", data)


# -- reading encoder output ---------------------------------------------------------------------------
def _children(data: bytes, start: int, end: int, what: str) -> list[tuple[bytes, int, int]]:
    """``(type, body start, body end)`` of the boxes filling ``data[start:end]``; every size checked."""
    out, pos = [], start
    while pos < end:
        r = Reader(data, pos, end, what)
        size, kind = struct.unpack(">I4s", r.take(8, "a box header"))
        if size < 8:  # 0 (to the end) and 1 (64-bit size) are not what libavif writes for a chunk
            raise ValueError(f"{what}: box {kind!r} at byte {pos} has size {size}")
        r.take(size - 8, f"box {kind!r}")
        out.append((kind, pos + 8, pos + size))
        pos += size
    return out


def _only(boxes: list[tuple[bytes, int, int]], kind: bytes, what: str) -> tuple[int, int]:
    found = [(s, e) for k, s, e in boxes if k == kind]
    if len(found) != 1:
        raise ValueError(f"{what} has {len(found)} {kind.decode()!r} boxes, expected one")
    return found[0]


def item_data(avif: bytes) -> bytes:
    """The AV1 data of the one image item of an AVIF file; ``ValueError`` for a file that is anything more."""
    top = _children(avif, 0, len(avif), "the AVIF file")
    if [k for k, _, _ in top] != [b"ftyp", b"meta", b"mdat"]:
        raise ValueError(f"the AVIF file's boxes are {[k.decode() for k, _, _ in top]}, expected ftyp, meta, mdat")
    _, (meta_start, meta_end), (mdat_start, mdat_end) = [(s, e) for _, s, e in top]
    meta = _children(avif, meta_start + 4, meta_end, "the meta box")
    kinds = [k.decode() for k, _, _ in meta]
    if sorted(kinds) != sorted(["hdlr", "pitm", "iloc", "iinf", "iprp"]):
        raise ValueError(f"the meta box holds {kinds}, expected hdlr, pitm, iloc, iinf, iprp (one image item)")
    r = Reader(avif, *_only(meta, b"pitm", "meta"), "pitm")
    r.take(4, "version")
    primary = int.from_bytes(r.take(2, "item id"), "big")
    r = Reader(avif, *_only(meta, b"iinf", "meta"), "iinf")
    if r.take(4, "version") != bytes(4) or int.from_bytes(r.take(2, "entry count"), "big") != 1:
        raise ValueError("the AVIF file does not list exactly one item (iinf)")
    infe = _children(avif, r.pos, r.end, "iinf")
    r = Reader(avif, *_only(infe, b"infe", "iinf"), "infe")
    version = r.byte("version")
    r.take(3, "flags")
    item, _protection, item_type = struct.unpack(">HH4s", r.take(8, "item"))
    if version != 2 or item != primary or item_type != b"av01":
        raise ValueError(f"the AVIF item is {item_type!r} (infe version {version}, id {item}), expected the "
                         f"primary item {primary}, av01")
    r = Reader(avif, *_only(meta, b"iloc", "meta"), "iloc")
    version = r.byte("version")
    r.take(3, "flags")
    sizes = r.take(2, "field sizes")
    if version != 0 or sizes != b"\x44\x00":
        raise ValueError(f"iloc version {version}, field sizes {sizes.hex()}: expected 0, 4-byte offsets and lengths")
    count, item, reference, extents = struct.unpack(">4H", r.take(8, "item"))
    if (count, item, reference, extents) != (1, primary, 0, 1):
        raise ValueError(f"iloc lists {count} item(s), item {item} with data reference {reference} and {extents} "
                         f"extent(s): expected item {primary} in this file, in one extent")
    offset, length = struct.unpack(">2I", r.take(8, "extent"))
    if r.remaining or (offset, offset + length) != (mdat_start, mdat_end):
        raise ValueError("the item's extent is not the whole mdat payload")
    return avif[offset:offset + length]


def strip(avif: bytes, size: tuple[int, int]) -> bytes:
    """The chunk of an AVIF file that :func:`encode_still` wrote for a ``size`` (``(width, height)``) picture.

    Raises ``ValueError`` (a bug: the image library wrote a file this format cannot hold) unless
    :func:`rebuild` gives the file back byte for byte.
    """
    obus = item_data(avif)
    if not obus.startswith(TEMPORAL_DELIMITER):
        raise ValueError(f"the AVIF item does not start with a temporal delimiter OBU ({obus[:2].hex()})")
    payload = obus[len(TEMPORAL_DELIMITER):]
    try:
        rebuilt = rebuild(payload, size)
    except PayloadError as exc:
        raise ValueError(f"the AVIF item's AV1 data is not what a chunk holds: {exc.message}") from None
    if rebuilt != avif:
        at = next(i for i, (a, b) in enumerate(zip(rebuilt + b"\0", avif + b"\0")) if a != b)
        raise ValueError(f"the AVIF file's boxes are not the ones a chunk's are rebuilt as (they differ at byte "
                         f"{at} of {len(avif)}: {avif[max(0, at - 8):at + 8].hex()} against "
                         f"{rebuilt[max(0, at - 8):at + 8].hex()})")
    return payload
