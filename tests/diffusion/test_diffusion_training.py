"""The diffusion loss: only the ControlNet trains, a few steps lower the loss, checkpoints load as the composer's."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusion_samples import latent_decode



@pytest.fixture
def models(tiny_base, context):
    from discover_diffusion.training import load_training_models

    return load_training_models(str(tiny_base), None, 8, "cpu", context)


def batch(seed: int = 0, n: int = 2):
    g = torch.Generator().manual_seed(seed)
    z_c = torch.randn(n, 4, 8, 8, generator=g) * 4
    return z_c, z_c + torch.randn(n, 4, 8, 8, generator=g)


def test_only_the_controlnet_is_trainable(models):
    from discover_diffusion.training import diffusion_loss, trainable_parameters

    params = trainable_parameters(models)
    assert {id(p) for p in params} == {id(p) for p in models.controlnet.parameters()}
    z_c, z_hat = batch()
    z_hat.requires_grad_(True)
    diffusion_loss(models, z_c, z_hat, generator=torch.Generator().manual_seed(0)).backward()
    assert all(p.grad is None for m in (models.unet, models.vae, models.text_encoder) for p in m.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in params)
    assert z_hat.grad is None or z_hat.grad.abs().sum() == 0, "with zero convolutions ẑ_c cannot matter yet"


def test_a_few_steps_lower_the_loss_and_the_gradient_reaches_the_codec(models):
    from discover_diffusion.training import LAMBDA_DIFF, diffusion_loss, trainable_parameters

    opt = torch.optim.Adam(trainable_parameters(models), lr=2e-3)
    z_c, z_hat = batch()
    t = torch.tensor([300, 700])

    def loss():
        return diffusion_loss(models, z_c, z_hat, generator=torch.Generator().manual_seed(1), timesteps=t)

    with torch.no_grad():
        first = loss().item()
    for _ in range(6):
        opt.zero_grad()
        value = loss()
        value.backward()
        opt.step()
    with torch.no_grad():
        last = loss().item()
    assert last < first * 0.95, (first, last)
    # once the zero convolutions moved, ẑ_c (the codec's output) receives a gradient
    z = z_hat.clone().requires_grad_(True)
    diffusion_loss(models, z_c, z, generator=torch.Generator().manual_seed(1), timesteps=t).backward()
    assert z.grad is not None and z.grad.abs().sum() > 0
    half = diffusion_loss(models, z_c, z_hat, weight=LAMBDA_DIFF / 2,
                          generator=torch.Generator().manual_seed(1), timesteps=t)
    assert torch.isclose(half * 2, loss())


def test_sizes_must_fit_the_unet(models):
    from discover_diffusion.training import diffusion_loss

    z = torch.zeros(1, 4, 7, 8)
    with pytest.raises(ValueError, match="multiples"):
        diffusion_loss(models, z, z)


def test_checkpoint_loads_as_the_composers_controlnet(models, make, tmp_path):
    from discover_diffusion.tiny import perturb_zero_convs
    from discover_diffusion.training import save_controlnet

    perturb_zero_convs(models.controlnet, 0.2)  # as if trained
    folder = save_controlnet(models, tmp_path / "cn")
    comp = make(controlnet=str(folder), blend="none", seed=2)
    a, b = latent_decode(64, 48, 0.0, 1), latent_decode(64, 48, 0.0, 2)
    assert not np.array_equal(comp.compose(a), comp.compose(b)), "the trained ControlNet was not loaded"
    assert comp.models.controlnet_folder == folder.resolve()


def test_term_for_the_codec_trainer(tiny_base, context):
    """term(out, x): out = ẑ_c of the sd-latent target, x = images in [0, 1]; parameters() and save()."""
    from discover_diffusion.training import diffusion_term

    term = diffusion_term({"base": str(tiny_base), "condition_channels": 8, "weight": 2.0}, context, "cpu")
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    out = torch.randn(1, 4, 8, 8, requires_grad=True)
    value = term(out, x)
    assert value.ndim == 0 and value.item() > 0
    value.backward()
    assert any(p.grad is not None for p in term.parameters())


def test_discover_train_trains_codec_and_controlnet_together(tmp_path):
    """Stage I with the sd-latent target: ‖z_c − ẑ_c‖² + λ_diff · diffusion loss; only the ControlNet of the SD
    base is trained (and saved beside the codec's checkpoint, loadable as the composer's `controlnet`)."""
    pytest.importorskip("compressai", reason="the learned codec needs the extra 'learned'")
    import numpy as np
    from PIL import Image
    from diffusers import ControlNetModel, UNet2DConditionModel

    from discover_core.interfaces import Context
    from discover_core.testing import samples
    from discover_diffusion.tiny import save_tiny_base
    from discover_learned.component import Hyperprior
    from discover_learned.training.trainer import Trainer

    base = save_tiny_base(tmp_path / "base")
    d = tmp_path / "img"
    d.mkdir()
    Image.fromarray(samples.sample_image(128, 128)).save(d / "a.png")
    config = {"output": str(tmp_path / "run"), "steps": 12, "batch_size": 2, "lr": 1e-3, "save_every": 6,
              "distortion": [{"kind": "sd-latent-mse", "weight": 1.0, "options": {"vae": str(base / "vae")}},
                             {"kind": "diffusion", "weight": 2.0,
                              "options": {"base": str(base), "condition_channels": 8}}],
              "data": {"folder": str(d), "crop": 64}}
    options = Hyperprior.Options(checkpoint=None, target="sd-latent", channels=16, latent_channels=16,
                                 global_channels=8)
    seen = []
    (path,) = Trainer(Hyperprior, options, config, Context()).run(lambda s, t, m: seen.append(m["distortion"]))
    assert len(seen) == 12 and all(np.isfinite(seen))
    saved = ControlNetModel.from_pretrained(tmp_path / "run" / "controlnet-quality-1")
    fresh = ControlNetModel.from_unet(UNet2DConditionModel.from_pretrained(base, subfolder="unet"),
                                      conditioning_channels=4, conditioning_embedding_out_channels=(8,))
    moved = [not torch.equal(a, b) for a, b in zip(saved.state_dict().values(), fresh.state_dict().values())]
    assert any(moved), "the ControlNet was not trained"
    assert path.name == "quality-1.safetensors" and (tmp_path / "run" / "train-state-quality-1.pt").is_file()
