"""Built-in grounder ``face``: faces found by OpenCV Haar cascades or scikit-image's LBP cascade.

Importing this package is cheap: OpenCV and scikit-image are imported when the
grounder is built, never here.
"""

from discover_core.hookspecs import hookimpl

from .grounder import FaceGrounder


@hookimpl
def register_grounders(register):
    register(FaceGrounder)
