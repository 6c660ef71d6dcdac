"""Count the import cycles between modules of discover_core and the built-in plugins (imports inside functions
included), as grimp (import-linter's graph) sees them.

    python scripts/import_cycles.py            # one line per cycle (strongly connected set of modules)
    python scripts/import_cycles.py --count    # only the number

A cycle is a strongly connected component of more than one module; a package importing its own
submodules (``__init__`` re-exports) is not counted as a cycle with them.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

import grimp
import networkx as nx

ROOT = Path(__file__).resolve().parent.parent


def packages() -> list[str]:
    doc = tomllib.loads((ROOT / "pyproject.toml").read_text())
    plugins = sorted(doc["project"]["entry-points"]["discover"].values())
    return ["discover_core", *sorted({p.split(":")[0].split(".")[0] for p in plugins})]


def cycles(names: list[str]) -> list[list[str]]:
    graph = grimp.build_graph(*names, cache_dir=None)
    g = nx.DiGraph()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            # a package's __init__ importing its own children is how packages export, not a cycle
            if imported.startswith(module + "."):
                continue
            g.add_edge(module, imported)
    return sorted(sorted(c) for c in nx.strongly_connected_components(g) if len(c) > 1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", action="store_true", help="print only the number of cycles")
    args = ap.parse_args(argv)
    found = cycles(packages())
    if args.count:
        print(len(found))
    else:
        for c in found:
            print(f"{len(c)} modules: " + " -> ".join(c))
        print(f"{len(found)} cycle(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
