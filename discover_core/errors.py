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
