"""The ``plain`` composer and the ``sd-latent`` target: the paper's path without composition."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from discover_core.errors import WeightsError
from discover_core.interfaces import Decoded, Latent
from discover_core.testing import ComposerContract, ComposerOptionsContract, EntropyModelOptionsContract, samples

from discover_learned.component import Hyperprior
from discover_learned.plain import Plain

SD = {"checkpoint": None, "target": "sd-latent", "channels": 16, "latent_channels": 16, "global_channels": 8}


def test_sd_latent_target_decodes_to_an_sd_vae_latent(image, regions, tiny_vae):
    model = Hyperprior(Hyperprior.Options(**SD))
    assert Hyperprior.produces_for(model.options) == ("latent", "sd-vae")
    h, w = image.shape[:2]
    encoded = model.encode(image, regions)
    full = model.decode((w, h), encoded.params, encoded.chunks, model.format_version)
    assert full.representation == "latent" and full.coarse is None and full.missing is None
    lat = full.latent
    assert lat.space == "sd-vae" and lat.stride == 8 and lat.values.shape == (4, -(-h // 8), -(-w // 8))
    assert lat.values.dtype == np.float32 and lat.arrived.all()
    part = model.decode((w, h), encoded.params, encoded.chunks[:2], model.format_version)
    assert part.latent.arrived.shape == lat.arrived.shape and 0 < part.latent.arrived.mean() < 1
    assert part.missing.shape == (h, w)
    composer = Plain(Plain.Options(vae=str(tiny_vae)))
    out = composer.compose(full)
    assert out.shape == (h, w, 3) and out.dtype == np.uint8
    vae = composer.vae()
    with torch.no_grad():
        ref = vae.decode(torch.from_numpy(lat.values)[None]).sample[0]
    ref = ((ref.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()[:h, :w]
    assert np.array_equal(out, ref)


def test_pixels_are_used_as_they_are(image):
    h, w = image.shape[:2]
    out = Plain().compose(Decoded(size=(w, h), representation="pixels", coarse=image))
    assert np.array_equal(out, image)


def test_missing_vae_is_a_weights_error(tmp_path):
    d = Decoded(size=(16, 16), representation="latent",
                latent=Latent(np.zeros((4, 2, 2), np.float32), 8, np.ones((2, 2), bool), "sd-vae"))
    with pytest.raises(WeightsError):
        Plain(Plain.Options(vae=str(tmp_path / "no-vae"))).compose(d)


class TestPlainOnPixels(ComposerContract):
    component_class = Plain
    check_registration = True


class TestPlainOnSdLatents(ComposerOptionsContract):
    component_class = Plain
    entropy_model_class = Hyperprior
    entropy_model_options = SD

    @pytest.fixture
    def options_dict(self, tiny_vae):
        return {"vae": str(tiny_vae)}


class TestHyperpriorSdLatent(EntropyModelOptionsContract):
    component_class = Hyperprior
    options = SD

    @pytest.fixture
    def reference_composer(self, tiny_vae, context):
        return Plain(Plain.Options(vae=str(tiny_vae)), context)


class TestHyperpriorGlobalInformation(EntropyModelOptionsContract):
    """With M(ẑ) feeding g_s (the repository-wide contract test runs without it)."""

    component_class = Hyperprior
    options = {"checkpoint": None, "channels": 16, "latent_channels": 16, "global_channels": 8, "seed": 1}

    @pytest.fixture
    def encode_image(self):
        return samples.sample_image(160, 96)

    @pytest.fixture
    def encode_regions(self):
        return samples.sample_regions(160, 96)


def test_training_towards_the_vae_latent(tmp_path, tiny_vae):
    """Stage I with the sd-latent target: distortion ‖z_c − ẑ_c‖² to the VAE latent of the crop."""
    from PIL import Image

    from discover_core.interfaces import Context
    from discover_learned.training.trainer import Trainer

    d = tmp_path / "img"
    d.mkdir()
    Image.fromarray(samples.sample_image(128, 128)).save(d / "a.png")
    config = {"output": str(tmp_path / "run"), "steps": 25, "batch_size": 2, "lr": 1e-3,
              "distortion": [{"kind": "sd-latent-mse", "weight": 1.0, "options": {"vae": str(tiny_vae)}}],
              "data": {"folder": str(d), "crop": 64}}
    losses = []
    (path,) = Trainer(Hyperprior, Hyperprior.Options(**SD), config, Context()).run(
        lambda s, t, m: losses.append(m["distortion"]))
    assert sum(losses[-5:]) < 0.7 * sum(losses[:5]), losses
    assert Hyperprior(Hyperprior.Options(checkpoint=str(path))).target == "sd-latent"


def test_elic_sd_latent_target():
    from discover_learned.component import Elic

    model = Elic(Elic.Options(**SD))
    img = samples.sample_image(96, 64)
    enc = model.encode(img, samples.sample_regions())
    out = model.decode((96, 64), enc.params, enc.chunks, model.format_version)
    assert out.representation == "latent" and out.latent.values.shape == (4, 8, 12)
