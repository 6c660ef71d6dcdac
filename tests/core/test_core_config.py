"""Pipeline files: two-stage validation, every problem collected with its path, and the JSON Schema."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from discover_core.config import json_schema, load_config, resolve
from discover_core.errors import ConfigError
from discover_core.plugins import get_registry

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples" / "pipelines").glob("*.yaml"))


def write(tmp_path: Path, data, name: str = "pipeline.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def problems_of(exc: pytest.ExceptionInfo) -> dict[str, str]:
    return dict(exc.value.problems)


def test_valid_file_passes(tmp_path, make_dict):
    path = write(tmp_path, make_dict(codec="webp", region_quality=33))
    resolved = load_config(path)
    assert resolved.config.tasks[0].name == "detection"
    assert resolved.options["entropy_model"].codec == "webp"
    assert resolved.options["entropy_model"].region_quality == 33
    assert resolved.options["entropy_model"].background_quality == 50  # default filled in
    assert resolved.options["grounders[0]"].file == "boxes.json"
    assert resolved.base_dir == tmp_path.resolve()
    assert resolved.source_schema == 2 and resolved.warnings == []


def test_all_errors_are_collected_with_paths(tmp_path, make_dict):
    data = make_dict()
    data["grounders"][0]["options"].update(min_score=1.5, bogus_option=3)
    data["entropy_model"]["plugin"] = "roi-imag"
    del data["composer"]
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    problems = problems_of(exc)
    assert set(problems) == {"grounders[0].options.min_score", "grounders[0].options.bogus_option",
                             "entropy_model.plugin", "composer"}, exc.value.problems
    assert "less than or equal to 1" in problems["grounders[0].options.min_score"]
    assert problems["grounders[0].options.bogus_option"] == "unknown option"
    assert "did you mean 'roi-image'?" in problems["entropy_model.plugin"]
    assert "installed entropy models: " in problems["entropy_model.plugin"]
    assert "roi-image" in problems["entropy_model.plugin"].split("installed entropy models: ")[1]
    assert problems["composer"] == "required but missing"
    text = str(exc.value)
    assert text.startswith(f"{path}: 4 problem(s)")
    for p in problems:
        assert f"  {p}: " in text
    assert exc.value.hint


def test_errors_of_both_stages_include_task_heads(make_dict):
    data = make_dict()
    del data["composer"]                                  # stage 1
    data["tasks"][0]["task_heads"] = [{"plugin": "no-such-head", "options": {}}]  # stage 2
    with pytest.raises(ConfigError) as exc:
        resolve(data, "p.yaml")
    problems = problems_of(exc)
    assert "composer" in problems
    assert "tasks[0].task_heads[0].plugin" in problems, exc.value.problems
    assert "unknown task head 'no-such-head'" in problems["tasks[0].task_heads[0].plugin"]


def test_stage_two_collects_every_slot(make_dict):
    data = make_dict(region_quality=0, nonsense=True)
    data["composer"] = {"plugin": "pastee", "options": {}}
    data["tasks"][0]["label_source"]["options"] = {}
    with pytest.raises(ConfigError) as exc:
        resolve(data, "p.yaml")
    problems = problems_of(exc)
    assert set(problems) == {"entropy_model.options.region_quality", "entropy_model.options.nonsense",
                             "composer.plugin", "tasks[0].label_source.options"}, exc.value.problems
    assert "did you mean 'paste'?" in problems["composer.plugin"]
    assert "give at least one of preset, file or labels" in problems["tasks[0].label_source.options"]


@pytest.mark.parametrize("change, path", [
    (lambda d: d.update(schema_version=3), "schema_version"),
    (lambda d: d.update(extra_key=1), "extra_key"),
    (lambda d: d["tasks"][0].update(name="has spaces"), "tasks[0].name"),
    (lambda d: d["grounders"][0].update(plugin=3), "grounders[0].plugin"),
    (lambda d: d["grounders"][0].update(options=[1, 2]), "grounders[0].options"),
    (lambda d: d["tasks"][0].update(task_heads={"plugin": "x"}), "tasks[0].task_heads"),
    (lambda d: d.update(grounders=[]), "grounders"),
    (lambda d: d["tasks"].append(dict(d["tasks"][0])), "tasks"),
])
def test_shape_errors_have_paths(make_dict, change, path):
    data = make_dict()
    change(data)
    with pytest.raises(ConfigError) as exc:
        resolve(data, "p.yaml")
    assert path in problems_of(exc), exc.value.problems


@pytest.mark.parametrize("text, expected", [
    ("- a\n- b\n", "a pipeline file is a mapping, got list"),
    ("just a string\n", "a pipeline file is a mapping, got str"),
    ("", "a pipeline file is a mapping, got NoneType"),
])
def test_non_mapping_yaml(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert exc.value.problems == [("", expected)]
    assert str(path) in str(exc.value)


def test_invalid_yaml_reports_line_number(tmp_path):
    path = write(tmp_path, "schema_version: 2\ntasks:\n  - name: x\ngrounders: [{plugin: boxes\nother: 1\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    [(where, message)] = exc.value.problems
    assert where.startswith("line 5"), where
    assert message.startswith("not valid YAML")


def test_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert exc.value.problems == [("", "file not found")]
    assert str(path) in str(exc.value)


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path)
    assert "not a regular file" in str(exc.value)


def test_path_below_a_file(tmp_path):
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path / "a-file" / "pipeline.yaml")
    assert exc.value.problems == [("", "file not found")]


def test_config_never_imports_by_path(make_dict):
    data = make_dict()
    data["composer"]["plugin"] = "discover_roi.paste:Paste"
    with pytest.raises(ConfigError) as exc:
        resolve(data, "p.yaml")
    assert "unknown composer" in problems_of(exc)["composer.plugin"]


# -- JSON Schema ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def schema() -> dict:
    return json_schema()


def test_schema_is_valid_json_schema(schema):
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_schema_accepts_a_valid_pipeline_and_rejects_unknown_option(schema, make_dict):
    validator = Draft202012Validator(schema)
    good = make_dict(codec="avif", region_quality=40)
    assert not list(validator.iter_errors(good))
    bad = copy.deepcopy(good)
    bad["entropy_model"]["options"]["no_such_option"] = 1
    errors = list(validator.iter_errors(bad))
    assert errors
    assert any("no_such_option" in e.message for e in errors)
    out_of_range = make_dict(region_quality=101)
    assert list(validator.iter_errors(out_of_range))
    unknown_plugin = copy.deepcopy(good)
    unknown_plugin["composer"]["plugin"] = "nosuch"
    assert list(validator.iter_errors(unknown_plugin))


def test_schema_covers_installed_plugins(schema):
    text = str(schema)
    for name in get_registry().names("entropy_model") + get_registry().names("composer"):
        assert f"'{name}'" in text


def test_examples_exist_and_default_is_mirrored():
    names = {p.name for p in EXAMPLES}
    assert {"classification-cam.yaml", "oracle-boxes.yaml", "faces.yaml", "classification-and-faces.yaml"} <= names
    from discover_core.demo import default_pipeline_path

    mirrored = next(p for p in EXAMPLES if p.name == "classification-cam.yaml")
    assert yaml.safe_load(mirrored.read_text()) == yaml.safe_load(default_pipeline_path().read_text()), \
        "examples/pipelines/classification-cam.yaml must stay the built-in default pipeline"


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_pipelines_validate(schema, path):
    load_config(path)
    data = yaml.safe_load(path.read_text())
    errors = list(Draft202012Validator(schema).iter_errors(data))
    assert not errors, [e.message for e in errors]
