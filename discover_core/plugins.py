"""The plugin registry: entry-point loading, isolation of broken plugins, lookup.

Built-in plugins are found exactly like third-party ones: through the
``discover`` entry-point group. A plugin that fails to import (or whose hook
raises) is recorded in :attr:`Registry.failures` and skipped; set
``DISCOVER_STRICT_PLUGINS=1`` to re-raise instead. A plugin that implements a hook discover does not define
(``register_composer`` for ``register_composers``) fails to load, naming the hook and the nearest real one.
``DISCOVER_DISABLE_PLUGIN_AUTOLOAD=1`` loads only the entry points named in ``DISCOVER_PLUGINS``
(comma-separated; as pytest's ``PYTEST_DISABLE_PLUGIN_AUTOLOAD`` and llm's ``LLM_LOAD_PLUGINS``).

Two plugins may register the same name (a third-party ``paste`` beside the
built-in one): both are listed, the plain name is ambiguous, and the
qualified name ``<plugin>:<name>`` (entry-point name, colon, component name,
e.g. ``roi:paste``) picks one.
"""

from __future__ import annotations

import difflib
import os
import re
import traceback
from dataclasses import dataclass
from importlib import metadata
from types import ModuleType
from typing import Any, Iterable

import pluggy

from . import hookspecs
from .errors import ExtraMissingError, PluginError
from .interfaces import KIND_BASES, KINDS, Component

ENTRY_POINT_GROUP = "discover"
NAME_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
QUALIFIED_RE = re.compile(r"^(?P<plugin>[A-Za-z0-9_.-]+):(?P<name>[a-z0-9]+(-[a-z0-9]+)*)$")
HOOK_FOR_KIND = {
    "label_source": "register_label_sources",
    "grounder": "register_grounders",
    "entropy_model": "register_entropy_models",
    "composer": "register_composers",
    "task_head": "register_task_heads",
}


@dataclass(frozen=True)
class Registration:
    """A registered component and who provided it."""

    cls: type[Component]
    kind: str
    plugin: str
    distribution: str
    version: str

    @property
    def name(self) -> str:
        return self.cls.name

    @property
    def provider(self) -> str:
        return f"{self.distribution} {self.version} (plugin '{self.plugin}')"

    @property
    def qualified(self) -> str:
        """``<plugin>:<name>``: the name that picks this component when another plugin uses the same name."""
        return f"{self.plugin}:{self.name}"

    def install_hint(self) -> str:
        """What to install for the component's missing requirements: its own distribution's extra."""
        extra = self.cls.extra
        return f"pip install '{self.distribution}[{extra}]'" if extra else f"pip install '{self.distribution}'"

    def check_requirements(self) -> None:
        """Raise :class:`ExtraMissingError` naming the modules and the extra of the providing distribution."""
        missing = self.cls.missing_requirements()
        if missing:
            raise ExtraMissingError(
                f"{self.kind.replace('_', ' ')} '{self.name}' needs {', '.join(missing)}, which is not installed",
                self.install_hint())


@dataclass(frozen=True)
class LoadFailure:
    """A plugin that could not be loaded, and why."""

    plugin: str
    distribution: str
    version: str
    error: str
    details: str


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def _strict() -> bool:
    return _flag("DISCOVER_STRICT_PLUGINS")


def _wanted() -> set[str] | None:
    """The entry-point names to load, or ``None`` for all (autoload)."""
    if not _flag("DISCOVER_DISABLE_PLUGIN_AUTOLOAD"):
        return None
    return {n.strip() for n in os.environ.get("DISCOVER_PLUGINS", "").split(",") if n.strip()}


class Registry:
    """All components that the installed plugins register, by kind and name."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager("discover")
        self.pm.add_hookspecs(hookspecs)
        self.components: dict[str, dict[str, Registration]] = {k: {} for k in KINDS}
        """Per kind: every unambiguous plain name, and every qualified name, to its registration."""
        self.failures: list[LoadFailure] = []
        self.ambiguous: dict[tuple[str, str], list[Registration]] = {}
        """Plain names that several plugins register, to all their registrations."""

    # -- loading ---------------------------------------------------------
    def load_entry_points(self) -> "Registry":
        """Import every plugin of the ``discover`` entry-point group, isolating failures."""
        seen: set[str] = set()
        wanted = _wanted()
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if wanted is not None and ep.name not in wanted:
                continue
            dist = getattr(ep, "dist", None)
            dist_name = dist.metadata["Name"] if dist is not None else "?"
            version = dist.version if dist is not None else "?"
            key = f"{dist_name}:{ep.name}"
            if key in seen:  # the same distribution found twice on sys.path
                continue
            seen.add(key)
            try:
                plugin = ep.load()
            except Exception as exc:  # noqa: BLE001 - any import error is recorded
                if _strict():
                    raise
                self._fail(ep.name, dist_name, version, exc)
                continue
            self.add_plugin(plugin, name=ep.name, distribution=dist_name, version=version)
        self.pm.check_pending()  # every hook left is one discover defines (misspelt ones failed their plugin)
        return self

    def add_plugin(self, plugin: ModuleType | Any, name: str | None = None,
                   distribution: str = "local", version: str = "0") -> None:
        """Register a plugin object (a module or any object with hook implementations)."""
        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:  # noqa: BLE001
            if _strict():
                raise
            self._fail(name, distribution, version, exc)
            return
        unknown = self._unknown_hooks(plugin)
        if unknown:
            self.pm.unregister(plugin)
            error = PluginError(f"plugin '{name}' implements {', '.join(unknown)}, which discover does not define",
                                "; ".join(self._nearest_hook(h) for h in unknown))
            if _strict():
                raise error
            self._fail(name, distribution, version, error)
            return
        staged: list[Registration] = []
        try:
            for kind, hook_name in HOOK_FOR_KIND.items():
                for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                    if impl.plugin is plugin:
                        impl.function(register=self._registrar(kind, name, distribution, version, staged))
        except Exception as exc:  # noqa: BLE001
            self.pm.unregister(plugin)
            if _strict():
                raise
            self._fail(name, distribution, version, exc)
            return
        if not staged:
            error = PluginError(f"plugin '{name}' registers no components",
                                "it implements none of the discover hooks (a namespace package left by an old "
                                "editable install? reinstall it)")
            if _strict():
                raise error
            self._fail(name, distribution, version, error)
            return
        for reg in staged:
            self._add(reg)

    def _unknown_hooks(self, plugin: Any) -> list[str]:
        """Hooks ``plugin`` implements that have no specification (pluggy's ``check_pending``, for one plugin)."""
        return sorted(c.name for c in self.pm.get_hookcallers(plugin) or []
                      if not c.has_spec() and any(not i.optionalhook for i in c.get_hookimpls() if i.plugin is plugin))

    @staticmethod
    def _nearest_hook(name: str) -> str:
        close = difflib.get_close_matches(name, list(HOOK_FOR_KIND.values()), n=1, cutoff=0.6)
        return (f"did you mean '{close[0]}'?" if close else
                f"discover's hooks are: {', '.join(HOOK_FOR_KIND.values())}")

    def _registrar(self, kind: str, plugin: str, distribution: str, version: str, staged: list):
        base = KIND_BASES[kind]

        def register(cls: type[Component]) -> None:
            if not (isinstance(cls, type) and issubclass(cls, base)):
                raise PluginError(
                    f"plugin '{plugin}' registered {cls!r} as a {kind.replace('_', ' ')}, "
                    f"but it is not a subclass of discover_core.{base.__name__}"
                )
            name = getattr(cls, "name", None)
            if not isinstance(name, str) or not NAME_RE.match(name):
                raise PluginError(
                    f"plugin '{plugin}' registered {cls.__name__} with name {name!r}",
                    "component names are kebab-case: lower-case letters, digits and single dashes",
                )
            staged.append(Registration(cls, kind, plugin, distribution, version))

        return register

    def _add(self, reg: Registration) -> None:
        table = self.components[reg.kind]
        if reg.qualified in table:
            error = PluginError(f"plugin '{reg.plugin}' registers {reg.kind.replace('_', ' ')} '{reg.name}' twice",
                                "register each component once")
            if _strict():
                raise error
            self._fail(reg.plugin, reg.distribution, reg.version, error)
            return
        if "distribution" not in vars(reg.cls):  # who to name in install hints and bug reports
            reg.cls.distribution = reg.distribution
        table[reg.qualified] = reg
        key = (reg.kind, reg.name)
        if key in self.ambiguous:
            self.ambiguous[key].append(reg)
        elif reg.name in table:
            # Both stay listed and usable by their qualified names; the plain name is ambiguous.
            self.ambiguous[key] = [table.pop(reg.name), reg]
        else:
            table[reg.name] = reg

    def _fail(self, plugin: str, distribution: str, version: str, exc: BaseException) -> None:
        self.failures.append(LoadFailure(
            plugin=plugin, distribution=distribution, version=version,
            error=(exc.message + (f" ({exc.hint})" if exc.hint else "") if isinstance(exc, PluginError)
                   else f"{type(exc).__name__}: {exc}"),
            details="".join(traceback.format_exception(exc)),
        ))

    # -- lookup ----------------------------------------------------------
    def names(self, kind: str) -> list[str]:
        """Plain names of the components of ``kind`` (ambiguous ones included)."""
        return sorted({r.name for r in self.components[kind].values()})

    def all(self, kind: str | None = None) -> Iterable[Registration]:
        """Every registration (each once), by kind and name."""
        for k in KINDS if kind is None else (kind,):
            regs = {r.qualified: r for r in self.components[k].values()}
            yield from sorted(regs.values(), key=lambda r: (r.name, r.plugin))

    def ambiguity_error(self, kind: str, name: str) -> PluginError:
        regs = self.ambiguous[(kind, name)]
        return PluginError(
            f"{kind.replace('_', ' ')} '{name}' is provided by "
            + " and ".join(f"{r.provider}" for r in regs),
            "name one of them: " + ", ".join(f"`plugin: {r.qualified}`" for r in regs))

    def get(self, kind: str, name: str) -> Registration:
        """The registration of ``name`` (or ``plugin:name``) among ``kind``; a clear error if absent or ambiguous."""
        if kind not in self.components:
            raise PluginError(f"unknown component kind '{kind}'", f"kinds are: {', '.join(KINDS)}")
        if (kind, name) in self.ambiguous:
            raise self.ambiguity_error(kind, name)
        try:
            return self.components[kind][name]
        except KeyError:
            raise PluginError(self.unknown_message(kind, name), self.unknown_hint(kind)) from None

    def find(self, name: str) -> list[Registration]:
        """Every component called ``name`` (or ``plugin:name``), of any kind."""
        out = []
        for k in KINDS:
            if (k, name) in self.ambiguous:
                out += self.ambiguous[(k, name)]
            elif name in self.components[k]:
                out.append(self.components[k][name])
        return out

    def unknown_message(self, kind: str, name: str) -> str:
        label = kind.replace("_", " ")
        close = difflib.get_close_matches(name, self.names(kind) + sorted(self.components[kind]), n=1, cutoff=0.5)
        msg = f"unknown {label} '{name}'"
        if close:
            msg += f"; did you mean '{close[0]}'?"
        return msg

    def unknown_hint(self, kind: str) -> str:
        names = self.names(kind)
        hint = f"installed {kind.replace('_', ' ')}s: {', '.join(names) if names else '(none)'}"
        broken = [f.plugin for f in self.failures]
        if broken:
            hint += f"; plugins that failed to load: {', '.join(broken)} (see `discover plugins`)"
        return hint


_default: Registry | None = None


def get_registry(refresh: bool = False) -> Registry:
    """The process-wide registry, loaded from entry points on first use."""
    global _default
    if _default is None or refresh:
        _default = Registry().load_entry_points()
    return _default
