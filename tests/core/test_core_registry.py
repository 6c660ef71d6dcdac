"""The plugin registry: entry-point loading, isolation of broken plugins, duplicates, lookup."""

from __future__ import annotations

import sys
import textwrap
import uuid
from importlib import metadata

import pytest

import discover_core.plugins as plugins_mod
from discover_core.config import resolve
from discover_core.errors import ConfigError, PluginError
from discover_core.plugins import ENTRY_POINT_GROUP, Registry

GOOD = '''
from discover_core import Composer, hookimpl

class Fancy(Composer):
    """A fake composer from a third-party distribution."""
    name = "fake-fancy"

@hookimpl
def register_composers(register):
    register(Fancy)
'''

BROKEN_IMPORT = '''
raise ImportError("boom: this plugin needs libfoo")
'''

HOOK_RAISES = '''
from discover_core import Composer, hookimpl

class HalfGood(Composer):
    """Registered by a hook of a plugin whose other hook raises."""
    name = "half-good"

@hookimpl
def register_composers(register):
    register(HalfGood)

@hookimpl
def register_grounders(register):
    raise RuntimeError("hook exploded")
'''

NOT_A_SUBCLASS = '''
from discover_core import Composer, hookimpl

class NotAGrounder(Composer):
    """A composer registered as a grounder."""
    name = "not-a-grounder"

@hookimpl
def register_grounders(register):
    register(NotAGrounder)
'''

NOT_A_CLASS = '''
from discover_core import hookimpl

@hookimpl
def register_composers(register):
    register(object())
'''

BAD_NAME = '''
from discover_core import Grounder, hookimpl

class BadName(Grounder):
    """A grounder whose name is not kebab-case."""
    name = "Bad_Name"

@hookimpl
def register_grounders(register):
    register(BadName)
'''

DUPLICATE = '''
from discover_core import EntropyModel, hookimpl

class Impostor(EntropyModel):
    """Another entropy model that claims the built-in's name."""
    name = "roi-image"

@hookimpl
def register_entropy_models(register):
    register(Impostor)
'''

DIST_NAME, DIST_VERSION = "fake-third-party", "1.2.3"


@pytest.fixture
def fake_plugins(tmp_path, monkeypatch):
    """``add(ep_name, source)``: a plugin module in tmp_path, offered through a fake entry point.

    The fake entry points come from a fake distribution (a ``.dist-info`` folder in tmp_path) and are
    returned next to the real ones by a monkeypatched ``metadata.entry_points``.
    """
    real_entry_points = metadata.entry_points
    info = tmp_path / f"{DIST_NAME.replace('-', '_')}-{DIST_VERSION}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {DIST_NAME}\nVersion: {DIST_VERSION}\n")
    dist = metadata.PathDistribution(info)
    monkeypatch.syspath_prepend(str(tmp_path))
    fakes: list[metadata.EntryPoint] = []
    modules: list[str] = []

    def loads(ep) -> bool:
        try:
            ep.load()
            return True
        except Exception:  # noqa: BLE001 - a real plugin that is broken here is not under test
            return False

    # Only the real plugins that import here, so the tests do not depend on other plugins' state.
    real = [ep for ep in real_entry_points(group=ENTRY_POINT_GROUP) if loads(ep)]

    def entry_points(**kwargs):
        if kwargs.get("group") == ENTRY_POINT_GROUP:
            return real + fakes
        return real_entry_points(**kwargs)

    monkeypatch.setattr(plugins_mod.metadata, "entry_points", entry_points)

    def add(ep_name: str, source: str) -> str:
        module = f"fake_discover_{ep_name.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
        ep = metadata.EntryPoint(name=ep_name, value=module, group=ENTRY_POINT_GROUP)
        fakes.append(ep._for(dist))
        modules.append(module)
        return module

    yield add
    for m in modules:
        sys.modules.pop(m, None)


def failure_of(registry: Registry, plugin: str):
    found = [f for f in registry.failures if f.plugin == plugin]
    assert found, f"no failure recorded for {plugin}: {registry.failures}"
    return found[0]


def assert_builtins_work(registry: Registry) -> None:
    assert registry.get("entropy_model", "roi-image").plugin == "roi"
    assert registry.get("composer", "paste").plugin == "roi"
    assert registry.get("grounder", "boxes").plugin == "boxes"
    assert registry.get("label_source", "static").plugin == "static"


# -- built-ins ------------------------------------------------------------------------------
def test_builtins_come_through_entry_points_with_distribution_and_version():
    registry = Registry().load_entry_points()
    version = metadata.version("discover-codec")
    expected = {("label_source", "static"): "static", ("grounder", "boxes"): "boxes",
                ("entropy_model", "roi-image"): "roi", ("composer", "paste"): "roi"}
    for (kind, name), plugin in expected.items():
        reg = registry.get(kind, name)
        assert (reg.kind, reg.name, reg.plugin) == (kind, name, plugin)
        assert reg.distribution == "discover-codec"
        assert reg.version == version
        assert "discover-codec" in reg.provider and version in reg.provider
    # The built-ins are registered as plugins of the pluggy manager under their entry-point names.
    assert {"static", "boxes", "roi"} <= {name for name, _ in registry.pm.list_name_plugin()}


def test_every_installed_builtin_plugin_loads():
    """No built-in entry point of discover-codec is broken (heavy imports happen at build time)."""
    registry = Registry().load_entry_points()
    ours = [f for f in registry.failures if f.distribution == "discover-codec"]
    assert not ours, "\n".join(f"{f.plugin}: {f.error}" for f in ours)


def test_each_builtin_kind_has_a_component():
    registry = Registry().load_entry_points()
    for kind in ("label_source", "grounder", "entropy_model", "composer"):
        assert registry.names(kind), kind


# -- isolation ------------------------------------------------------------------------------
def test_plugin_that_fails_to_import_is_recorded_and_others_load(fake_plugins):
    fake_plugins("aaa-broken", BROKEN_IMPORT)
    fake_plugins("zzz-good", GOOD)
    registry = Registry().load_entry_points()
    failure = failure_of(registry, "aaa-broken")
    assert (failure.distribution, failure.version) == (DIST_NAME, DIST_VERSION)
    assert "ImportError" in failure.error and "boom: this plugin needs libfoo" in failure.error
    assert "Traceback" in failure.details
    good = registry.get("composer", "fake-fancy")
    assert (good.distribution, good.version, good.plugin) == (DIST_NAME, DIST_VERSION, "zzz-good")
    assert_builtins_work(registry)
    # The failure is pointed out where a user looks for a missing name.
    with pytest.raises(PluginError) as exc:
        registry.get("composer", "nosuch")
    assert "aaa-broken" in str(exc.value)


def test_strict_mode_reraises_import_errors(fake_plugins, monkeypatch):
    fake_plugins("aaa-broken", BROKEN_IMPORT)
    monkeypatch.setenv("DISCOVER_STRICT_PLUGINS", "1")
    with pytest.raises(ImportError, match="boom"):
        Registry().load_entry_points()


@pytest.mark.parametrize("value", ["", "0"])
def test_strict_mode_off_values(fake_plugins, monkeypatch, value):
    fake_plugins("aaa-broken", BROKEN_IMPORT)
    monkeypatch.setenv("DISCOVER_STRICT_PLUGINS", value)
    registry = Registry().load_entry_points()
    failure_of(registry, "aaa-broken")


def test_hook_that_raises_is_isolated(fake_plugins):
    fake_plugins("aaa-hook", HOOK_RAISES)
    fake_plugins("zzz-good", GOOD)
    registry = Registry().load_entry_points()
    failure = failure_of(registry, "aaa-hook")
    assert failure.error == "RuntimeError: hook exploded"
    # A plugin is registered completely or not at all.
    assert "half-good" not in registry.names("composer")
    assert registry.get("composer", "fake-fancy").plugin == "zzz-good"
    assert_builtins_work(registry)


def test_hook_that_raises_reraises_in_strict_mode(fake_plugins, monkeypatch):
    fake_plugins("aaa-hook", HOOK_RAISES)
    monkeypatch.setenv("DISCOVER_STRICT_PLUGINS", "1")
    with pytest.raises(RuntimeError, match="hook exploded"):
        Registry().load_entry_points()


@pytest.mark.parametrize("source, expected", [
    (NOT_A_SUBCLASS, ["not a subclass of discover_core.Grounder", "as a grounder"]),
    (NOT_A_CLASS, ["not a subclass of discover_core.Composer", "object object"]),
    (BAD_NAME, ["'Bad_Name'", "kebab-case"]),
])
def test_invalid_registrations_fail_that_plugin_with_a_clear_message(fake_plugins, source, expected):
    fake_plugins("aaa-invalid", source)
    fake_plugins("zzz-good", GOOD)
    registry = Registry().load_entry_points()
    failure = failure_of(registry, "aaa-invalid")
    for text in expected:
        assert text in failure.error, failure.error
    assert "aaa-invalid" in failure.error  # names the plugin
    assert "not-a-grounder" not in registry.names("grounder")
    assert "Bad_Name" not in registry.names("grounder")
    assert registry.get("composer", "fake-fancy")
    assert_builtins_work(registry)


def test_bad_name_reraises_in_strict_mode(fake_plugins, monkeypatch):
    fake_plugins("aaa-invalid", BAD_NAME)
    monkeypatch.setenv("DISCOVER_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="Bad_Name"):
        Registry().load_entry_points()


# -- duplicates -----------------------------------------------------------------------------
def test_a_name_shared_with_a_builtin_is_ambiguous_and_both_are_listed(fake_plugins):
    fake_plugins("dupe", DUPLICATE)
    registry = Registry().load_entry_points()
    version = metadata.version("discover-codec")
    with pytest.raises(PluginError) as exc:
        registry.get("entropy_model", "roi-image")
    message = exc.value.message
    assert "'roi-image'" in message
    assert f"discover-codec {version} (plugin 'roi')" in message
    assert f"{DIST_NAME} {DIST_VERSION} (plugin 'dupe')" in message
    assert "roi:roi-image" in exc.value.hint and "dupe:roi-image" in exc.value.hint
    # Nobody is marked as failed: both are listed, and the qualified names pick one.
    assert not registry.failures
    listed = {(r.plugin, r.distribution) for r in registry.all("entropy_model") if r.name == "roi-image"}
    assert listed == {("roi", "discover-codec"), ("dupe", DIST_NAME)}
    assert registry.get("entropy_model", "roi:roi-image").distribution == "discover-codec"
    assert registry.get("entropy_model", "dupe:roi-image").cls.__name__ == "Impostor"
    assert registry.names("entropy_model").count("roi-image") == 1
    assert len(registry.find("roi-image")) == 2
    assert_builtins_work_but_roi_image(registry)


def assert_builtins_work_but_roi_image(registry: Registry) -> None:
    assert registry.get("composer", "paste").plugin == "roi"
    assert registry.get("grounder", "boxes").plugin == "boxes"
    assert registry.get("label_source", "static").plugin == "static"


def test_an_ambiguous_name_fails_validation_and_the_qualified_name_passes(fake_plugins, make_dict):
    fake_plugins("dupe", DUPLICATE)
    registry = Registry().load_entry_points()
    with pytest.raises(ConfigError) as exc:
        resolve(make_dict(), "dup.yaml", registry=registry)
    paths = dict(exc.value.problems)
    assert "entropy_model.plugin" in paths, exc.value.problems
    assert f"{DIST_NAME} {DIST_VERSION}" in paths["entropy_model.plugin"]
    assert "`plugin: roi:roi-image`" in paths["entropy_model.plugin"]
    assert len(exc.value.problems) == 1
    data = make_dict()
    data["entropy_model"]["plugin"] = "roi:roi-image"
    resolved = resolve(data, "dup.yaml", registry=registry)
    assert resolved.options["entropy_model"].codec == "jpeg"


def test_a_stream_names_its_provider_so_decoding_picks_the_right_one(fake_plugins, make_dict, image, regions):
    from discover_core.pipeline import decode, pipeline_from_dict

    clean = pipeline_from_dict(make_dict(codec="jpeg"))
    data = clean.encode(image, regions=regions).to_bytes()
    fake_plugins("dupe", DUPLICATE)
    registry = Registry().load_entry_points()
    assert decode(data, registry=registry).shape == image.shape  # provider 'roi' recorded: no ambiguity


def test_one_plugin_registering_a_name_twice_is_recorded(fake_plugins):
    fake_plugins("twice", GOOD.replace("register(Fancy)", "register(Fancy)\n    register(Fancy)"))
    registry = Registry().load_entry_points()
    assert "registers composer 'fake-fancy' twice" in failure_of(registry, "twice").error
    assert registry.get("composer", "fake-fancy").plugin == "twice"


def test_extra_hint_names_the_providing_distribution(fake_plugins):
    fake_plugins("needy", GOOD.replace('name = "fake-fancy"', 'name = "fake-fancy"\n    requires = ("surely_absent_mod",)\n'
                                       '    extra = "llm"'))
    registry = Registry().load_entry_points()
    reg = registry.get("composer", "fake-fancy")
    assert reg.install_hint() == f"pip install '{DIST_NAME}[llm]'"
    from discover_core.errors import ExtraMissingError

    with pytest.raises(ExtraMissingError) as exc:
        reg.check_requirements()
    assert "surely_absent_mod" in exc.value.message and f"{DIST_NAME}[llm]" in exc.value.hint


def test_same_name_in_different_kinds_is_allowed():
    registry = Registry()

    import discover_core as dc

    class G(dc.Grounder):
        """g"""
        name = "shared-name"

    class C(dc.Composer):
        """c"""
        name = "shared-name"

    class Plugin:
        @dc.hookimpl
        def register_grounders(self, register):
            register(G)

        @dc.hookimpl
        def register_composers(self, register):
            register(C)

    registry.add_plugin(Plugin(), name="both", distribution="x", version="1")
    assert not registry.failures
    assert registry.get("grounder", "shared-name").cls is G
    assert registry.get("composer", "shared-name").cls is C
    assert {r.kind for r in registry.find("shared-name")} == {"grounder", "composer"}


# -- lookup ---------------------------------------------------------------------------------
def test_unknown_name_suggests_the_nearest_and_lists_installed():
    registry = Registry().load_entry_points()
    with pytest.raises(PluginError) as exc:
        registry.get("entropy_model", "roi-imag")
    assert "unknown entropy model 'roi-imag'" in exc.value.message
    assert "did you mean 'roi-image'?" in exc.value.message
    assert "installed entropy models:" in exc.value.hint
    assert "roi-image" in exc.value.hint


def test_unknown_name_without_close_match_has_no_suggestion():
    registry = Registry().load_entry_points()
    with pytest.raises(PluginError) as exc:
        registry.get("composer", "zzzzzzzz")
    assert "did you mean" not in exc.value.message
    assert "paste" in exc.value.hint


def test_unknown_kind_lists_kinds():
    registry = Registry().load_entry_points()
    with pytest.raises(PluginError) as exc:
        registry.get("frobnicator", "paste")
    assert "frobnicator" in exc.value.message
    assert "entropy_model" in exc.value.hint and "task_head" in exc.value.hint


MISSPELT = '''
import pluggy
from discover_core import Composer

hookimpl = pluggy.HookimplMarker("discover")


class Fancy(Composer):
    name = "fake-misspelt"


@hookimpl
def register_composer(register):
    register(Fancy)
'''


def test_a_misspelt_hook_is_a_load_failure_naming_the_real_one(fake_plugins):
    fake_plugins("zzz-misspelt", MISSPELT)
    registry = Registry().load_entry_points()
    failure = failure_of(registry, "zzz-misspelt")
    assert "register_composer" in failure.error and "did you mean 'register_composers'?" in failure.error
    assert not registry.find("fake-misspelt")
    assert_builtins_work(registry)


def test_autoload_can_be_turned_off(fake_plugins, monkeypatch):
    fake_plugins("zzz-good", GOOD)
    monkeypatch.setenv("DISCOVER_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("DISCOVER_PLUGINS", "roi, zzz-good")
    registry = Registry().load_entry_points()
    assert registry.find("fake-fancy") and registry.find("paste") and registry.find("roi-image")
    assert not registry.find("jpeg") and not registry.find("static")
    monkeypatch.setenv("DISCOVER_PLUGINS", "")
    assert not list(Registry().load_entry_points().all())
