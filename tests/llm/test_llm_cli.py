"""`discover labels generate/show/freeze` through the main command, against local fake servers."""

from __future__ import annotations

import json

import pytest
import yaml

pytest.importorskip("openai")
pytest.importorskip("ollama")

from discover_core import build
from discover_core.cli import cli, main
from discover_core.cli_labels import labels as labels_group
from discover_core.pipeline import load_pipeline
from discover_llm.fakes import FakeOllama, FakeOpenAI, Reply, labels_reply, openai_error


@pytest.fixture(autouse=True)
def wired(monkeypatch, tmp_path, secret):
    """`labels` is on the main command; a fresh cache folder."""
    assert cli.commands["labels"] is labels_group
    monkeypatch.setenv("DISCOVER_CACHE_DIR", str(tmp_path / "cache"))
    build.clear()
    yield
    build.clear()


def pipeline_file(tmp_path, openai_url: str, ollama_url: str | None = None) -> str:
    tasks = [{"name": "detection", "description": "detect every object",
              "label_source": {"plugin": "openai", "options": {
                  "base_url": openai_url, "api_key_env": "DISCOVER_TEST_OPENAI_KEY", "retries": 0,
                  "timeout": 10}}},
             {"name": "faces", "label_source": {"plugin": "static", "options": {"labels": ["face"]}}}]
    if ollama_url:
        tasks.append({"name": "segmentation", "description": "segment instances",
                      "label_source": {"plugin": "ollama", "options": {"host": ollama_url, "retries": 0}}})
    data = {"schema_version": 2, "tasks": tasks, "grounders": [{"plugin": "face"}],
            "entropy_model": {"plugin": "roi-image"}, "composer": {"plugin": "paste"}}
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return str(path)


def test_generate_once_then_from_the_cache(tmp_path, capsys):
    with FakeOpenAI() as oa, FakeOllama() as ol:
        cfg = pipeline_file(tmp_path, oa.base_url, ol.url)
        assert main(["labels", "generate", "-c", cfg]) == 0
        out = capsys.readouterr().out
        assert "detection: 120 labels, asked openai model 'gpt-4o' (1 request)" in out
        assert "segmentation: 120 labels, asked ollama model 'llama3.1:8b' (1 request)" in out
        assert "faces: label source 'static' keeps no cache" in out
        assert (oa.count, ol.count) == (1, 1)
        build.clear()
        assert main(["labels", "generate", "-c", cfg]) == 0
        assert "cached, no request" in capsys.readouterr().out and (oa.count, ol.count) == (1, 1)
        # encoding reads the same cache: the pipeline's labels come without a request
        build.clear()
        pipe = load_pipeline(cfg)
        assert len(pipe.task_labels["detection"]) == 120 and (oa.count, ol.count) == (1, 1)
        build.clear()
        assert main(["labels", "generate", "-c", cfg, "--refresh", "--task", "detection"]) == 0
        assert (oa.count, ol.count) == (2, 1)


def test_show_and_freeze_round_trip_through_static(tmp_path, capsys):
    with FakeOpenAI(lambda body: labels_reply(["1. Cats", "Dogs", "traffic lights"] +
                                              [f"thing {i}" for i in range(100)])) as oa:
        cfg = pipeline_file(tmp_path, oa.base_url)
        assert main(["labels", "show", "-c", cfg]) == 0
        assert "detection: not cached" in capsys.readouterr().out
        assert main(["labels", "freeze", "-c", cfg, "-o", str(tmp_path / "labels.yaml")]) == 2
        assert "not cached yet" in capsys.readouterr().err
        assert main(["labels", "generate", "-c", cfg]) == 0
        assert main(["labels", "show", "-c", cfg, "--json"]) == 0
        capsys.readouterr()
        assert main(["labels", "show", "-c", cfg, "--json", "--task", "detection"]) == 0
        rows = json.loads(capsys.readouterr().out)
        assert rows[0]["count"] == 103 and rows[0]["labels"][:3] == ["cat", "dog", "traffic light"]
        assert rows[0]["model"] == "gpt-4o" and rows[0]["cached"]
        assert main(["labels", "freeze", "-c", cfg, "-o", str(tmp_path / "labels.yaml")]) == 0
        assert oa.count == 1
    frozen = yaml.safe_load((tmp_path / "labels.yaml").read_text())
    assert frozen["labels"][:3] == ["cat", "dog", "traffic light"] and frozen["model"] == "gpt-4o"
    # the static source reads the frozen file: the same labels, no server needed
    from discover_core.interfaces import Context, TaskSpec
    from discover_static.source import StaticLabels

    static = StaticLabels(StaticLabels.Options(file=str(tmp_path / "labels.yaml")), Context())
    assert static.labels(TaskSpec("detection")) == frozen["labels"]


def test_freeze_of_several_tasks_into_a_folder(tmp_path, capsys):
    with FakeOpenAI() as oa, FakeOllama() as ol:
        cfg = pipeline_file(tmp_path, oa.base_url, ol.url)
        main(["labels", "generate", "-c", cfg])
        assert main(["labels", "freeze", "-c", cfg, "-o", str(tmp_path / "one.yaml")]) == 2
        assert "--task" in capsys.readouterr().err
        assert main(["labels", "freeze", "-c", cfg, "-o", str(tmp_path / "frozen") + "/"]) == 0
    assert sorted(p.name for p in (tmp_path / "frozen").iterdir()) == ["detection.yaml", "segmentation.yaml"]


@pytest.mark.parametrize("reply, message", [
    (openai_error(401, "bad key"), "refused the API key (401)"),
    (openai_error(404, "no such model"), "model 'gpt-4o' not found"),
    (openai_error(429, "slow down"), "rate limiting requests (429), still after 0 retries"),
    (Reply(raw=b'{"id": "chatcmpl-1", "choi'), "answered with a body that is not a chat completion: invalid JSON"),
])
def test_failures_exit_2_with_one_message(tmp_path, capsys, reply, message, secret):
    with FakeOpenAI(lambda body: reply) as oa:
        cfg = pipeline_file(tmp_path, oa.base_url)
        assert main(["labels", "generate", "-c", cfg]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and secret not in err
    assert not list((tmp_path / "cache").glob("labels/*"))


def test_unknown_task(tmp_path, capsys):
    with FakeOpenAI() as oa:
        cfg = pipeline_file(tmp_path, oa.base_url)
        assert main(["labels", "show", "-c", cfg, "--task", "nope"]) == 2
        assert "its tasks are: detection, faces" in capsys.readouterr().err


def test_encoding_reads_the_cache_and_the_key_stays_out_of_the_stream(tmp_path, secret):
    """An LLM task in a whole encode: labels from the cache (no request), the key nowhere in the stream."""
    import discover_core as dc
    from discover_core.interfaces import ImageMeta
    from discover_core.pipeline import pipeline_from_dict
    from discover_core.testing.samples import SAMPLE_LABELS, SAMPLE_NAME, sample_image, tiny_pipeline_dict, \
        write_box_file

    with FakeOpenAI(lambda body: labels_reply(list(SAMPLE_LABELS) + [f"thing {i}" for i in range(100)])) as oa:
        data = tiny_pipeline_dict(write_box_file(tmp_path / "boxes.json"))
        data["tasks"][0]["label_source"] = {"plugin": "openai", "options": {
            "base_url": oa.base_url, "api_key_env": "DISCOVER_TEST_OPENAI_KEY", "retries": 0}}
        first = pipeline_from_dict(data, base_dir=tmp_path).encode(sample_image(), ImageMeta(SAMPLE_NAME))
        assert oa.count == 1
        build.clear()
        again = pipeline_from_dict(data, base_dir=tmp_path)
        streams = [again.encode(sample_image(seed=s), ImageMeta(SAMPLE_NAME)) for s in range(3)]
        assert oa.count == 1  # every later encode reads the label cache
    for stream in [first] + streams:
        header = json.dumps(stream.header.model_dump(mode="json"))  # the header as written, uncompressed
        assert secret not in header and "DISCOVER_TEST_OPENAI_KEY" not in header
        assert secret.encode() not in stream.to_bytes()
        assert set(stream.header.labels) and set(stream.header.labels) <= set(SAMPLE_LABELS)
        assert dc.decode(stream.to_bytes()).shape == sample_image().shape
