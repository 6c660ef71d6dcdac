"""Hook specifications: how a plugin tells discover about its components.

Each hook receives a ``register`` callable; call it once per component class::

    @discover_core.hookimpl
    def register_grounders(register):
        register(MyGrounder)

Plugins are found through the ``discover`` entry-point group (the built-ins
too). Each hook is collected separately, so one failing plugin breaks no other.
"""

import pluggy

hookspec = pluggy.HookspecMarker("discover")
hookimpl = pluggy.HookimplMarker("discover")


@hookspec
def register_label_sources(register):
    """Register label sources: a task -> its candidate labels (LLM, local model, static list)."""


@hookspec
def register_grounders(register):
    """Register grounders: an image + candidate labels -> boxes, labels and scores."""


@hookspec
def register_entropy_models(register):
    """Register entropy models: an image + regions -> side and content chunks, and back."""


@hookspec
def register_composers(register):
    """Register composers: decoded, possibly partial content -> a full image."""


@hookspec
def register_task_heads(register):
    """Register task heads: an image -> predictions; predictions + references -> metrics."""
