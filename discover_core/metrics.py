"""Image quality and rate measures: PSNR and (MS-)SSIM over the whole image and inside / outside regions, bpp.

MS-SSIM and SSIM are torchmetrics' definitions (the ``metrics`` extra), computed with pytorch-msssim's separable
Gaussian filter; PSNR over a region mask is the textbook formula on the masked squared errors.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .interfaces import Box, IntBox
from .regions import image_mask


def bpp(num_bytes: int, width: int, height: int) -> float:
    """Bits per pixel of ``num_bytes`` for a ``width`` x ``height`` image."""
    return num_bytes * 8.0 / (width * height)


def region_mask(width: int, height: int, boxes: Sequence[Box | IntBox]) -> np.ndarray:
    """Boolean ``(height, width)`` mask of the union of ``boxes`` (pixel coordinates, rounded outwards)."""
    return image_mask(width, height, boxes)


def psnr(reference: np.ndarray, test: np.ndarray, mask: np.ndarray | None = None) -> float:
    """PSNR in dB of 8-bit images over all pixels or those in ``mask``; ``nan`` if the mask is empty."""
    err = (reference.astype(np.float64) - test.astype(np.float64)) ** 2
    err = err.mean(axis=2) if err.ndim == 3 else err
    if mask is not None:
        if not mask.any():
            return float("nan")
        err = err[mask]
    mse = float(err.mean())
    return float("inf") if mse == 0 else 10.0 * math.log10(255.0 ** 2 / mse)


def _tensor(image: np.ndarray):
    """A (1, 3, H, W) float tensor in [0, 1]; its own memory, so read-only arrays (as ``load_image`` and Pillow
    return them) are fine."""
    import torch

    return torch.from_numpy(np.asarray(image, dtype=np.float32) / np.float32(255.0)).permute(2, 0, 1)[None]


KERNEL = 11
"""Side of torchmetrics' Gaussian SSIM window."""


def ms_ssim_scales(side: int) -> int:
    """How many of the 5 standard scales torchmetrics' MS-SSIM accepts for a shorter side of ``side`` pixels.

    torchmetrics requires ``side // max(1, scales - 1) ** 2 > KERNEL - 1`` (its own check, which is
    stricter than halving the image ``scales - 1`` times), and the coarsest scale must stay larger than
    the window's half width for its reflection padding: 0 means not even one scale fits.
    """
    for scales in range(5, 0, -1):
        if side // max(1, scales - 1) ** 2 > KERNEL - 1 and side >> (scales - 1) > (KERNEL - 1) // 2:
            return scales
    return 0


def _moments(x, y):
    """Gaussian-filtered means, second moments and cross moment of (1, C, H, W) tensors ``x`` and ``y``, as
    torchmetrics computes them (reflection padding of the window's half width, so the maps are H x W), with
    pytorch-msssim's separable filter: the same values, about 5x fewer operations than a 2-D convolution."""
    import torch
    import torch.nn.functional as F
    from pytorch_msssim.ssim import _fspecial_gauss_1d, gaussian_filter

    pad = (KERNEL - 1) // 2
    x, y = F.pad(x, (pad, pad, pad, pad), mode="reflect"), F.pad(y, (pad, pad, pad, pad), mode="reflect")
    win = _fspecial_gauss_1d(KERNEL, 1.5).repeat(x.shape[1], 1, 1, 1)
    with torch.no_grad():
        return tuple(gaussian_filter(t, win) for t in (x, y, x * x, y * y, x * y))


def _ssim_and_cs(x, y):
    """torchmetrics' full SSIM map and contrast-sensitivity map (``upper / lower``) of ``x`` against ``y``."""
    import torch

    mu_x, mu_y, xx, yy, xy = _moments(x, y)
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    var_x, var_y = torch.clamp(xx - mu_x ** 2, min=0.0), torch.clamp(yy - mu_y ** 2, min=0.0)
    upper, lower = 2 * (xy - mu_x * mu_y) + c2, var_x + var_y + c2
    return ((2 * mu_x * mu_y + c1) * upper) / ((mu_x ** 2 + mu_y ** 2 + c1) * lower), upper / lower


def _ms_ssim(x, y, first=None) -> float:
    """torchmetrics' MS-SSIM (``normalize="relu"``, its betas renormalised over the scales the size allows) of
    ``x`` against ``y``; ``first``: the full-resolution maps of :func:`_ssim_and_cs`, when already computed."""
    import torch
    import torch.nn.functional as F

    betas = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
    scales = ms_ssim_scales(min(x.shape[-2:]))
    if scales == 0:
        return float("nan")
    b = betas[:scales]
    pad = (KERNEL - 1) // 2
    value = 1.0
    with torch.no_grad():
        for i in range(scales):
            full, cs = first if (i == 0 and first is not None) else _ssim_and_cs(x, y)
            # Means in NumPy (float64, pairwise): torch's float32 mean splits its sum by thread, so the value
            # would depend on the thread count (a resumed run or a Ray worker would disagree with the first).
            if i == scales - 1:  # the coarsest scale counts its SSIM (the mean of the whole map)
                value *= max(0.0, float(full.numpy().mean(dtype=np.float64))) ** (b[i] / sum(b))
            else:  # the others their contrast sensitivity (torchmetrics crops it by the window's half width)
                crop = cs[..., pad:-pad, pad:-pad].numpy()
                value *= max(0.0, float(crop.mean(dtype=np.float64))) ** (b[i] / sum(b))
                x, y = F.avg_pool2d(x, (2, 2)), F.avg_pool2d(y, (2, 2))
    return value


def ms_ssim(reference: np.ndarray, test: np.ndarray) -> float:
    """MS-SSIM with as many of the 5 standard scales as the image size allows: torchmetrics'
    ``multiscale_structural_similarity_index_measure`` (``data_range=1``, ``normalize="relu"``, the betas
    renormalised), computed with a separable window (equal to torchmetrics' within 1e-5)."""
    if ms_ssim_scales(min(reference.shape[:2])) == 0:
        return float("nan")
    return _ms_ssim(_tensor(test), _tensor(reference))


def ssim_map(reference: np.ndarray, test: np.ndarray) -> np.ndarray:
    """torchmetrics' full SSIM map (Gaussian window 11, sigma 1.5, reflection padding; mean over the channels),
    computed with pytorch-msssim's separable Gaussian filter: the same values, about 5x faster than
    torchmetrics' 2-D convolution (the demo and evaluate runs call it for every picture)."""
    return _ssim_and_cs(_tensor(test), _tensor(reference))[0][0].mean(dim=0).numpy()


def _inside_outside(smap: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    inside = float(smap[mask].mean()) if mask.any() else float("nan")
    outside = float(smap[~mask].mean()) if (~mask).any() else float("nan")
    return inside, outside


def ssim_inside_outside(reference: np.ndarray, test: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """Mean SSIM (the full SSIM map of :func:`ssim_map`) inside and outside ``mask``; ``nan`` where empty."""
    if min(reference.shape[:2]) < KERNEL:
        return float("nan"), float("nan")
    return _inside_outside(ssim_map(reference, test), mask)


def quality_report(reference: np.ndarray, test: np.ndarray, boxes: Sequence[Box | IntBox]) -> dict[str, float]:
    """PSNR and SSIM inside / outside the regions, PSNR and MS-SSIM over the whole image (the full-resolution
    SSIM maps are computed once, for both)."""
    h, w = reference.shape[:2]
    m = region_mask(w, h, boxes)
    s_in = s_out = ms = float("nan")
    if min(h, w) >= KERNEL:
        x, y = _tensor(test), _tensor(reference)
        first = _ssim_and_cs(x, y)
        s_in, s_out = _inside_outside(first[0][0].mean(dim=0).numpy(), m)
        ms = _ms_ssim(x, y, first)
    return {
        "psnr": psnr(reference, test),
        "psnr_in": psnr(reference, test, m),
        "psnr_out": psnr(reference, test, ~m),
        "ms_ssim": ms,
        "ssim_in": s_in,
        "ssim_out": s_out,
        "region_fraction": float(m.mean()),
    }
