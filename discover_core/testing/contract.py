"""What every component must satisfy, whatever its kind: the base classes of the suites.

Two halves, so that option-independent checks run once per component class:

* :class:`ComponentClassContract`: checks of the class alone (name, kind,
  summary, the ``Options`` model and its schema, ``format_version``, a light
  module import, registration through the entry point);
* :class:`ComponentOptionsContract`: fixtures that build the component with
  the options under test, and the checks that depend on them.

Each kind's suite (``GrounderContract`` ...) combines both; its ``...OptionsContract``
twin is the second half only, for more option sets of a class already tested.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable, ClassVar

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from ..interfaces import KIND_BASES, Component, Context, path_options
from ..plugins import NAME_RE
from .checks import HEAVY_MODULES, UNKNOWN_OPTION, entry_point_registry, heavy_imports_of, require_extras

FINGERPRINT_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


class ComponentBase:
    """Configuration shared by both halves: the component class under test."""

    kind: ClassVar[str] = ""
    """Set by each kind's suite."""
    component_class: ClassVar[type[Component] | None] = None
    """The component under test (or override the ``component_cls`` fixture)."""

    @pytest.fixture
    def component_cls(self) -> type[Component]:
        cls = type(self).component_class
        if cls is None:
            pytest.fail(f"{type(self).__name__}: set `component_class = YourComponent` "
                        f"(or override the `component_cls` fixture)")
        return cls


class ComponentClassContract(ComponentBase):
    """Checks that depend only on the class: run once per component class."""

    check_registration: ClassVar[bool] = True
    """Check that an installed entry point registers the class under its name (install your package first)."""
    heavy_modules: ClassVar[tuple[str, ...]] = HEAVY_MODULES

    def test_name_is_kebab_case(self, component_cls):
        name = getattr(component_cls, "name", None)
        assert isinstance(name, str) and NAME_RE.match(name), (
            f"{component_cls.__name__}.name is {name!r}; names are kebab-case "
            f"(lower-case letters, digits, single dashes), e.g. 'my-grounder'")

    def test_kind(self, component_cls):
        assert component_cls.kind == self.kind, f"{component_cls.__name__}.kind is {component_cls.kind!r}, " \
                                                f"expected {self.kind!r}"
        base = KIND_BASES[self.kind]
        assert issubclass(component_cls, base), f"{component_cls.__name__} must subclass discover_core.{base.__name__}"

    def test_summary(self, component_cls):
        summary = component_cls.summary()
        assert isinstance(summary, str) and summary.strip(), (
            f"{component_cls.__name__} has no docstring; its first line is the summary `discover plugins` shows")

    def test_requirements_declared(self, component_cls):
        assert isinstance(component_cls.requires, tuple) and all(isinstance(m, str) and m
                                                                 for m in component_cls.requires), \
            f"{component_cls.__name__}.requires must be a tuple of module names"
        assert component_cls.extra is None or isinstance(component_cls.extra, str)

    def test_format_version(self, component_cls):
        v = component_cls.format_version
        assert isinstance(v, int) and not isinstance(v, bool) and v >= 1, \
            f"{component_cls.__name__}.format_version must be a positive int, got {v!r}"
        span = component_cls.reads_format_versions
        assert span is None or (len(span) == 2 and all(isinstance(x, int) for x in span) and span[0] <= span[1]), \
            f"reads_format_versions must be None or an inclusive (low, high) range, got {span!r}"
        assert component_cls.reads(v), (f"{component_cls.__name__} does not read its own format_version {v} "
                                        f"(reads_format_versions = {span})")

    def test_options_model_forbids_extra(self, component_cls):
        model = component_cls.Options
        assert isinstance(model, type) and issubclass(model, BaseModel), \
            f"{component_cls.__name__}.Options must be a pydantic model (subclass discover_core.Options)"
        assert model.model_config.get("extra") == "forbid", \
            f"{component_cls.__name__}.Options must forbid unknown keys (model_config extra='forbid')"

    def test_options_reject_unknown_keys(self, component_cls):
        try:
            component_cls.Options.model_validate({UNKNOWN_OPTION: 1})
        except ValidationError as exc:
            types = {e["type"] for e in exc.errors()}
            assert "extra_forbidden" in types, f"an unknown option is not rejected as such: {exc}"
        else:
            raise AssertionError(f"{component_cls.__name__}.Options accepts the unknown option {UNKNOWN_OPTION!r}: "
                                 f"a typo in a pipeline file would go unnoticed; unknown options are not rejected")

    def test_every_option_is_described(self, component_cls):
        missing = [name for name, f in component_cls.Options.model_fields.items()
                   if not (f.description or "").strip()]
        assert not missing, (f"{component_cls.__name__}.Options fields without a description: {missing}; "
                             f"use Field(..., description='...') (shown by `discover plugins show`)")

    def test_options_schema_survives_json_and_yaml(self, component_cls):
        schema = component_cls.Options.model_json_schema()  # `discover schema` embeds it
        assert json.loads(json.dumps(schema)) == schema
        assert yaml.safe_load(yaml.safe_dump(schema)) == schema, "the options schema changes through YAML"

    def test_default_options_yaml_round_trip(self, component_cls):
        try:
            defaults = component_cls.Options()
        except ValidationError as exc:
            # Options without defaults: the only complaint allowed is that required ones are missing
            # (or a cross-field rule that asks for one of several), and each names a real field.
            fields = set(component_cls.Options.model_fields)
            for err in exc.errors():
                assert err["type"] in ("missing", "value_error"), f"defaults fail for another reason: {err}"
                if err["type"] == "missing":
                    assert err["loc"] and err["loc"][0] in fields, err
            return
        text = yaml.safe_dump(defaults.model_dump(mode="json"))
        assert component_cls.Options.model_validate(yaml.safe_load(text)) == defaults, text

    def test_module_import_is_light(self, component_cls):
        heavy = heavy_imports_of(component_cls.__module__, tuple(self.heavy_modules))
        assert not heavy, (f"importing {component_cls.__module__} imports {', '.join(heavy)}; import heavy "
                           f"modules in __init__ (when the component is built), so `discover plugins` stays fast "
                           f"and a missing extra disables only this component")

    def test_registered_through_entry_point(self, component_cls):
        if not self.check_registration:
            pytest.skip("check_registration is off")
        registry = entry_point_registry()
        regs = [r for r in registry.all(self.kind) if r.cls is component_cls]
        failures = "; ".join(f"{f.plugin}: {f.error}" for f in registry.failures) or "none"
        assert regs, (
            f"no installed plugin registers {self.kind.replace('_', ' ')} '{component_cls.name}' "
            f"({component_cls.__module__}.{component_cls.__qualname__}) through the 'discover' entry-point "
            f"group (install your package, e.g. `pip install -e .`; plugins that failed to load: {failures})")
        assert all(r.name == component_cls.name for r in regs), [r.name for r in regs]


class StreamComponentClassChecks:
    """Class checks of entropy models and composers, whose options a stream header records."""

    def test_decoder_options_are_option_names(self, component_cls):
        keep = component_cls.decoder_options
        if keep is None:
            return
        assert isinstance(keep, tuple) and all(isinstance(k, str) for k in keep), \
            f"decoder_options must be a tuple of option names (or None), got {keep!r}"
        unknown = set(keep) - set(component_cls.Options.model_fields)
        assert not unknown, f"decoder_options names unknown options: {sorted(unknown)}"

    def test_path_options_are_never_recorded(self, component_cls):
        """A stream may never name a file to read: path options stay out of the header."""
        paths = path_options(component_cls.Options)
        keep = component_cls.decoder_options
        recorded = set(component_cls.Options.model_fields) if keep is None else set(keep)
        assert not paths & recorded, (
            f"path options {sorted(paths & recorded)} would be recorded in stream headers; leave them out of "
            f"decoder_options" + (" (None records every option)" if keep is None else ""))


class ComponentOptionsContract(ComponentBase):
    """Fixtures that build the component with the options under test, and the checks that depend on them."""

    options: ClassVar[dict[str, Any] | None] = None
    """Options to build it with (default: its defaults). Override ``options_dict`` for computed ones."""

    @pytest.fixture
    def options_dict(self) -> dict[str, Any]:
        return dict(type(self).options or {})

    @pytest.fixture
    def context(self) -> Context:
        return Context()

    @pytest.fixture
    def component_options(self, component_cls, options_dict):
        try:
            return component_cls.Options.model_validate(options_dict)
        except ValidationError as exc:
            pytest.fail(f"the options under test do not validate against {component_cls.__name__}.Options:\n{exc}")

    @pytest.fixture
    def build(self, component_cls, component_options, context) -> Callable[..., Component]:
        """``build()`` a fresh component with the options under test, ``build({...})`` with others."""
        require_extras(component_cls)

        def build(options: dict[str, Any] | None = None) -> Component:
            opts = component_options if options is None else component_cls.Options.model_validate(options)
            return component_cls(opts, context)

        return build

    @pytest.fixture
    def component(self, build) -> Component:
        return build()

    def test_options_yaml_round_trip(self, component_cls, component_options):
        text = yaml.safe_dump(component_options.model_dump(mode="json"))
        again = component_cls.Options.model_validate(yaml.safe_load(text))
        assert again == component_options, f"options changed through YAML:\n{text}"

    def test_builds(self, component_cls, component, component_options):
        assert isinstance(component, component_cls)
        assert component.options == component_options, "the component must keep its options as `self.options`"

    def test_weights_fingerprint(self, component):
        fp = component.weights_fingerprint()
        assert fp is None or (isinstance(fp, str) and FINGERPRINT_RE.match(fp)), \
            f"weights_fingerprint() must be None or 'sha256:<64 hex digits>', got {fp!r}"
        assert component.weights_fingerprint() == fp, "weights_fingerprint() changed between two calls"
