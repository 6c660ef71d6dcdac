"""The ``roi-image`` entropy model: a classical region-of-interest codec.

* one side chunk ``background``: the whole image downscaled by
  ``background_scale`` (or to ``background_side`` pixels on its shorter side: the task head's own view) and
  coded at ``background_quality`` (null: following ``region_quality``, the rate knob, up to
  ``background_max_quality``; with ``background_under_regions: smooth``, a smooth fill under the regions);
* one content chunk per group of overlapping task regions: the group's
  bounding rectangle coded at ``region_quality`` (at the resolution of ``region_side``, the head's view, if
  set; a rectangle whose shorter side exceeds ``region_max_side`` smaller still). Pixels of the rectangle that
  no region covers are filled with the upscaled background before coding, so
  they cost almost nothing and are never pasted; overlapping regions share one
  chunk, so no pixel is paid for twice;
* with ``code_rest``, one more content chunk ``rest`` with no labels: the
  whole image outside the regions at ``rest_quality`` (region pixels filled
  likewise). The full stream then carries the whole picture; a task's part
  (``extract``) leaves ``rest`` out.

With ``codec: avif`` a chunk is not a whole AVIF file but the AV1 data of its image item (format 2,
:mod:`.avif_boxes`): the sequence header and frame OBUs; the decoder rebuilds the file's boxes (about 275
bytes a chunk) from them. Format 1 streams, whose chunks are whole AVIF files, are still read.
"""

from __future__ import annotations

from typing import Annotated, Any, Iterator, Literal, Sequence

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from discover_core.errors import PayloadError
from discover_core.interfaces import Chunk, Decoded, Encoded, EntropyModel, IntBox, Options, Patch, Region
from discover_core.regions import bounds, box_mask
from discover_core.stills import decode_still, encode_still, probe_still

from . import avif_boxes
from .fill import smooth_under
from .layout import group_regions

RESAMPLE = {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR,
            "bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS,
            "box": Image.Resampling.BOX}
Resample = Literal["nearest", "bilinear", "bicubic", "lanczos", "box"]


def resize(pixels: np.ndarray, size: tuple[int, int], method: str) -> np.ndarray:
    """Resize an RGB array to ``(width, height)`` with a Pillow filter."""
    if pixels.shape[1] == size[0] and pixels.shape[0] == size[1]:
        return pixels
    return np.asarray(Image.fromarray(pixels, "RGB").resize(size, RESAMPLE[method]), dtype=np.uint8)


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


def background_size(width: int, height: int, scale: float) -> tuple[int, int]:
    return max(1, round(width * scale)), max(1, round(height * scale))


class Params(BaseModel):
    """The parameters ``roi-image`` writes into the stream header, checked before decoding."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    background_size: tuple[Annotated[int, Field(strict=True, ge=1)], Annotated[int, Field(strict=True, ge=1)]]
    region_scale: Annotated[float, Field(gt=0.0, le=1.0, allow_inf_nan=False)] | None = None
    """Regions are coded at this fraction of their size (absent: full size)."""
    region_max_side: Annotated[int, Field(strict=True, ge=8, le=8192)] | None = None
    """A region chunk whose shorter side (at ``region_scale``) is longer is coded smaller, to this side."""


def chunk_scale(rect: IntBox, region_scale: float, max_side: int | None) -> float:
    """The scale a region chunk over ``rect`` is coded at: ``region_scale``, and no more than brings the
    rectangle's shorter side to ``max_side`` (None: no bound). Encoder and decoder both compute it from the
    chunk's boxes, so the stream records one number for all chunks."""
    if max_side is None:
        return region_scale
    side = min(rect[2] - rect[0], rect[3] - rect[1])
    return min(region_scale, max_side / side) if side > 0 else region_scale


def scaled(size: tuple[int, int], scale: float) -> tuple[int, int]:
    """The coded size of a ``(width, height)`` picture at ``scale``."""
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


class Stills:
    """How a stream's chunks hold their pictures: whole still files, or (AVIF from format 2) AV1 data only."""

    def __init__(self, codec: str, format_version: int):
        self.codec, self.stripped = codec, codec == "avif" and format_version >= 2

    def probe(self, payload: bytes, size: tuple[int, int]) -> None:
        """Check a payload's own header against ``size`` without decoding its pixels."""
        if self.stripped:
            avif_boxes.check(payload, size)
        else:
            probe_still(payload, self.codec, size)

    def decode(self, payload: bytes, size: tuple[int, int]) -> np.ndarray:
        data = avif_boxes.rebuild(payload, size) if self.stripped else payload
        return decode_still(data, self.codec, size)


class LazyPatches(Sequence[Patch]):
    """The patches of the content chunks that arrived, each decoded only when it is asked for.

    A composer that pastes them in turn holds one decoded patch (and its mask) at a time besides its
    canvas; nothing is cached, so asking twice decodes twice. The payloads' own headers were checked
    when the sequence was made; a payload whose pixels cannot be decoded raises
    :class:`~discover_core.errors.PayloadError` when its patch is asked for.
    """

    def __init__(self, stills: Stills, size: tuple[int, int], items: list[tuple[IntBox, Chunk]],
                 scales: list[float] | None = None):
        self._stills, self._size, self._items = stills, size, items
        self._scales = scales or [1.0] * len(items)

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        rect, c = self._items[i]
        x0, y0, x1, y1 = rect
        size = (x1 - x0, y1 - y0)
        pixels = self._stills.decode(c.payload, scaled(size, self._scales[i]))
        if self._scales[i] != 1.0:
            pixels = resize(pixels, size, "bicubic")
        return Patch(rect, pixels, c.labels, box_mask(c.boxes, rect) if c.boxes else None)

    def __iter__(self) -> Iterator[Patch]:
        for i in range(len(self._items)):
            yield self[i]

    def __repr__(self) -> str:
        return f"LazyPatches({len(self)} patches: {', '.join(c.name for _, c in self._items)})"


class RoiImage(EntropyModel):
    """Classical ROI codec: a low-resolution whole image plus task regions coded with AVIF, WebP or JPEG."""

    name = "roi-image"
    produces = "pixels"
    decoder_options = ("codec",)
    format_version = 2
    """2: AVIF chunks hold the AV1 data only (1: whole AVIF files)."""
    reads_format_versions = (1, 2)

    class Options(Options):
        codec: Literal["avif", "webp", "jpeg"] = Field("avif", description="still-image codec of every chunk")
        region_quality: int = Field(70, ge=1, le=100, description="codec quality of the task regions (1-100)")
        background_quality: int | None = Field(50, ge=1, le=100,
                                               description="codec quality of the coarse background (null: "
                                                           "region_quality, so the rate knob moves it too)")
        background_max_quality: int | None = Field(
            None, ge=1, le=100, description="with background_quality null, the background follows region_quality "
            "up to this quality and no further (a task head needs the background's context, not its detail; "
            "null: no bound)")
        background_scale: float = Field(0.125, gt=0.0, le=1.0,
                                        description="size of the coded background relative to the image")
        region_side: int | None = Field(
            None, ge=8, le=8192, description="shorter side in pixels of the picture the regions are coded at "
            "(the task head's view: 256 for an ImageNet classifier, which sees no finer detail); null: full "
            "resolution")
        region_max_side: int | None = Field(
            None, ge=8, le=8192, description="a region chunk whose shorter side is longer than this many pixels "
            "is coded smaller, to this side, and upscaled at decode (large objects keep what a detector needs "
            "at a fraction of the pixels; small ones stay sharp); null: no bound")
        background_side: int | None = Field(
            None, ge=8, le=8192, description="shorter side of the coded background in pixels, at most the "
            "image's own (the task head's view: 256 for an ImageNet classifier's resize); overrides "
            "background_scale")
        background_under_regions: Literal["image", "smooth"] = Field(
            "image", description="what the background holds under the regions: 'image' the picture; 'smooth' a "
            "smooth fill that costs almost nothing, since the regions are pasted over it (a part without a "
            "region, e.g. another task's, shows that fill there: for pipelines whose parts share their regions)")
        downscale: Resample = Field("lanczos", description="filter that makes the background")
        align: int = Field(8, ge=1, le=256, description="region boxes grow outwards to multiples of this (pixels)")
        margin: int = Field(0, ge=0, le=1024, description="pixels of context added around every region")
        subsampling: Literal["4:2:0", "4:2:2", "4:4:4"] = Field("4:2:0", description="chroma subsampling (AVIF, JPEG)")
        speed: int = Field(6, ge=0, le=10, description="AVIF encoder speed (0 slowest and smallest, 10 fastest)")
        code_rest: bool = Field(True, description="also code everything outside the regions as a 'rest' chunk, "
                                                  "so the full stream carries the whole picture")
        rest_quality: int | None = Field(50, ge=1, le=100, description="codec quality of the 'rest' chunk "
                                                                      "(null: region_quality)")
        threads: int = Field(1, ge=1, le=64, description="AVIF encoder threads; the bytes depend on it, "
                                                         "so keep it fixed for reproducible streams")

    @property
    def background_quality(self) -> int:
        """The background's codec quality: ``background_quality``, or ``region_quality`` bounded by
        ``background_max_quality``."""
        o = self.options
        if o.background_quality is not None:
            return o.background_quality
        return o.region_quality if o.background_max_quality is None else min(o.region_quality,
                                                                              o.background_max_quality)

    def _code(self, pixels: np.ndarray, quality: int) -> bytes:
        o = self.options
        data = encode_still(pixels, o.codec, quality, threads=o.threads, speed=o.speed, subsampling=o.subsampling)
        return avif_boxes.strip(data, (pixels.shape[1], pixels.shape[0])) if o.codec == "avif" else data

    def encode(self, image: np.ndarray, regions: Sequence[Region]) -> Encoded:
        o = self.options
        h, w = image.shape[:2]
        scale = o.background_scale if o.background_side is None else min(1.0, o.background_side / min(w, h))
        bg_size = background_size(w, h, scale)
        groups = group_regions(regions, w, h, o.align, o.margin)
        small = resize(image, bg_size, o.downscale)
        if o.background_under_regions == "smooth":
            small = smooth_under(small, [b for g in groups for b in g.boxes], (w, h))
        background = self._code(small, self.background_quality)
        chunks = [Chunk("side", "background", background)]
        if groups or o.code_rest:
            # What a decoder has where a chunk's pixels are not pasted: the decoded, upscaled background.
            coarse = Stills(o.codec, self.format_version).decode(background, bg_size)
            fill = resize(coarse, (w, h), "bicubic")
        region_scale = 1.0 if o.region_side is None else min(1.0, o.region_side / min(w, h))
        for i, g in enumerate(groups):
            x0, y0, x1, y1 = rect = g.bounds
            tile = np.where(box_mask(g.boxes, rect)[:, :, None], image[y0:y1, x0:x1], fill[y0:y1, x0:x1])
            k = chunk_scale(rect, region_scale, o.region_max_side)
            if k < 1.0:
                tile = resize(tile, scaled((x1 - x0, y1 - y0), k), o.downscale)
            chunks.append(Chunk("content", f"region-{i}", self._code(tile, o.region_quality),
                                labels=g.labels, boxes=g.boxes))
        if o.code_rest:
            covered = box_mask([b for g in groups for b in g.boxes], (0, 0, w, h))
            if not covered.all():
                tile = np.where(covered[:, :, None], fill, image)
                chunks.append(Chunk("content", "rest", self._code(tile, _or(o.rest_quality, o.region_quality))))
        params: dict[str, Any] = {"background_size": list(bg_size)}
        if region_scale < 1.0:
            params["region_scale"] = region_scale
        if o.region_max_side is not None and groups:
            params["region_max_side"] = o.region_max_side
        return Encoded(chunks, params=params)

    def decode(self, size: tuple[int, int], params: dict[str, Any], chunks: Sequence[Chunk],
               format_version: int) -> Decoded:
        codec = self.options.codec
        w, h = size
        if not self.reads(format_version):
            raise PayloadError(f"roi-image format {format_version} is not one this decoder reads "
                               f"({self.format_version})", "upgrade discover-codec")
        try:
            checked = Params.model_validate(params)
            bw, bh = checked.background_size
            region_scale, max_side = checked.region_scale or 1.0, checked.region_max_side
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "params"
            raise PayloadError(f"the stream's roi-image params are invalid: {where}: {first['msg']}",
                               "the stream is damaged or was crafted; encode the image again") from None
        if bw > w or bh > h:
            raise PayloadError(f"the background ({bw}x{bh}) is larger than the {w}x{h} image",
                               "the stream is damaged or was crafted; encode the image again")
        sides = [c.name for c in chunks if c.kind == "side"]
        if sides != ["background"]:
            raise PayloadError(f"expected one 'background' side chunk, found {len(sides)} side chunk(s) "
                               f"{', '.join(repr(n) for n in sides[:5])}",
                               "the stream is damaged or was not written by roi-image")
        background = next(c for c in chunks if c.kind == "side")
        stills = Stills(codec, format_version)
        coarse = stills.decode(background.payload, (bw, bh))
        rest: list[tuple[IntBox, Chunk]] = []
        regions: list[tuple[IntBox, Chunk]] = []
        for c in chunks:
            if c.kind != "content":
                continue
            if c.name == "rest":
                # Everything outside the regions (inside them it holds the upscaled background),
                # so it goes first and the regions that arrived are pasted on top.
                if c.boxes or rest:
                    raise PayloadError("the stream has a second 'rest' chunk, or one with boxes",
                                       "the stream is damaged or was not written by roi-image")
                rest.append(((0, 0, w, h), c))
            elif not c.boxes:
                raise PayloadError(f"content chunk '{c.name}' carries no boxes",
                                   "the stream is damaged or was not written by roi-image")
            else:
                boxes = tuple(dict.fromkeys(c.boxes))  # a box listed many times is one box
                if len(boxes) < len(c.boxes):
                    c = Chunk(c.kind, c.name, c.payload, c.labels, boxes, c.tasks)
                regions.append((bounds(boxes), c))
        scales = [1.0] * len(rest) + [chunk_scale(rect, region_scale, max_side) for rect, _ in regions]
        for ((x0, y0, x1, y1), c), k in zip(rest + regions, scales):  # each payload's header, before any pixel
            stills.probe(c.payload, scaled((x1 - x0, y1 - y0), k))
        missing = None if rest else ~box_mask([b for _, c in regions for b in c.boxes], (0, 0, w, h))
        return Decoded(size=(w, h), representation="pixels", coarse=coarse,
                       patches=LazyPatches(stills, (w, h), rest + regions, scales), missing=missing)  # type: ignore[arg-type]
