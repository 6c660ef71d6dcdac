"""Dataset runs on Ray (``--engine ray``): ``evaluate``, ``sweep`` and folder ``encode`` on a local Ray instance or a
cluster, with the in-process engine as the default. See docs/ray.md.

- :mod:`.cluster`: connecting, and the actor pool (components built once per actor, back-pressure, retries).
- :mod:`.evaluate`: the engine of ``evaluate`` / ``sweep`` (same rows as the local engine, same store).
- :mod:`.encode`: folder ``encode`` on actors (streams written atomically by the driver; resumable).
"""

from .cluster import RayOptions
from .evaluate import RayEngine

__all__ = ["RayEngine", "RayOptions"]
