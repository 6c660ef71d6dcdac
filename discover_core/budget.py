"""The memory a decode may ask for: a budget every decoder checks its own estimate against before it allocates.

A stream is a few bytes that can declare a large canvas (or, for a network built from a seed, large channel
counts); without a budget a 4 KB stream could make a decoder allocate gigabytes. Decoders estimate what they
need from the canvas and their architecture (:meth:`Context.require_memory`); above the budget the decode is
refused with one message naming the size and the way to raise it: ``discover decode --max-memory 8GB``, the
environment variable :data:`ENV`, or ``Context(max_memory=...)``.
"""

from __future__ import annotations

import os
import re

from .errors import ConfigError, DiscoverError

ENV = "DISCOVER_MAX_MEMORY"
DEFAULT = 2 << 30
"""2 GiB: what a decoder's estimated working set may be unless raised."""
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
          "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30, "t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40}


class MemoryBudgetError(DiscoverError):
    """A decode that would need more memory than the budget allows (exit 2: the user raises the budget)."""


def parse_size(text: str | int, where: str = "--max-memory") -> int:
    """``"8GB"``, ``"512MiB"``, ``"1e9"`` or a whole number of bytes -> bytes (units are binary: GB = GiB)."""
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?(?:e[0-9]+)?)\s*([a-zA-Z]*)\s*", str(text))
        unit = m.group(2).lower() if m else ""
        if not m or unit not in _UNITS:
            raise ConfigError(where, [("", f"{text!r} is not a size (e.g. 2GB, 512MB, or bytes)")])
        value = int(float(m.group(1)) * _UNITS[unit])
    if value <= 0:
        raise ConfigError(where, [("", f"{text!r}: a memory budget must be positive")])
    return value


def default_budget() -> int:
    """The budget from :data:`ENV`, else :data:`DEFAULT`."""
    raw = os.environ.get(ENV, "").strip()
    return parse_size(raw, ENV) if raw else DEFAULT


def human(n: float) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} bytes"


def require(budget: int, need: float, what: str) -> None:
    """Refuse ``what`` (e.g. "decoding this 4096x4096 'hyperprior' stream") if it needs more than ``budget``."""
    if need > budget:
        raise MemoryBudgetError(f"{what} would need about {human(need)}, more than the memory budget of "
                                f"{human(budget)}",
                                f"if the stream is one you trust, raise the budget: discover decode --max-memory "
                                f"{human(need * 1.25).replace(' ', '').replace('.0', '')} (or {ENV}=..., or "
                                f"Context(max_memory=...) in Python)")
