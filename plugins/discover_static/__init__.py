"""Built-in label source ``static``: presets, a user file, or labels inline."""

from discover_core.hookspecs import hookimpl

from .source import StaticLabels


@hookimpl
def register_label_sources(register):
    register(StaticLabels)
