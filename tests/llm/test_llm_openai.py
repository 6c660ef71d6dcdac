"""The `openai` label source against a local OpenAI Chat Completions server, through the real openai client."""

from __future__ import annotations

import json
import logging
import socket
import time

import pytest

pytest.importorskip("openai")

from discover_core.errors import DiscoverError
from discover_core.interfaces import TaskSpec
from discover_llm.openai_source import OpenAILabels
from discover_llm.fakes import FakeOpenAI, Reply, labels_reply, openai_error

TASK = TaskSpec("detection", "detect the objects a COCO detector finds")


def source(server, ctx, **options):
    opts = {"base_url": server.base_url, "api_key_env": "DISCOVER_TEST_OPENAI_KEY", "retries": 0,
            "timeout": 10, **options}
    return OpenAILabels(OpenAILabels.Options(**opts), ctx)


def words(n, start=0):
    return [f"object{chr(97 + (i // 26) % 26)}{chr(97 + i % 26)} {i}" for i in range(start, start + n)]


def test_asks_with_the_paper_prompt_and_a_json_schema(ctx, secret):
    with FakeOpenAI() as server:
        labels = source(server, ctx, model="gpt-4o").labels(TASK)
        assert len(labels) == 120 and server.count == 1
        req = server.requests[0]
        assert req["headers"]["authorization"] == f"Bearer {secret}"
        body = req["body"]
        assert body["model"] == "gpt-4o"
        prompt = body["messages"][0]["content"]
        assert "I am working on the detection and need a representative label list" in prompt
        assert "The task description is as detect the objects a COCO detector finds." in prompt
        assert "should not be fewer than 100" in prompt and "granularity" in prompt
        fmt = body["response_format"]
        assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
        assert fmt["json_schema"]["schema"]["properties"]["labels"]["type"] == "array"


def test_answers_are_normalised(ctx, secret):
    raw = ["1. Cats", "cats", "2) Traffic Lights.", "", "  ", "- Dogs", "\"knives\"", "bus", "Bus"]
    with FakeOpenAI(lambda body: labels_reply(raw)) as server:
        assert source(server, ctx, min_labels=5).labels(TASK) == ["cat", "traffic light", "dog", "knife", "bus"]


def test_cached_after_the_first_request(ctx, secret, tmp_path):
    with FakeOpenAI() as server:
        first = source(server, ctx).labels(TASK)
        again = source(server, ctx)  # a new source (another process would read the same files)
        assert again.labels(TASK) == first and server.count == 1
        entry = again.cached_labels(TASK)
        assert entry["provenance"]["model"] == "gpt-4o"
        assert entry["provenance"]["served_model"] == "gpt-4o-served"
        assert entry["provenance"]["raw"] and json.loads(entry["provenance"]["raw"][0])["labels"]
        assert entry["provenance"]["date"].startswith("20")
        assert entry["key"] == {"source": "openai", "model": "gpt-4o", "prompt_version": 1, "task": "detection",
                                "description": TASK.description, "min_labels": 100}
        files = list((tmp_path / "cache" / "labels").glob("*.json"))
        assert len(files) == 1 and secret not in files[0].read_text()
        assert again.generate_labels(TASK, refresh=True)["requests_made"] == 1 and server.count == 2
        # every part of the key makes another entry
        source(server, ctx, min_labels=50).labels(TASK)
        source(server, ctx, model="gpt-4o-mini").labels(TASK)
        source(server, ctx).labels(TaskSpec("detection", "another description"))
        assert server.count == 5


def test_cache_off_asks_every_time(ctx, secret):
    with FakeOpenAI() as server:
        s = source(server, ctx, cache=False)
        s.labels(TASK)
        s.labels(TASK)
        assert server.count == 2 and s.cached_labels(TASK) is None


def test_cached_labels_need_no_key(ctx, secret, monkeypatch):
    with FakeOpenAI() as server:
        first = source(server, ctx).labels(TASK)
    monkeypatch.delenv("DISCOVER_TEST_OPENAI_KEY")
    assert source(server, ctx).labels(TASK) == first  # the server is gone too


def test_rate_limit_then_success_honours_retry_after(ctx, secret):
    with FakeOpenAI() as server:
        server.script = [openai_error(429, "slow down", retry_after="1")]
        start = time.monotonic()
        labels = source(server, ctx, retries=2).labels(TASK)
        assert time.monotonic() - start >= 0.9
        assert len(labels) == 120 and server.count == 2


def test_rate_limit_after_all_retries(ctx, secret):
    with FakeOpenAI(lambda body: openai_error(429, "slow down", retry_after="0.1")) as server:
        with pytest.raises(DiscoverError, match=r"rate limiting.*after 2 retries"):
            source(server, ctx, retries=2).labels(TASK)
        assert server.count == 3


def test_server_error_is_retried_then_reported(ctx, secret):
    with FakeOpenAI(lambda body: openai_error(500, "boom", retry_after="0.05")) as server:
        with pytest.raises(DiscoverError, match=r"HTTP 500, still after 1 retries: boom"):
            source(server, ctx, retries=1).labels(TASK)
        assert server.count == 2
    with FakeOpenAI() as server:
        server.script = [openai_error(503, "starting", retry_after="0.05")]
        assert len(source(server, ctx, retries=1).labels(TASK)) == 120 and server.count == 2


def test_wrong_key_never_shows_the_key(ctx, secret, caplog):
    caplog.set_level(logging.DEBUG)
    # a server that echoes the key back in its error message
    with FakeOpenAI(lambda body: openai_error(401, f"Incorrect API key provided: {secret}")) as server:
        with pytest.raises(DiscoverError, match=r"refused the API key \(401\)") as err:
            source(server, ctx, retries=3).labels(TASK)
        assert server.count == 1  # 401 is not retried
    text = str(err.value) + repr(err.value.args) + (err.value.hint or "")
    assert secret not in text and "DISCOVER_TEST_OPENAI_KEY" in text
    assert err.value.__cause__ is None and err.value.__suppress_context__
    assert secret not in caplog.text


def test_missing_key_names_the_variable(ctx, monkeypatch):
    monkeypatch.delenv("DISCOVER_TEST_OPENAI_KEY", raising=False)
    with FakeOpenAI() as server:
        with pytest.raises(DiscoverError, match="DISCOVER_TEST_OPENAI_KEY"):
            source(server, ctx).labels(TASK)
        assert server.count == 0


def test_no_key_for_a_local_server(ctx):
    with FakeOpenAI() as server:
        assert len(source(server, ctx, api_key_env=None).labels(TASK)) == 120


def test_model_not_found(ctx, secret):
    with FakeOpenAI(lambda body: openai_error(404, f"The model `{body['model']}` does not exist")) as server:
        with pytest.raises(DiscoverError, match=r"model 'gpt-5-nano' not found at http://127.0.0.1:\d+/v1 \(404\)"):
            source(server, ctx, model="gpt-5-nano").labels(TASK)


def test_malformed_answers_are_asked_again(ctx, secret):
    with FakeOpenAI() as server:
        server.script = [Reply(content="Sure! Here are labels: cat, dog"), Reply(content='{"labels": 5}')]
        assert len(source(server, ctx, answer_retries=2).labels(TASK)) == 120
        assert server.count == 3
        third = server.requests[2]["body"]["messages"]
        assert third[-1]["role"] == "user" and "JSON" in third[-1]["content"]


def test_malformed_after_the_retries(ctx, secret):
    with FakeOpenAI(lambda body: Reply(content='{"items": ["cat"]}')) as server:
        with pytest.raises(DiscoverError, match=r"not a JSON object with a list of labels \(3 tries; the last began"):
            source(server, ctx, answer_retries=2).labels(TASK)
        assert server.count == 3


def test_short_answers_get_follow_ups(ctx, secret):
    batches = iter([words(40), words(40) + words(40, 40), words(40, 80)])  # the second repeats the first 40
    with FakeOpenAI(lambda body: labels_reply(next(batches))) as server:
        labels = source(server, ctx).labels(TASK)
        assert len(labels) == 120 and server.count == 3
        follow = server.requests[1]["body"]["messages"]
        assert [m["role"] for m in follow] == ["user", "assistant", "user"]
        assert "40 distinct labels, fewer than 100" in follow[-1]["content"]


def test_too_few_labels_after_the_follow_ups(ctx, secret):
    batches = iter([words(30), words(30, 30)])
    with FakeOpenAI(lambda body: labels_reply(next(batches))) as server:
        with pytest.raises(DiscoverError, match=r"gave 60 distinct labels .* fewer than min_labels=100, after 1 "):
            source(server, ctx, follow_ups=1).labels(TASK)
        assert server.count == 2


def test_timeout(ctx, secret):
    with FakeOpenAI(lambda body: labels_reply(words(120), delay=1.5)) as server:
        with pytest.raises(DiscoverError, match=r"did not answer within 0.3 s"):
            source(server, ctx, timeout=0.3).labels(TASK)
        assert server.count == 1  # gave up before the answer came (it would have been a success)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_server_unreachable(ctx, secret):
    opts = OpenAILabels.Options(base_url=f"http://user:pw@127.0.0.1:{free_port()}/v1", retries=0,
                                api_key_env="DISCOVER_TEST_OPENAI_KEY")
    with pytest.raises(DiscoverError, match=r"cannot reach http://127.0.0.1:\d+/v1") as err:
        OpenAILabels(opts, ctx).labels(TASK)
    assert "pw" not in str(err.value)
