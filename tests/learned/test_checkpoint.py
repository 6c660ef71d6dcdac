"""Checkpoints: safetensors + JSON round trip, rate families, compressai zoo state dicts, clear errors."""

from __future__ import annotations

import json

import pytest
import torch

from discover_core.errors import WeightsError


@pytest.fixture(scope="module")
def saved(tmp_path_factory, build_model):
    from discover_learned import checkpoint

    folder = tmp_path_factory.mktemp("family")
    models = {q: build_model(seed=q) for q in (1, 2)}
    for q, m in models.items():
        checkpoint.save(m.net, folder / f"quality-{q}.safetensors")
    return folder, models


@pytest.fixture(scope="module")
def build_model():
    from discover_learned.component import Hyperprior

    def build(**options):
        return Hyperprior(Hyperprior.Options.model_validate(
            {"checkpoint": None, "channels": 16, "latent_channels": 16, "global_channels": 8, **options}))
    return build


def test_saved_checkpoint_gives_the_same_bytes(saved, build_model, image, regions):
    folder, models = saved
    loaded = build_model(checkpoint=str(folder / "quality-2.safetensors"), channels=None, latent_channels=None,
                         global_channels=None)
    assert loaded.net.arch == models[2].net.arch
    a, b = models[2].encode(image, regions), loaded.encode(image, regions)
    assert [c.payload for c in a.chunks] == [c.payload for c in b.chunks]
    fp = loaded.weights_fingerprint()
    assert fp.startswith("sha256:") and fp != models[2].weights_fingerprint()
    assert json.loads((folder / "quality-2.json").read_text())["arch"]["channels"] == 16


def test_quality_selects_one_checkpoint_of_a_family(saved, build_model):
    folder, models = saved
    for q in (1, 2):
        m = build_model(checkpoint=str(folder), quality=q, channels=None, latent_channels=None,
                        global_channels=None)
        assert all(torch.equal(p, r) for p, r in zip(m.net.parameters(), models[q].net.parameters()))
    with pytest.raises(WeightsError, match="choose one"):
        build_model(checkpoint=str(folder), channels=None, latent_channels=None, global_channels=None)
    with pytest.raises(WeightsError, match="quality 7"):
        build_model(checkpoint=str(folder), quality=7, channels=None, latent_channels=None,
                    global_channels=None)


def test_missing_and_mismatched_checkpoints_are_weights_errors(saved, build_model, tmp_path):
    folder, _ = saved
    with pytest.raises(WeightsError):
        build_model(checkpoint=str(tmp_path / "nothing.safetensors"))
    with pytest.raises(WeightsError, match="channels is 32"):
        build_model(checkpoint=str(folder / "quality-1.safetensors"), channels=32)
    lonely = tmp_path / "lonely.safetensors"
    lonely.write_bytes((folder / "quality-1.safetensors").read_bytes())
    with pytest.raises(WeightsError, match="architecture file"):
        build_model(checkpoint=str(lonely))
    (tmp_path / "lonely.json").write_text(json.dumps({"arch": {"kind": "hyperprior", "channels": 24,
                                                                 "latent_channels": 16, "global_channels": 8}}))
    with pytest.raises(WeightsError, match="does not fit"):
        build_model(checkpoint=str(lonely), channels=None, latent_channels=None, global_channels=None)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a safetensors file")
    (tmp_path / "broken.json").write_text((folder / "quality-1.json").read_text())
    with pytest.raises(WeightsError, match="cannot be read"):
        build_model(checkpoint=str(broken), channels=None, latent_channels=None, global_channels=None)


def test_compressai_zoo_state_dict_imports(tmp_path, build_model, image):
    """A MeanScaleHyperprior state dict (as the zoo ships) codes what compressai's model estimates."""
    from compressai.models import MeanScaleHyperprior

    torch.manual_seed(0)
    ref = MeanScaleHyperprior(N=16, M=24).eval()
    ref.update(force=True)
    path = tmp_path / "mbt2018-mean-1.pth.tar"
    torch.save(ref.state_dict(), path)
    m = build_model(checkpoint=str(path), channels=None, latent_channels=None, global_channels=None)
    assert (m.net.arch.channels, m.net.arch.latent_channels, m.net.arch.global_channels) == (16, 24, 0)
    x = torch.rand(1, 3, 128, 128)
    with torch.no_grad():
        ours, theirs = m.net(x), ref(x)
    assert torch.allclose(ours["x_hat"], theirs["x_hat"], atol=1e-5)
    assert torch.allclose(ours["y_likelihoods"], theirs["likelihoods"]["y"], atol=1e-6)
    not_a_model = tmp_path / "other.pth"
    torch.save({"weight": torch.zeros(2)}, not_a_model)
    with pytest.raises(WeightsError, match="mean-scale"):
        build_model(checkpoint=str(not_a_model), channels=None, latent_channels=None, global_channels=None)


def test_half_precision_export_codes_like_the_loaded_model(saved, build_model, image, regions, tmp_path):
    from discover_learned import checkpoint

    folder, _ = saved
    small = checkpoint.export(folder / "quality-1.safetensors", tmp_path / "small.safetensors", half=True)
    assert small.stat().st_size < (folder / "quality-1.safetensors").stat().st_size
    a = build_model(checkpoint=str(small), channels=None, latent_channels=None, global_channels=None)
    b = build_model(checkpoint=str(small), channels=None, latent_channels=None, global_channels=None)
    ea = a.encode(image, regions)
    assert [c.payload for c in ea.chunks] == [c.payload for c in b.encode(image, regions).chunks]
    assert a.decode((256, 192), ea.params, ea.chunks, a.format_version).coarse.shape == (192, 256, 3)


def test_produces_for_reads_the_checkpoint_target(tmp_path, build_model):
    from discover_learned import checkpoint
    from discover_learned.component import Hyperprior

    m = build_model(target="sd-latent")
    checkpoint.save(m.net, tmp_path / "quality-3.safetensors")
    for spec in (tmp_path / "quality-3.safetensors", tmp_path):
        assert Hyperprior.produces_for(Hyperprior.Options(checkpoint=str(spec))) == ("latent", "sd-vae")
    assert Hyperprior.produces_for(Hyperprior.Options()) == ("pixels", None)
