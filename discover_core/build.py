"""Building components once per process, and calling into plugins so their bugs are shown as bugs.

One process builds each (component, options, context) once: every pipeline,
variant, ``discover decode`` of many streams and ``discover.decode`` call
reuses the same built models. The cache holds the :data:`MAX_BUILT` most
recently used components (``DISCOVER_BUILD_CACHE`` sets another bound; 0 turns
it off); a component that fails to build is not kept, so asking again (after
fetching the missing weights, say) tries again.
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from typing import Any, Callable, TypeVar

from .errors import DiscoverError, OutOfMemory, PluginBug, is_out_of_memory
from .interfaces import Component, Context, Options
from .plugins import Registration, Registry

T = TypeVar("T")
_built: OrderedDict[tuple, Component] = OrderedDict()
_lock = threading.RLock()
MAX_BUILT = 16
"""Built components kept per process, least recently used dropped first (``DISCOVER_BUILD_CACHE``)."""


def _bound() -> int:
    raw = os.environ.get("DISCOVER_BUILD_CACHE", "")
    return int(raw) if raw.strip().isdigit() else MAX_BUILT


def _key(reg: Registration, options: Options, context: Context) -> tuple:
    return (reg.kind, reg.qualified, reg.version, json.dumps(options.model_dump(mode="json"), sort_keys=True),
            context.device, str(context.base_dir.resolve()), context.seed, str(context.cache_dir), context.max_memory)


def build(registry: Registry, kind: str, name: str, options: Options, context: Context) -> Component:
    """The component ``name`` of ``kind`` built with ``options`` in ``context``: built on first use, then shared."""
    reg = registry.get(kind, name)
    key = _key(reg, options, context)
    with _lock:
        found = _built.get(key)
        if found is not None:
            _built.move_to_end(key)
            return found
        reg.check_requirements()
        found = call(reg, "being built", reg.cls, options, context)
        found._discover_registration = reg  # type: ignore[attr-defined]
        bound = _bound()
        if bound:
            _built[key] = found
            while len(_built) > bound:
                _built.popitem(last=False)
        return found


def registration(component: Component) -> Registration | None:
    """The registration a component was built from (``None`` if it was built by hand)."""
    return getattr(component, "_discover_registration", None)


def clear() -> None:
    """Forget every built component (frees their memory once nothing else holds them)."""
    with _lock:
        _built.clear()


def call(who: Component | Registration, action: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args)``; an exception that is not a :class:`DiscoverError` becomes a :class:`PluginBug` of ``who``."""
    try:
        return fn(*args, **kwargs)
    except (DiscoverError, PluginBug, KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - the plugin's own bug, a native panic, or out of memory
        if is_out_of_memory(exc):
            raise OutOfMemory(_who(who), action, exc) from exc
        raise bug(who, action, exc) from exc


def _who(who: Component | Registration) -> str:
    reg = who if isinstance(who, Registration) else registration(who)
    kind, name = (reg.kind, reg.name) if reg is not None else (getattr(type(who), "kind", "component"),
                                                                getattr(type(who), "name", type(who).__name__))
    return f"{kind.replace('_', ' ')} '{name}'"


def bug(who: Component | Registration, action: str, exc: BaseException) -> PluginBug:
    """A :class:`PluginBug` naming the component and the distribution that provided it."""
    reg = who if isinstance(who, Registration) else registration(who)
    if reg is not None:
        return PluginBug(reg.kind, reg.name, reg.distribution, reg.version, action, exc)
    cls = type(who)
    return PluginBug(getattr(cls, "kind", "component"), getattr(cls, "name", cls.__name__),
                     getattr(cls, "distribution", "?"), "", action, exc)
