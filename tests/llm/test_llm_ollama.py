"""The `ollama` label source against a local Ollama /api/chat server, through the real ollama client."""

from __future__ import annotations

import socket
import threading
import time

import pytest

pytest.importorskip("ollama")

from discover_core.errors import DiscoverError
from discover_core.interfaces import TaskSpec
from discover_llm.ollama_source import OllamaLabels, retry_after
from discover_llm.fakes import FakeOllama, Reply, labels_reply, ollama_error

TASK = TaskSpec("instance segmentation", "segment every object instance")


def source(host, ctx, **options):
    return OllamaLabels(OllamaLabels.Options(**{"host": host, "timeout": 10, **options}), ctx)


def words(n, start=0):
    return [f"objet{chr(97 + (i // 26) % 26)}{chr(97 + i % 26)} {i}" for i in range(start, start + n)]


def test_asks_with_the_prompt_and_a_format_schema(ctx):
    with FakeOllama() as server:
        labels = source(server.url, ctx, model="qwen2.5:7b").labels(TASK)
        assert len(labels) == 120 and server.count == 1
        body = server.requests[0]["body"]
        assert body["model"] == "qwen2.5:7b" and body["stream"] is False
        assert body["format"]["properties"]["labels"]["type"] == "array"
        assert "I am working on the instance segmentation" in body["messages"][0]["content"]
        assert source(server.url, ctx, model="qwen2.5:7b").labels(TASK) == labels and server.count == 1


def test_rate_limit_then_success_honours_retry_after(ctx):
    with FakeOllama() as server:
        server.script = [ollama_error(429, "busy", retry_after="1")]
        start = time.monotonic()
        assert len(source(server.url, ctx, retries=2).labels(TASK)) == 120
        assert time.monotonic() - start >= 0.9 and server.count == 2


def test_server_errors_are_retried_then_reported(ctx):
    with FakeOllama(lambda body: ollama_error(500, "llama runner crashed")) as server:
        with pytest.raises(DiscoverError, match=r"answered HTTP 500, after 2 retries"):
            source(server.url, ctx, retries=2).labels(TASK)
        assert server.count == 3


def test_retries_are_bounded_in_time(ctx):
    with FakeOllama(lambda body: ollama_error(429, "busy", retry_after="30")) as server:
        start = time.monotonic()
        with pytest.raises(DiscoverError, match=r"rate limiting .*after 0 retries \(waiting 30 s more would pass "
                                                r"max_wait=5 s\)"):
            source(server.url, ctx, retries=5, max_wait=5).labels(TASK)
        assert time.monotonic() - start < 10 and server.count == 1  # did not wait the 30 s


def test_model_not_found(ctx):
    with FakeOllama(lambda body: ollama_error(404, f"model '{body['model']}' not found")) as server:
        with pytest.raises(DiscoverError, match=r"model 'nope' not found .*\(404\)") as err:
            source(server.url, ctx, model="nope", retries=3).labels(TASK)
        assert "ollama pull nope" in err.value.hint and server.count == 1


def test_unauthorised(ctx, monkeypatch):
    monkeypatch.setenv("DISCOVER_TEST_OLLAMA_TOKEN", "tok-SECRET-123")
    with FakeOllama(lambda body: ollama_error(401, "bad token tok-SECRET-123")) as server:
        with pytest.raises(DiscoverError, match=r"refused the request \(401\)") as err:
            source(server.url, ctx, api_key_env="DISCOVER_TEST_OLLAMA_TOKEN").labels(TASK)
        assert server.requests[0]["headers"]["authorization"] == "Bearer tok-SECRET-123"
    assert "tok-SECRET-123" not in str(err.value)


def test_malformed_then_good(ctx):
    with FakeOllama() as server:
        server.script = [Reply(content="cat, dog, bus")]
        assert len(source(server.url, ctx, answer_retries=1).labels(TASK)) == 120 and server.count == 2


def test_malformed_after_the_retries(ctx):
    with FakeOllama(lambda body: Reply(content="[1, 2, 3]")) as server:
        with pytest.raises(DiscoverError, match=r"not a JSON object with a list of labels \(2 tries"):
            source(server.url, ctx, answer_retries=1).labels(TASK)


def test_short_list(ctx):
    batches = iter([words(50), words(30, 50)])
    with FakeOllama(lambda body: labels_reply(next(batches))) as server:
        with pytest.raises(DiscoverError, match=r"gave 80 distinct labels .* min_labels=100, after 1 follow-up"):
            source(server.url, ctx, follow_ups=1).labels(TASK)
        assert server.count == 2


def test_timeout_is_not_repeated(ctx):
    with FakeOllama(lambda body: labels_reply(words(120), delay=1.5)) as server:
        with pytest.raises(DiscoverError, match=r"did not answer within 0.3 s"):
            source(server.url, ctx, timeout=0.3, retries=3).labels(TASK)
        assert server.count == 1


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused_is_retried_until_the_server_starts(ctx):
    """A server that starts while the source is retrying is used as soon as it listens."""
    port = _port()
    holder = {}

    def start_later():
        time.sleep(0.8)
        from http.server import ThreadingHTTPServer

        s = FakeOllama()
        s.httpd.server_close()
        s.httpd = ThreadingHTTPServer(("127.0.0.1", port), s.httpd.RequestHandlerClass)
        s.thread = threading.Thread(target=s.httpd.serve_forever, daemon=True)
        s.thread.start()
        holder["server"] = s

    t = threading.Thread(target=start_later)
    t.start()
    try:
        labels = source(f"http://127.0.0.1:{port}", ctx, retries=6).labels(TASK)
        assert len(labels) == 120
    finally:
        t.join()
        if "server" in holder:
            assert holder["server"].count == 1
            holder["server"].__exit__()


def test_server_unreachable(ctx):
    with pytest.raises(DiscoverError, match=r"refused the connection .*after 2 retries") as err:
        source(f"http://127.0.0.1:{_port()}", ctx, retries=2).labels(TASK)
    assert "ollama serve" in err.value.hint


def test_retry_after_forms():
    assert retry_after({"retry-after": "2.5"}) == 2.5
    assert retry_after({}) is None and retry_after(None) is None
    assert retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert retry_after({"retry-after": "soon"}) is None
