"""Text embeddings of labels for YOLO-World: from a file (one row per label) or from a local CLIP.

YOLO-World's ``set_classes`` encodes class names with CLIP ViT-B/32, which
ultralytics downloads on first use. Here the embeddings come instead from

* a file: ``.safetensors`` with a tensor ``embeddings`` ``(labels, dim)`` and
  the labels, in row order, as JSON in its metadata key ``labels``; or ``.npy``
  ``(labels, dim)`` with the labels one per line in a text file beside it with
  the same name and ``.txt`` (``emb.npy`` + ``emb.txt``). :func:`write_embeddings`
  writes the safetensors form;
* a local CLIP folder in the transformers layout (``CLIPTextModelWithProjection``
  and its tokenizer, e.g. a copy of ``openai/clip-vit-base-patch32``), whose
  projected text features are what ultralytics' CLIP gives.

Rows are L2-normalised (as ultralytics does) and matched to labels by
:func:`discover_core.interfaces.normalize_label`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from discover_core.errors import WeightsError
from discover_core.interfaces import normalize_label

HOW = ("give `text_embeddings` (a .safetensors with a tensor 'embeddings' and the labels as JSON in its metadata "
       "'labels', or a .npy with the labels one per line in a .txt of the same name; "
       "discover_opensets.embeddings.write_embeddings writes one) or `clip_model` (a local folder of a "
       "transformers CLIP, e.g. a copy of openai/clip-vit-base-patch32)")


def read_embeddings(path: Path) -> dict[str, np.ndarray]:
    """Normalised label -> its embedding row (float32), from a .safetensors or .npy (+ .txt) file."""
    if not path.is_file():
        raise WeightsError(f"yolo-world: text embeddings file {path} not found", HOW)
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="numpy") as f:
                meta = f.metadata() or {}
                if "embeddings" not in f.keys():
                    raise WeightsError(f"yolo-world: {path} has no tensor 'embeddings' "
                                       f"(it has {', '.join(f.keys()) or 'none'})", HOW)
                rows = f.get_tensor("embeddings")
        except WeightsError:
            raise
        except Exception as exc:  # noqa: BLE001 - safetensors raises several types for damaged files
            raise WeightsError(f"yolo-world: {path} is not a readable safetensors file ({exc})", HOW) from None
        try:
            labels = json.loads(meta.get("labels", ""))
        except ValueError:
            labels = None
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise WeightsError(f"yolo-world: {path} has no JSON list of labels in its metadata key 'labels'", HOW)
    elif suffix == ".npy":
        names = path.with_suffix(".txt")
        if not names.is_file():
            raise WeightsError(f"yolo-world: {path} needs its labels, one per line in row order, in {names}", HOW)
        try:
            rows = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise WeightsError(f"yolo-world: {path} is not a readable .npy array ({exc})", HOW) from None
        labels = [line.strip() for line in names.read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        raise WeightsError(f"yolo-world: text embeddings must be a .safetensors or .npy file, not {path.name}", HOW)
    rows = np.asarray(rows, dtype=np.float32)
    if rows.ndim != 2 or rows.shape[0] != len(labels):
        raise WeightsError(f"yolo-world: {path} holds an array of shape {tuple(rows.shape)} for {len(labels)} "
                           "labels; it must be (labels, dim), one row per label", HOW)
    if not np.isfinite(rows).all():
        raise WeightsError(f"yolo-world: {path} holds non-finite values", HOW)
    rows = rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)
    return {normalize_label(lab): row for lab, row in zip(labels, rows)}


def write_embeddings(path: str | Path, labels: Sequence[str], rows: np.ndarray) -> Path:
    """Write ``rows`` ``(len(labels), dim)`` as a .safetensors that :func:`read_embeddings` reads."""
    from safetensors.numpy import save_file

    rows = np.ascontiguousarray(rows, dtype=np.float32)
    if rows.shape[0] != len(labels):
        raise ValueError(f"{rows.shape[0]} rows for {len(labels)} labels")
    path = Path(path)
    save_file({"embeddings": rows}, str(path), metadata={"labels": json.dumps(list(labels))})
    return path


class LocalClip:
    """The projected, normalised text features of a local transformers CLIP (no download)."""

    def __init__(self, folder: Path, device: str = "cpu"):
        from transformers import AutoTokenizer, CLIPTextModelWithProjection

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
            self.model = CLIPTextModelWithProjection.from_pretrained(str(folder)).to(device).eval()
        except (OSError, ValueError, KeyError) as exc:
            first = (str(exc).strip().splitlines() or [""])[0][:300]
            raise WeightsError(f"yolo-world: {folder} is not a transformers CLIP folder ({type(exc).__name__}: "
                               f"{first})", HOW) from None
        self.device = device

    @property
    def dim(self) -> int:
        return int(self.model.config.projection_dim)

    def encode(self, labels: Sequence[str]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            tok = self.tokenizer(list(labels), padding=True, truncation=True, return_tensors="pt").to(self.device)
            feats = self.model(**tok).text_embeds.float()
            feats = feats / feats.norm(dim=-1, keepdim=True).clamp(min=1e-12)
        return feats.cpu().numpy()
