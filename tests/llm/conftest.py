import pytest

from discover_core.interfaces import Context

SECRET = "sk-test-DO-NOT-LEAK-0123456789abcdef"


@pytest.fixture
def secret(monkeypatch):
    monkeypatch.setenv("DISCOVER_TEST_OPENAI_KEY", SECRET)
    return SECRET


@pytest.fixture
def ctx(tmp_path):
    return Context(cache_dir=tmp_path / "cache", base_dir=tmp_path)
