"""Built-in grounder ``boxes``: regions read from a JSON file (the oracle grounder)."""

from discover_core.hookspecs import hookimpl

from .grounder import BoxesGrounder


@hookimpl
def register_grounders(register):
    register(BoxesGrounder)
