"""Evaluation: datasets, the resumable per-image loop, the SQLite results store, ablation sweeps,
BD metrics, perception metrics and reports (``discover evaluate``, ``discover sweep``, ``discover report``).

One thing per module: :mod:`.datasets` (dataset specs), :mod:`.settings` (a run's settings and run folder),
:mod:`.store` (SQLite), :mod:`.runner` (the loop, analyzer cache, progress), :mod:`.aggregate` (dataset-level
figures), :mod:`.sweep` (ablation files), :mod:`.bdmetrics` (Bjøntegaard deltas), :mod:`.perception` (FID, KID,
LPIPS, DISTS), :mod:`.report` (plots, tables, HTML).
"""

from .datasets import Dataset, Item, export_demo, open_dataset
from .runner import Cell, Stats, run_cells
from .settings import RunSettings, open_run
from .store import Store
from .sweep import Ablation, load_ablation, single_cell

__all__ = ["Ablation", "Cell", "Dataset", "Item", "RunSettings", "Stats", "Store", "export_demo", "load_ablation",
           "open_dataset", "open_run", "run_cells", "single_cell"]
