"""Training: a few CPU steps lower the loss; runs resume; stage II trains only g_s and M; config errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from discover_core.errors import ConfigError
from discover_core.testing import samples

TINY = {"checkpoint": None, "channels": 16, "latent_channels": 16, "global_channels": 8}


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "images"
    d.mkdir()
    for i in range(2):
        Image.fromarray(samples.sample_image(160, 128, seed=i)).save(d / f"img{i}.png")
    return d


def _config(tmp_path, folder, **training):
    cfg = {"entropy_model": {"plugin": "hyperprior", "options": dict(TINY)},
           "training": {"output": str(tmp_path / "run"), "steps": 40, "batch_size": 4, "lr": 1e-3,
                        "data": {"folder": str(folder), "crop": 64}, "save_every": 20, **training}}
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _train(path):
    from discover_core.cli_train import build_trainer

    trainer = build_trainer(path)
    seen = []
    written = trainer.run(lambda step, total, m: seen.append((step, total, m)))
    return trainer, written, seen


def test_a_few_steps_lower_the_loss(tmp_path, folder):
    trainer, written, seen = _train(_config(tmp_path, folder))
    assert [s for s, _, _ in seen] == list(range(1, 41)) and seen[-1][1] == 40
    losses = [m["loss"] for _, _, m in seen]
    assert np.mean(losses[-8:]) < 0.7 * np.mean(losses[:8]), losses
    assert {"loss", "bpp", "distortion", "aux", "psnr"} <= set(seen[-1][2])
    assert [p.name for p in written] == ["quality-1.safetensors"]
    from discover_learned.component import Hyperprior

    img = samples.sample_image(160, 128)

    def psnr(model):
        e = model.encode(img, [])
        return samples.psnr(model.decode((160, 128), e.params, e.chunks, model.format_version).coarse, img)

    trained = Hyperprior(Hyperprior.Options(checkpoint=str(written[0])))
    untrained = Hyperprior(Hyperprior.Options(**TINY))
    assert psnr(trained) > psnr(untrained) + 1


def test_an_interrupted_run_resumes(tmp_path, folder):
    _train(_config(tmp_path, folder, steps=20, save_every=10))
    _, _, seen = _train(_config(tmp_path, folder, steps=24, save_every=10))
    assert [s for s, _, _ in seen] == [21, 22, 23, 24]


def test_stage_two_freezes_the_encoder_and_hyperprior(tmp_path, folder):
    from discover_learned import checkpoint

    _, (first,), _ = _train(_config(tmp_path, folder, steps=4))
    before = checkpoint.load(first)
    _, (second,), seen = _train(_config(tmp_path, folder, steps=4, stage=2, init=str(first), quality=2,
                                        output=str(tmp_path / "stage2")))
    after = checkpoint.load(second)
    for part in ("g_a", "h_a", "h_s", "entropy_bottleneck"):
        for (name, p), q in zip(getattr(before, part).named_parameters(), getattr(after, part).parameters()):
            assert torch.equal(p, q), f"{part}.{name} changed in stage II"
    changed = [not torch.equal(p, q) for p, q in zip(before.g_s.parameters(), after.g_s.parameters())]
    assert any(changed), "stage II must train g_s"
    assert "aux" not in seen[-1][2]


def test_rate_family_from_a_list_of_lambdas(tmp_path, folder):
    _, written, seen = _train(_config(tmp_path, folder, steps=2, lambda_rate=[1.0, 8.0]))
    assert [p.name for p in written] == ["quality-1.safetensors", "quality-2.safetensors"]
    assert seen[-1][:2] == (4, 4)


def test_masks_cover_up_to_half_of_the_latent():
    from discover_learned.training.masks import region_masks

    keep = region_masks(64, 8, 8, 0.0, 0.5, torch.Generator().manual_seed(0))
    dropped = 1 - keep.mean(dim=(1, 2, 3))
    assert dropped.min() >= 0 and dropped.max() <= 0.5 + 16 / 64 and dropped.mean() > 0.15
    assert set(keep.unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("change, where", [
    ({"training": {"steps": 0, "output": "x"}}, "training.steps"),
    ({"training": {"output": "x", "steps": 1, "what": 1}}, "training.what"),
    ({"training": {"output": "x", "steps": 1, "distortion": [{"kind": "lpips"}]}}, "training.distortion"),
    ({"training": {"output": "x", "steps": 1, "data": {"scale": [1.0, 0.5]}}}, "training.data.scale"),
    ({"grounder": {"plugin": "boxes"}}, "exactly one component"),
    ({"entropy_model": {"plugin": "hyperprior", "options": {"channels": 3}}}, "entropy_model.options.channels"),
])
def test_config_errors_name_their_path(tmp_path, change, where):
    from discover_core.cli_train import build_trainer

    cfg = {"entropy_model": {"plugin": "hyperprior", "options": dict(TINY)},
           "training": {"output": "x", "steps": 1}}
    cfg.update(change)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match=where.replace(".", r"\.")):
        build_trainer(path)


def test_train_command_writes_the_checkpoint(tmp_path, folder):
    from click.testing import CliRunner

    from discover_core.cli_train import train

    result = CliRunner().invoke(train, [str(_config(tmp_path, folder, steps=2))])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("quality-1.safetensors")
    assert (tmp_path / "run" / "quality-1.json").is_file()


@pytest.mark.parametrize("name", ["hyperprior-pixels.yaml", "discover-sd-latent-stage1.yaml",
                                  "discover-sd-latent-stage2.yaml"])
def test_example_configs_validate(name):
    from pathlib import Path

    from discover_learned.training.trainer import parse

    path = Path(__file__).parents[2] / "examples" / "training" / name
    cfg = yaml.safe_load(path.read_text())
    parse(cfg["training"])
    from discover_learned.component import Elic, Hyperprior

    cls = {"hyperprior": Hyperprior, "elic": Elic}[cfg["entropy_model"]["plugin"]]
    cls.Options.model_validate(cfg["entropy_model"]["options"])


def test_crops_are_rescaled_within_the_range_and_channels_shuffled():
    import random

    from discover_learned.training.data import random_crop

    img = np.zeros((256, 256, 3), np.uint8)
    img[..., 0] = 255  # red, with binary noise in green that rescaling blurs
    img[..., 1] = (np.random.default_rng(0).random((256, 256)) > 0.5) * 255
    rng = random.Random(0)
    plain = [random_crop(img, 64, rng) for _ in range(20)]
    assert all(c.shape == (64, 64, 3) for c in plain)
    assert all(set(np.unique(c[..., 1]).tolist()) == {0, 255} for c in plain)  # no rescaling: binary
    scaled = [random_crop(img, 64, rng, scale=(0.5, 0.75)) for _ in range(20)]
    assert all(len(np.unique(c[..., 1])) > 2 for c in scaled)  # resampled
    shuffled = [random_crop(img, 64, rng, shuffle_channels=True) for _ in range(40)]
    reds = {int(np.argmax(c.reshape(-1, 3).mean(0))) for c in shuffled}  # red (255) beats green (~127)
    assert reds == {0, 1, 2}  # the red channel went everywhere
