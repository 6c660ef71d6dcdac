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


def check_string(string: bytes, what: str) -> None:
    if len(string) < MIN_STRING:
        raise PayloadError(f"chunk '{what}' holds {len(string)} bytes, fewer than any coded string "
                           f"({MIN_STRING})", "the stream is truncated or was not written by this codec")


def positions(cmap: np.ndarray, index: int) -> torch.Tensor:
    """Flat indices (row-major) of the positions of chunk ``index``."""
    return torch.from_numpy(np.flatnonzero(cmap.reshape(-1) == index).astype(np.int64))
