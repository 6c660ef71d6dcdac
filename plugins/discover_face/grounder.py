"""The ``face`` grounder: faces from OpenCV Haar cascades or scikit-image's LBP cascade.

Detectors
    ``opencv`` (default) runs the Haar cascades that ship inside
    ``opencv-python-headless<5`` (``cv2.data.haarcascades``) through
    ``cv2.CascadeClassifier.detectMultiScale3``; ``skimage`` runs the LBP
    frontal-face cascade that ships with scikit-image
    (``skimage.data.lbp_frontal_face_cascade_filename()``) through
    ``skimage.feature.Cascade``. ``cascade_file`` replaces either with a
    cascade XML of the user's (Haar or LBP for OpenCV, LBP for scikit-image).

Scores
    OpenCV, asked for ``outputRejectLevels``, returns with every detection
    the response of the cascade's *last* stage (the sum of its weak
    classifiers' votes; the largest over the windows grouped into that
    detection). A window is a detection only when that sum reaches the
    stage's threshold, so the margin ``weight - threshold`` is >= 0. The
    margin is divided by the largest margin that stage can give (read from
    the cascade XML: the sum of each weak classifier's largest leaf value,
    minus the threshold), which makes it comparable across cascades, and
    mapped through a logistic::

        m     = (weight - threshold) / (max_sum - threshold)     # in [0, 1]
        score = 1 / (1 + exp(-(m - 0.05) / 0.02))                # in (0, 1)

    so a window just at the threshold scores about 0.08, one 5% of the way
    to the stage's maximum 0.5, and clear faces (m >= 0.1) 0.92 and more.
    It ranks detections and merges cascades; it is not a calibrated
    probability. Cascades whose XML cannot be read this way, and the
    scikit-image detector (which gives no confidence), score 1.0.

Merging
    Detections of all cascades (and of the mirrored image, for profile
    cascades) are merged by non-maximum suppression with OpenCV's
    ``cv2.dnn.NMSBoxes``.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np
from pydantic import Field, field_validator

from discover_core.errors import ExtraMissingError, InputError, WeightsError
from discover_core.interfaces import Grounder, ImageMeta, Options, PATH_OPTION, Region, normalize_label

CascadeName = Literal["frontalface_default", "frontalface_alt", "frontalface_alt2", "profileface"]
CASCADE_FILES: dict[str, str] = {
    "frontalface_default": "haarcascade_frontalface_default.xml",
    "frontalface_alt": "haarcascade_frontalface_alt.xml",
    "frontalface_alt2": "haarcascade_frontalface_alt2.xml",
    "profileface": "haarcascade_profileface.xml",
}
"""Cascade option names -> file names in ``cv2.data.haarcascades``."""

OPENCV_FIX = "pip install 'opencv-python-headless<5' (OpenCV 5.x no longer ships the Haar cascades)"

SCORE_CENTER = 0.05
SCORE_WIDTH = 0.02


def margin_score(weight: float, threshold: float, max_sum: float) -> float:
    """The score of a detection from its last-stage response (see the module docstring)."""
    span = max_sum - threshold
    m = (weight - threshold) / span if span > 0 else 1.0
    m = min(max(m, 0.0), 1.0)
    return 1.0 / (1.0 + math.exp(-(m - SCORE_CENTER) / SCORE_WIDTH))


def last_stage_span(path: Path) -> tuple[float, float] | None:
    """``(threshold, largest possible sum)`` of a cascade file's last stage, or None if unreadable.

    Reads OpenCV's ``traincascade`` XML format (``<stages>`` of ``<stageThreshold>``
    and ``<weakClassifiers>`` with ``<leafValues>``), which all shipped cascades use.
    """
    try:
        root = ET.parse(path).getroot()
        stages = root.find("./*/stages")
        last = list(stages)[-1]
        threshold = float(last.find("stageThreshold").text)
        max_sum = sum(max(float(v) for v in wc.find("leafValues").text.split())
                      for wc in last.find("weakClassifiers"))
        return threshold, max_sum
    except Exception:  # old haartraining format or anything else: no score, not an error
        return None


def cascade_window(path: Path) -> tuple[int, int]:
    """The cascade's training window ``(width, height)``; (24, 24) if the file does not say."""
    try:
        root = ET.parse(path).getroot()
        casc = root[0]
        w, h = casc.find("width"), casc.find("height")
        if w is not None and h is not None:
            return int(w.text), int(h.text)
        size = casc.find("size")  # old haartraining format: <size>w h</size>
        if size is not None:
            sw, sh = size.text.split()
            return int(sw), int(sh)
    except Exception:
        pass
    return 24, 24


def _feature_type(path: Path) -> str | None:
    try:
        node = ET.parse(path).getroot().find("./*/featureType")
        return node.text.strip().upper() if node is not None else None
    except Exception:
        return None


@dataclass
class _Cascade:
    name: str
    path: Path
    model: Any
    window: tuple[int, int]
    span: tuple[float, float] | None
    mirror: bool = False


class FaceGrounder(Grounder):
    """Faces (for labels such as face/person/head) from OpenCV Haar or scikit-image LBP cascades.

    Answers only when a candidate label is one of `aliases`; every face gets
    the first such candidate label. Score (opencv): the margin of the
    cascade's last-stage response over its threshold, as a fraction m of the
    largest margin that stage can give, through 1 / (1 + exp(-(m - 0.05) / 0.02));
    about 0.08 at the threshold, 0.5 at m = 0.05, >= 0.92 for m >= 0.1. It ranks
    faces, it is not a calibrated probability. The skimage detector gives no
    confidence: its faces score 1.0.
    """

    name = "face"
    requires = ("cv2",)
    extra = "vision"

    class Options(Options):
        detector: Literal["opencv", "skimage"] = Field(
            "opencv", description="opencv: the Haar cascades shipped in opencv-python-headless<5 "
                                  "(option `cascades`); skimage: scikit-image's LBP frontal-face cascade")
        cascades: tuple[CascadeName, ...] = Field(
            ("frontalface_default", "frontalface_alt2", "profileface"), min_length=1,
            description="OpenCV Haar cascades to run (files in cv2.data.haarcascades); their detections "
                        "are merged by non-maximum suppression; each costs about 0.1 s per 512x512 image "
                        "(profileface twice, see mirror_profile). opencv detector only")
        cascade_file: str | None = Field(
            None, description="a cascade XML of your own, used instead of `cascades` (opencv: Haar or LBP) "
                              "or of scikit-image's LBP cascade (skimage: LBP only); relative to the "
                              "pipeline file", json_schema_extra=PATH_OPTION)
        mirror_profile: bool = Field(
            True, description="also run profile cascades on the mirrored image, so faces turned either "
                              "way are found (a profile cascade finds one side only)")
        aliases: tuple[str, ...] = Field(
            ("face", "person", "head"), min_length=1,
            description="candidate labels this grounder answers to (case-insensitive); the region "
                        "label is the first candidate label that matches one")
        scale_factor: float = Field(
            1.1, gt=1.0, le=2.0, description="how much the search window grows from one scale to the "
                                             "next; smaller finds more, runs slower")
        min_neighbors: int = Field(
            5, ge=0, le=100, description="how many overlapping raw detections a face needs to be kept; "
                                         "higher gives fewer false faces")
        min_size: float = Field(
            0.05, gt=0, description="smallest face: a fraction of the image's shorter side if <= 1, "
                                    "else pixels (never below the cascade's window, 20-24 px)")
        expand: float = Field(
            1.0, ge=1.0, le=10.0, description="grow each face box about its centre by this factor "
                                              "(e.g. 1.6 to cover head and hair), clipped to the image")
        equalize: bool = Field(
            True, description="equalise the grey image's histogram before detection (helps dark or "
                              "flat photos)")
        nms_iou: float = Field(
            0.3, gt=0.0, le=1.0, description="boxes overlapping a better-scored box by more than this "
                                             "intersection-over-union are dropped")
        min_score: float = Field(
            0.0, ge=0.0, le=1.0, description="drop faces scored below this (see the grounder's description "
                                             "for the score; skimage faces always score 1.0)")

        @field_validator("aliases")
        @classmethod
        def _clean_aliases(cls, v: tuple[str, ...]) -> tuple[str, ...]:
            out = tuple(normalize_label(a) for a in v)
            if any(not a for a in out):
                raise ValueError("aliases must not be empty strings")
            return out

    def __init__(self, options=None, context=None):
        super().__init__(options, context)
        self.check_requirements()  # ExtraMissingError naming the extra, not a bare ImportError
        import cv2

        self._cv2 = cv2
        self._aliases = frozenset(self.options.aliases)
        user = self.context.resolve(self.options.cascade_file) if self.options.cascade_file else None
        if user is not None and not user.is_file():
            raise WeightsError(
                f"face grounder: cascade file not found: {user}",
                "fix `grounder.options.cascade_file` (relative paths are resolved against the pipeline "
                "file's folder), or leave it out to use the cascades shipped with "
                + ("opencv-python-headless<5" if self.options.detector == "opencv" else "scikit-image"))
        if self.options.detector == "skimage":
            self._cascades = [self._skimage_cascade(user)]
        elif user is not None:
            self._cascades = [self._opencv_cascade("cascade_file", user)]
        else:
            base = self._haar_dir()
            self._cascades = []
            for name in dict.fromkeys(self.options.cascades):  # keep order, drop repeats
                path = base / CASCADE_FILES[name]
                if not path.is_file():
                    raise WeightsError(
                        f"face grounder: OpenCV Haar cascade {path.name} not found in {base} "
                        f"(OpenCV {cv2.__version__})", OPENCV_FIX)
                self._cascades.append(self._opencv_cascade(name, path, mirror=name.startswith("profile")))

    # -- building ---------------------------------------------------------------------------

    def _haar_dir(self) -> Path:
        cv2 = self._cv2
        data = getattr(cv2, "data", None)
        folder = getattr(data, "haarcascades", None)
        if not folder or not Path(folder).is_dir():
            wanted = ", ".join(CASCADE_FILES[n] for n in self.options.cascades)
            raise WeightsError(
                f"face grounder: this OpenCV build ({getattr(cv2, '__version__', '?')}) ships no Haar "
                f"cascades (no cv2.data.haarcascades), so {wanted} cannot be found",
                OPENCV_FIX + "; or set `grounder.options.cascade_file` to a cascade XML")
        return Path(folder)

    def _opencv_cascade(self, name: str, path: Path, mirror: bool = False) -> _Cascade:
        cv2 = self._cv2
        try:
            model = cv2.CascadeClassifier(str(path))
            bad = model.empty()
        except Exception:  # cv2 raises (as SystemError) on files that are not cascades
            bad = True
        if bad:
            raise WeightsError(f"face grounder: {path} is not an OpenCV cascade classifier XML",
                               "point `grounder.options.cascade_file` at a Haar or LBP cascade file, or "
                               + OPENCV_FIX)
        return _Cascade(name, path, model, cascade_window(path), last_stage_span(path),
                        mirror and self.options.mirror_profile)

    def _skimage_cascade(self, user: Path | None) -> _Cascade:
        try:
            import skimage.data
            from skimage.feature import Cascade
        except ImportError:
            raise ExtraMissingError("grounder 'face' with detector: skimage needs scikit-image, which is "
                                    "not installed", "pip install 'discover-codec[demo]'") from None
        path = user if user is not None else Path(skimage.data.lbp_frontal_face_cascade_filename())
        if not path.is_file():
            raise WeightsError(f"face grounder: scikit-image's LBP cascade {path} not found",
                               "reinstall scikit-image (pip install --force-reinstall scikit-image), "
                               "or set `grounder.options.cascade_file`")
        kind = _feature_type(path)
        if kind != "LBP":
            raise WeightsError(
                f"face grounder: {path} is not an LBP cascade XML (feature type {kind or 'unknown'}); "
                "scikit-image's detector reads LBP cascades only",
                "use `detector: opencv` for Haar cascades, or an LBP cascade file")
        try:
            model = Cascade(str(path))
        except Exception as exc:
            raise WeightsError(f"face grounder: scikit-image cannot read the cascade {path} ({exc})",
                               "point `grounder.options.cascade_file` at an OpenCV LBP cascade XML") from None
        return _Cascade("skimage-lbp", path, model, cascade_window(path), None)

    # -- grounding --------------------------------------------------------------------------

    @classmethod
    def vocabulary(cls, options: Options, context) -> frozenset[str]:
        return frozenset(normalize_label(a) for a in options.aliases)

    def match_label(self, labels: Sequence[str]) -> str | None:
        """The first candidate label that is one of the aliases (as given), or None."""
        for lab in labels:
            if normalize_label(lab) in self._aliases:
                return lab
        return None

    def ground(self, image: np.ndarray, labels: Sequence[str], meta: ImageMeta) -> list[Region]:
        label = self.match_label(labels)
        if label is None:
            return []
        grey = self._grey(image)
        h, w = grey.shape
        if h == 0 or w == 0:
            return []
        boxes: list[list[float]] = []  # x, y, w, h
        scores: list[float] = []
        for casc in self._cascades:
            for bx, by, bw, bh, s in self._detect(casc, grey):
                if s >= self.options.min_score:
                    boxes.append([float(bx), float(by), float(bw), float(bh)])
                    scores.append(float(s))
        if not boxes:
            return []
        keep = self._cv2.dnn.NMSBoxes(boxes, scores, 0.0, self.options.nms_iou)
        regions = []
        for i in np.asarray(keep, dtype=int).ravel():
            box = self._expand(boxes[i], w, h)
            if box is not None:
                regions.append(Region(box, label, scores[i]))
        # best first; equal scores (always so for skimage): larger faces first
        regions.sort(key=lambda r: (-r.score, -(r.box[2] - r.box[0]) * (r.box[3] - r.box[1])))
        return regions

    def _grey(self, image: np.ndarray) -> np.ndarray:
        cv2 = self._cv2
        a = np.asarray(image)
        if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 3, 4)):
            raise InputError(f"face grounder: image has shape {a.shape}; expected (H, W, 3) RGB "
                             "(or (H, W), (H, W, 1), (H, W, 4))")
        if a.size == 0:
            return np.zeros(a.shape[:2], np.uint8)
        if a.dtype != np.uint8:
            from discover_core.images import from_array

            a = from_array(a, "image")
        if a.ndim == 3 and a.shape[2] == 1:
            a = a[:, :, 0]
        if a.ndim == 3:
            a = cv2.cvtColor(np.ascontiguousarray(a[:, :, :3]), cv2.COLOR_RGB2GRAY)
        a = np.ascontiguousarray(a)
        if self.options.equalize:
            a = cv2.equalizeHist(a)
        return a

    def _min_px(self, casc: _Cascade, short: int) -> int:
        m = self.options.min_size
        px = int(round(m * short)) if m <= 1 else int(round(m))
        return max(px, *casc.window)

    def _detect(self, casc: _Cascade, grey: np.ndarray):
        """Raw detections ``(x, y, w, h, score)`` of one cascade."""
        h, w = grey.shape
        short = min(h, w)
        min_px = self._min_px(casc, short)
        if min_px > short:  # image smaller than the smallest face the cascade can see
            return []
        if casc.name == "skimage-lbp":
            found = casc.model.detect_multi_scale(
                img=grey, scale_factor=self.options.scale_factor, step_ratio=1.0,
                min_size=(min_px, min_px), max_size=(w, h),
                min_neighbor_number=self.options.min_neighbors)
            return [(d["c"], d["r"], d["width"], d["height"], 1.0) for d in found]
        out = self._detect_cv(casc, grey, min_px)
        if casc.mirror:
            flipped = self._cv2.flip(grey, 1)
            out += [(w - x - bw, y, bw, bh, s) for x, y, bw, bh, s in self._detect_cv(casc, flipped, min_px)]
        return out

    def _detect_cv(self, casc: _Cascade, grey: np.ndarray, min_px: int):
        rects, _levels, weights = casc.model.detectMultiScale3(
            grey, scaleFactor=self.options.scale_factor, minNeighbors=self.options.min_neighbors,
            minSize=(min_px, min_px), outputRejectLevels=True)
        weights = np.asarray(weights, dtype=float).ravel()
        out = []
        for k, (x, y, bw, bh) in enumerate(np.asarray(rects).reshape(-1, 4).tolist()):
            s = 1.0 if casc.span is None or k >= len(weights) else margin_score(weights[k], *casc.span)
            out.append((x, y, bw, bh, s))
        return out

    def _expand(self, xywh: list[float], width: int, height: int):
        x, y, bw, bh = xywh
        f = self.options.expand
        cx, cy = x + bw / 2.0, y + bh / 2.0
        x0, x1 = max(0.0, cx - bw * f / 2.0), min(float(width), cx + bw * f / 2.0)
        y0, y1 = max(0.0, cy - bh * f / 2.0), min(float(height), cy + bh * f / 2.0)
        return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None
