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

Names are imported on first use, so importing this package (which pytest does
for its plugin in every test run) costs nothing.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ComponentClassContract": "contract", "ComponentOptionsContract": "contract",
    "StreamComponentClassChecks": "contract",
    "LabelSourceContract": "label_source", "LabelSourceOptionsContract": "label_source",
    "GrounderContract": "grounder", "GrounderOptionsContract": "grounder",
    "EntropyModelContract": "entropy_model", "EntropyModelOptionsContract": "entropy_model",
    "ComposerContract": "composer", "ComposerOptionsContract": "composer",
    "TaskHeadContract": "task_head", "TaskHeadOptionsContract": "task_head",
    "SUITES": "suites", "OPTIONS_SUITES": "suites",
    "HEAVY_MODULES": "checks", "check_image": "checks", "check_pixels_decoded": "checks",
    "check_latent": "checks", "check_decoded": "checks", "check_mask": "checks", "decoded_digest": "checks",
    "json_round_trip": "checks", "entry_point_registry": "checks",
    "check_labels": "label_source", "check_regions": "grounder", "check_encoded": "entropy_model",
    "check_metrics": "task_head",
    "sample_image": "samples", "sample_regions": "samples", "sample_meta": "samples",
    "awkward_regions": "samples", "write_box_file": "samples", "tiny_pipeline_dict": "samples",
    "synthetic_pixel_decodes": "samples", "psnr": "samples", "SAMPLE_LABELS": "samples", "SAMPLE_NAME": "samples",
    "SAMPLE_SIZE": "samples", "ODD_SIZES": "samples",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
