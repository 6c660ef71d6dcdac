"""ELIC's entropy model (channel groups + checkerboard context) with contexts restricted to a chunk.

y is split into channel groups (ELIC: 16, 16, 32, 64, rest); each group is coded in two checkerboard
passes (anchors, then the others). The parameters of a position come from the hyperprior, from the groups
before it (channel context) and, for non-anchors, from the anchors around it (spatial context). Both
contexts are :class:`ChunkConv`: a 5×5 convolution in which a position only sees positions of its own chunk,
so the same parameters come out at the encoder and at a decoder that received only that chunk.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .model import CodecNet
from .nets import Arch

ELIC_GROUPS = (16, 16, 32, 64)


def default_groups(m: int) -> tuple[int, ...]:
    """ELIC's uneven groups (16, 16, 32, 64, rest), scaled down for a small M."""
    if m >= 160:
        return ELIC_GROUPS + (m - 128,)
    base = max(1, m // 12)
    g = [base, base, 2 * base, 4 * base]
    return tuple(g + [m - sum(g)]) if m > sum(g) else tuple(g[:-1] + [m - sum(g[:-1])])


class ChunkConv(nn.Module):
    """A k×k convolution whose every output position sees only input positions with the same chunk id.

    ``forward(x, ids)``: ``ids`` ((B, 1, H, W) float, whole numbers) are the chunk ids; positions outside the
    map and of other chunks contribute exactly zero."""

    def __init__(self, cin: int, cout: int, k: int = 5):
        super().__init__()
        self.k = k
        self.conv = nn.Conv2d(cin, cout, k, padding=k // 2)

    def forward(self, x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        k, p = self.k, self.k // 2
        cols = F.unfold(x, k, padding=p).view(b, c, k * k, h * w)
        nid = F.unfold(ids + 1, k, padding=p)  # 0 outside the map
        same = (nid == (ids + 1).view(b, 1, h * w)).to(x.dtype)
        cols = (cols * same[:, None]).view(b, c * k * k, h * w)
        out = self.conv.weight.view(self.conv.out_channels, -1) @ cols + self.conv.bias.view(1, -1, 1)
        return out.view(b, -1, h, w)


def anchor_mask(h: int, w: int, device=None) -> torch.Tensor:
    """(1, 1, h, w): 1 on checkerboard anchors ((i + j) even)."""
    i = torch.arange(h, device=device)[:, None]
    j = torch.arange(w, device=device)[None, :]
    return ((i + j) % 2 == 0).float()[None, None]


class GroupParameters(nn.Module):
    """Gaussian (scales, means) of one channel group, from the hyperprior and the two contexts."""

    def __init__(self, c: int, previous: int):
        super().__init__()
        self.spatial = ChunkConv(c, 2 * c)
        self.channel = ChunkConv(previous, 2 * c) if previous else None
        cin = 2 * c + 2 * c + (2 * c if previous else 0)
        self.aggregate = nn.Sequential(nn.Conv2d(cin, 4 * c, 1), nn.LeakyReLU(inplace=True),
                                       nn.Conv2d(4 * c, 3 * c, 1), nn.LeakyReLU(inplace=True),
                                       nn.Conv2d(3 * c, 2 * c, 1))

    def forward(self, hyper, anchors, before, ids) -> tuple[torch.Tensor, torch.Tensor]:
        """``anchors``: the group's decoded anchors (zeros elsewhere) or None for the anchor pass;
        ``before``: the decoded groups before this one (None for the first)."""
        spatial = self.spatial(anchors, ids) if anchors is not None else hyper.new_zeros(
            hyper.shape[0], 2 * self.spatial.conv.in_channels, *hyper.shape[2:])
        parts = [hyper, spatial] + ([self.channel(before, ids)] if self.channel is not None else [])
        scales, means = self.aggregate(torch.cat(parts, 1)).chunk(2, 1)
        return scales, means


class ElicNet(CodecNet):
    """The mean-scale codec with ELIC's channel-grouped checkerboard entropy model."""

    def __init__(self, arch: Arch):
        groups = arch.groups or default_groups(arch.latent_channels)
        if sum(groups) != arch.latent_channels:
            raise ValueError(f"channel groups {groups} do not sum to latent_channels {arch.latent_channels}")
        super().__init__(arch)
        self.groups = tuple(groups)
        self.bounds = [(sum(groups[:k]), sum(groups[:k + 1])) for k in range(len(groups))]
        self.group_parameters = nn.ModuleList(GroupParameters(c, c0) for c, (c0, _) in zip(groups, self.bounds))

    def hyper_slice(self, hyper: torch.Tensor, k: int) -> torch.Tensor:
        c0, c1 = self.bounds[k]
        m = self.arch.latent_channels
        return torch.cat([hyper[:, c0:c1], hyper[:, m + c0:m + c1]], 1)

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None,
                ids: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        y = self.g_a(x)
        z = self.h_a(y)
        z_tilde, z_likelihoods = self.entropy_bottleneck(z)
        hyper = self.h_s(z_tilde)
        b, _, h, w = y.shape
        ids = torch.zeros(b, 1, h, w, device=y.device) if ids is None else ids
        anchor = anchor_mask(h, w, y.device)
        y_hats, liks, all_means = [], [], []
        for k, (c0, c1) in enumerate(self.bounds):
            yk = y[:, c0:c1]
            hk = self.hyper_slice(hyper, k)
            before = torch.cat(y_hats, 1) if y_hats else None
            gp = self.group_parameters[k]
            s_a, m_a = gp(hk, None, before, ids)
            q_a = m_a + (torch.round(yk - m_a) - (yk - m_a)).detach() + (yk - m_a) if self.training \
                else torch.round(yk - m_a) + m_a
            s_n, m_n = gp(hk, q_a * anchor, before, ids)
            scales = s_a * anchor + s_n * (1 - anchor)
            means = m_a * anchor + m_n * (1 - anchor)
            _, lik = self.gaussian_conditional(yk, scales, means)
            q = means + (torch.round(yk - means) - (yk - means)).detach() + (yk - means) if self.training \
                else torch.round(yk - means) + means
            y_hats.append(q)
            liks.append(lik)
            all_means.append(means)
        y_hat, means = torch.cat(y_hats, 1), torch.cat(all_means, 1)
        if keep is not None:
            y_hat = means + (y_hat - means) * keep
        return {"x_hat": self.synthesize(y_hat, z_tilde), "y_likelihoods": torch.cat(liks, 1),
                "z_likelihoods": z_likelihoods}
