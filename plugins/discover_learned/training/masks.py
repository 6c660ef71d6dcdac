"""Stage II masks: region-shaped (random rectangles on the latent grid) covering 0-50 % of the area."""

from __future__ import annotations

import torch


def region_masks(batch: int, h: int, w: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    """``keep`` masks ``(batch, 1, h, w)`` in {0, 1}: per sample a target fraction in [low, high] of the
    positions is dropped, as a union of random rectangles (the shape of regions that did not arrive)."""
    keep = torch.ones(batch, 1, h, w)
    for b in range(batch):
        target = low + (high - low) * float(torch.rand((), generator=generator))
        for _ in range(64):
            if 1 - keep[b].mean() >= target:
                break
            rh = 1 + int(torch.randint(0, max(1, h // 2), (), generator=generator))
            rw = 1 + int(torch.randint(0, max(1, w // 2), (), generator=generator))
            y0 = int(torch.randint(0, h - rh + 1, (), generator=generator))
            x0 = int(torch.randint(0, w - rw + 1, (), generator=generator))
            keep[b, :, y0:y0 + rh, x0:x0 + rw] = 0
    return keep
