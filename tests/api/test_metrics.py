"""Quality and rate measures."""

from __future__ import annotations

import math

import numpy as np
import pytest

from discover_core.metrics import bpp, ms_ssim, psnr, quality_report, region_mask, ssim_inside_outside


def photo():
    from skimage import data

    return data.coffee()


def test_psnr_matches_the_definition():
    a = np.zeros((4, 5, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0] = 10  # squared error 100 over 60 values
    assert psnr(a, b) == pytest.approx(10 * math.log10(255 ** 2 / (100 / 60)))
    assert psnr(a, a) == math.inf
    mask = np.zeros((4, 5), bool)
    mask[0, 0] = True
    assert psnr(a, b, mask) == pytest.approx(10 * math.log10(255 ** 2 / (100 / 3)))
    assert psnr(a, b, ~mask) == math.inf
    assert math.isnan(psnr(a, b, np.zeros((4, 5), bool)))


def test_region_mask_rounds_outwards_and_clips():
    m = region_mask(10, 8, [(1.5, 2.2, 3.1, 4.0), (8, 6, 20, 20)])
    assert m.shape == (8, 10)
    assert m[2:4, 1:4].all() and m.sum() == 2 * 3 + 2 * 2


def test_bpp():
    assert bpp(1000, 100, 80) == pytest.approx(1.0)


def test_ms_ssim_orders_degradations():
    img = photo()
    rng = np.random.default_rng(0)
    light = np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)
    heavy = np.clip(img + rng.normal(0, 30, img.shape), 0, 255).astype(np.uint8)
    assert ms_ssim(img, img) == pytest.approx(1.0, abs=1e-5)
    assert 1.0 > ms_ssim(img, light) > ms_ssim(img, heavy) > 0.0


def test_ms_ssim_small_images_use_fewer_scales():
    img = photo()[:40, :40]
    noisy = np.clip(img.astype(int) + 20, 0, 255).astype(np.uint8)
    assert 0.0 < ms_ssim(img, noisy) < 1.0
    assert math.isnan(ms_ssim(img[:8, :8], noisy[:8, :8]))


def test_ssim_inside_outside_sees_where_the_damage_is():
    img = photo()
    damaged = img.copy()
    damaged[100:300, 150:400] = damaged[100:300, 150:400] // 32 * 32
    mask = region_mask(600, 400, [(150, 100, 400, 300)])
    inside, outside = ssim_inside_outside(img, damaged, mask)
    assert outside > 0.99 > inside
    report = quality_report(img, damaged, [(150, 100, 400, 300)])
    assert report["psnr_out"] == math.inf and report["psnr_in"] < 40
    assert report["region_fraction"] == pytest.approx(250 * 200 / (600 * 400))
