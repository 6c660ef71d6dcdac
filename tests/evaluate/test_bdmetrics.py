import math
import warnings

import numpy as np
import pytest

from discover_core.evaluate.bdmetrics import BDWarning, bd_fid, bd_psnr, bd_rate, monotonic_fit, overlap

RATES = [0.1, 0.2, 0.4, 0.8]
PSNR = [28.0, 31.0, 33.5, 36.0]


@pytest.mark.parametrize("method", ["akima", "pchip", "cubic"])
def test_half_the_rate_at_equal_quality_is_minus_50_percent(method):
    r = bd_rate(RATES, PSNR, [x / 2 for x in RATES], PSNR, method=method)
    assert r.value == pytest.approx(-50.0, abs=1e-6) and r.method == method and r.overlap == 1.0
    assert r.warning is None


def test_bd_psnr_of_a_curve_one_db_higher_is_one_db():
    r = bd_psnr(RATES, PSNR, RATES, [p + 1 for p in PSNR])
    assert r.kind == "bd-psnr" and r.value == pytest.approx(1.0, abs=1e-9)


def test_bd_fid_is_the_mean_fid_difference_at_equal_rate():
    fid = [80.0, 60.0, 45.0, 30.0]
    r = bd_fid(RATES, fid, RATES, [f - 10 for f in fid])
    assert r.kind == "bd-fid" and r.value == pytest.approx(-10.0, abs=1e-9)


def test_small_overlap_warns_and_no_overlap_gives_no_figure():
    shifted = [p + 4 for p in PSNR]  # PSNR ranges 28-36 and 32-40: 4/12 overlap
    with pytest.warns(BDWarning, match="33%"):
        r = bd_rate(RATES, PSNR, RATES, shifted)
    assert r.overlap == pytest.approx(4 / 12) and "unreliable" in r.warning and r.value is not None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        none = bd_rate(RATES, PSNR, RATES, [p + 20 for p in PSNR])
    assert none.value is None and none.overlap == 0 and "do not overlap" in none.warning


def test_accuracy_gets_a_monotonic_fit_first():
    acc = [0.50, 0.70, 0.65, 0.80]  # a dip: not monotonic
    r, q = monotonic_fit(RATES, acc)
    assert list(r) == [0.1, 0.2, 0.8] and list(q) == pytest.approx([0.50, 0.675, 0.80])
    res = bd_rate(RATES, acc, [x / 2 for x in RATES], acc, monotonic=True)
    assert res.monotonic_fit and res.value == pytest.approx(-50.0, abs=1e-6)


def test_a_flat_curve_has_no_figure():
    res = bd_rate(RATES, [1.0] * 4, RATES, [0.5, 0.7, 0.8, 0.9], monotonic=True)
    assert res.value is None and "fewer than 2" in res.warning


def test_overlap_measure():
    assert overlap([0, 10], [5, 15]) == pytest.approx(5 / 15)
    assert overlap([0, 1], [2, 3]) == 0.0
    assert math.isclose(overlap(np.array([1.0, 2.0]), np.array([1.0, 2.0])), 1.0)
