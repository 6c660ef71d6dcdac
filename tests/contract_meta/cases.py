"""Small components of each kind, each with a broken twin, run through the contract suites by
``tests/test_contract_meta.py`` (copied into a pytester folder as ``test_cases.py``; not collected here).

Every ``Good*`` component passes its suite (``GoodLatent*``: a latent codec and a composer of it, so the
latent checks are known to accept a valid latent); every ``Broken*`` one breaks the contract in one way,
named in ``BROKEN`` (test that must fail, text its message must contain).
"""

from __future__ import annotations

import numpy as np
from pydantic import ConfigDict, Field

from discover_core import Chunk, Composer, Decoded, Encoded, EntropyModel, LabelSource, Options, Patch, Region
from discover_core.interfaces import Latent
from discover_core import Grounder, TaskHead
from discover_core.errors import PayloadError
from discover_core.testing import (ComposerOptionsContract, EntropyModelOptionsContract, GrounderOptionsContract,
                                   LabelSourceContract, LabelSourceOptionsContract, TaskHeadOptionsContract)

BROKEN = {
    "TestBrokenLabels": [("test_labels_are_unique_non_empty_strings", "labels must be non-empty strings")],
    "TestSloppyLabels": [("test_name_is_kebab_case", "kebab-case"),
                         ("test_options_model_forbids_extra", "must forbid unknown keys"),
                         ("test_options_reject_unknown_keys", "not rejected"),
                         ("test_every_option_is_described", "without a description")],
    "TestBrokenGrounder": [("test_regions_are_valid", "is not among the candidates")],
    "TestBrokenCodec": [("test_every_subset_of_content_chunks_decodes", "failed: KeyError")],
    "TestBrokenLatentCodec": [("test_round_trip", "(ceil(H/stride), ceil(W/stride))")],
    "TestBrokenComposer": [("test_composes_full_images", "returned shape")],
    "TestBrokenHead": [("test_predictions_are_json_serialisable", "not JSON-serialisable")],
}


# -- label sources ---------------------------------------------------------------
class GoodLabels(LabelSource):
    """Labels from a word list."""

    name = "meta-labels"

    class Options(Options):
        words: tuple[str, ...] = Field(("cat", "dog"), description="the labels")

    @classmethod
    def known_labels(cls, options, context):
        return list(options.words)

    def labels(self, task):
        return list(self.options.words)


class BrokenLabels(GoodLabels):
    """Labels that are not all strings."""

    def labels(self, task):
        return [1, *self.options.words]


class SloppyLabels(GoodLabels):
    """A class that breaks the class checks: name, options model."""

    name = "Sloppy_Labels"

    class Options(Options):
        model_config = ConfigDict(extra="ignore", frozen=True)
        words: tuple[str, ...] = ("cat",)


# -- grounders ---------------------------------------------------------------------
class GoodGrounder(Grounder):
    """A centred box labelled with the first candidate."""

    name = "meta-grounder"

    def ground(self, image, labels, meta):
        if not labels:
            return []
        h, w = image.shape[:2]
        return [Region((w / 4, h / 4, w * 3 / 4, h * 3 / 4), labels[0], 0.5)]


class BrokenGrounder(GoodGrounder):
    """Labels its box with a label nobody asked for."""

    def ground(self, image, labels, meta):
        return [Region(r.box, "not-a-candidate", r.score) for r in super().ground(image, labels, meta)]


# -- entropy models ------------------------------------------------------------------
def _pixels(payload: bytes, w: int, h: int) -> np.ndarray:
    if len(payload) != w * h * 3:
        raise PayloadError(f"payload of {len(payload)} bytes is not {w}x{h} RGB")
    return np.frombuffer(payload, np.uint8).reshape(h, w, 3).copy()


class GoodCodec(EntropyModel):
    """Raw pixels: a 4x smaller side image, one content chunk per region."""

    name = "meta-codec"
    decoder_options = ()

    def encode(self, image, regions):
        h, w = image.shape[:2]
        coarse = image[::4, ::4]
        chunks = [Chunk("side", "coarse", coarse.tobytes())]
        for r in regions:
            x0, y0, x1, y1 = r.int_box(w, h)
            if x1 > x0 and y1 > y0:
                chunks.append(Chunk("content", f"region-{len(chunks)}", image[y0:y1, x0:x1].tobytes(),
                                    labels=(r.label,), boxes=((x0, y0, x1, y1),)))
        return Encoded(chunks, {"coarse": [coarse.shape[1], coarse.shape[0]],
                                "content": [c.name for c in chunks[1:]]})

    def decode(self, size, params, chunks, format_version):
        w, h = size
        coarse = _pixels(chunks[0].payload, *params["coarse"])
        patches, covered = [], np.zeros((h, w), bool)
        for c in chunks[1:]:
            x0, y0, x1, y1 = c.boxes[0]
            patches.append(Patch((x0, y0, x1, y1), _pixels(c.payload, x1 - x0, y1 - y0), c.labels))
            covered[y0:y1, x0:x1] = True
        complete = len(chunks) - 1 == len(params["content"])
        return Decoded(size=(w, h), coarse=coarse, patches=patches, missing=None if complete else ~covered)


class BrokenCodec(GoodCodec):
    """Needs every content chunk to decode."""

    def decode(self, size, params, chunks, format_version):
        names = {c.name for c in chunks}
        for name in params["content"]:
            {n: n for n in names}[name]  # KeyError when a content chunk is absent
        return super().decode(size, params, chunks, format_version)


class GoodLatentCodec(EntropyModel):
    """A "latent" of 4x4 cell means: coarse (uint8) in the side chunk, exact (float32) in one content chunk."""

    name = "meta-latent-codec"
    produces = "latent"
    latent_space = "meta-cells"
    decoder_options = ()
    STRIDE = 4

    def encode(self, image, regions):
        h, w = image.shape[:2]
        s = self.STRIDE
        gh, gw = -(-h // s), -(-w // s)
        padded = np.pad(image.astype(np.float32), ((0, gh * s - h), (0, gw * s - w), (0, 0)), mode="edge")
        cells = padded.reshape(gh, s, gw, s, 3).mean(axis=(1, 3)).transpose(2, 0, 1).astype(np.float32)
        chunks = [Chunk("side", "coarse", np.rint(cells).astype(np.uint8).tobytes())]
        boxes = tuple(b for r in regions if (b := r.int_box(w, h))[2] > b[0] and b[3] > b[1])
        if boxes:
            chunks.append(Chunk("content", "exact", cells.tobytes(), labels=tuple(sorted({
                r.label for r in regions if (b := r.int_box(w, h))[2] > b[0] and b[3] > b[1]})), boxes=boxes))
        return Encoded(chunks, {"grid": [gh, gw]})

    def decode(self, size, params, chunks, format_version):
        gh, gw = params["grid"]
        side = chunks[0].payload
        if len(side) != 3 * gh * gw:
            raise PayloadError("the coarse chunk does not hold the grid")
        values = np.frombuffer(side, np.uint8).reshape(3, gh, gw).astype(np.float32)
        arrived = np.zeros((gh, gw), bool)
        content = [c for c in chunks if c.kind == "content"]
        for c in content:
            if len(c.payload) != 4 * 3 * gh * gw:
                raise PayloadError("the exact chunk does not hold the grid")
            values = np.frombuffer(c.payload, np.float32).reshape(3, gh, gw).copy()
            if not np.isfinite(values).all():
                raise PayloadError("the exact chunk holds non-finite values")
            arrived[:] = True
        w, h = size
        return Decoded(size=(w, h), representation="latent",
                       latent=Latent(values, self.STRIDE, arrived, self.latent_space),
                       missing=None if content else np.ones((h, w), bool))


class BrokenLatentCodec(GoodLatentCodec):
    """Says its latent has stride 2 while its grid is at stride 4."""

    def decode(self, size, params, chunks, format_version):
        d = super().decode(size, params, chunks, format_version)
        return Decoded(size=d.size, representation="latent", missing=d.missing,
                       latent=Latent(d.latent.values, 2, d.latent.arrived, d.latent.space))


# -- composers -------------------------------------------------------------------------
class GoodComposer(Composer):
    """Nearest-neighbour upsampling, patches pasted on top."""

    name = "meta-composer"

    def compose(self, decoded):
        w, h = decoded.size
        canvas = np.zeros((h, w, 3), np.uint8)
        if decoded.coarse is not None:
            ch, cw = decoded.coarse.shape[:2]
            canvas = decoded.coarse[np.arange(h) * ch // h][:, np.arange(w) * cw // w].copy()
        for p in decoded.patches:
            p.paste_onto(canvas)
        return canvas


class BrokenComposer(GoodComposer):
    """Returns the picture transposed."""

    def compose(self, decoded):
        return np.ascontiguousarray(super().compose(decoded).transpose(1, 0, 2))


class GoodLatentComposer(Composer):
    """Each 4x4 cell painted with its mean."""

    name = "meta-latent-composer"
    accepts = frozenset({"latent"})
    latent_spaces = frozenset({"meta-cells"})

    def compose(self, decoded):
        w, h = decoded.size
        lat = decoded.latent
        cells = np.clip(np.rint(lat.values), 0, 255).astype(np.uint8).transpose(1, 2, 0)
        return np.ascontiguousarray(cells.repeat(lat.stride, 0).repeat(lat.stride, 1)[:h, :w])


# -- task heads --------------------------------------------------------------------------
class GoodHead(TaskHead):
    """Mean brightness in four buckets."""

    name = "meta-head"
    task = "brightness"

    def predict(self, image):
        return {"bucket": int(image.mean() // 64)}

    def score(self, predictions, references=None, targets=None):
        refs = references or targets or predictions
        return {"agreement": float(np.mean([p["bucket"] == r["bucket"] for p, r in zip(predictions, refs)]))}


class BrokenHead(GoodHead):
    """Predicts a numpy array, which no report can store."""

    def predict(self, image):
        return np.asarray(image.mean(axis=(0, 1)))


# -- the suites ------------------------------------------------------------------------------
class TestGoodLabels(LabelSourceContract):
    component_class = GoodLabels
    check_registration = False


class TestBrokenLabels(LabelSourceOptionsContract):
    component_class = BrokenLabels


class TestSloppyLabels(LabelSourceContract):
    component_class = SloppyLabels
    check_registration = False


class TestGoodGrounder(GrounderOptionsContract):
    component_class = GoodGrounder
    expect_regions = True


class TestBrokenGrounder(GrounderOptionsContract):
    component_class = BrokenGrounder
    expect_regions = True


class TestGoodCodec(EntropyModelOptionsContract):
    component_class = GoodCodec
    composer_class = GoodComposer
    min_region_psnr = float("inf")


class TestBrokenCodec(EntropyModelOptionsContract):
    component_class = BrokenCodec
    composer_class = GoodComposer


class TestGoodLatentCodec(EntropyModelOptionsContract):
    component_class = GoodLatentCodec
    composer_class = GoodLatentComposer


class TestBrokenLatentCodec(EntropyModelOptionsContract):
    component_class = BrokenLatentCodec
    composer_class = GoodLatentComposer


class TestGoodLatentComposer(ComposerOptionsContract):
    component_class = GoodLatentComposer
    entropy_model_class = GoodLatentCodec


class TestGoodComposer(ComposerOptionsContract):
    component_class = GoodComposer
    entropy_model_class = GoodCodec


class TestBrokenComposer(ComposerOptionsContract):
    component_class = BrokenComposer
    entropy_model_class = GoodCodec


class TestGoodHead(TaskHeadOptionsContract):
    component_class = GoodHead


class TestBrokenHead(TaskHeadOptionsContract):
    component_class = BrokenHead
