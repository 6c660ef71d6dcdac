"""The mean-scale latent, coded chunk by chunk: ẑ is the side string, each chunk's positions one string.

The entropy parameters of every position come from ẑ alone (computed with one thread at both ends, so the
same stream decodes to the same latent whatever the thread count), so any chunk decodes without the
others; positions whose chunk did not arrive hold the Gaussian means (the prediction from ẑ).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from discover_core.coding import use_checked_coder

from .coding import Coder, positions
from .model import CodecNet, threads


class HyperpriorLatent:
    """Chunked coding of ``y`` with a :class:`CodecNet` whose tables are up to date."""

    def __init__(self, net: CodecNet):
        self.net = net
        use_checked_coder(net, "hyperprior")  # the side string goes through the bounds-checked coder too
        self.y_coder = Coder(net.gaussian_conditional)
        self.z_coder = Coder(net.entropy_bottleneck)

    # -- side -----------------------------------------------------------------
    def z_shape(self, grid: tuple[int, int]) -> tuple[int, int]:
        gw, gh = grid
        return gh // 4, gw // 4

    def encode_side(self, y: torch.Tensor, z: torch.Tensor | None = None) -> tuple[bytes, torch.Tensor]:
        z = self.net.h_a(y) if z is None else z
        string = bytes(self.net.entropy_bottleneck.compress(z)[0])
        return string, self.decode_side(string, z.shape[-2:])

    def decode_side(self, string: bytes, shape: Sequence[int]) -> torch.Tensor:
        return self.net.entropy_bottleneck.decompress([string], tuple(shape))

    def parameters(self, z_hat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with threads(1):
            return self.net.entropy_parameters(z_hat)

    # -- content --------------------------------------------------------------
    def encode(self, y: torch.Tensor, cmap: np.ndarray, n_chunks: int,
               z: torch.Tensor | None = None) -> tuple[bytes, list[bytes | None]]:
        """The side string and one string per chunk index (``None`` for a chunk with no positions);
        ``z`` (default ``h_a(y)``) lets a test code ``y`` drawn from the Gaussians of a given ``ẑ``."""
        side, z_hat = self.encode_side(y, z)
        scales, means = self.parameters(z_hat)
        indexes = self.net.gaussian_conditional.build_indexes(scales)[0].flatten(1)
        symbols = torch.round(y - means)[0].flatten(1).int()
        strings: list[bytes | None] = []
        for k in range(n_chunks):
            pos = positions(cmap, k)
            strings.append(self.y_coder.encode(symbols[:, pos], indexes[:, pos]) if len(pos) else None)
        return side, strings

    def decode(self, side: bytes, grid: tuple[int, int], cmap: np.ndarray,
               strings: dict[int, tuple[str, bytes]]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(ŷ, ẑ)``; ``strings`` maps chunk index -> (name, string) of the chunks that arrived."""
        z_hat = self.decode_side(side, self.z_shape(grid))
        scales, means = self.parameters(z_hat)
        indexes = self.net.gaussian_conditional.build_indexes(scales)[0].flatten(1)
        flat_means = means[0].flatten(1)
        y_hat = flat_means.clone()
        for k, (name, string) in sorted(strings.items()):
            pos = positions(cmap, k)
            symbols = self.y_coder.decode(string, indexes[:, pos], name)
            y_hat[:, pos] = symbols.float() + flat_means[:, pos]
        return y_hat.reshape(means.shape), z_hat

    # -- rate -----------------------------------------------------------------
    def side_bits(self, z: torch.Tensor, exact: bool) -> float:
        eb = self.net.entropy_bottleneck
        if not exact:
            _, z_lik = eb(z, training=False)
            return float(-torch.log2(z_lik).sum())
        symbols = torch.round(z - eb._get_medians().reshape(1, -1, 1, 1))
        indexes = eb._build_indexes(z.size())
        return float(self.z_coder.bits(symbols.int(), indexes).sum())

    def y_bits(self, y: torch.Tensor, scales: torch.Tensor, means: torch.Tensor, exact: bool) -> torch.Tensor:
        """Bits of every element of ``y`` given its Gaussian: −log2 likelihood with the table scale the coder
        uses, or (``exact``) what the coder's quantised tables charge, escapes included."""
        gc = self.net.gaussian_conditional
        indexes = gc.build_indexes(scales)
        if exact:
            return self.y_coder.bits(torch.round(y - means).int(), indexes).float()
        used = gc.scale_table[indexes.long()]
        lik = gc.likelihood_lower_bound(gc._likelihood(torch.round(y - means) + means, used, means))
        return -torch.log2(lik)

    def estimate(self, y: torch.Tensor, cmap: np.ndarray, n_chunks: int,
                 z: torch.Tensor | None = None, exact: bool = False) -> tuple[float, list[float]]:
        """Estimated bits of the side string and of each chunk: the model's −log2 likelihoods (with the scales
        the coder really uses), or with ``exact`` what the coder's quantised tables charge."""
        z = self.net.h_a(y) if z is None else z
        _, z_hat = self.encode_side(y, z)
        scales, means = self.parameters(z_hat)
        bits = self.y_bits(y, scales, means, exact)[0].sum(0).flatten()
        per = [float(bits[positions(cmap, k)].sum()) for k in range(n_chunks)]
        return self.side_bits(z, exact), per
