"""``discover demo``: the built-in pipelines (classification, detection, person segmentation) on real photos from
installed packages.

For every pipeline its quality points are the cells of an evaluate run (:func:`discover_core.evaluate.run_cells`
over the ``demo`` dataset; the results store in ``<folder>/evaluate/``, shown by :mod:`..evaluate.report` in
``report/``): for every photo the full stream and the task's part, decoded. The demo compares them with
whole-image AVIF and JPEG at the same bpp: bytes per chunk, bpp, PSNR / SSIM
inside and outside the task regions, MS-SSIM, and how well each task head still agrees with its answer on
the original (classification: same top-1; detection: COCO AP over the whole set of photos, against the
detections on the originals and against the photos' annotations). It writes streams, pictures, tables
(Markdown, JSON), a rate-agreement plot per pipeline and an HTML page that shows it all.

One thing per module (the photos are :mod:`discover_core.photos`, the drawing :mod:`discover_core.pictures`): :mod:`.baselines`
(whole-image stills at a matched size or quality), :mod:`.sets` (heads scored over the whole set),
:mod:`.stats` (rows, means, rate at equal agreement, BD-rate), :mod:`.tables` (Markdown and terminal
tables), :mod:`.loop` (one pipeline: the evaluate run and
the baselines), :mod:`.report` (results.json, summary.md, the plots), :mod:`.page` (the HTML page) and
:mod:`.run` (which pipelines run).
"""

from __future__ import annotations

from ..photos import Photo, demo_photos
from .run import BUILTIN_PIPELINES, DEFAULT_QUALITIES, builtin_pipeline_path, default_pipeline_path, run_demo
from .stats import comparisons, summarise

__all__ = ["BUILTIN_PIPELINES", "DEFAULT_QUALITIES", "Photo", "builtin_pipeline_path", "comparisons",
           "default_pipeline_path", "demo_photos", "run_demo", "summarise"]
