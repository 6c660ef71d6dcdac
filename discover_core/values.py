"""Varints and the compact value encoding of format 2.x and 3.x stream headers.

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

**Format 3.x** adds, where a format 2.x reader refuses (``table`` names the 3.x minor version below)::

    major 6  string   a string of the format's static table (:mod:`discover_core.dictionary`): its index
                      as the argument (0-23, or 24 and a varint)
    major 4  simple   5 a float16 follows; 6 a ratio p/q, 7 its negative: varints p and q, 1 <= p, q < 2**53

A ratio stands for the float64 nearest to p/q (IEEE division, correctly rounded: the same in every language),
so a float such as ``256 / 300`` costs 3 bytes instead of 9 and reads back bit for bit. The writer takes the
shortest exact form: a table index for a table string, the smallest of float16, ratio, float32 and float64
that reads back as the same float (the sign of zero included). Floats stay floats (``2.0`` is a float16, never
the integer 2), so a header reads back with the types it was written with.
"""

from __future__ import annotations

import math
import struct
from fractions import Fraction
from typing import Any

from . import dictionary
from .limits import MAX_HEADER_DEPTH

INT, STR, LIST, MAP, SIMPLE, NEGATIVE, TABLE = range(7)
NULL, FALSE, TRUE, FLOAT32, FLOAT64, FLOAT16, RATIO, NEGATIVE_RATIO = range(8)
MAX_VARINT_BYTES = 10
MAX_RATIO_TERM = 1 << 53
"""Bound (exclusive) of a ratio's numerator and denominator: both exact as float64, so p/q rounds once."""
_RATIO_DENOMINATOR = 1 << 20
"""Largest denominator the writer looks for (a ratio then takes at most 7 bytes, a float64 9)."""
_F16, _F32, _F64 = struct.Struct(">e"), struct.Struct(">f"), struct.Struct(">d")


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


def encode_value(value: Any, depth: int = 1, table: int | None = None) -> bytes:
    """``value`` in the value encoding; ``depth`` is its nesting level in the header (the header is 1).
    ``table``: the minor version of format 3 whose static strings, float16 and ratios it may use (``None``:
    the encoding of format 2.x)."""
    out = bytearray()
    _put(out, value, depth, table)
    return bytes(out)


def _head(out: bytearray, major: int, n: int) -> None:
    if n < 24:
        out.append(major << 5 | n)
    else:
        out.append(major << 5 | 24)
        out += varint(n)


def _same_float(a: float, b: float) -> bool:
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def _packed(fmt: struct.Struct, v: float) -> bytes | None:
    """``v`` packed in ``fmt`` if that reads back as exactly ``v``."""
    try:
        data = fmt.pack(v)
    except (OverflowError, struct.error):
        return None
    return data if _same_float(fmt.unpack(data)[0], v) else None


def _ratio(v: float) -> bytes | None:
    """``v`` as a ratio (simple 6 or 7, p, q) if a small one reads back as exactly ``v``."""
    if v == 0.0:
        return None
    f = Fraction(abs(v)).limit_denominator(_RATIO_DENOMINATOR)
    p, q = f.numerator, f.denominator
    if not (1 <= p < MAX_RATIO_TERM and q < MAX_RATIO_TERM) or p / q != abs(v):
        return None
    return bytes([SIMPLE << 5 | (RATIO if v > 0 else NEGATIVE_RATIO)]) + varint(p) + varint(q)


def _float(v: float, table: int | None) -> bytes:
    if not math.isfinite(v):
        raise ValueError("a number is too large to be finite")
    forms = []
    if table is not None:
        if (f16 := _packed(_F16, v)) is not None:
            forms.append(bytes([SIMPLE << 5 | FLOAT16]) + f16)
        if (ratio := _ratio(v)) is not None:
            forms.append(ratio)
    if (f32 := _packed(_F32, v)) is not None:
        forms.append(bytes([SIMPLE << 5 | FLOAT32]) + f32)
    forms.append(bytes([SIMPLE << 5 | FLOAT64]) + _F64.pack(v))
    return min(forms, key=len)


def _put(out: bytearray, v: Any, depth: int, table: int | None = None) -> None:
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
        out += _float(v, table)
    elif isinstance(v, str):
        raw = utf8(v)
        i = None if table is None else dictionary.index(v, table)
        if i is None:
            _head(out, STR, len(raw))
            out += raw
        else:
            _head(out, TABLE, i)
    elif isinstance(v, (list, tuple)):
        _head(out, LIST, len(v))
        for item in v:
            _put(out, item, depth + 1, table)
    elif isinstance(v, dict):
        _head(out, MAP, len(v))
        for key, item in v.items():
            if not isinstance(key, str):
                raise ValueError(f"a map key is {type(key).__name__}, not a string")
            _put(out, key, depth + 1, table)
            _put(out, item, depth + 1, table)
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


def decode_value(r: Reader, depth: int = 1, table: int | None = None) -> Any:
    """One value at nesting level ``depth``, read from ``r``; ``table``: the minor version of a format 3
    stream (its static strings, float16 and ratios), ``None`` for format 2.x."""
    if depth > MAX_HEADER_DEPTH:
        raise ValueError(f"it is nested deeper than {MAX_HEADER_DEPTH} levels")
    head = r.byte("a value")
    major, arg = head >> 5, head & 31
    if major == SIMPLE:
        if arg in (NULL, FALSE, TRUE):
            return (None, False, True)[arg]
        if arg in (FLOAT32, FLOAT64) or (table is not None and arg == FLOAT16):
            fmt = {FLOAT16: _F16, FLOAT32: _F32, FLOAT64: _F64}[arg]
            (x,) = fmt.unpack(r.take(fmt.size, "a float"))
            if not math.isfinite(x):
                raise ValueError("a number is too large to be finite")
            return x
        if table is not None and arg in (RATIO, NEGATIVE_RATIO):
            p, q = r.varint("a ratio's numerator"), r.varint("a ratio's denominator")
            if not (1 <= p < MAX_RATIO_TERM and 1 <= q < MAX_RATIO_TERM):
                raise ValueError(f"the ratio {p}/{q} is not one of two integers from 1 to 2**53 - 1")
            return p / q if arg == RATIO else -(p / q)
        raise ValueError(f"unknown simple value {arg}")
    if major > (NEGATIVE if table is None else TABLE) or arg > 24:
        raise ValueError(f"unknown value type (initial byte 0x{head:02x})")
    n = arg if arg < 24 else r.varint("a value's argument")
    if major == INT:
        return n
    if major == NEGATIVE:
        return -1 - n
    if major == STR:
        return r.text(n, "a string")
    if major == TABLE:
        return dictionary.lookup(n, table, "a value")  # type: ignore[arg-type]
    if n > r.remaining:  # every item takes at least one byte
        raise ValueError(f"{r.what} is cut short: {n} items cannot fit in {r.remaining} bytes")
    if major == LIST:
        return [decode_value(r, depth + 1, table) for _ in range(n)]
    out: dict[str, Any] = {}
    for _ in range(n):
        key = decode_value(r, depth + 1, table)
        if not isinstance(key, str):
            raise ValueError(f"a map key is {type(key).__name__}, not a string")
        if key in out:
            raise ValueError(f"the key {key!r} appears twice in one object")
        out[key] = decode_value(r, depth + 1, table)
    return out
