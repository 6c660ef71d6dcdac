"""``discover models``: list and fetch the model files that components declare (:class:`~.weights.ModelFiles`).

Added to the main command with ``cli.add_command(models)``. Errors are :class:`~.errors.DiscoverError` s
(the main command prints them and exits with code 2); an unexpected exception inside a component's
download is a :class:`~.errors.PluginBug` naming its distribution.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass

import click

from . import plugins
from .cli_common import Group
from .errors import DiscoverError, PluginBug
from .interfaces import Context
from .plugins import Registration
from .weights import ModelFiles


@dataclass
class Entry:
    """One named set of model files and the components that declare it."""

    files: ModelFiles
    components: list[Registration]

    def row(self, context: Context) -> dict:
        mf = self.files
        return {"name": mf.name, "description": mf.description, "source": mf.source,
                "components": [{"kind": r.kind, "name": r.name, "distribution": r.distribution,
                                "version": r.version} for r in self.components],
                "files": {f: s for f, s in mf.files.items()},
                "present": mf.is_present(context), "location": str(mf.location(context))}


def model_entries(registry: plugins.Registry | None = None) -> dict[str, list[Entry]]:
    """Name -> the model-file sets of that name (one, unless two different components use the same name)."""
    registry = registry or plugins.get_registry()
    out: dict[str, list[Entry]] = {}
    for reg in registry.all():
        for mf in getattr(reg.cls, "model_files", ()) or ():
            if not isinstance(mf, ModelFiles):
                continue
            entries = out.setdefault(mf.name, [])
            same = next((e for e in entries if e.files == mf), None)
            if same is not None:
                same.components.append(reg)
            else:
                entries.append(Entry(mf, [reg]))
    return dict(sorted(out.items()))


def _who(entry: Entry) -> str:
    return ", ".join(f"{r.kind.replace('_', ' ')} '{r.name}' ({r.distribution} {r.version})"
                     for r in entry.components)


@click.group("models", cls=Group)
def models() -> None:
    """Model files that components can fetch into the cache folder ($DISCOVER_CACHE_DIR)."""


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def models_list(as_json: bool) -> None:
    """Every set of model files of every installed component: present or not, and where."""
    context = Context()
    entries = [e for group in model_entries().values() for e in group]
    if as_json:
        click.echo(json.dumps({"cache_dir": str(context.cache_dir), "models": [e.row(context) for e in entries]},
                              indent=2))
        return
    if not entries:
        click.echo("no installed component declares model files to fetch")
        return
    for e in entries:
        mf = e.files
        state = "present" if mf.is_present(context) else "missing"
        click.echo(f"{mf.name}  [{state}]  {mf.location(context)}")
        click.echo(f"    {mf.description}" + (f" (from {mf.source})" if mf.source else ""))
        click.echo(f"    used by {_who(e)}")
    missing = [e.files.name for e in entries if not e.files.is_present(context)]
    if missing:
        click.echo(f"fetch with: discover models fetch {missing[0]}")


@models.command("fetch")
@click.argument("name")
@click.option("--force", is_flag=True, help="Download again even if the files are present.")
def models_fetch(name: str, force: bool) -> None:
    """Fetch the model files NAME into the cache folder and check their sha256."""
    context = Context()
    found = model_entries()
    group = found.get(name)
    if not group:
        close = difflib.get_close_matches(name, list(found), n=1, cutoff=0.5)
        raise DiscoverError(f"no model files named '{name}'" + (f"; did you mean '{close[0]}'?" if close else ""),
                            f"known: {', '.join(found)}" if found else
                            "no installed component declares model files (see `discover models list`)")
    if len(group) > 1:
        raise DiscoverError(f"model files '{name}' are declared differently by "
                            + " and by ".join(_who(e) for e in group),
                            "uninstall one of the two distributions, or ask their authors to rename one")
    entry = group[0]
    try:
        where = entry.files.fetch(context, force=force)
    except DiscoverError:
        raise
    except Exception as exc:  # noqa: BLE001 - a component's own download code failed: its bug
        reg = entry.components[0]
        raise PluginBug(reg.kind, reg.name, reg.distribution, reg.version,
                        f"fetching model files '{name}'", exc) from exc
    click.echo(f"{name}: {len(entry.files.files)} file(s) in {where}")
    for f, sha in entry.files.files.items():
        click.echo(f"  {f}" + ("  sha256 ok" if sha else "  (no checksum declared)"))
