"""The learned codec as one ``nn.Module``: training forward pass, entropy parameters, tables."""

from __future__ import annotations

import contextlib
import math

import torch
from torch import nn

from . import quiet_import  # noqa: F401 - before compressai
from compressai.entropy_models import EntropyBottleneck, GaussianConditional

from . import nets
from .nets import Arch

SCALE_MIN, SCALE_MAX, SCALE_LEVELS = 0.11, 256.0, 128
"""Scale table of the Gaussian coder: finer than compressai's default 64 levels, so the coded rate stays
within a fraction of a percent of the estimate at low rates too."""


def scale_table(scale_max: float = SCALE_MAX) -> list[float]:
    return torch.exp(torch.linspace(math.log(SCALE_MIN), math.log(scale_max), SCALE_LEVELS)).tolist()


@contextlib.contextmanager
def threads(n: int):
    """Run torch with ``n`` intra-op threads, then restore the previous setting."""
    before = torch.get_num_threads()
    if n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


class CodecNet(nn.Module):
    """g_a, h_a, h_s, M, g_s and the two entropy models of the mean-scale hyperprior."""

    def __init__(self, arch: Arch):
        super().__init__()
        self.arch = arch
        self.g_a = nets.analysis(arch)
        self.h_a = nets.hyper_analysis(arch)
        self.h_s = nets.hyper_synthesis(arch)
        self.m = nets.global_information(arch) if arch.global_channels > 0 else None
        self.g_s = nets.synthesis(arch)
        self.entropy_bottleneck = EntropyBottleneck(arch.channels)
        self.gaussian_conditional = GaussianConditional(None)

    # -- tables ---------------------------------------------------------------
    def update_tables(self, scale_max: float | None = None) -> None:
        """Compute the CDF tables the coder uses (once, after training; they are saved with the weights).

        ``scale_max`` caps the scale table (default: the current table's largest scale, else 256): a model
        whose scales stay small codes the same with a shorter table, and its checkpoint is smaller."""
        current = self.gaussian_conditional.scale_table
        if scale_max is None:
            scale_max = float(current[-1]) if current.numel() else SCALE_MAX
        with torch.no_grad():
            self.entropy_bottleneck.update(force=True)
            self.gaussian_conditional.update_scale_table(scale_table(scale_max), force=True)

    def tables_ready(self) -> bool:
        return self.entropy_bottleneck._quantized_cdf.numel() > 0 and \
            self.gaussian_conditional._quantized_cdf.numel() > 0

    def aux_loss(self) -> torch.Tensor:
        return self.entropy_bottleneck.loss()

    # -- pieces -----------------------------------------------------------------
    def entropy_parameters(self, z_hat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(scales, means)`` of every ``y`` position, from ``ẑ`` only."""
        scales, means = self.h_s(z_hat).chunk(2, 1)
        return scales, means

    def synthesize(self, y_hat: torch.Tensor, z_hat: torch.Tensor) -> torch.Tensor:
        """g_s(ŷ, M(ẑ))."""
        if self.m is not None:
            y_hat = torch.cat([y_hat, self.m(z_hat)], 1)
        return self.g_s(y_hat)

    # -- training ---------------------------------------------------------------
    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Training pass. ``keep`` ((B, 1, h, w) in {0, 1}, stage II): positions whose residual ŷ − μ is kept;
        the others get the mean μ, as the decoder fills positions whose chunk did not arrive."""
        y = self.g_a(x)
        z = self.h_a(y)
        z_tilde, z_likelihoods = self.entropy_bottleneck(z)
        scales, means = self.entropy_parameters(z_tilde)
        _, y_likelihoods = self.gaussian_conditional(y, scales, means)
        # the decoder sees the quantised latent (straight-through), the rate sees the noisy one
        if self.training:
            y_hat = means + (torch.round(y - means) - (y - means)).detach() + (y - means)
        else:  # what the decoder gets
            y_hat = torch.round(y - means) + means
        if keep is not None:
            y_hat = means + (y_hat - means) * keep
        return {"x_hat": self.synthesize(y_hat, z_tilde), "y_likelihoods": y_likelihoods,
                "z_likelihoods": z_likelihoods}
