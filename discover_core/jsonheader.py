"""The header of stream format 1.x: zlib-compressed UTF-8 JSON (still read, and written back for 1.x streams).

Parsing is strict: no NaN or Infinity, no key twice in one object, nesting bounded, valid Unicode, and the
compressed header must decompress to at most :data:`~discover_core.limits.MAX_HEADER_BYTES` bytes.
"""

from __future__ import annotations

import json
import math
import zlib
from typing import Any

from .limits import MAX_HEADER_BYTES, MAX_HEADER_DEPTH


def encode(header: dict) -> bytes:
    """``header`` (a header dict, defaults left out) as the compressed JSON of a 1.x stream."""
    raw = json.dumps(header, separators=(",", ":"), sort_keys=True, ensure_ascii=False,
                     allow_nan=False).encode("utf-8")
    return zlib.compress(raw, 9)


def decode(packed: bytes) -> Any:
    """Decompress and parse strictly; ``ValueError`` (or ``RecursionError``, ``zlib.error``) if it cannot."""
    d = zlib.decompressobj()
    raw = d.decompress(packed, MAX_HEADER_BYTES)
    if d.unconsumed_tail:
        raise ValueError(f"the header decompresses to more than {MAX_HEADER_BYTES} bytes")
    if not d.eof:
        raise ValueError("the compressed header is cut short")
    if d.unused_data:
        raise ValueError(f"{len(d.unused_data)} bytes follow the compressed header")
    obj = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    check(obj)
    return obj


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the key {key!r} appears twice in one object")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number a header may hold")


def check(obj: Any) -> None:
    """Bounded nesting, strings that are valid Unicode (no lone surrogates), finite numbers."""
    level, depth, strings = [obj], 1, []
    while level:
        if depth > MAX_HEADER_DEPTH:
            raise ValueError(f"it is nested deeper than {MAX_HEADER_DEPTH} levels")
        deeper: list[Any] = []
        for value in level:
            kind = type(value)
            if kind is dict:
                strings.extend(value)
                deeper.extend(value.values())
            elif kind is list:
                deeper.extend(value)
            elif kind is str:
                strings.append(value)
            elif kind is float and not math.isfinite(value):
                raise ValueError("a number is too large to be finite")
        level, depth = deeper, depth + 1
    try:
        "".join(strings).encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("a string holds a lone surrogate escape (not valid Unicode)") from None
