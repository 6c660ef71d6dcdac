"""Each template component passes discover's contract suite for its kind.

Copy this file when you start a plugin: one class per component, naming the
component and (if its defaults are not what you want to test) its options.
More option sets of the same component use the suite's ``...OptionsContract``
half, which leaves out the checks of the class itself (they run once).
The suites come from ``discover_core.testing``; run ``pytest`` after
``pip install -e .`` so that the entry point is visible.
"""

import math

from discover_core.testing import (ComposerContract, EntropyModelContract, EntropyModelOptionsContract,
                                   GrounderContract, GrounderOptionsContract, LabelSourceContract,
                                   LabelSourceOptionsContract, TaskHeadContract)
from discover_template import TemplateBrightness, TemplateCentre, TemplateNearest, TemplatePng, TemplateWords


class TestTemplateWords(LabelSourceContract):
    component_class = TemplateWords
    options = {"words": ["Person", " traffic  light ", "person", "Dog"], "include_task": True}


class TestTemplateWordsOnly(LabelSourceOptionsContract):
    component_class = TemplateWords
    options = {"words": ["Cat", "dog"]}  # labels known without a task: known_labels() gives them


class TestTemplateCentre(GrounderContract):
    component_class = TemplateCentre
    options = {"fraction": 0.6, "score": 0.75}
    expect_regions = True


class TestTemplateCentreWhole(GrounderOptionsContract):
    component_class = TemplateCentre
    options = {"fraction": 1.0}
    expect_regions = True


class TestTemplatePng(EntropyModelContract):
    component_class = TemplatePng
    min_region_psnr = math.inf  # regions are lossless


class TestTemplatePngMargin(EntropyModelOptionsContract):
    component_class = TemplatePng
    composer_class = TemplateNearest
    options = {"scale": 0.1, "margin": 3, "compress_level": 1}
    min_region_psnr = math.inf


class TestTemplateNearest(ComposerContract):
    component_class = TemplateNearest
    entropy_model_class = TemplatePng


class TestTemplateBrightness(TaskHeadContract):
    component_class = TemplateBrightness
    options = {"buckets": 8}
