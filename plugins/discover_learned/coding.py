"""Coding of the latent, one string per chunk, with the model's quantised tables and the core's bounds-checked
ANS coder (:mod:`discover_core.coding`: compressai's rANS decoder reads past the end of crafted strings)."""

from __future__ import annotations

import numpy as np
import torch

from discover_core.coding import TableCoder


class Coder:
    """Encodes and decodes symbol/index tensors against one compressai entropy model's quantised CDF tables."""

    def __init__(self, entropy_model):
        self.tables = TableCoder.of(entropy_model)

    def encode(self, symbols: torch.Tensor, indexes: torch.Tensor) -> bytes:
        return self.tables.encode(symbols.reshape(-1).numpy(), indexes.reshape(-1).numpy())

    def encode_into(self, encoder, symbols: torch.Tensor, indexes: torch.Tensor) -> None:
        self.tables.encode_into(encoder, symbols.reshape(-1).numpy(), indexes.reshape(-1).numpy())

    def decode(self, string: bytes, indexes: torch.Tensor, what: str) -> torch.Tensor:
        values = self.tables.decode(string, indexes.reshape(-1).numpy(), what)
        return torch.from_numpy(values.astype(np.int32)).reshape(indexes.shape)

    def decode_from(self, decoder, indexes: torch.Tensor, what: str) -> torch.Tensor:
        values = self.tables.decode_from(decoder, indexes.reshape(-1).numpy(), what)
        return torch.from_numpy(values.astype(np.int32)).reshape(indexes.shape)

    def bits(self, symbols: torch.Tensor, indexes: torch.Tensor) -> torch.Tensor:
        """What each symbol costs with these tables (see :meth:`discover_core.coding.TableCoder.bits`)."""
        return torch.from_numpy(self.tables.bits(symbols.long().numpy(), indexes.long().numpy()))


def positions(cmap: np.ndarray, index: int) -> torch.Tensor:
    """Flat indices (row-major) of the positions of chunk ``index``."""
    return torch.from_numpy(np.flatnonzero(cmap.reshape(-1) == index).astype(np.int64))
