"""Contract test suites and sample inputs that plugin authors reuse.

Subclass the suite of your component's kind in a test module::

    from discover_core.testing import EntropyModelContract

    class TestMyCodec(EntropyModelContract):
        component_class = MyCodec
        options = {"quality": 40}

and pytest runs the whole contract on it. The suites (:mod:`.suites`):
:class:`LabelSourceContract`, :class:`GrounderContract`,
:class:`EntropyModelContract`, :class:`ComposerContract`,
:class:`TaskHeadContract`. Sample inputs (:mod:`.samples`):
:func:`sample_image`, :func:`sample_regions`, :func:`write_box_file`, ...
The pytest plugin (:mod:`.pytest_plugin`, loaded automatically) offers the
same as fixtures.

Names are imported on first use, so importing this package (which pytest does
for its plugin in every test run) costs nothing.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ComponentContract": "suites", "LabelSourceContract": "suites", "GrounderContract": "suites",
    "EntropyModelContract": "suites", "ComposerContract": "suites", "TaskHeadContract": "suites",
    "SUITES": "suites", "HEAVY_MODULES": "suites", "check_image": "suites", "check_pixels_decoded": "suites",
    "json_round_trip": "suites", "entry_point_registry": "suites", "synthetic_pixel_decodes": "suites",
    "sample_image": "samples", "sample_regions": "samples", "sample_meta": "samples",
    "awkward_regions": "samples", "write_box_file": "samples", "tiny_pipeline_dict": "samples",
    "psnr": "samples", "SAMPLE_LABELS": "samples", "SAMPLE_NAME": "samples", "SAMPLE_SIZE": "samples",
    "ODD_SIZES": "samples",
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
