"""Bounds-checked entropy coding of symbols against quantised CDF tables (compressai's table layout).

Strings that reach a decoder come from outside: anyone can craft one and recompute its CRC. compressai's rANS
decoder reads past the end of a crafted string (a segmentation fault, or a picture made of heap bytes), so every
learned payload is coded here instead, with ``constriction``'s ANS coder (Rust: it never reads outside its
input, and returns an error for data no encoder could write). The tables are the ones compressai's entropy models keep
(``_quantized_cdf``, ``_cdf_length``, ``_offset``: 16-bit CDFs whose last symbol is an escape); values outside a
table are coded as the escape symbol followed by the value in 4-bit groups, as compressai does, so
:meth:`TableCoder.bits` (what the tables charge) stays the estimate of the bytes written.

Within one call the symbols are coded grouped by table (a stable sort of the positions by table index), so the
coder runs one vectorised call per table instead of one per symbol; a decoder knows every position's table,
so it reads them back in the same order. A string is a sequence of little-endian 32-bit words; it must hold
exactly the symbols read from it (an ANS decoder that read them all is back at its initial state).

:class:`CompressaiEntropyCoder` puts the same coder behind compressai's ``EntropyModel.entropy_coder``
interface (``encode_with_indexes`` / ``decode_with_indexes``), for models whose ``compress``/``decompress``
we call as they are.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .errors import PayloadError

PRECISION = 16
"""Bits of the tables' CDFs (compressai's)."""
NIBBLE = 4
"""Bits of each bypass group of an escaped value (compressai's)."""
MAX_NIBBLES = 7
"""Most bypass groups an escaped value may have (28 bits: decoded values stay well inside int32). The encoder
refuses more; a crafted string asking for more is a :class:`PayloadError`."""


def _constriction():
    import constriction

    return constriction.stream


class TableCoder:
    """Codes integer symbols whose table index is known at both ends; one instance per set of tables."""

    def __init__(self, cdfs: Any, lengths: Any, offsets: Any):
        cdf = np.asarray(cdfs, dtype=np.int64)
        self.lengths = np.asarray(lengths, dtype=np.int64).reshape(-1)
        self.offsets = np.asarray(offsets, dtype=np.int64).reshape(-1)
        if cdf.ndim != 2 or len(cdf) != len(self.lengths) or len(self.offsets) != len(self.lengths):
            raise ValueError("cdfs, lengths and offsets describe different numbers of tables")
        self.max_value = self.lengths - 2
        """The escape symbol of each table (its values are 0 .. max_value - 1)."""
        self._cdf = cdf
        self._models: list[Any] | None = None
        self._bypass = None

    @classmethod
    def of(cls, entropy_model) -> "TableCoder":
        """The coder of a compressai ``EntropyModel`` (``EntropyBottleneck``, ``GaussianConditional``) whose
        tables are up to date."""
        return cls(entropy_model._quantized_cdf.cpu().numpy(), entropy_model._cdf_length.cpu().numpy(),
                   entropy_model._offset.cpu().numpy())

    def _model(self, table: int):
        if self._models is None:
            stream = _constriction()
            freqs = np.diff(self._cdf, axis=1).astype(np.float64)
            self._models = [stream.model.Categorical(freqs[i, :self.lengths[i] - 1] / float(1 << PRECISION),
                                                     perfect=False) for i in range(len(self.lengths))]
            self._bypass = stream.model.Uniform(1 << NIBBLE)
        return self._models[table]

    # -- groups ---------------------------------------------------------------
    def _groups(self, idx: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
        """The coding order of the positions (stable, by table) and its runs ``(table, start, stop)``."""
        n = len(self.lengths)
        if len(idx) and (idx.min() < 0 or idx.max() >= n):
            raise ValueError(f"table index outside 0..{n - 1}")
        # a stable sort of 16-bit keys is a radix sort in numpy: linear, several times faster than on int64
        order = np.argsort(idx.astype(np.uint16) if n <= 1 << 16 else idx, kind="stable")
        counts = np.bincount(idx, minlength=n)
        stops = np.cumsum(counts)
        return order, [(t, int(stops[t] - counts[t]), int(stops[t])) for t in np.flatnonzero(counts).tolist()]

    # -- encoding -------------------------------------------------------------
    def encode_into(self, encoder, symbols: Any, indexes: Any) -> None:
        """Append ``symbols`` (integers, any shape) with table ``indexes`` (same shape) to a
        :class:`StringEncoder`."""
        s = np.asarray(symbols, dtype=np.int64).reshape(-1)
        idx = np.asarray(indexes, dtype=np.int64).reshape(-1)
        if s.shape != idx.shape:
            raise ValueError("symbols and indexes differ in size")
        order, runs = self._groups(idx)
        value = s[order] - self.offsets[idx[order]]
        top = self.max_value[idx[order]]
        over = (value < 0) | (value >= top)
        coded = np.where(over, top, value).astype(np.int32)
        for table, a, b in runs:
            encoder.encode(coded[a:b], self._model(table))
        if over.any():
            encoder.encode(self._nibbles(value[over], top[over]), self._bypass)

    @staticmethod
    def _nibbles(value: np.ndarray, top: np.ndarray) -> np.ndarray:
        """The bypass groups of escaped values: their count (in groups of 15, as compressai writes it), then
        the value's 4-bit groups, low first."""
        out: list[int] = []
        mask = (1 << NIBBLE) - 1
        for v, t in zip(value.tolist(), top.tolist()):
            raw = -2 * v - 1 if v < 0 else 2 * (v - t)
            n = 0
            while raw >> (n * NIBBLE):
                n += 1
            if n > MAX_NIBBLES:
                raise ValueError(f"value {v} is too far outside its table to code ({MAX_NIBBLES * NIBBLE} bits)")
            c = n
            while c >= mask:
                out.append(mask)
                c -= mask
            out.append(c)
            out.extend((raw >> (k * NIBBLE)) & mask for k in range(n))
        return np.asarray(out, dtype=np.int32)

    def encode(self, symbols: Any, indexes: Any) -> bytes:
        """One string holding ``symbols``."""
        encoder = StringEncoder()
        self.encode_into(encoder, symbols, indexes)
        return encoder.finish()

    # -- decoding -------------------------------------------------------------
    def decode_from(self, decoder, indexes: Any, what: str) -> np.ndarray:
        """Read the symbols of table ``indexes`` (their shape) from a decoder (:func:`open_string`), as :meth:`encode_into` wrote
        them; a string that cannot hold them is a :class:`PayloadError` naming ``what``."""
        idx = np.asarray(indexes, dtype=np.int64)
        flat = idx.reshape(-1)
        order, runs = self._groups(flat)
        coded = np.empty(len(flat), dtype=np.int64)
        try:
            for table, a, b in runs:
                coded[a:b] = decoder.decode(self._model(table), b - a)
            top = self.max_value[flat[order]]
            value = coded.copy()
            for k in np.flatnonzero(coded == top).tolist():
                value[k] = self._read_escape(decoder, int(top[k]), what)
        except (AssertionError, ValueError, RuntimeError, OverflowError) as exc:
            raise _damaged(what, exc) from None
        out = np.empty(len(flat), dtype=np.int64)
        out[order] = value + self.offsets[flat[order]]
        return out.reshape(idx.shape)

    def _read_escape(self, decoder, top: int, what: str) -> int:
        mask = (1 << NIBBLE) - 1
        n = 0
        while True:
            c = int(decoder.decode(self._bypass))
            n += c
            if n > MAX_NIBBLES:
                raise PayloadError(f"chunk '{what}' holds an escaped value of more than {MAX_NIBBLES * NIBBLE} bits",
                                   "the stream is damaged or was crafted")
            if c != mask:
                break
        raw = 0
        if n:
            groups = decoder.decode(self._bypass, n)
            for k, g in enumerate(groups.tolist()):
                raw |= int(g) << (k * NIBBLE)
        return -((raw + 1) >> 1) if raw & 1 else (raw >> 1) + top

    def decode(self, string: bytes, indexes: Any, what: str) -> np.ndarray:
        """The symbols of one string written by :meth:`encode`; the string must hold exactly them."""
        decoder = open_string(string, what)
        out = self.decode_from(decoder, indexes, what)
        check_consumed(decoder, what)
        return out

    # -- rate -----------------------------------------------------------------
    def bits(self, symbols: Any, indexes: Any) -> np.ndarray:
        """What each symbol costs with these tables: −log2 of its quantised frequency, and for values outside a
        table the escape symbol plus its bypass groups (preceded by their count)."""
        s = np.asarray(symbols, dtype=np.int64)
        idx = np.asarray(indexes, dtype=np.int64)
        value = s - self.offsets[idx]
        top = self.max_value[idx]
        over = (value < 0) | (value >= top)
        v = np.where(over, top, value)
        freq = self._cdf[idx, v + 1] - self._cdf[idx, v]
        out = PRECISION - np.log2(freq.astype(np.float64))
        raw = np.where(value < 0, -2 * value - 1, 2 * (value - top)).clip(min=0)
        n = np.ceil(np.log2(raw.astype(np.float64) + 1) / NIBBLE)
        return out + over * NIBBLE * (np.floor(n / 15) + 1 + n)


class StringEncoder:
    """Collects what :meth:`TableCoder.encode_into` appends and writes one string that a decoder from
    :func:`open_string` reads in the same order (ANS is a stack: the parts are encoded last to first)."""

    def __init__(self):
        self._parts: list[tuple[np.ndarray, Any]] = []

    def encode(self, symbols: np.ndarray, model) -> None:
        self._parts.append((np.ascontiguousarray(symbols, dtype=np.int32), model))

    def finish(self) -> bytes:
        coder = _constriction().stack.AnsCoder()
        for symbols, model in reversed(self._parts):
            coder.encode_reverse(symbols, model)
        return coder.get_compressed().astype("<u4").tobytes()


def open_string(string: bytes, what: str):
    """A decoder over ``string``; a string that is not whole 32-bit words, or that no encoder writes, is a
    :class:`PayloadError`."""
    if len(string) % 4:
        raise PayloadError(f"chunk '{what}' holds {len(string)} bytes, not a whole number of 32-bit words",
                           "the stream is truncated or was not written by this codec")
    words = np.frombuffer(bytes(string), dtype="<u4").astype(np.uint32)
    try:
        return _constriction().stack.AnsCoder(words)
    except (ValueError, AssertionError) as exc:
        raise _damaged(what, exc) from None


def check_consumed(decoder, what: str) -> None:
    """A string must hold exactly what was read from it: anything left is a :class:`PayloadError`."""
    if not decoder.is_empty():
        raise PayloadError(f"chunk '{what}' holds more bytes than its symbols",
                           "the stream is damaged or was not written by this codec")


def _damaged(what: str, exc: BaseException) -> PayloadError:
    return PayloadError(f"chunk '{what}' cannot be decoded ({exc})",
                        "the stream is damaged or was not written by this codec")


class CompressaiEntropyCoder:
    """A drop-in for compressai's ``EntropyModel.entropy_coder`` (its ``_EntropyCoder`` proxy to the rANS coder)
    that codes with :class:`TableCoder`, so ``compress``/``decompress`` of compressai's own models never read
    outside a string. Set it with :func:`use_checked_coder`; strings are not compressai's rANS strings."""

    name = "constriction-range"

    def __init__(self, what: str = "payload"):
        self.what = what
        self._coders: dict[int, TableCoder] = {}

    def _coder(self, cdfs: Sequence[Sequence[int]], lengths: Sequence[int], offsets: Sequence[int]) -> TableCoder:
        key = hash((tuple(map(tuple, cdfs)), tuple(lengths), tuple(offsets)))
        coder = self._coders.get(key)
        if coder is None:
            width = max(len(c) for c in cdfs)
            table = np.zeros((len(cdfs), width), dtype=np.int64)
            for i, c in enumerate(cdfs):
                table[i, :len(c)] = c
            coder = self._coders[key] = TableCoder(table, lengths, offsets)
        return coder

    def encode_with_indexes(self, symbols, indexes, cdfs, lengths, offsets) -> bytes:
        return self._coder(cdfs, lengths, offsets).encode(symbols, indexes)

    def decode_with_indexes(self, string, indexes, cdfs, lengths, offsets) -> list[int]:
        return self._coder(cdfs, lengths, offsets).decode(bytes(string), indexes, self.what).tolist()


def use_checked_coder(module, what: str = "payload") -> int:
    """Give every compressai entropy model inside ``module`` (a ``torch.nn.Module``) the checked coder; returns
    how many were changed."""
    n = 0
    for sub in module.modules():
        if hasattr(sub, "entropy_coder") and hasattr(sub, "_quantized_cdf"):
            sub.entropy_coder = CompressaiEntropyCoder(what)
            n += 1
    return n
