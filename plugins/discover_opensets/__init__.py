"""Open-vocabulary grounders ``grounding-dino`` (transformers) and ``yolo-world`` (ultralytics).

Importing this package is cheap: torch, transformers and ultralytics are
imported when a grounder is built, never here.
"""

from discover_core.hookspecs import hookimpl

from .grounding_dino import GroundingDino
from .yolo_world import YoloWorld


@hookimpl
def register_grounders(register):
    register(GroundingDino)
    register(YoloWorld)
