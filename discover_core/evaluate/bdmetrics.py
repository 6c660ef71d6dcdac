"""Bjøntegaard deltas with the ``bjontegaard`` package: BD-rate, BD-PSNR, BD-rate on task accuracy, BD-FID;
the rate ratio at the anchor's best where a metric saturates.

- :func:`bd_rate`: mean rate difference (%) at equal quality, integrated over the quality range both
  curves cover (negative: the test needs fewer bits). ``monotonic=True`` first fits each curve's quality
  as a non-decreasing function of rate (isotonic regression, ``scipy.optimize.isotonic_regression``) and
  keeps the cheapest point of each quality level: task accuracy is noisy and not monotonic on small data.
- :func:`bd_quality`: mean quality difference at equal rate, over the common log-rate range: BD-PSNR (dB),
  BD-FID / BD-DISTS (lower is better, so negative is better).
- :func:`rate_at_anchor_best`: where a metric saturates (task agreement reaching 100 %) and no BD-rate is
  defined, the rate at which the test first reaches the anchor's best value, over the anchor's rate there.

Every result records the interpolation method (``akima``, ``pchip``, ``cubic``) and the overlap of the two
curves along the integration axis (the package's measure: the common range over the union of both ranges).
Below 75 % a warning is attached (and issued); with no overlap there is no figure (``value`` is ``None``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

MIN_OVERLAP = 0.75
METHODS = ("akima", "pchip", "cubic")


@dataclass
class BDResult:
    kind: str
    """``bd-rate`` (%), or ``bd-<metric>`` (the metric's unit)."""
    value: float | None
    method: str
    overlap: float
    monotonic_fit: bool = False
    warning: str | None = None
    points: tuple[int, int] = (0, 0)

    def as_dict(self) -> dict:
        return asdict(self)


class BDWarning(UserWarning):
    """Curves that overlap less than :data:`MIN_OVERLAP` (the figure is less reliable)."""


def overlap(a: Sequence[float], b: Sequence[float]) -> float:
    """Common range over the union of both ranges (0: disjoint, 1: the same range)."""
    lo, hi = max(min(a), min(b)), min(max(a), max(b))
    total = max(max(a), max(b)) - min(min(a), min(b))
    return max(hi - lo, 0.0) / total if total > 0 else (1.0 if lo == hi else 0.0)


def _clean(rate: Sequence[float], quality: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    r, q = np.asarray(rate, dtype=float), np.asarray(quality, dtype=float)
    if r.shape != q.shape:
        raise ValueError(f"{r.size} rates but {q.size} quality values")
    keep = np.isfinite(r) & np.isfinite(q) & (r > 0)
    return r[keep], q[keep]


def monotonic_fit(rate: Sequence[float], quality: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Quality fitted non-decreasing in rate (isotonic regression); the cheapest point of each fitted level."""
    from scipy.optimize import isotonic_regression

    r, q = _clean(rate, quality)
    order = np.argsort(r, kind="stable")
    r, q = r[order], q[order]
    fitted = isotonic_regression(q, increasing=True).x if len(q) else q
    keep = np.r_[True, np.diff(fitted) > 1e-12] if len(fitted) else np.zeros(0, bool)
    return r[keep], fitted[keep]


def _strict(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points sorted by ``x`` with repeated ``x`` values dropped (interpolation needs strictly increasing x)."""
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    keep = np.r_[True, np.diff(x) > 0] if len(x) else np.zeros(0, bool)
    return x[keep], y[keep]


def _result(kind: str, method: str, ov: float, fit: bool, n: tuple[int, int], compute) -> BDResult:
    if method not in METHODS:
        raise ValueError(f"interpolation method {method!r}; one of {', '.join(METHODS)}")
    if min(n) < 2:
        return BDResult(kind, None, method, ov, fit, "fewer than 2 distinct points on a curve: no figure", n)
    if ov <= 0:
        return BDResult(kind, None, method, 0.0, fit, "the curves do not overlap: no figure", n)
    note = None
    if ov < MIN_OVERLAP:
        note = f"the curves overlap only {ov:.0%} (< {MIN_OVERLAP:.0%}): the figure is unreliable"
        warnings.warn(note, BDWarning, stacklevel=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = float(compute())
    return BDResult(kind, value if math.isfinite(value) else None, method, ov, fit, note, n)


def bd_rate(rate_anchor: Sequence[float], quality_anchor: Sequence[float], rate_test: Sequence[float],
            quality_test: Sequence[float], method: str = "akima", monotonic: bool = False) -> BDResult:
    """BD-rate (%) of the test against the anchor at equal quality (higher quality is better)."""
    import bjontegaard as bd

    if monotonic:
        (ra, qa), (rt, qt) = monotonic_fit(rate_anchor, quality_anchor), monotonic_fit(rate_test, quality_test)
    else:
        (ra, qa), (rt, qt) = _clean(rate_anchor, quality_anchor), _clean(rate_test, quality_test)
    qa, ra = _strict(qa, ra)
    qt, rt = _strict(qt, rt)
    ov = overlap(qa, qt) if len(qa) and len(qt) else 0.0
    return _result("bd-rate", method, ov, monotonic, (len(qa), len(qt)),
                   lambda: bd.bd_rate(ra, qa, rt, qt, method=method, require_matching_points=False, min_overlap=0))


def bd_quality(rate_anchor: Sequence[float], quality_anchor: Sequence[float], rate_test: Sequence[float],
               quality_test: Sequence[float], method: str = "akima", metric: str = "psnr") -> BDResult:
    """Mean quality difference (test - anchor) at equal rate: BD-PSNR, BD-FID, BD-DISTS ..."""
    import bjontegaard as bd

    ra, qa = _strict(*_clean(rate_anchor, quality_anchor))
    rt, qt = _strict(*_clean(rate_test, quality_test))
    ov = overlap(np.log10(ra), np.log10(rt)) if len(ra) and len(rt) else 0.0
    return _result(f"bd-{metric}", method, ov, False, (len(ra), len(rt)),
                   lambda: bd.bd_psnr(ra, qa, rt, qt, method=method, require_matching_points=False, min_overlap=0))


def bd_psnr(*args, **kwargs) -> BDResult:
    return bd_quality(*args, **kwargs, metric="psnr")


def bd_fid(rate_anchor, fid_anchor, rate_test, fid_test, method: str = "akima") -> BDResult:
    """BD-FID: mean FID difference at equal rate (negative: the test looks closer to the originals)."""
    return bd_quality(rate_anchor, fid_anchor, rate_test, fid_test, method=method, metric="fid")


@dataclass
class RateAtBest:
    """Where a saturating metric has no BD-rate: the rate at which the test first reaches the anchor's best."""

    ratio: float | None
    """Test rate / anchor rate at the anchor's best value; when the test never reaches it, its highest rate
    over the anchor's (a lower bound: ``reached`` is False). None without points."""
    reached: bool
    anchor_best: float | None
    anchor_rate: float | None

    def as_dict(self) -> dict:
        return asdict(self)


def rate_at_anchor_best(rate_anchor: Sequence[float], quality_anchor: Sequence[float], rate_test: Sequence[float],
                        quality_test: Sequence[float], tolerance: float = 1e-9) -> RateAtBest:
    """The lowest test rate whose quality reaches the anchor's best, over the lowest anchor rate reaching it."""
    ra, qa = _clean(rate_anchor, quality_anchor)
    rt, qt = _clean(rate_test, quality_test)
    if not len(ra) or not len(rt):
        return RateAtBest(None, False, None, None)
    best = float(qa.max())
    anchor_rate = float(ra[qa >= best - tolerance].min())
    reached = qt >= best - tolerance
    if reached.any():
        return RateAtBest(float(rt[reached].min()) / anchor_rate, True, best, anchor_rate)
    return RateAtBest(float(rt.max()) / anchor_rate, False, best, anchor_rate)
