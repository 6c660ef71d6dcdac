"""The ``yolo-world`` grounder: open-vocabulary detection with YOLO-World (ultralytics).

Weights: a YOLO-World ``.pt`` file of ultralytics (``yolov8s-worldv2.pt`` ...,
a path: relative to the pipeline file), or a model ``.yaml`` of ultralytics
(``yolov8s-worldv2.yaml``: the architecture, randomly initialised: for tests).

Vocabulary: YOLO-World detects the classes whose CLIP text embeddings it is
given. ultralytics' ``set_classes`` would download CLIP; here the embeddings
come from ``text_embeddings`` (a file, one row per label) or ``clip_model`` (a
local transformers CLIP), see :mod:`.embeddings`; with neither, or with
candidate labels the file lacks and no CLIP to encode them, building or
grounding fails with one error naming the file and how to make one (with
neither, the options do not validate, so ``discover validate`` says so). The
classes are set once per candidate label set and reused for every image.

Offline: before ultralytics is first imported, ``YOLO_OFFLINE=1`` is set and
its settings folder (``YOLO_CONFIG_DIR``) is put under the cache folder
(``<cache>/ultralytics``); telemetry (``sync``) is switched off and nothing is
plotted (so no font is fetched). ultralytics is installed without its
dependency on ``opencv-python`` (see ``scripts/setup.sh``), which would replace
``opencv-python-headless<5`` and the Haar cascades of the ``face`` grounder.
"""

from __future__ import annotations

import os
import threading
from typing import Sequence

import numpy as np
from pydantic import Field, model_validator

from discover_core.errors import WeightsError
from discover_core.interfaces import Context, Grounder, ImageMeta, Options, PATH_OPTION, Region, normalize_label

from .embeddings import HOW, LocalClip, read_embeddings


def prepare_ultralytics(context: Context) -> None:
    """Environment for an offline ultralytics that keeps its settings under our cache folder (before import)."""
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ.setdefault("YOLO_CONFIG_DIR", str(context.cache("ultralytics")))
    os.environ.setdefault("YOLO_VERBOSE", "False")


def undo_pil_open_patch() -> None:
    """Workaround: importing ultralytics replaces ``PIL.Image.open`` process-wide (``ultralytics.utils.patches``)
    with a wrapper that, on any unidentified file, tries to install and import ``pi_heif``; afterwards every
    ``discover`` image read of a garbage file failed with ``ModuleNotFoundError`` instead of a clear error.
    Put Pillow's own function back (HEIF input is not something YOLO-World needs here)."""
    from PIL import Image
    from ultralytics.utils import patches

    original = getattr(patches, "_image_open", None)
    if original is not None and Image.open is not original:
        Image.open = original


class YoloWorld(Grounder):
    """Open-vocabulary boxes with YOLO-World; class embeddings from a file or a local CLIP, set once per label set."""

    name = "yolo-world"
    requires = ("torch", "ultralytics")
    extra = "opensets"

    class Options(Options):
        model: str = Field("yolov8s-worldv2.pt", min_length=1, json_schema_extra=PATH_OPTION,
                           description="a YOLO-World weights file of ultralytics (.pt; relative to the pipeline "
                                       "file), or an ultralytics model .yaml (random weights: for tests)")
        text_embeddings: str | None = Field(
            None, json_schema_extra=PATH_OPTION,
            description="CLIP text embeddings of the candidate labels: .safetensors (tensor 'embeddings', labels "
                        "in metadata 'labels') or .npy with a .txt of labels beside it; one row per label")
        clip_model: str | None = Field(
            None, json_schema_extra=PATH_OPTION,
            description="a local transformers CLIP folder that encodes labels missing from text_embeddings")
        conf: float = Field(0.25, ge=0, le=1, description="keep detections scoring above this")
        iou: float = Field(0.7, gt=0, le=1, description="non-maximum suppression IoU threshold")
        imgsz: int = Field(640, ge=32, le=4096, description="inference size (pixels, a multiple of 32)")
        max_det: int = Field(300, ge=1, le=10000, description="at most this many regions per image")
        half: bool = Field(True, description="half precision on a GPU; ignored on the CPU")

        @model_validator(mode="after")
        def _some_text_side(self):
            if not self.text_embeddings and not self.clip_model:
                raise ValueError("YOLO-World needs CLIP text embeddings of the candidate labels (ultralytics would "
                                 "download CLIP): give text_embeddings (a .safetensors or .npy file, one row per "
                                 "label) or clip_model (a local transformers CLIP folder)")
            return self

    def __init__(self, options=None, context=None):
        super().__init__(options, context)
        self.check_requirements()
        prepare_ultralytics(self.context)
        import torch
        from ultralytics import YOLOWorld, settings

        undo_pil_open_patch()
        try:
            settings.update({"sync": False})
        except Exception:  # noqa: BLE001 - an unwritable settings file only costs the preference
            pass
        self._torch = torch
        spec = self.options.model
        if spec.lower().endswith((".yaml", ".yml")) and not self.context.resolve(spec).is_file():
            self._path = None
            source = spec  # one of ultralytics' own model yamls
        else:
            from discover_core.weights import resolve_weights

            self._path = resolve_weights(spec, context=self.context, what="YOLO-World weights", want="file",
                                         install=None)
            source = str(self._path)
        try:
            self.yolo = YOLOWorld(source, verbose=False)
        except FileNotFoundError as exc:
            raise WeightsError(f"yolo-world: cannot build {spec}: {exc}",
                               "give a YOLO-World .pt file or one of ultralytics' world model yamls") from None
        self.model = self.yolo.model
        self.dim = int(self.model.txt_feats.shape[-1])
        self._file = self.context.resolve(self.options.text_embeddings) if self.options.text_embeddings else None
        self._rows = read_embeddings(self._file) if self._file is not None else {}
        bad = {len(r) for r in self._rows.values()} - {self.dim}
        if bad:
            raise WeightsError(f"yolo-world: the embeddings in {self._file} have {sorted(bad)[0]} values per row; "
                               f"this model takes {self.dim}", "embed the labels with the CLIP the model was "
                                                               "trained with (ViT-B/32: 512)")
        self._clip = None
        if self.options.clip_model:
            from discover_core.weights import resolve_weights

            folder = resolve_weights(self.options.clip_model, context=self.context, what="CLIP text model",
                                     want="folder")
            self._clip = LocalClip(folder, self.context.device)
            if self._clip.dim != self.dim:
                raise WeightsError(f"yolo-world: the CLIP in {folder} gives {self._clip.dim} values per label; "
                                   f"this model takes {self.dim}", "use the CLIP the model was trained with")
        self._classes: tuple[str, ...] | None = None
        self._lock = threading.Lock()
        self._fingerprint: str | None = None

    def weights_fingerprint(self) -> str | None:
        if self._path is None:
            return None
        if self._fingerprint is None:
            from discover_core.weights import fingerprint

            self._fingerprint = fingerprint(self._path, context=self.context)
        return self._fingerprint

    # -- classes, once per label set ----------------------------------------------------------
    def embed(self, labels: Sequence[str]) -> np.ndarray:
        """``(len(labels), dim)`` normalised text embeddings: from the file, else from the local CLIP."""
        missing = [lab for lab in labels if normalize_label(lab) not in self._rows]
        if missing and self._clip is not None:
            for lab, row in zip(missing, self._clip.encode(missing)):
                self._rows[normalize_label(lab)] = row
            missing = []
        if missing:
            shown = ", ".join(repr(m) for m in missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5
                                                               else "")
            raise WeightsError(f"yolo-world: {self._file} has no text embedding for {len(missing)} candidate "
                               f"label(s): {shown}", "add rows for them, or set `clip_model`; " + HOW)
        return np.stack([self._rows[normalize_label(lab)] for lab in labels])

    def set_classes(self, labels: Sequence[str]) -> None:
        """Give the model these classes (a no-op when they are the current ones)."""
        key = tuple(labels)
        if key == self._classes:
            return
        torch = self._torch
        feats = torch.from_numpy(self.embed(labels)).reshape(1, len(labels), self.dim)
        self.model.txt_feats = feats.to(next(self.model.parameters()).device)
        self.model.model[-1].nc = len(labels)
        self.model.names = list(labels)
        if self.yolo.predictor is not None:
            self.yolo.predictor.model.names = list(labels)
        self._classes = key

    # -- grounding -------------------------------------------------------------------------------
    def ground(self, image: np.ndarray, labels: Sequence[str], meta: ImageMeta) -> list[Region]:
        seen: dict[str, str] = {}
        for lab in labels:
            if normalize_label(lab):
                seen.setdefault(normalize_label(lab), lab)
        candidates = list(seen.values())
        h, w = image.shape[:2]
        if not candidates or h == 0 or w == 0:
            return []
        o = self.options
        with self._lock:
            self.set_classes(candidates)
            device = self.context.device
            result = self.yolo.predict(np.ascontiguousarray(image[..., ::-1]), imgsz=o.imgsz, conf=o.conf,
                                       iou=o.iou, max_det=o.max_det, device=device, verbose=False,
                                       half=o.half and device.startswith("cuda"), save=False)[0]
        boxes = result.boxes
        xyxy = boxes.xyxy.float().cpu().numpy()
        cls = boxes.cls.long().cpu().numpy()
        conf = boxes.conf.float().cpu().numpy()
        out = []
        for (x0, y0, x1, y1), c, s in zip(xyxy, cls, conf):
            x0, x1 = float(np.clip(x0, 0, w)), float(np.clip(x1, 0, w))
            y0, y1 = float(np.clip(y0, 0, h)), float(np.clip(y1, 0, h))
            if x1 > x0 and y1 > y0 and 0 <= c < len(candidates) and np.isfinite(s):
                out.append(Region((x0, y0, x1, y1), candidates[int(c)], float(min(1.0, max(0.0, s)))))
        return out
