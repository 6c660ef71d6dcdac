"""The results store: one SQLite file per run folder (``RUN/results.sqlite``), written as the run goes.

WAL mode, one transaction per image: a killed run loses at most the image in flight, and a resumed one
skips every image that has rows (the primary key ``(cell, image, stream)`` makes a repeated row an error,
never a duplicate). One run at a time writes a run folder (:meth:`Store.writing`). Tables:

- ``cells``: one per pipeline configuration of a run (an evaluate run has one, a sweep one per grid cell):
  its overrides, the resolved config, the versions of every component, the dataset spec and fingerprint.
- ``rows``: per cell, image and stream (``full`` or ``task:<name>``): bytes, bpp, bytes per chunk, image
  quality (PSNR / MS-SSIM whole, inside / outside the regions) and every head's predictions and per-image
  metrics; each row repeats the cell's resolved config, versions and dataset fingerprint.
- ``aggregates``: per cell and stream, the dataset-level figures (bpp = total bits / total pixels, heads
  scored once over the dataset).
- ``failures``: per cell and image, the error of an image that failed every attempt (Ray engine); a resumed run
  tries it again, and its rows replace the record when it succeeds.
- ``analyzer_cache`` / ``reference_cache``: labels and regions per image and analyzer config, and the heads'
  predictions on the originals, so a codec sweep never grounds (or predicts on an original) twice.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from ..errors import InputError

STORE_NAME = "results.sqlite"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cells (
  cell_id TEXT PRIMARY KEY, name TEXT NOT NULL, position INTEGER NOT NULL, overrides TEXT NOT NULL,
  config TEXT NOT NULL, versions TEXT NOT NULL, dataset_spec TEXT NOT NULL, dataset_fingerprint TEXT NOT NULL,
  images INTEGER NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS rows (
  cell_id TEXT NOT NULL, image_id INTEGER NOT NULL, image TEXT NOT NULL, stream TEXT NOT NULL,
  width INTEGER NOT NULL, height INTEGER NOT NULL, bytes INTEGER NOT NULL, bpp REAL NOT NULL,
  chunks TEXT NOT NULL, quality TEXT NOT NULL, heads TEXT NOT NULL, timings TEXT NOT NULL,
  config TEXT NOT NULL, versions TEXT NOT NULL, dataset_fingerprint TEXT NOT NULL, written REAL NOT NULL,
  PRIMARY KEY (cell_id, image_id, stream));
CREATE TABLE IF NOT EXISTS aggregates (
  cell_id TEXT NOT NULL, stream TEXT NOT NULL, metrics TEXT NOT NULL, PRIMARY KEY (cell_id, stream));
CREATE TABLE IF NOT EXISTS analyzer_cache (key TEXT PRIMARY KEY, regions TEXT NOT NULL, labels TEXT NOT NULL,
  seconds REAL NOT NULL);
CREATE TABLE IF NOT EXISTS features (cell_id TEXT NOT NULL, image_id INTEGER NOT NULL, stream TEXT NOT NULL,
  kind TEXT NOT NULL, extractor TEXT NOT NULL, data BLOB NOT NULL, PRIMARY KEY (cell_id, image_id, stream, kind));
CREATE TABLE IF NOT EXISTS reference_cache (key TEXT PRIMARY KEY, prediction TEXT NOT NULL, seconds REAL NOT NULL);
CREATE TABLE IF NOT EXISTS failures (cell_id TEXT NOT NULL, image_id INTEGER NOT NULL, image TEXT NOT NULL,
  error TEXT NOT NULL, attempts INTEGER NOT NULL, written REAL NOT NULL, PRIMARY KEY (cell_id, image_id));
"""


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=_default, allow_nan=True)


def _default(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _try_lock(file) -> bool:
    """An exclusive lock on an open file, without waiting: False when another process (or file) holds it."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            file.seek(0)
            msvcrt.locking(file.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _shape(a) -> bytes:
    n, d = a.shape
    return int(n).to_bytes(4, "big") + int(d).to_bytes(4, "big")


class Store:
    """The SQLite results store of one run folder."""

    def __init__(self, path: str | Path, readonly: bool = False):
        if readonly:  # a reader of an existing store (the Ray engine's cache reader): no folder, no schema
            self.path = Path(path)
            self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30, isolation_level=None)
            return
        path = Path(path)
        if path.is_dir() or path.suffix != ".sqlite":
            path = path / STORE_NAME
        if path.parent.exists() and not path.parent.is_dir():
            raise InputError(f"{path.parent} is a file, not a run folder", "give a folder for the run (-o RUN)")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot make the run folder {path.parent} ({exc.strerror})",
                             "give a folder that can be written (-o RUN)") from None
        self.path = path
        try:
            self.db = sqlite3.connect(str(path), timeout=30, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise InputError(f"{path} is not a discover results store ({exc})",
                             "give a new run folder, or the folder of an earlier run to resume it") from None

    @classmethod
    def open_existing(cls, path: str | Path) -> "Store":
        p = Path(path)
        file = p / STORE_NAME if p.is_dir() else p
        if not file.is_file():
            raise InputError(f"no results store at {file}", "give the folder of an evaluate or sweep run")
        return cls(file)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the run folder's lock (``results.sqlite.lock``) while a run writes it: a second run of the same
        folder is refused while the first is alive. Its rows would race: the second run skips only the images
        finished when it starts, and writing an image the first finishes meanwhile fails on the primary key. The
        lock goes with the process however it ends, so a killed run never blocks its resume."""
        file = open(self.path.with_name(self.path.name + ".lock"), "a+", encoding="utf-8")
        try:
            if not _try_lock(file):
                try:
                    file.seek(0)
                    holder = file.read().strip() or "another process"
                except OSError:
                    holder = "another process"
                raise InputError(f"{self.path.parent} is being written by another run ({holder})",
                                 "wait for it to finish (or stop it), then run the same command again to resume")
            file.seek(0)
            file.truncate()
            file.write(f"pid {os.getpid()} on {socket.gethostname()}")
            file.flush()
            yield
        finally:
            file.close()  # releases the lock

    # -- transactions ----------------------------------------------------------
    def _tx(self, statements: list[tuple[str, tuple]]) -> None:
        cur = self.db.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            for sql, args in statements:
                cur.execute(sql, args)
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise

    # -- meta ----------------------------------------------------------------------
    def set_meta(self, key: str, value: Any) -> None:
        self._tx([("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, _dumps(value)))])

    def meta(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def claim_dataset(self, spec: str, fingerprint: str) -> None:
        """Tie the store to one dataset: a run folder never mixes results of two datasets."""
        known = self.meta("dataset")
        if known is None:
            self.set_meta("dataset", {"spec": spec, "fingerprint": fingerprint})
        elif known["fingerprint"] != fingerprint:
            raise InputError(f"the run in {self.path.parent} was made on another dataset ({known['spec']}, "
                             f"fingerprint {known['fingerprint'][:19]}...; now {spec}, {fingerprint[:19]}...)",
                             "use a new run folder for another dataset (or the same data to resume)")

    # -- cells -----------------------------------------------------------------------
    def add_cell(self, cell_id: str, name: str, position: int, overrides: dict, config: dict, versions: dict,
                 dataset_spec: str, dataset_fingerprint: str, images: int) -> None:
        """Record a cell (again: same id, same content; a cell of another dataset is refused)."""
        row = self.db.execute("SELECT dataset_fingerprint FROM cells WHERE cell_id = ?", (cell_id,)).fetchone()
        if row and row[0] != dataset_fingerprint:
            raise InputError(f"the run in {self.path.parent} was made on another dataset (fingerprint {row[0]}, "
                             f"now {dataset_fingerprint})", "use a new run folder for another dataset")
        self._tx([("INSERT OR REPLACE INTO cells VALUES (?,?,?,?,?,?,?,?,?,?)",
                   (cell_id, name, position, _dumps(overrides), _dumps(config), _dumps(versions), dataset_spec,
                    dataset_fingerprint, images, time.time()))])

    def cells(self) -> list[dict]:
        cur = self.db.execute("SELECT cell_id, name, position, overrides, config, versions, dataset_spec, "
                              "dataset_fingerprint, images FROM cells ORDER BY position, cell_id")
        return [{"cell_id": r[0], "name": r[1], "position": r[2], "overrides": json.loads(r[3]),
                 "config": json.loads(r[4]), "versions": json.loads(r[5]), "dataset_spec": r[6],
                 "dataset_fingerprint": r[7], "images": r[8]} for r in cur]

    # -- rows ---------------------------------------------------------------------------
    def done_images(self, cell_id: str) -> set[int]:
        return {r[0] for r in self.db.execute("SELECT DISTINCT image_id FROM rows WHERE cell_id = ?", (cell_id,))}

    def write_image(self, cell_id: str, rows: list[dict], config: dict, versions: dict, fingerprint: str,
                    features: list[tuple[int, str, str, str, "np.ndarray"]] = ()) -> None:
        """All rows (and perception features) of one image of one cell, in one transaction."""
        import numpy as np

        now = time.time()
        cfg, ver = _dumps(config), _dumps(versions)
        feats = [("INSERT INTO features VALUES (?,?,?,?,?,?)",
                  (cell_id, i, s, k, e, np.ascontiguousarray(a, dtype=np.float32).tobytes() + _shape(a)))
                 for i, s, k, e, a in features]
        ids = {r["image_id"] for r in rows}
        cleared = [("DELETE FROM failures WHERE cell_id = ? AND image_id = ?", (cell_id, i)) for i in ids]
        self._tx(cleared + feats + [("INSERT INTO rows VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                   (cell_id, r["image_id"], r["image"], r["stream"], r["width"], r["height"], r["bytes"], r["bpp"],
                    _dumps(r["chunks"]), _dumps(r["quality"]), _dumps(r["heads"]), _dumps(r["timings"]), cfg, ver,
                    fingerprint, now)) for r in rows])

    def record_failure(self, cell_id: str, image_id: int, image: str, error: str, attempts: int) -> None:
        """An image that failed every attempt: its error (replaced by its rows once it succeeds)."""
        self._tx([("INSERT OR REPLACE INTO failures VALUES (?,?,?,?,?,?)",
                   (cell_id, image_id, image, error, attempts, time.time()))])

    def failures(self, cell_id: str | None = None) -> list[dict]:
        sql, args = "SELECT cell_id, image_id, image, error, attempts FROM failures", ()
        if cell_id is not None:
            sql, args = sql + " WHERE cell_id = ?", (cell_id,)
        return [{"cell_id": r[0], "image_id": r[1], "image": r[2], "error": r[3], "attempts": r[4]}
                for r in self.db.execute(sql + " ORDER BY cell_id, image_id", args)]

    def features(self, cell_id: str, stream: str) -> dict[str, list]:
        """``{"real": [arrays], "fake": [arrays], "extractor": name}`` of one cell's stream, in image order."""
        import numpy as np

        out: dict[str, list] = {"real": [], "fake": [], "extractor": []}
        for kind, ext, data in self.db.execute("SELECT kind, extractor, data FROM features WHERE cell_id = ? AND "
                                               "stream = ? ORDER BY image_id", (cell_id, stream)):
            n, d = int.from_bytes(data[-8:-4], "big"), int.from_bytes(data[-4:], "big")
            out[kind].append(np.frombuffer(data[:-8], np.float32).reshape(n, d).astype(np.float64))
            out["extractor"].append(ext)
        return out

    def rows(self, cell_id: str | None = None) -> Iterator[dict]:
        sql = ("SELECT cell_id, image_id, image, stream, width, height, bytes, bpp, chunks, quality, heads, timings "
               "FROM rows")
        args: tuple = ()
        if cell_id is not None:
            sql += " WHERE cell_id = ?"
            args = (cell_id,)
        for r in self.db.execute(sql + " ORDER BY cell_id, image_id, stream", args):
            yield {"cell_id": r[0], "image_id": r[1], "image": r[2], "stream": r[3], "width": r[4], "height": r[5],
                   "bytes": r[6], "bpp": r[7], "chunks": json.loads(r[8]), "quality": json.loads(r[9]),
                   "heads": json.loads(r[10]), "timings": json.loads(r[11])}

    def count_rows(self) -> tuple[int, int]:
        """(rows, distinct (cell, image, stream) keys): equal unless something is duplicated."""
        n = self.db.execute("SELECT COUNT(*) FROM rows").fetchone()[0]
        k = self.db.execute("SELECT COUNT(*) FROM (SELECT DISTINCT cell_id, image_id, stream FROM rows)").fetchone()[0]
        return n, k

    # -- aggregates --------------------------------------------------------------------------
    def write_aggregates(self, cell_id: str, per_stream: dict[str, dict]) -> None:
        self._tx([("DELETE FROM aggregates WHERE cell_id = ?", (cell_id,))]
                 + [("INSERT INTO aggregates VALUES (?,?,?)", (cell_id, s, _dumps(m))) for s, m in per_stream.items()])

    def aggregates(self) -> dict[str, dict[str, dict]]:
        out: dict[str, dict[str, dict]] = {}
        for cell, stream, metrics in self.db.execute("SELECT cell_id, stream, metrics FROM aggregates"):
            out.setdefault(cell, {})[stream] = json.loads(metrics)
        return out

    # -- caches -----------------------------------------------------------------------------------
    def cached_regions(self, key: str) -> tuple[list[dict], dict, float] | None:
        row = self.db.execute("SELECT regions, labels, seconds FROM analyzer_cache WHERE key = ?", (key,)).fetchone()
        return (json.loads(row[0]), json.loads(row[1]), row[2]) if row else None

    def cache_regions(self, key: str, regions: list[dict], labels: dict, seconds: float) -> None:
        self._tx([("INSERT OR REPLACE INTO analyzer_cache VALUES (?,?,?,?)",
                   (key, _dumps(regions), _dumps(labels), seconds))])

    def cached_reference(self, key: str) -> tuple[Any, float] | None:
        row = self.db.execute("SELECT prediction, seconds FROM reference_cache WHERE key = ?", (key,)).fetchone()
        return (json.loads(row[0]), row[1]) if row else None

    def cache_reference(self, key: str, prediction: Any, seconds: float) -> None:
        self._tx([("INSERT OR REPLACE INTO reference_cache VALUES (?,?,?)", (key, _dumps(prediction), seconds))])
