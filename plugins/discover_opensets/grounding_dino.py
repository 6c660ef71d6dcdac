"""The ``grounding-dino`` grounder: open-set detection of the candidate labels with Grounding DINO (transformers).

The paper's stage 2 (Grounding DINO 1.0, Swin-T). The model and its processor
come from transformers (``GroundingDinoForObjectDetection`` +
``GroundingDinoProcessor``), loaded from a hub id (default
``IDEA-Research/grounding-dino-tiny``: a local copy in
``<cache>/hub/IDEA-Research/grounding-dino-tiny/`` or huggingface_hub's cache)
or a local folder saved with ``save_pretrained``, through
:func:`discover_core.weights.resolve_weights`.

Many labels
    The text encoder reads at most ``config.max_text_len`` (256) tokens, so the
    candidate labels are split into prompts that each fit and never cut a label
    (:mod:`.prompts`); all prompts run as one batch (the image is preprocessed
    once and repeated along the batch, so the time grows with the number of
    prompts), and the detections of all prompts are merged by class-aware non-maximum suppression
    (``torchvision.ops.batched_nms``; :mod:`.merge`).

Phrase -> label
    Every token knows its label (character offsets), so a detection's phrase
    (its tokens above ``text_threshold``) maps to exactly one candidate label:
    the one holding most of the phrase (the largest sum of its phrase tokens'
    scores); the region's score is that label's best token score, kept when
    above ``box_threshold``.

The original IDEA checkpoint
    ``groundingdino_swint_ogc.pth`` (the ``groundingdino`` package's format) is
    not supported: the package does not run with transformers 5 and builds its
    BERT from a hub download, and the key mapping into the transformers layout
    (``convert_grounding_dino_to_hf.py``) is not shipped in transformers' wheel
    and cannot be checked here without the checkpoint. Use the transformers
    port of the same weights (``IDEA-Research/grounding-dino-tiny``, or ``-base``),
    or convert once with transformers' conversion script from its source
    repository and point ``model`` at the folder it writes.
"""

from __future__ import annotations

import logging
import threading
from typing import Sequence

import numpy as np
from pydantic import Field

from discover_core.errors import WeightsError
from discover_core.interfaces import Grounder, ImageMeta, Options, PATH_OPTION, Region, normalize_label

from .prompts import Prompt, plan_prompts, token_labels

log = logging.getLogger(__name__)

DEFAULT_MODEL = "IDEA-Research/grounding-dino-tiny"
MODEL_FILES = ("config.json", "model.safetensors", "preprocessor_config.json", "tokenizer_config.json",
               "special_tokens_map.json", "vocab.txt", "tokenizer.json", "processor_config.json")


class GroundingDino(Grounder):
    """Open-set boxes for any candidate labels with Grounding DINO; 100+ labels split into prompts and merged."""

    name = "grounding-dino"
    requires = ("torch", "torchvision", "transformers")
    extra = "opensets"

    class Options(Options):
        model: str = Field(DEFAULT_MODEL, min_length=1, json_schema_extra=PATH_OPTION,
                           description="a hub id (org/name, a local copy in <cache>/hub/org/name is used first) "
                                       "or a folder saved by transformers' save_pretrained (model and processor)")
        box_threshold: float = Field(0.35, ge=0, le=1, description="keep a detection whose label scores above this")
        text_threshold: float = Field(0.25, ge=0, le=1, description="tokens scoring above this form a "
                                                                    "detection's phrase")
        nms_iou: float = Field(0.5, gt=0, le=1, description="class-aware non-maximum suppression: a box overlapping "
                                                            "a better one of the same label by more is dropped")
        max_regions: int = Field(100, ge=1, le=10000, description="at most this many regions per image, best first")
        max_text_len: int | None = Field(None, ge=8, le=4096, description="tokens per prompt (unset: the model's "
                                                                          "config.max_text_len, 256)")
        batch_size: int | None = Field(None, ge=1, le=256, description="prompts per forward pass (unset: all "
                                                                       "prompts in one batch)")
        half: bool = Field(True, description="half precision (float16) on a GPU; ignored on the CPU")

    def __init__(self, options=None, context=None):
        super().__init__(options, context)
        self.check_requirements()
        import torch
        from transformers import GroundingDinoForObjectDetection, GroundingDinoProcessor

        from discover_core.weights import resolve_weights

        self._torch = torch
        self._path = resolve_weights(self.options.model, context=self.context, what="Grounding DINO weights",
                                     want="folder", install="pip install 'discover-codec[opensets]'")
        try:
            self.processor = GroundingDinoProcessor.from_pretrained(str(self._path))
            self.model = GroundingDinoForObjectDetection.from_pretrained(str(self._path))
        except (OSError, ValueError, KeyError) as exc:
            first = (str(exc).strip().splitlines() or [""])[0][:300]
            raise WeightsError(f"Grounding DINO: {self._path} is not a transformers Grounding DINO folder "
                               f"({type(exc).__name__}: {first})",
                               "give a folder written by save_pretrained (config.json, model.safetensors, the "
                               "processor's and tokenizer's files), or a hub id") from None
        self.device = torch.device(self.context.device)
        self.dtype = torch.float16 if self.options.half and self.device.type == "cuda" else torch.float32
        self.model.to(self.device, self.dtype).eval()
        self.max_text_len = int(self.options.max_text_len or self.model.config.max_text_len)
        self._plans: dict[tuple[str, ...], tuple[list[str], list[Prompt], dict]] = {}
        self._lock = threading.Lock()
        self._fingerprint: str | None = None

    def weights_fingerprint(self) -> str | None:
        if self._fingerprint is None:
            from discover_core.weights import fingerprint

            self._fingerprint = fingerprint(self._path, context=self.context)
        return self._fingerprint

    # -- text side, once per label set ----------------------------------------------------------
    def _count(self, texts: list[str]) -> list[int]:
        ids = self.processor.tokenizer(texts, add_special_tokens=False)["input_ids"]
        return [len(x) for x in ids]

    def plan(self, labels: Sequence[str]) -> tuple[list[str], list[Prompt], dict]:
        """The candidates (deduplicated), their prompts and the tokenized batch (with each token's label)."""
        key = tuple(labels)
        with self._lock:
            hit = self._plans.get(key)
        if hit is not None:
            return hit
        seen: dict[str, str] = {}
        for lab in labels:
            if normalize_label(lab):
                seen.setdefault(normalize_label(lab), lab)
        candidates = list(seen.values())
        prompts = plan_prompts(candidates, self._count, self.max_text_len)
        tok = self.processor.tokenizer([p.text for p in prompts], padding="longest", truncation=True,
                                       max_length=self.max_text_len, return_offsets_mapping=True,
                                       return_tensors="pt") if prompts else None
        batch: dict = {}
        if tok is not None:
            offsets = tok.pop("offset_mapping").tolist()
            batch = {"text": dict(tok), "token_labels": [token_labels(p, o) for p, o in zip(prompts, offsets)]}
        plan = (candidates, prompts, batch)
        with self._lock:
            if len(self._plans) >= 8:
                self._plans.pop(next(iter(self._plans)))
            self._plans[key] = plan
        return plan

    # -- grounding ------------------------------------------------------------------------------
    def ground(self, image: np.ndarray, labels: Sequence[str], meta: ImageMeta) -> list[Region]:
        torch = self._torch
        candidates, prompts, batch = self.plan(labels)
        h, w = image.shape[:2]
        if not prompts or h == 0 or w == 0:
            return []
        from .merge import assign_labels, merge_detections

        pix = self.processor.image_processor(images=[np.ascontiguousarray(image)], return_tensors="pt",
                                           input_data_format="channels_last")
        pixel_values = pix["pixel_values"].to(self.device, self.dtype)
        pixel_mask = pix["pixel_mask"].to(self.device) if "pixel_mask" in pix else None
        step = self.options.batch_size or len(prompts)
        all_boxes, all_scores, all_labels = [], [], []
        with torch.inference_mode():
            for start in range(0, len(prompts), step):
                stop = min(start + step, len(prompts))
                n = stop - start
                text = {k: v[start:stop].to(self.device) for k, v in batch["text"].items()}
                out = self.model(pixel_values=pixel_values.expand(n, -1, -1, -1),
                                 pixel_mask=None if pixel_mask is None else pixel_mask.expand(n, -1, -1), **text)
                probs = out.logits.float().sigmoid()          # (n, queries, max_text_len)
                boxes = out.pred_boxes.float()                # (n, queries, 4) cx, cy, w, h in [0, 1]
                for b in range(n):
                    prompt = prompts[start + b]
                    lab, score = assign_labels(probs[b], batch["token_labels"][start + b], len(prompt.labels),
                                               self.options.text_threshold)
                    keep = (lab >= 0) & (score > self.options.box_threshold)
                    if not bool(keep.any()):
                        continue
                    all_boxes.append(boxes[b][keep])
                    all_scores.append(score[keep])
                    all_labels.append(torch.as_tensor(prompt.labels, device=lab.device)[lab[keep]])
        if not all_boxes:
            return []
        from torchvision.ops import box_convert

        xyxy = box_convert(torch.cat(all_boxes), "cxcywh", "xyxy") * torch.tensor([w, h, w, h],
                                                                                  device=self.device)
        xyxy[:, 0::2] = xyxy[:, 0::2].clamp(0, w)
        xyxy[:, 1::2] = xyxy[:, 1::2].clamp(0, h)
        scores = torch.cat(all_scores)
        label_idx = torch.cat(all_labels)
        ok = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1]) & torch.isfinite(xyxy).all(1)
        xyxy, scores, label_idx = xyxy[ok], scores[ok], label_idx[ok]
        keep = merge_detections(xyxy, scores, label_idx, self.options.nms_iou, self.options.max_regions)
        return [Region(tuple(float(v) for v in xyxy[i].tolist()), candidates[int(label_idx[i])],
                       float(min(1.0, max(0.0, float(scores[i]))))) for i in keep.tolist()]
