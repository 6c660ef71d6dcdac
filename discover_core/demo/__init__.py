"""``discover demo``: the default pipeline on real photos that ship with installed packages.

For every photo and quality point it encodes the full stream, cuts out the
task's part, decodes both, and compares them with whole-image AVIF and JPEG
at the same bpp: bytes per chunk, bpp, PSNR / SSIM inside and outside the
task regions, MS-SSIM, and whether each task head still gives the same
answer (agreement). It writes streams, pictures, a table (Markdown, JSON), a
rate-agreement plot and an HTML page that shows it all.

One thing per module: :mod:`.photos` (the demo photos and their annotations),
:mod:`.baselines` (whole-image stills at a matched size or quality),
:mod:`.stats` (rows, means, rate at equal agreement, BD-rate), :mod:`.tables`
(Markdown and terminal tables), :mod:`.pictures` (regions drawn, side-by-side
panels), :mod:`.report` (results.json, summary.md, the plot, the HTML page)
and :mod:`.run` (the loop).
"""

from __future__ import annotations

from .photos import Photo, demo_photos
from .run import DEFAULT_QUALITIES, default_pipeline_path, run_demo
from .stats import comparisons, summarise

__all__ = ["DEFAULT_QUALITIES", "Photo", "comparisons", "default_pipeline_path", "demo_photos", "run_demo",
           "summarise"]
