"""Label sources ``openai`` and ``ollama``: a large language model turns a task into candidate labels.

This is the paper's stage 1 (task understanding, Algorithm 1): the model is
asked once per task for at least ``min_labels`` labels (the prompt is in
:mod:`.prompt`), the answer is normalised (:mod:`.normalize`) and kept in the
label cache (:mod:`.cache`), so every encode and every later
``discover labels generate`` reuses it without a request.

Importing this package is cheap: the ``openai`` and ``ollama`` clients are
imported when a request is made, never here.
"""

from discover_core.hookspecs import hookimpl

from .ollama_source import OllamaLabels
from .openai_source import OpenAILabels


@hookimpl
def register_label_sources(register):
    register(OpenAILabels)
    register(OllamaLabels)
