"""Quality and rate measures."""

from __future__ import annotations

import math

import numpy as np
import pytest

from discover_core.metrics import bpp, ms_ssim, ms_ssim_scales, psnr, quality_report, region_mask, ssim_inside_outside
from discover_core.regions import box_mask, image_mask


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


@pytest.mark.parametrize("side", range(80, 201, 3))
def test_ms_ssim_at_every_size_from_80_to_200(side):
    """torchmetrics refuses ``side // (scales - 1) ** 2 <= 10``: 88-98 px used to pick 4 scales and raise."""
    img = photo()[:side, :side + 13]
    noisy = np.clip(img.astype(int) + 12, 0, 255).astype(np.uint8)
    value = ms_ssim(img, noisy)
    assert 0.0 < value < 1.0


@pytest.mark.parametrize("side, scales", [(10, 0), (11, 1), (12, 2), (43, 2), (44, 3), (88, 3), (98, 3), (99, 4),
                                          (175, 4), (176, 5), (4000, 5)])
def test_ms_ssim_scales_follow_torchmetrics_rule(side, scales):
    assert ms_ssim_scales(side) == scales


def test_ms_ssim_rule_is_the_one_torchmetrics_enforces():
    """One more scale than chosen is refused by torchmetrics at the boundary sizes."""
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as msssim

    from discover_core.metrics import _tensor

    for side in (43, 98, 175):
        img = photo()[:side, :side]
        betas = (0.2,) * (ms_ssim_scales(side) + 1)
        with pytest.raises(ValueError):
            msssim(_tensor(img), _tensor(img), data_range=1.0, betas=betas, normalize="relu")


# -- box masks (discover_core.regions: the one implementation) --------------------------------
def naive(boxes, rect):
    x0, y0, x1, y1 = rect
    m = np.zeros((y1 - y0, x1 - x0), bool)
    for bx0, by0, bx1, by1 in boxes:
        ys = slice(max(0, math.floor(by0) - y0), max(0, math.ceil(by1) - y0))
        xs = slice(max(0, math.floor(bx0) - x0), max(0, math.ceil(bx1) - x0))
        m[ys, xs] = True
    return m


@pytest.mark.parametrize("count", [0, 1, 5, 40, 3000])
def test_box_mask_matches_filling_box_by_box(count):
    rng = np.random.default_rng(count)
    rect = (10, 5, 90, 70)
    boxes = [tuple(float(v) for v in (x, y, x + rng.uniform(0, 50), y + rng.uniform(0, 40)))
             for x, y in rng.uniform(-10, 100, (count, 2))]
    np.testing.assert_array_equal(box_mask(boxes, rect), naive(boxes, rect))
    np.testing.assert_array_equal(image_mask(100, 80, boxes), naive(boxes, (0, 0, 100, 80)))
    np.testing.assert_array_equal(region_mask(100, 80, boxes), image_mask(100, 80, boxes))


def test_box_mask_work_is_bounded_by_the_area():
    import time

    boxes = [(0, 0, 2000, 2000)] * 1_000_000 + [(i, i, i + 1500, i + 1500) for i in range(400)]
    start = time.perf_counter()
    m = box_mask(boxes, (0, 0, 2000, 2000))
    assert time.perf_counter() - start < 3
    assert m.all()


def test_ssim_map_is_torchmetrics_full_map():
    from torchmetrics.functional.image import structural_similarity_index_measure as tm_ssim

    from discover_core.metrics import _tensor, ssim_map

    rng = np.random.default_rng(3)
    img = (rng.random((40, 57, 3)) * 255).astype(np.uint8)
    noisy = np.clip(img.astype(int) + rng.integers(-40, 40, img.shape), 0, 255).astype(np.uint8)
    _, full = tm_ssim(_tensor(noisy), _tensor(img), data_range=1.0, return_full_image=True)
    np.testing.assert_allclose(ssim_map(img, noisy), full[0].mean(dim=0).numpy(), atol=1e-5)


@pytest.mark.parametrize("shape", [(40, 57), (120, 99), (300, 451)])
def test_ms_ssim_is_torchmetrics_ms_ssim(shape):
    """The separable computation gives torchmetrics' value at every number of scales (2, 4 and 5 here)."""
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as msssim

    from discover_core.metrics import _tensor

    img = photo()[:shape[0], :shape[1]]
    rng = np.random.default_rng(shape[0])
    noisy = np.clip(img.astype(int) + rng.integers(-30, 30, img.shape), 0, 255).astype(np.uint8)
    scales = ms_ssim_scales(min(shape))
    b = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)[:scales]
    expected = float(msssim(_tensor(noisy), _tensor(img), data_range=1.0, betas=tuple(x / sum(b) for x in b),
                            normalize="relu"))
    assert ms_ssim(img, noisy) == pytest.approx(expected, abs=1e-5)
    boxes = [(5, 5, shape[1] // 2, shape[0] // 2)]
    report = quality_report(img, noisy, boxes)
    assert report["ms_ssim"] == ms_ssim(img, noisy)
    assert (report["ssim_in"], report["ssim_out"]) == ssim_inside_outside(img, noisy, region_mask(shape[1], shape[0],
                                                                                                   boxes))


def test_quality_report_does_not_depend_on_the_thread_count():
    """A resumed run or a Ray worker (other thread counts) must store the very same figures."""
    import torch

    img = photo()
    noisy = np.clip(img.astype(int) + np.random.default_rng(5).integers(-20, 20, img.shape), 0, 255).astype(np.uint8)
    threads = torch.get_num_threads()
    try:
        reports = []
        for n in (1, 3):
            torch.set_num_threads(n)
            reports.append(quality_report(img, noisy, [(10, 10, 200, 150)]))
    finally:
        torch.set_num_threads(threads)
    assert reports[0] == reports[1]
