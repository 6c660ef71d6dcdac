"""Finding a TensorFlow.js graph model on disk: fetched model files or a user-given path, and its fingerprint."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import WeightsError
from ..interfaces import Context
from ..weights import ModelFiles, fingerprint, resolve_weights


def model_json(files: ModelFiles, json_name: str, weights: str | None, context: Context, what: str,
               manual_steps: str) -> Path:
    """The ``.json`` to load: ``files``' fetched copy (``weights`` unset) or a user-given file or folder.

    ``json_name``: the model's file name in ``files``; ``what``: the model's name in messages.
    """
    if not weights:
        loc = files.location(context)
        if not files.is_present(context):
            raise WeightsError(f"the {what} model files are not in {loc}", manual_steps)
        return files.path(context) / json_name
    path = resolve_weights(weights, context=context, what=f"{what} model", fetch=files.name)
    if path.is_dir():
        if (path / json_name).is_file():
            return path / json_name
        found = sorted(p for p in path.glob("*.json") if p.name != "models.json")
        if len(found) != 1:
            raise WeightsError(f"{what} model: {path} holds no {json_name} ({len(found)} other .json files)",
                               "give the path of the model's .json file")
        return found[0]
    return path


def weights_fingerprint(path: Path, context: Context) -> str:
    """``sha256:...`` of a graph model: its .json and the shards next to it that the json names."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    shards = [path.parent / p for group in doc.get("weightsManifest", []) for p in group.get("paths", [])]
    return fingerprint([path, *shards], context=context)
