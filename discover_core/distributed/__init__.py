"""Dataset runs on Ray (``--engine ray``): ``evaluate``, ``sweep`` and folder ``encode`` on a local Ray instance or a
cluster, with the in-process engine as the default. See docs/ray.md.

- :mod:`.cluster`: connecting, and the actor pool (components built once per actor, back-pressure, retries).
- :mod:`.evaluate`: the engine of ``evaluate`` / ``sweep`` (same rows as the local engine, same store).
- :mod:`.encode`: folder ``encode`` on actors (streams written atomically by the driver; resumable).
"""

from .cluster import RayOptions

__all__ = ["RayEngine", "RayOptions"]


def __getattr__(name: str):
    if name == "RayEngine":
        from .evaluate import RayEngine

        return RayEngine
    raise AttributeError(name)
