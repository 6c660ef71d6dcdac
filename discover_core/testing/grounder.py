"""Contract suite of grounders: valid regions, inside the image, labelled with candidates, scored in [0, 1]."""

from __future__ import annotations

import math
from typing import Any, ClassVar, Sequence

import numpy as np
import pytest

from ..interfaces import ImageMeta, Region, normalize_label
from . import samples
from .contract import ComponentClassContract, ComponentOptionsContract


def check_regions(regions: Any, image: np.ndarray, labels: Sequence[str]) -> None:
    """A list of Regions with finite, non-empty boxes inside ``image``, scores in [0, 1], labels among
    ``labels`` (compared with :func:`normalize_label`)."""
    assert isinstance(regions, list), f"ground() returned {type(regions).__name__}, expected a list"
    h, w = image.shape[:2]
    wanted = {normalize_label(lab) for lab in labels}
    for r in regions:
        assert isinstance(r, Region), f"ground() returned {r!r}, expected discover_core.Region"
        assert len(r.box) == 4 and all(isinstance(c, (int, float)) and math.isfinite(c) for c in r.box), \
            f"box {r.box!r} must be four finite numbers"
        x0, y0, x1, y1 = r.box
        assert x1 > x0 and y1 > y0, f"box {r.box} of '{r.label}' is empty (x1 > x0 and y1 > y0 needed)"
        assert 0 <= x0 and 0 <= y0 and x1 <= w and y1 <= h, \
            f"box {r.box} of '{r.label}' is outside the {w}x{h} image"
        assert isinstance(r.score, (int, float)) and 0.0 <= r.score <= 1.0, \
            f"score {r.score!r} of '{r.label}' is not in [0, 1]"
        assert isinstance(r.label, str) and normalize_label(r.label) in wanted, \
            f"label {r.label!r} is not among the candidates {sorted(wanted)[:10]}"


def shout(label: str) -> str:
    """The same label as a user may type it: other case, extra whitespace."""
    return "  " + "   ".join(label.upper().split()) + " "


class GrounderOptionsContract(ComponentOptionsContract):
    """What a grounder does with the options under test (run for every option set)."""

    kind = "grounder"
    labels: ClassVar[tuple[str, ...]] = samples.SAMPLE_LABELS
    """Candidate labels given to the grounder."""
    expect_regions: ClassVar[bool] = False
    """Require at least one region on the sample image (so the validity checks are not vacuous)."""

    @pytest.fixture
    def grounder_image(self) -> np.ndarray:
        return samples.sample_image()

    @pytest.fixture
    def grounder_labels(self) -> list[str]:
        return list(self.labels)

    @pytest.fixture
    def image_meta(self) -> ImageMeta:
        return samples.sample_meta()

    check_regions = staticmethod(check_regions)

    def test_regions_are_valid(self, component, grounder_image, grounder_labels, image_meta):
        regions = component.ground(grounder_image, grounder_labels, image_meta)
        self.check_regions(regions, grounder_image, grounder_labels)
        if self.expect_regions:
            assert regions, "the grounder found nothing on the sample image (expect_regions is set)"

    def test_labels_match_case_and_whitespace_insensitively(self, component, grounder_image, grounder_labels,
                                                            image_meta):
        shouted = [shout(lab) for lab in grounder_labels]
        regions = component.ground(grounder_image, shouted, image_meta)
        self.check_regions(regions, grounder_image, shouted)
        plain = component.ground(grounder_image, grounder_labels, image_meta)
        assert [(r.box, normalize_label(r.label)) for r in regions] == \
            [(r.box, normalize_label(r.label)) for r in plain], \
            f"candidates {shouted[:3]} give other regions than {grounder_labels[:3]}: labels are compared " \
            f"with discover_core.interfaces.normalize_label"

    def test_vocabulary(self, component_cls, component_options, context, component, grounder_image,
                        grounder_labels, image_meta):
        """``vocabulary`` is None (open) or the normalised labels it can return; regions stay inside it."""
        vocab = component_cls.vocabulary(component_options, context)
        if vocab is None:
            return
        assert isinstance(vocab, frozenset) and all(isinstance(x, str) for x in vocab), \
            f"vocabulary() must be None or a frozenset of strings, got {type(vocab).__name__}"
        odd = sorted(x for x in vocab if x != normalize_label(x))[:5]
        assert not odd, f"vocabulary() labels must be normalised (normalize_label): {odd}"
        outside = [r.label for r in component.ground(grounder_image, grounder_labels, image_meta)
                   if normalize_label(r.label) not in vocab]
        assert not outside, f"regions labelled {outside} are outside the grounder's own vocabulary()"

    def test_deterministic(self, component, build, grounder_image, grounder_labels, image_meta):
        first = component.ground(grounder_image, grounder_labels, image_meta)
        assert component.ground(grounder_image, grounder_labels, image_meta) == first
        assert build().ground(grounder_image, grounder_labels, image_meta) == first

    def test_no_candidate_labels_gives_no_regions(self, component, grounder_image, image_meta):
        assert component.ground(grounder_image, [], image_meta) == []

    @pytest.mark.parametrize("size", samples.ODD_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
    def test_odd_image_sizes(self, component, grounder_labels, image_meta, size):
        image = samples.sample_image(*size)
        self.check_regions(component.ground(image, grounder_labels, image_meta), image, grounder_labels)

    def test_does_not_modify_the_image(self, component, grounder_image, grounder_labels, image_meta):
        before = grounder_image.copy()
        component.ground(grounder_image, grounder_labels, image_meta)
        assert np.array_equal(grounder_image, before), "ground() modified its input image"


class GrounderContract(GrounderOptionsContract, ComponentClassContract):
    """The whole grounder contract: class checks (once per class) and behaviour with the options under test."""
