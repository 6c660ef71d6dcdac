"""rANS coding of the latent, one string per chunk, with compressai's coder and the model's stored tables.

compressai's rANS coder crashes the process on an empty or very short string and decodes a damaged string
into garbage without noticing: no empty chunk is ever coded, every string is checked before it is decoded
(at least :data:`MIN_STRING` bytes; the container's CRC-32 catches damage).
"""

from __future__ import annotations

import numpy as np
import torch

from discover_core.errors import PayloadError

from compressai import ans

MIN_STRING = 8
"""The shortest string the coder writes (its flushed state); anything shorter is not one of ours."""


class Coder:
    """Encodes and decodes symbol/index sequences against one entropy model's quantised CDF tables."""

    def __init__(self, entropy_model):
        self.cdfs = entropy_model._quantized_cdf.tolist()
        self.lengths = entropy_model._cdf_length.reshape(-1).int().tolist()
        self.offsets = entropy_model._offset.reshape(-1).int().tolist()
        self._enc = ans.RansEncoder()
        self._dec = ans.RansDecoder()

    def encode(self, symbols: torch.Tensor, indexes: torch.Tensor) -> bytes:
        s = symbols.reshape(-1).int().tolist()
        if len(s) < 3:
            raise ValueError("refusing to code fewer than 3 symbols (the rANS coder crashes on them)")
        out = self._enc.encode_with_indexes(s, indexes.reshape(-1).int().tolist(), self.cdfs, self.lengths,
                                            self.offsets)
        return bytes(out)

    def decode(self, string: bytes, indexes: torch.Tensor, what: str) -> torch.Tensor:
        check_string(string, what)
        values = self._dec.decode_with_indexes(string, indexes.reshape(-1).int().tolist(), self.cdfs,
                                               self.lengths, self.offsets)
        return torch.tensor(values, dtype=torch.int32).reshape(indexes.shape)


    def bits(self, symbols: torch.Tensor, indexes: torch.Tensor) -> torch.Tensor:
        """What each symbol costs with these tables, as compressai's rANS codes it: −log2 of its quantised
        frequency (16-bit precision), and for values outside a table the escape symbol plus the bypass-coded
        value (4-bit groups, preceded by their count)."""
        if not hasattr(self, "_cdf_t"):
            self._cdf_t = torch.tensor(self.cdfs, dtype=torch.int64)
            self._len_t = torch.tensor(self.lengths, dtype=torch.int64)
            self._off_t = torch.tensor(self.offsets, dtype=torch.int64)
        idx = indexes.reshape(-1).long()
        value = symbols.reshape(-1).long() - self._off_t[idx]
        max_value = self._len_t[idx] - 2
        over = (value < 0) | (value >= max_value)
        v = torch.where(over, max_value, value)
        freq = self._cdf_t[idx, v + 1] - self._cdf_t[idx, v]
        out = 16 - torch.log2(freq.double())
        raw = torch.where(value < 0, -2 * value - 1, 2 * (value - max_value)).clamp(min=0)
        n_bypass = torch.ceil(torch.log2(raw.double() + 1) / 4)
        out += over.double() * 4 * (torch.div(n_bypass, 15, rounding_mode="floor") + 1 + n_bypass)
        return out.reshape(symbols.shape)


def check_string(string: bytes, what: str) -> None:
    if len(string) < MIN_STRING:
        raise PayloadError(f"chunk '{what}' holds {len(string)} bytes, fewer than any coded string "
                           f"({MIN_STRING})", "the stream is truncated or was not written by this codec")


def positions(cmap: np.ndarray, index: int) -> torch.Tensor:
    """Flat indices (row-major) of the positions of chunk ``index``."""
    return torch.from_numpy(np.flatnonzero(cmap.reshape(-1) == index).astype(np.int64))
