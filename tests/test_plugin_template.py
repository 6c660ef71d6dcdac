"""The plugin template (examples/plugin-template) installs, registers its components and passes its tests.

The template is built and installed the way a user installs a plugin (pip,
no network: ``--no-deps --no-build-isolation --no-index``) into a temporary
``--target`` folder that subprocesses get on ``PYTHONPATH``; the project's
own environment is never changed. The source is copied first, so the build
leaves nothing behind in the repository.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "examples" / "plugin-template"
DISTRIBUTION = "discover-plugin-template"
EXPECTED = {
    ("label_source", "template-words"),
    ("grounder", "template-centre"),
    ("entropy_model", "template-png"),
    ("composer", "template-nearest"),
    ("task_head", "template-brightness"),
}


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """The template installed into a temporary target; the environment for subprocesses that see it."""
    work = tmp_path_factory.mktemp("plugin-template")
    source, target = work / "source", work / "site"
    shutil.copytree(TEMPLATE, source, ignore=shutil.ignore_patterns(
        "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DISCOVER_STRICT"))}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONDONTWRITEBYTECODE="1",
               PYTHONPATH=os.pathsep.join([str(target), *filter(None, [os.environ.get("PYTHONPATH")])]))
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(target), str(source)],
        capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, f"pip could not install the template:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    yield {"env": env, "source": source, "target": target}
    shutil.rmtree(work, ignore_errors=True)


def _discover(*args: str, env: dict) -> subprocess.CompletedProcess:
    script = Path(sys.executable).with_name("discover")
    cmd = [str(script)] if script.exists() else [sys.executable, "-c",
                                                  "import sys; from discover_core.cli import main; sys.exit(main())"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, env=env, timeout=120)


def test_template_is_installed_out_of_tree(installed):
    target = installed["target"]
    assert (target / "discover_template" / "__init__.py").is_file()
    assert list(target.glob("discover_plugin_template-*.dist-info"))
    assert not list(TEMPLATE.glob("**/*.egg-info")) and not (TEMPLATE / "build").exists(), \
        "building the template left artefacts in the repository"
    # subprocesses import the installed copy (the source uses a src/ layout, so it cannot shadow it)
    proc = subprocess.run([sys.executable, "-c", "import discover_template; print(discover_template.__file__)"],
                          cwd=installed["source"], capture_output=True, text=True, env=installed["env"], timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()).is_relative_to(target), proc.stdout


def test_discover_plugins_lists_the_template_components(installed):
    proc = _discover("plugins", "--json", env=installed["env"])
    assert proc.returncode == 0, proc.stderr
    listing = json.loads(proc.stdout)
    found = {(c["kind"], c["name"]): c for c in listing["components"]}
    missing = EXPECTED - set(found)
    assert not missing, f"not listed: {sorted(missing)}; failures: {listing['failures']}"
    for key in EXPECTED:
        row = found[key]
        assert row["distribution"] == DISTRIBUTION, row
        assert row["version"] == "0.1.0" and row["plugin"] == "template" and row["available"], row
        assert row["summary"], row
    assert not [f for f in listing["failures"] if f["distribution"] == DISTRIBUTION]
    # the built-ins are still there, from their own distribution
    assert found[("entropy_model", "roi-image")]["distribution"] == "discover-codec"


def test_discover_plugins_show_renders_template_options(installed):
    proc = _discover("plugins", "show", "template-png", env=installed["env"])
    assert proc.returncode == 0, proc.stderr
    for option in ("scale", "margin", "compress_level"):
        assert option in proc.stdout


def test_template_pipeline_validates(installed, tmp_path):
    pipeline = tmp_path / "template.yaml"
    pipeline.write_text(
        "schema_version: 2\n"
        "tasks:\n"
        "  - name: centre\n"
        "    description: whatever is in the middle\n"
        "    label_source: {plugin: template-words, options: {words: [subject]}}\n"
        "    task_heads: [{plugin: template-brightness, options: {buckets: 3}}]\n"
        "grounders: [{plugin: template-centre, options: {fraction: 0.5}}]\n"
        "entropy_model: {plugin: template-png, options: {scale: 0.125}}\n"
        "composer: {plugin: template-nearest}\n", encoding="utf-8")
    proc = _discover("validate", str(pipeline), env=installed["env"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(pipeline.read_text().replace("fraction: 0.5", "fraktion: 0.5"), encoding="utf-8")
    proc = _discover("validate", str(bad), env=installed["env"])
    assert proc.returncode == 2 and "grounders[0].options.fraktion" in proc.stdout + proc.stderr


def test_template_own_tests_pass(installed):
    """The template's tests (the contract suites on its five components) pass against the installed copy."""
    source = installed["source"]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o",
         "addopts=-ra --strict-markers", str(source / "tests")],
        cwd=source, capture_output=True, text=True, env=installed["env"], timeout=600)
    tail = proc.stdout[-4000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, f"the template's tests failed:\n{tail}"
    summary = proc.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary
    assert int(summary.split(" passed")[0].split()[-1]) >= 100, f"fewer tests than expected ran: {summary}"
    assert "skipped" not in summary, f"template tests must not skip:\n{tail}"
