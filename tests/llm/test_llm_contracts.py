"""Both LLM label sources pass the label source contract suite (against local fake servers)."""

from __future__ import annotations

import pytest

pytest.importorskip("openai")
pytest.importorskip("ollama")

from discover_core.interfaces import Context
from discover_core.testing import LabelSourceContract
from discover_llm.ollama_source import OllamaLabels
from discover_llm.openai_source import OpenAILabels
from discover_llm.fakes import FakeOllama, FakeOpenAI, labels_reply


def answer(body):
    """Labels that depend on the prompt (so two tasks get two lists), with case/number noise to normalise."""
    prompt = body["messages"][0]["content"]
    tag = "cls" if "classification" in prompt else "det"
    return labels_reply([f"{i}. {tag.upper()} Thing {i}" for i in range(1, 130)] + ["", f"{tag} thing 1"])


@pytest.fixture(scope="module")
def openai_server():
    with FakeOpenAI(answer) as server:
        yield server


@pytest.fixture(scope="module")
def ollama_server():
    with FakeOllama(answer) as server:
        yield server


class TestOpenAIContract(LabelSourceContract):
    component_class = OpenAILabels

    @pytest.fixture
    def options_dict(self, openai_server):
        return {"base_url": openai_server.base_url, "api_key_env": None, "retries": 0}

    @pytest.fixture
    def context(self, tmp_path):
        return Context(cache_dir=tmp_path / "cache")


class TestOllamaContract(LabelSourceContract):
    component_class = OllamaLabels

    @pytest.fixture
    def options_dict(self, ollama_server):
        return {"host": ollama_server.url, "retries": 0}

    @pytest.fixture
    def context(self, tmp_path):
        return Context(cache_dir=tmp_path / "cache")
