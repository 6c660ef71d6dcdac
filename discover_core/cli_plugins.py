"""``discover plugins`` and ``discover plugins show``: the installed components and their options, laid out to be
read at 80 columns."""

from __future__ import annotations

import difflib
import json
import typing
from collections import Counter

import click
from rich.markup import escape
from rich.table import Table

from .cli_common import Group, out
from .errors import DiscoverError
from .interfaces import KINDS
from .plugins import get_registry


def _kind_option():
    return click.option("--kind", type=click.Choice(KINDS), help="Only components of this kind.")


def _grid() -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    return table


@click.group("plugins", cls=Group, invoke_without_command=True)
@_kind_option()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def plugins_cmd(ctx: click.Context, kind: str | None, as_json: bool) -> None:
    """List every component with its kind and provider, and the plugins that failed to load."""
    if ctx.invoked_subcommand is not None:
        return
    reg = get_registry()
    rows = [{"kind": r.kind, "name": r.name, "qualified": r.qualified, "plugin": r.plugin,
             "distribution": r.distribution, "version": r.version, "summary": r.cls.summary(),
             "ambiguous": (r.kind, r.name) in reg.ambiguous, "format_version": r.cls.format_version,
             "available": not r.cls.missing_requirements(), "install": r.install_hint(),
             "missing": r.cls.missing_requirements(), "extra": r.cls.extra} for r in reg.all(kind)]
    failures = [{"plugin": f.plugin, "distribution": f.distribution, "version": f.version, "error": f.error}
                for f in reg.failures]
    if as_json:
        out.print_json(json.dumps({"components": rows, "failures": failures}))
        return
    common = Counter(f"{r['distribution']} {r['version']}" for r in rows).most_common(1)
    usual = common[0][0] if common else ""
    out.print("[bold]discover components[/]" + (f" (from {escape(usual)} unless noted)" if usual else ""))
    for k in KINDS:
        mine = [r for r in rows if r["kind"] == k]
        if not mine:
            continue
        out.print(f"\n[bold]{k.replace('_', ' ')}s[/]")
        table = _grid()
        for r in mine:
            text = escape(r["summary"])
            who = f"{r['distribution']} {r['version']}"
            if who != usual:
                text += f" [dim](from {escape(who)})[/]"
            if not r["available"]:
                text += f" [yellow](needs {', '.join(r['missing'])}: {escape(r['install'])})[/]"
            if r["ambiguous"]:
                text += f" [yellow](name shared with another plugin: use {r['qualified']})[/]"
            table.add_row("  " + (r["qualified"] if r["ambiguous"] else r["name"]), text)
        out.print(table)
    out.print("\n`discover plugins show NAME` lists a component's options.", markup=False)
    if failures:
        out.print("[red]plugins that failed to load:[/]")
        for f in failures:
            out.print(f"  {f['plugin']} ({f['distribution']} {f['version']}): {f['error']}", markup=False)


@plugins_cmd.command("show")
@click.argument("name")
@_kind_option()
def plugins_show(name: str, kind: str | None) -> None:
    """Print a component's options with their types, choices, ranges, defaults and descriptions."""
    reg = get_registry()
    found = [reg.get(kind, name)] if kind else reg.find(name)
    if not found:
        everything = sorted({n for k in KINDS for n in reg.names(k)})
        close = difflib.get_close_matches(name, everything, n=1, cutoff=0.5)
        raise DiscoverError(f"no component named '{name}'" + (f"; did you mean '{close[0]}'?" if close else ""),
                            f"installed components: {', '.join(everything)}")
    for r in found:
        out.print(f"[bold]{r.name}[/] ({r.kind.replace('_', ' ')}, {r.distribution} {r.version})")
        doc = (r.cls.__doc__ or "").strip()
        if doc:
            out.print(doc, markup=False)
        if r.cls.missing_requirements():
            out.print(f"[yellow]not available: needs {', '.join(r.cls.missing_requirements())} "
                      f"({escape(r.install_hint())})[/]")
        fields = r.cls.Options.model_fields
        if not fields:
            out.print("options: none")
            continue
        out.print("options:")
        table = _grid()
        for fname, field in fields.items():
            default = "required" if field.is_required() else \
                f"default {field.get_default(call_default_factory=True)!r}"
            text = f"{type_text(field.annotation, field.metadata)}; {default}"
            if field.description:
                text += "\n" + field.description
            table.add_row("  " + fname, escape(text))
        out.print(table)


def type_text(annotation, metadata=()) -> str:
    """A field's type as a person reads it: choices for a Literal, ``or null`` for an Optional, and its range."""
    text = _type_name(annotation)
    bounds = _range(metadata)
    return f"{text}, {bounds}" if bounds else text


def _type_name(annotation) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return "one of " + ", ".join(str(a) for a in args)
    if origin is typing.Union or type(annotation).__name__ == "UnionType":
        parts = [_type_name(a) for a in args if a is not type(None)]
        return " or ".join(parts + (["null"] if type(None) in args else []))
    if origin is typing.Annotated:
        return _type_name(args[0])
    if isinstance(annotation, type) and not args:
        return annotation.__name__
    return str(annotation).replace("typing.", "")


SYMBOLS = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}


def _range(metadata) -> str:
    """Pydantic's constraints (annotated_types Ge/Gt/Le/Lt, MinLen/MaxLen) in words, e.g. ``1 to 100``."""
    seen = {}
    for m in metadata:
        for attr in ("ge", "gt", "le", "lt", "min_length", "max_length", "multiple_of"):
            value = getattr(m, attr, None)
            if value is not None:
                seen[attr] = value
    low = next(((k, seen[k]) for k in ("ge", "gt") if k in seen), None)
    high = next(((k, seen[k]) for k in ("le", "lt") if k in seen), None)
    if low and high and low[0] == "ge" and high[0] == "le":
        parts = [f"{low[1]} to {high[1]}"]
    else:
        parts = [f"{SYMBOLS[b[0]]} {b[1]}" for b in (low, high) if b]
    if "min_length" in seen or "max_length" in seen:
        parts.append(f"length {seen.get('min_length', 0)} to {seen.get('max_length', '∞')}")
    if "multiple_of" in seen:
        parts.append(f"a multiple of {seen['multiple_of']}")
    return " and ".join(parts)
