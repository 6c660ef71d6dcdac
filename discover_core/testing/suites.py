"""The contract suite of each kind, by kind (the suites themselves live in one module per kind)."""

from __future__ import annotations

from .composer import ComposerContract, ComposerOptionsContract
from .entropy_model import EntropyModelContract, EntropyModelOptionsContract
from .grounder import GrounderContract, GrounderOptionsContract
from .label_source import LabelSourceContract, LabelSourceOptionsContract
from .task_head import TaskHeadContract, TaskHeadOptionsContract

SUITES = {
    "label_source": LabelSourceContract,
    "grounder": GrounderContract,
    "entropy_model": EntropyModelContract,
    "composer": ComposerContract,
    "task_head": TaskHeadContract,
}
"""The whole suite of each kind: class checks and behaviour."""

OPTIONS_SUITES = {
    "label_source": LabelSourceOptionsContract,
    "grounder": GrounderOptionsContract,
    "entropy_model": EntropyModelOptionsContract,
    "composer": ComposerOptionsContract,
    "task_head": TaskHeadOptionsContract,
}
"""The behaviour half of each suite, for more option sets of a class that a whole suite already tests."""
