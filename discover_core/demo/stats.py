"""The demo's figures: one row per photo, quality point and method; means; rate at equal agreement; BD-rate."""

from __future__ import annotations

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


ANCHOR = "avif (same bpp)"
"""The method the demo's Bjøntegaard figures compare with: whole-image AVIF at the task-only stream's bpp."""
HEAD_FIGURES = ("agreement", "top1", "ap")
"""Per-head summary figures (``<figure>[<head>]``) that the BD summary treats as task metrics."""


def curves(summary: list[dict], task: str) -> list:
    """One RD curve per method, in the shape :mod:`..evaluate.summary` takes (task metrics as
    ``task/head/figure``; the task-only stream is the task's part, the others full streams)."""
    from ..evaluate.curves import Curve

    out = []
    for m in dict.fromkeys(e["method"] for e in summary):
        points = []
        for e in sorted((e for e in summary if e["method"] == m), key=lambda e: e["bpp"]):
            p = {k: e[k] for k in ("bpp", "psnr", "psnr_in", "ms_ssim") if k in e}
            p.update({f"{task}/{k[k.index('[') + 1:-1]}/{k[:k.index('[')]}": v for k, v in e.items()
                      if "[" in k and k[:k.index("[")] in HEAD_FIGURES})
            points.append(p)
        out.append(Curve(m, "demo", f"task:{task}" if m == "task-only" else "full", points=points))
    return out


def bd_summary(summary: list[dict], task: str, method: str = "akima") -> list[dict]:
    """Bjøntegaard figures of every method against :data:`ANCHOR` (``evaluate.summary.summary``)."""
    from ..evaluate.summary import summary as bd

    return bd(curves(summary, task), ANCHOR, method, quality=("psnr_in", "psnr")) if any(
        e["method"] == ANCHOR for e in summary) else []


def comparisons(summary: list[dict], levels: dict[str, tuple[float, ...]] | None = None) -> dict[str, Any]:
    """Rate at equal agreement, and Bjøntegaard delta rate of PSNR inside the regions against whole-image AVIF.

    ``bpp_at_agreement[method][head][level]``: the lowest measured bpp at which the method's mean agreement
    reaches ``level`` (``None`` if no quality point does), for each of ``levels[head]`` (default
    :data:`AGREEMENT_LEVELS`). ``bd_rate_psnr_in``: the BD-rate (percent; negative = fewer bits for the same
    PSNR inside the task regions) of each method against :data:`ANCHOR`, as the page's BD summary has it
    (:func:`bd_summary`), or ``None`` where that figure is missing or unreliable (the curves overlap too little).
    """
    methods = list(dict.fromkeys(e["method"] for e in summary))
    heads = sorted({k[len("agreement["):-1] for e in summary for k in e if k.startswith("agreement[")})
    at: dict[str, dict] = {}
    for m in methods:
        pts = sorted((e["bpp"], e) for e in summary if e["method"] == m)
        at[m] = {h: {str(level): next((b for b, e in pts if e[f"agreement[{h}]"] >= level - 1e-9), None)
                     for level in (levels or {}).get(h, AGREEMENT_LEVELS)} for h in heads}
    bd_rates: dict[str, float | None] = dict.fromkeys(methods)
    for s in bd_summary(summary, "task")[:1]:
        for r in s["rows"]:
            f = r["figures"].get(("bd-rate", "psnr_in"))
            reliable = f is not None and f.value is not None and f.warning is None
            bd_rates[r["method"]] = f.value if reliable else None
    return {"bpp_at_agreement": at, "bd_rate_psnr_in": bd_rates}
