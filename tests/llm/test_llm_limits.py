"""Both LLM label sources refuse broken and oversized answers (through the real clients, against local fake
servers): a clear error naming the server and the model, never the key, and nothing in the label cache."""

from __future__ import annotations

import pytest

pytest.importorskip("openai")
pytest.importorskip("ollama")

from pydantic import ValidationError

from discover_core.errors import DiscoverError
from discover_core.interfaces import TaskSpec
from discover_llm.fakes import FakeOllama, FakeOpenAI, Reply, huge_reply, labels_reply
from discover_llm.ollama_source import OllamaLabels
from discover_llm.openai_source import OpenAILabels

TASK = TaskSpec("detection", "detect every object")
CUT_SHORT = b'{"id": "x", "model": "m", "choices": [{"index": 0, "message": {"role": "assistant", "content": "{\\"la'


@pytest.fixture(params=["openai", "ollama"])
def kind(request):
    return request.param


def serve(kind, reply):
    return (FakeOpenAI if kind == "openai" else FakeOllama)(lambda body: reply)


def source(kind, server, ctx):
    if kind == "openai":
        cls, opts = OpenAILabels, {"base_url": server.base_url, "api_key_env": "DISCOVER_TEST_OPENAI_KEY"}
    else:
        cls, opts = OllamaLabels, {"host": server.url, "api_key_env": "DISCOVER_TEST_OPENAI_KEY"}
    return cls(cls.Options(**opts, retries=2, timeout=10), ctx)


def refused(kind, reply, ctx, secret, match) -> DiscoverError:
    """Ask once: the error must match, name the model and the server, and leave the cache empty."""
    with serve(kind, reply) as server:
        with pytest.raises(DiscoverError, match=match) as err:
            source(kind, server, ctx).labels(TASK)
        assert server.count == 1  # refused at once: neither retried nor asked again
    text = str(err.value)
    assert f"at http://127.0.0.1:{server.port}" in text and "model '" in text and secret not in text
    assert not list(ctx.cache_dir.glob("labels/*"))
    return err.value


@pytest.mark.parametrize("reply, match", [
    (Reply(raw=CUT_SHORT), r"a body that is not an? (chat completion|Ollama chat response): invalid JSON "
                           r"\(Unterminated string starting at: character 95 of 101\)"),
    (Reply(raw=b"<html>502 Bad Gateway</html>"), r"not an? .*: invalid JSON \(Expecting value: character 0"),
    (Reply(body={"labels": ["cat", "dog"]}), r"not an? .*: (choices|message): Field required"),
], ids=["cut-short", "not-json", "wrong-shape"])
def test_malformed_bodies_are_refused(kind, reply, match, ctx, secret):
    refused(kind, reply, ctx, secret, match)


@pytest.mark.parametrize("length", [True, False], ids=["content-length", "until-close"])
def test_oversized_answers_are_refused_unread(kind, length, ctx, secret):
    """50 MB: refused on its Content-Length, or reading stops at the cap (the message says where)."""
    err = refused(kind, huge_reply(50_000_000, length=length), ctx, secret,
                  r"sent an answer of .*more than max_answer_bytes=262144")
    if length:
        assert "(its Content-Length), more than max_answer_bytes=262144; refused without reading it" in err.message
    else:
        stopped = int(err.message.split("reading stopped at ")[1].split()[0])
        assert 262144 < stopped <= 262144 + 128 * 1024


def test_too_many_labels_are_refused(kind, ctx, secret):
    refused(kind, labels_reply([f"thing {i}" for i in range(2500)]), ctx, secret,
            r"gave 2500 labels, more than max_labels=2000; the answer is refused")


def test_overlong_labels_are_refused(kind, ctx, secret):
    refused(kind, labels_reply(["cat", "a " * 150] + [f"thing {i}" for i in range(120)]), ctx, secret,
            r"gave a label of 299 characters \('a a a .*'\), longer than 200; the answer is refused")


def test_option_bounds():
    with pytest.raises(ValidationError, match="min_labels=300 is more than max_labels=200"):
        OllamaLabels.Options(min_labels=300, max_labels=200)
    with pytest.raises(ValidationError, match="max_answer_bytes"):
        OllamaLabels.Options(max_answer_bytes=10)
    assert (OllamaLabels.Options().max_answer_bytes, OllamaLabels.Options().max_labels) == (256 * 1024, 2000)
