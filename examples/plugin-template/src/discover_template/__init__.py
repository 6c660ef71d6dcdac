"""discover-plugin-template: one small, real component of each kind.

This module is what the ``discover`` entry point names (see pyproject.toml).
discover imports it when it lists or builds components, so keep it light:
import heavy libraries (torch, transformers, ...) inside a component's
``__init__``, never here or at the top of a component module.
"""

from discover_core import hookimpl

from .codec import TemplatePng
from .composer import TemplateNearest
from .grounder import TemplateCentre
from .head import TemplateBrightness
from .labels import TemplateWords

__version__ = "0.1.0"
__all__ = ["TemplateBrightness", "TemplateCentre", "TemplateNearest", "TemplatePng", "TemplateWords"]


@hookimpl
def register_label_sources(register):
    register(TemplateWords)


@hookimpl
def register_grounders(register):
    register(TemplateCentre)


@hookimpl
def register_entropy_models(register):
    register(TemplatePng)


@hookimpl
def register_composers(register):
    register(TemplateNearest)


@hookimpl
def register_task_heads(register):
    register(TemplateBrightness)
