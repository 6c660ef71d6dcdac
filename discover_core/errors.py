"""Errors a user can act on.

Every error the user can fix derives from :class:`DiscoverError`: it carries a
one-line ``message`` naming the problem and a ``hint`` naming the fix. The CLI
prints both and exits with code 2, without a traceback unless ``--debug``.
"""

from __future__ import annotations


class DiscoverError(Exception):
    """A problem with the user's input, configuration or environment."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class ConfigError(DiscoverError):
    """A pipeline file or component options that do not validate.

    ``problems`` holds ``(path, message)`` pairs, e.g.
    ``("grounder.options.box_threshold", "Input should be less than or equal to 1")``.
    """

    def __init__(self, source: str, problems: list[tuple[str, str]], hint: str | None = None):
        self.source = source
        self.problems = list(problems)
        lines = [f"{source}: {len(self.problems)} problem(s)"]
        lines += [f"  {path}: {msg}" if path else f"  {msg}" for path, msg in self.problems]
        super().__init__("\n".join(lines), hint)

    def __reduce__(self):  # picklable (raised in a worker process, re-raised in the parent)
        return (type(self), (self.source, self.problems, self.hint))


class PluginError(DiscoverError):
    """A plugin that cannot be found, loaded or built."""


class StreamError(DiscoverError):
    """A bitstream that is corrupt, truncated, foreign or of an unknown version."""


class InputError(DiscoverError):
    """An input image or file that cannot be used."""


class WeightsError(DiscoverError):
    """Model weights that are missing or do not fit the architecture."""


class ExtraMissingError(PluginError):
    """A component needs an optional dependency that is not installed."""


class PayloadError(StreamError):
    """A chunk payload that passed its checksum but cannot be read as what the header says it is.

    Entropy models raise it from ``decode`` for payloads they cannot read;
    any other exception from a plugin is reported as a bug of that plugin.
    """


class OutOfMemory(DiscoverError):
    """The machine could not give what a step asked for (exit 2: a smaller input, or more memory, fixes it)."""

    def __init__(self, who: str, action: str, error: BaseException):
        detail = str(error).strip() or "the size asked for is not known"
        self.error = error
        self._args = (who, action, error)
        super().__init__(f"{who} ran out of memory while {action} ({type(error).__name__}: {detail})",
                         "decode on a machine with more memory, or refuse such inputs with a lower budget "
                         "(discover decode --max-memory)")

    def __reduce__(self):
        return (type(self), self._args)


def is_out_of_memory(error: BaseException) -> bool:
    """A ``MemoryError``, or torch's CPU allocator failing (a ``RuntimeError`` naming the bytes it tried)."""
    if isinstance(error, MemoryError):
        return True
    text = str(error)
    return isinstance(error, RuntimeError) and ("can't allocate memory" in text or "out of memory" in text.lower())


class PluginBug(Exception):
    """An unexpected exception inside a plugin: shown as a bug of that plugin, not as the user's fault.

    Not a :class:`DiscoverError`: the CLI exits with code 1 and names the
    distribution to report it to.
    """

    exit_code = 1

    def __init__(self, kind: str, name: str, distribution: str, version: str, action: str,
                 error: BaseException):
        self.kind, self.name, self.distribution, self.version = kind, name, distribution, version
        self.error = error
        self.action = action
        what = f"{type(error).__name__}: {error}"
        if isinstance(error, MemoryError):
            what = "out of memory"
        elif isinstance(error, ImportError):
            what = f"an import failed inside the plugin ({type(error).__name__}: {error})"
        self.message = (f"{kind.replace('_', ' ')} '{name}' ({distribution} {version}) failed while {action}: "
                        f"{what}")
        self.hint = (f"this is a bug in {distribution}; report it to its authors with the output of --debug"
                     if not isinstance(error, MemoryError) else
                     "the machine ran out of memory; use a smaller image or batch, or a machine with more memory")
        super().__init__(self.message)

    def __reduce__(self):  # picklable (raised in a worker process, re-raised in the parent)
        return (type(self), (self.kind, self.name, self.distribution, self.version, self.action, self.error))
