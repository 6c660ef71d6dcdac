"""Contract test suites and sample inputs that plugin authors reuse.

Subclass the suite of your component's kind in a test module::

    from discover_core.testing import EntropyModelContract

    class TestMyCodec(EntropyModelContract):
        component_class = MyCodec
        options = {"quality": 40}

and pytest runs the whole contract on it. One module per kind:
:class:`LabelSourceContract` (:mod:`.label_source`), :class:`GrounderContract`
(:mod:`.grounder`), :class:`EntropyModelContract` (:mod:`.entropy_model`),
:class:`ComposerContract` (:mod:`.composer`), :class:`TaskHeadContract`
(:mod:`.task_head`), on the common base in :mod:`.contract`; shared checks
(:func:`check_image`, :func:`check_decoded`, ...) are in :mod:`.checks`.

**Several option sets of one component.** Each suite has two halves:

* the class checks, which do not depend on options: name, kind, summary, the
  ``Options`` model (unknown keys rejected, every field described, its schema
  through JSON and YAML, its defaults through YAML), ``format_version`` and
  ``reads()``, declared ``produces`` / ``accepts`` / ``decoder_options`` (never
  a path option), a light module import (in a fresh interpreter) and the
  registration through the ``discover`` entry point;
* the behaviour with the options under test: everything that builds the
  component.

``XContract`` runs both. ``XOptionsContract`` (``GrounderOptionsContract`` ...)
is the behaviour half alone: use it for every further option set of a class,
so the class checks run once per class, not once per option set::

    class TestMyCodec(EntropyModelContract):           # class checks + behaviour
        component_class = MyCodec

    class TestMyCodecFast(EntropyModelOptionsContract):  # behaviour only
        component_class = MyCodec
        options = {"speed": 9}

Nothing is skipped to achieve this: the class tests simply do not exist on an
``...OptionsContract`` subclass. (Tests that build the component are skipped,
with the pip extra to install, when a module in its ``requires`` is missing.)

Sample inputs (:mod:`.samples`): :func:`sample_image`, :func:`sample_regions`,
:func:`write_box_file`, :func:`synthetic_pixel_decodes`, ... The pytest plugin
(:mod:`.pytest_plugin`, loaded automatically) offers the same as fixtures.

Names are imported on first use (the pytest plugin imports this package in every test run, and must stay
light); the imports under ``TYPE_CHECKING`` say where each one is defined, for readers and editors.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .checks import (HEAVY_MODULES, check_decoded, check_image, check_latent, check_mask, check_pixels_decoded,
                         decoded_digest, entry_point_registry, json_round_trip)
    from .composer import ComposerContract, ComposerOptionsContract
    from .contract import ComponentClassContract, ComponentOptionsContract, StreamComponentClassChecks
    from .entropy_model import EntropyModelContract, EntropyModelOptionsContract, check_encoded
    from .grounder import GrounderContract, GrounderOptionsContract, check_regions
    from .label_source import LabelSourceContract, LabelSourceOptionsContract, check_labels
    from .samples import (ODD_SIZES, SAMPLE_LABELS, SAMPLE_NAME, SAMPLE_SIZE, awkward_regions, psnr, sample_image,
                          sample_meta, sample_regions, synthetic_pixel_decodes, tiny_pipeline_dict, write_box_file)
    from .suites import OPTIONS_SUITES, SUITES
    from .task_head import TaskHeadContract, TaskHeadOptionsContract, check_metrics

_EXPORTS = {
    "ComponentClassContract": "contract",
    "ComponentOptionsContract": "contract",
    "ComposerContract": "composer",
    "ComposerOptionsContract": "composer",
    "EntropyModelContract": "entropy_model",
    "EntropyModelOptionsContract": "entropy_model",
    "GrounderContract": "grounder",
    "GrounderOptionsContract": "grounder",
    "HEAVY_MODULES": "checks",
    "LabelSourceContract": "label_source",
    "LabelSourceOptionsContract": "label_source",
    "ODD_SIZES": "samples",
    "OPTIONS_SUITES": "suites",
    "SAMPLE_LABELS": "samples",
    "SAMPLE_NAME": "samples",
    "SAMPLE_SIZE": "samples",
    "SUITES": "suites",
    "StreamComponentClassChecks": "contract",
    "TaskHeadContract": "task_head",
    "TaskHeadOptionsContract": "task_head",
    "awkward_regions": "samples",
    "check_decoded": "checks",
    "check_encoded": "entropy_model",
    "check_image": "checks",
    "check_labels": "label_source",
    "check_latent": "checks",
    "check_mask": "checks",
    "check_metrics": "task_head",
    "check_pixels_decoded": "checks",
    "check_regions": "grounder",
    "decoded_digest": "checks",
    "entry_point_registry": "checks",
    "json_round_trip": "checks",
    "psnr": "samples",
    "sample_image": "samples",
    "sample_meta": "samples",
    "sample_regions": "samples",
    "synthetic_pixel_decodes": "samples",
    "tiny_pipeline_dict": "samples",
    "write_box_file": "samples",
}
"""Every exported name -> the module of this package that defines it (the same as the imports above)."""

__all__ = [
    "HEAVY_MODULES", "ODD_SIZES", "OPTIONS_SUITES", "SAMPLE_LABELS", "SAMPLE_NAME", "SAMPLE_SIZE", "SUITES",
    "ComponentClassContract", "ComponentOptionsContract", "ComposerContract", "ComposerOptionsContract",
    "EntropyModelContract", "EntropyModelOptionsContract", "GrounderContract", "GrounderOptionsContract",
    "LabelSourceContract", "LabelSourceOptionsContract", "StreamComponentClassChecks", "TaskHeadContract",
    "TaskHeadOptionsContract", "awkward_regions", "check_decoded", "check_encoded", "check_image", "check_labels",
    "check_latent", "check_mask", "check_metrics", "check_pixels_decoded", "check_regions", "decoded_digest",
    "entry_point_registry", "json_round_trip", "psnr", "sample_image", "sample_meta", "sample_regions",
    "synthetic_pixel_decodes", "tiny_pipeline_dict", "write_box_file",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
