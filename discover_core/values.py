"""Varints and the compact value encoding of format 2.x stream headers.

**Varints** are unsigned LEB128: 7 bits a byte, low bits first, the high bit set on every byte but the last;
at most 10 bytes and below ``2**64`` (every integer field of a header is unsigned). **Strings** are a varint
byte length and UTF-8.

A **value** (options, the entropy model's params, anything a header holds as JSON-like data) is an initial
byte -- a major type in its high 3 bits, a 5-bit argument in its low ones -- and what the type needs::

    major 0  integer n >= 0   argument 0-23: n itself; 24: a varint n follows
    major 5  integer n < 0    -1 - m, with m as above
    major 1  string   length (argument 0-23, or 24 and a varint), then that many bytes of UTF-8
    major 2  list     item count (as a length), then the items
    major 3  map      pair count (as a length), then key (a string value) and value per pair; keys unique
    major 4  simple   argument 0 null, 1 false, 2 true, 3 a float32 follows, 4 a float64 follows (big-endian)

Anything else (majors 6-7, arguments 25-31, simple 5-31) is refused. The sign is in the major type (as in
CBOR) rather than zigzag, so that integers span ``[-2**64, 2**64)``: 64-bit seeds and hashes, signed or not,
fit (JSON had no bound at all). The writer takes the shortest form (a float as float32 when that is exact).
The bounds are those of a 1.x JSON header: nesting at most :data:`~discover_core.limits.MAX_HEADER_DEPTH`
levels counted from the top of the header, finite floats, valid Unicode (no lone surrogates); a reader
checks every count and length against the bytes that remain before it allocates anything.
"""

from __future__ import annotations

import math
import struct
from typing import Any

from .limits import MAX_HEADER_DEPTH

INT, STR, LIST, MAP, SIMPLE, NEGATIVE = range(6)
NULL, FALSE, TRUE, FLOAT32, FLOAT64 = range(5)
MAX_VARINT_BYTES = 10
_F32, _F64 = struct.Struct(">f"), struct.Struct(">d")


# -- writing --------------------------------------------------------------------------------------------
def varint(n: int) -> bytes:
    """``n`` (``0 <= n < 2**64``) as LEB128."""
    if not 0 <= n < 1 << 64:
        raise ValueError(f"{n} does not fit an unsigned 64-bit varint")
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def utf8(s: str) -> bytes:
    try:
        return s.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("a string holds a lone surrogate escape (not valid Unicode)") from None


def string(s: str) -> bytes:
    """A string as a varint length and UTF-8."""
    raw = utf8(s)
    return varint(len(raw)) + raw


def encode_value(value: Any, depth: int = 1) -> bytes:
    """``value`` in the value encoding; ``depth`` is its nesting level in the header (the header is 1)."""
    out = bytearray()
    _put(out, value, depth)
    return bytes(out)


def _head(out: bytearray, major: int, n: int) -> None:
    if n < 24:
        out.append(major << 5 | n)
    else:
        out.append(major << 5 | 24)
        out += varint(n)


def _put(out: bytearray, v: Any, depth: int) -> None:
    if depth > MAX_HEADER_DEPTH:
        raise ValueError(f"it is nested deeper than {MAX_HEADER_DEPTH} levels")
    if v is None or isinstance(v, bool):
        out.append(SIMPLE << 5 | {None: NULL, False: FALSE, True: TRUE}[v])
    elif isinstance(v, int):
        if not -(1 << 64) <= v < 1 << 64:
            raise ValueError(f"the integer {v} does not fit 64 bits and a sign")
        if v >= 0:
            _head(out, INT, int(v))
        else:
            _head(out, NEGATIVE, -1 - int(v))
    elif isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError("a number is too large to be finite")
        try:
            f32 = _F32.pack(v)
        except OverflowError:
            f32 = b""
        if f32 and _F32.unpack(f32)[0] == v:
            out += bytes([SIMPLE << 5 | FLOAT32]) + f32
        else:
            out += bytes([SIMPLE << 5 | FLOAT64]) + _F64.pack(v)
    elif isinstance(v, str):
        raw = utf8(v)
        _head(out, STR, len(raw))
        out += raw
    elif isinstance(v, (list, tuple)):
        _head(out, LIST, len(v))
        for item in v:
            _put(out, item, depth + 1)
    elif isinstance(v, dict):
        _head(out, MAP, len(v))
        for key, item in v.items():
            if not isinstance(key, str):
                raise ValueError(f"a map key is {type(key).__name__}, not a string")
            _put(out, key, depth + 1)
            _put(out, item, depth + 1)
    else:
        raise ValueError(f"{type(v).__name__} is not a value a header may hold")


# -- reading --------------------------------------------------------------------------------------------
class Reader:
    """A cursor over ``data[start:end]``; every read is checked against the bytes that remain."""

    def __init__(self, data: bytes, start: int = 0, end: int | None = None, what: str = "the header"):
        self.data, self.pos, self.end, self.what = data, start, len(data) if end is None else end, what

    @property
    def remaining(self) -> int:
        return self.end - self.pos

    def take(self, n: int, what: str) -> bytes:
        if n > self.remaining:
            raise ValueError(f"{self.what} is cut short: {what} needs {n} bytes, {self.remaining} remain")
        self.pos += n
        return self.data[self.pos - n:self.pos]

    def byte(self, what: str) -> int:
        return self.take(1, what)[0]

    def varint(self, what: str) -> int:
        n = shift = 0
        for _ in range(MAX_VARINT_BYTES):
            b = self.byte(what)
            n |= (b & 0x7F) << shift
            if not b & 0x80:
                if n >= 1 << 64:
                    raise ValueError(f"{what} does not fit 64 bits")
                return n
            shift += 7
        raise ValueError(f"{what} is a varint longer than {MAX_VARINT_BYTES} bytes")

    def count(self, most: int, what: str, item_bytes: int = 1) -> int:
        """A varint count of items of at least ``item_bytes`` each: at most ``most``, and that fit."""
        n = self.varint(f"the count of {what}")
        if n > most:
            raise ValueError(f"{n} {what}, more than {most}")
        if n * item_bytes > self.remaining:
            raise ValueError(f"{self.what} is cut short: {n} {what} cannot fit in {self.remaining} bytes")
        return n

    def text(self, n: int, what: str) -> str:
        try:
            return self.take(n, what).decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{what} is not valid UTF-8") from None

    def string(self, what: str) -> str:
        return self.text(self.varint(f"the length of {what}"), what)

    def sub(self, n: int, what: str) -> "Reader":
        """A reader of the next ``n`` bytes (this one moves past them)."""
        start = self.pos
        self.take(n, what)
        return Reader(self.data, start, start + n, what)

    def done(self) -> None:
        if self.remaining:
            raise ValueError(f"{self.remaining} bytes follow the end of {self.what}")


def decode_value(r: Reader, depth: int = 1) -> Any:
    """One value at nesting level ``depth``, read from ``r``."""
    if depth > MAX_HEADER_DEPTH:
        raise ValueError(f"it is nested deeper than {MAX_HEADER_DEPTH} levels")
    head = r.byte("a value")
    major, arg = head >> 5, head & 31
    if major == SIMPLE:
        if arg in (NULL, FALSE, TRUE):
            return (None, False, True)[arg]
        if arg in (FLOAT32, FLOAT64):
            fmt = _F32 if arg == FLOAT32 else _F64
            (x,) = fmt.unpack(r.take(fmt.size, "a float"))
            if not math.isfinite(x):
                raise ValueError("a number is too large to be finite")
            return x
        raise ValueError(f"unknown simple value {arg}")
    if major > NEGATIVE or arg > 24:
        raise ValueError(f"unknown value type (initial byte 0x{head:02x})")
    n = arg if arg < 24 else r.varint("a value's argument")
    if major == INT:
        return n
    if major == NEGATIVE:
        return -1 - n
    if major == STR:
        return r.text(n, "a string")
    if n > r.remaining:  # every item takes at least one byte
        raise ValueError(f"{r.what} is cut short: {n} items cannot fit in {r.remaining} bytes")
    if major == LIST:
        return [decode_value(r, depth + 1) for _ in range(n)]
    out: dict[str, Any] = {}
    for _ in range(n):
        key = decode_value(r, depth + 1)
        if not isinstance(key, str):
            raise ValueError(f"a map key is {type(key).__name__}, not a string")
        if key in out:
            raise ValueError(f"the key {key!r} appears twice in one object")
        out[key] = decode_value(r, depth + 1)
    return out
