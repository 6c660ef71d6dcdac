"""The demo's figures: one row per photo, quality point and method; means; rate at equal agreement; BD-rate."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Row:
    photo: str
    quality: int
    method: str
    bytes: int
    bpp: float
    metrics: dict[str, float]
    agreement: dict[str, bool | float] = field(default_factory=dict)
    """Per head: same answer as on the original (bool); for a set-scored head, this photo's agreement AP."""
    top1_correct: dict[str, bool | None] = field(default_factory=dict)
    chunks: dict[str, int] = field(default_factory=dict)
    encode_s: float | None = None
    decode_s: float | None = None


SET_FIGURES = ("agreement_ap50", "agreement_ap75", "ap", "ap50", "ap75")
"""Figures of a set-scored head besides ``agreement`` (summary keys ``<figure>[<head>]``)."""


def summarise(rows: list[Row], per_photo: dict, qualities, over_set: dict | None = None) -> list[dict]:
    """Mean figures per method and quality point.

    ``over_set[(quality, method)][head]``: a head's scores over the whole set of photos (COCO AP); they
    replace the head's per-photo means (``agreement[<head>]`` is then the agreement AP of the set).
    """
    out = []
    methods = list(dict.fromkeys(r.method for r in rows))
    for q in qualities:
        for m in methods:
            sel = [r for r in rows if r.quality == q and r.method == m]
            if not sel:
                continue
            heads = sorted({k for r in sel for k in r.agreement})
            entry = {
                "quality": q, "method": m, "photos": len(sel),
                "bpp": float(np.mean([r.bpp for r in sel])),
                "bytes": float(np.mean([r.bytes for r in sel])),
            }
            for key in ("psnr", "psnr_in", "psnr_out", "ms_ssim", "ssim_in", "ssim_out"):
                vals = [r.metrics[key] for r in sel if np.isfinite(r.metrics[key])]
                entry[key] = float(np.mean(vals)) if vals else float("nan")
            for hname in heads:
                entry[f"agreement[{hname}]"] = float(np.mean([r.agreement[hname] for r in sel]))
                graded = [r.top1_correct[hname] for r in sel if r.top1_correct.get(hname) is not None]
                entry[f"top1[{hname}]"] = float(np.mean(graded)) if graded else float("nan")
            for hname, scores in (over_set or {}).get((q, m), {}).items():
                entry[f"agreement[{hname}]"] = float(scores.get("agreement", float("nan")))
                entry.pop(f"top1[{hname}]", None)
                for key in SET_FIGURES:
                    entry[f"{key}[{hname}]"] = float(scores.get(key, float("nan")))
            enc = [r.encode_s for r in sel if r.encode_s is not None]
            entry["encode_s"] = float(np.mean(enc)) if enc else float("nan")
            dec = [r.decode_s for r in sel if r.decode_s is not None]
            entry["decode_s"] = float(np.mean(dec)) if dec else float("nan")
            out.append(entry)
    return out


AGREEMENT_LEVELS = (0.8, 1.0)
DETECTION_LEVELS = (0.75, 0.9)
"""Agreement AP levels for detection heads (AP@[.5:.95] against the detections on the original)."""


def comparisons(summary: list[dict], levels: dict[str, tuple[float, ...]] | None = None) -> dict[str, Any]:
    """Rate at equal agreement, and Bjøntegaard delta rate of PSNR inside the regions against whole-image AVIF.

    ``bpp_at_agreement[method][head][level]``: the lowest measured bpp at which the method's mean agreement
    reaches ``level`` (``None`` if no quality point does), for each of ``levels[head]`` (default
    :data:`AGREEMENT_LEVELS`). ``bd_rate_psnr_in``: the ``bjontegaard`` package's BD-rate (percent;
    negative = fewer bits for the same PSNR inside the task regions) of each method against "avif (same
    bpp)", where both curves have the same number (>= 4) of points.
    """
    methods = list(dict.fromkeys(e["method"] for e in summary))
    heads = sorted({k[len("agreement["):-1] for e in summary for k in e if k.startswith("agreement[")})
    at: dict[str, dict] = {}
    for m in methods:
        pts = sorted((e["bpp"], e) for e in summary if e["method"] == m)
        at[m] = {h: {str(level): next((b for b, e in pts if e[f"agreement[{h}]"] >= level - 1e-9), None)
                     for level in (levels or {}).get(h, AGREEMENT_LEVELS)} for h in heads}
    bd_rates: dict[str, float | None] = {}
    anchor = sorted((e["bpp"], e["psnr_in"]) for e in summary if e["method"] == "avif (same bpp)")
    for m in methods:
        test = sorted((e["bpp"], e["psnr_in"]) for e in summary if e["method"] == m)
        bd_rates[m] = None
        if m == "avif (same bpp)" or len(anchor) < 4 or len(test) != len(anchor):
            continue
        if not all(np.isfinite(v) for pair in anchor + test for v in pair):
            continue
        import bjontegaard

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                value = float(bjontegaard.bd_rate([a[0] for a in anchor], [a[1] for a in anchor],
                                                  [t[0] for t in test], [t[1] for t in test], method="pchip"))
            except Exception:  # noqa: BLE001 - curves the package cannot compare have no BD-rate
                value = None
        # Curves that overlap too little in PSNR give an extrapolated number: report none instead.
        bd_rates[m] = None if any("overlap" in str(w.message) for w in caught) else value
    return {"bpp_at_agreement": at, "bd_rate_psnr_in": bd_rates}
