"""How one ``discover evaluate`` or ``discover sweep`` run is set up: its :class:`RunSettings` and its run folder.

Not to be confused with a component's options (:class:`discover_core.interfaces.Options`): these are the
settings of an evaluation run (analyzer cache, pictures, perception metrics), not of any plugin.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from .store import Store

PICTURES = "pictures"
"""Where a run folder keeps the reconstructions of its first images (``RUN/pictures/``, read by the report)."""


@dataclass
class RunSettings:
    """The settings of one evaluation run (the same for every cell of a sweep)."""

    analyzer_cache: bool = True
    save_pictures: int = 6
    """Reconstructions of the first this many images are saved under RUN/pictures/ (for the report)."""
    pictures_dir: Path | None = None
    perception: tuple[str, ...] = ()
    """Perception metrics (fid, kid, lpips, dists) on the CLIC view of every image (:mod:`.perception`)."""
    features: str = "inception"
    """FID / KID feature extractor: inception, or a named proxy (proxy:mobilenet_v2), labelled as such."""
    weights_dir: Path | None = None
    """Where the perception weights files are (besides the cache folder and torch's hub folder)."""
    on_stream: Callable[..., None] | None = None
    """Called as ``on_stream(cell, item, stream_name, data, recon)`` for every stream of every image (the demo
    keeps its streams and pictures under its own names)."""


def open_run(run: str | Path, kind: str, *, analyzer_cache: bool = True, pictures: int = 6,
             perception: str | Iterable[str] = "", features: str = "inception", weights_dir: Path | None = None,
             meta: dict[str, Any] | None = None) -> tuple[RunSettings, Store]:
    """The settings of a run and its results store, as ``discover evaluate`` and ``discover sweep`` set them up.

    ``run`` is the run folder (made, or an earlier run's to resume); ``kind`` (``evaluate``, ``sweep``) and
    every ``meta`` entry (a sweep's ``ablation``) are recorded in the store; ``perception`` is a list of metric
    names or a comma-separated string of them (``"fid,lpips"``)."""
    run = Path(run)
    names = perception.split(",") if isinstance(perception, str) else list(perception)
    settings = RunSettings(analyzer_cache=analyzer_cache, save_pictures=pictures, pictures_dir=run / PICTURES,
                           perception=tuple(m.strip() for m in names if m.strip()), features=features,
                           weights_dir=weights_dir)
    store = Store(run)
    store.set_meta("kind", kind)
    for key, value in (meta or {}).items():
        store.set_meta(key, value)
    return settings, store
