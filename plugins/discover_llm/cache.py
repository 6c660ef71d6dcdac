"""The label cache: labels are asked for once per task and reused for every image and every run.

An entry is keyed by (source, model, prompt version, task name, task
description, min_labels) and lives in ``<cache>/labels/<sha256 of the key>.json``
(``Context.cache_dir``, so ``$DISCOVER_CACHE_DIR`` moves it), written
atomically. It holds the key, the normalised labels and their provenance: the
model asked (and the one that answered, as the server names it), the date,
the number of requests, and every raw answer. Never a key, a host or a header.

Entries are plain JSON mappings; :meth:`LabelCache.get` returns ``None`` for a
missing entry and for an unreadable one (which the next answer replaces).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from discover_core.images import atomic_write_bytes
from discover_core.interfaces import Context, TaskSpec

from .prompt import PROMPT_VERSION

log = logging.getLogger(__name__)

ENTRY_VERSION = 1


def cache_key(source: str, model: str, task: TaskSpec, min_labels: int,
              prompt_version: int = PROMPT_VERSION) -> dict[str, Any]:
    """What an entry is keyed by (exactly these fields, in this order)."""
    return {"source": source, "model": model, "prompt_version": prompt_version, "task": task.name,
            "description": task.description, "min_labels": int(min_labels)}


def key_digest(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


class LabelCache:
    """Entries under ``<cache>/labels`` of a :class:`~discover_core.interfaces.Context`."""

    def __init__(self, context: Context):
        self.folder = context.cache_dir / "labels"

    def path(self, key: dict[str, Any]) -> Path:
        return self.folder / f"{key_digest(key)[:40]}.json"

    def get(self, key: dict[str, Any]) -> dict[str, Any] | None:
        """The entry for ``key``, or ``None`` (missing, unreadable, or written for another key)."""
        path = self.path(key)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("label cache entry %s cannot be read (%s); it will be asked for again", path, exc)
            return None
        labels = data.get("labels") if isinstance(data, dict) else None
        if data.get("key") != key or not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            log.warning("label cache entry %s does not match its key; it will be asked for again", path)
            return None
        return {**data, "path": str(path)}

    def put(self, key: dict[str, Any], labels: list[str], *, model: str, served_model: str | None,
            raw: list[str], requests: int) -> dict[str, Any]:
        """Store an entry (atomically) and return it."""
        entry = {
            "entry_version": ENTRY_VERSION,
            "key": key,
            "labels": list(labels),
            "provenance": {
                "model": model,
                "served_model": served_model,
                "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "requests": int(requests),
                "raw": list(raw),
            },
        }
        path = self.path(key)
        atomic_write_bytes(path, json.dumps(entry, indent=1, ensure_ascii=False).encode("utf-8"))
        return {**entry, "path": str(path)}
