"""pytest plugin ``discover``: fixtures for plugin authors (loaded through the ``pytest11`` entry point).

Fixtures:

``sample_image``
    a deterministic 96x64 RGB uint8 image with a gradient and three objects
    (``square``, ``disc``, ``stripes``), not noise.
``sample_image_factory``
    ``sample_image_factory(width, height, seed=0)`` for other sizes/colours.
``sample_regions``
    the :class:`~discover_core.Region` of each object of ``sample_image``.
``sample_labels``
    their labels: ``["square", "disc", "stripes"]``.
``sample_meta``
    the :class:`~discover_core.ImageMeta` of the sample (``sample.png``).
``sample_box_file``
    a JSON box file (``boxes`` grounder format) listing the sample regions.
``discover_registry``
    a fresh :class:`~discover_core.plugins.Registry` loaded from the
    ``discover`` entry points (not the process-wide one).
``tiny_pipeline_dict``
    a schema 2 pipeline mapping of built-ins only (static, boxes, roi-image, paste),
    ready for :func:`discover_core.pipeline_from_dict`.
``tiny_pipeline``
    that pipeline, built against ``discover_registry``.

This module imports nothing at load time besides pytest: every fixture
imports what it needs when it runs.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def sample_image_factory():
    from .samples import sample_image

    return sample_image


@pytest.fixture
def sample_image():
    from .samples import sample_image

    return sample_image()


@pytest.fixture
def sample_regions():
    from .samples import sample_regions

    return sample_regions()


@pytest.fixture
def sample_labels():
    from .samples import SAMPLE_LABELS

    return list(SAMPLE_LABELS)


@pytest.fixture
def sample_meta():
    from .samples import sample_meta

    return sample_meta()


@pytest.fixture
def sample_box_file(tmp_path):
    from .samples import write_box_file

    return write_box_file(tmp_path / "boxes.json")


@pytest.fixture
def discover_registry():
    from ..plugins import Registry

    return Registry().load_entry_points()


@pytest.fixture
def tiny_pipeline_dict(sample_box_file):
    from .samples import tiny_pipeline_dict

    return tiny_pipeline_dict(sample_box_file)


@pytest.fixture
def tiny_pipeline(tiny_pipeline_dict, discover_registry, tmp_path):
    from ..pipeline import pipeline_from_dict

    return pipeline_from_dict(tiny_pipeline_dict, registry=discover_registry, base_dir=tmp_path)
