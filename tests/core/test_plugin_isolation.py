"""Built-in plugins stand alone: with one of them broken, every other one loads and works.

One subprocess, in which ``import discover_imagenet`` raises (the ``imagenet`` plugin once lent its classifier
to ``tvheads`` and its COCO mapping to ``centernet``): the registry records that one failure, every other
built-in registers the same components as in a healthy install, and components of other plugins build and run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from discover_core.testing import entry_point_registry

BROKEN = "imagenet"

CHILD = r"""
import importlib.abc, json, sys
from pathlib import Path

class Broken(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "discover_imagenet" or name.startswith("discover_imagenet."):
            raise ImportError("discover_imagenet is broken here (test)")
        return None

sys.meta_path.insert(0, Broken())

from discover_core.build import build
from discover_core.interfaces import Context, TaskSpec
from discover_core.plugins import Registry
from discover_core.testing.samples import SAMPLE_LABELS, sample_image, sample_meta, write_box_file

registry = Registry().load_entry_points()
context = Context(base_dir=Path(sys.argv[1]))

def built(kind, name, **options):
    return build(registry, kind, name, registry.get(kind, name).cls.Options(**options), context)

labels = built("label_source", "static", preset="coco-80").labels(TaskSpec("t"))
boxes = write_box_file(context.base_dir / "boxes.json")
regions = built("grounder", "boxes", file=str(boxes)).ground(sample_image(), list(SAMPLE_LABELS), sample_meta())
centernet = registry.get("grounder", "centernet").cls
vocabulary = centernet.vocabulary(centernet.Options(), context)  # COCO names + aliases + ImageNet class names
print(json.dumps({
    "failures": [[f.plugin, f.error] for f in registry.failures],
    "registered": sorted(r.qualified for r in registry.all()),
    "labels": len(labels), "regions": len(regions), "tabby": "tabby" in vocabulary,
    "imported": "discover_imagenet" in sys.modules,
}))
"""


def test_one_broken_plugin_leaves_the_others_loaded_and_working(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DISCOVER_STRICT_PLUGINS"}
    # cwd: the installed entry points, not a stale *.egg-info that the working folder may hold
    proc = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])

    assert [plugin for plugin, _ in got["failures"]] == [BROKEN]
    assert "discover_imagenet is broken here" in got["failures"][0][1]
    assert not got["imported"]
    healthy = entry_point_registry()
    assert BROKEN in {r.plugin for r in healthy.all()} and not healthy.failures
    expected = sorted(r.qualified for r in healthy.all() if r.plugin != BROKEN)
    assert got["registered"] == expected  # every other built-in: all its components, nothing missing
    assert got["labels"] == 80 and got["regions"] > 0 and got["tabby"]
