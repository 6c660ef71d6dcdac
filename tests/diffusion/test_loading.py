"""Where the base and the ControlNet come from: save/load by path, the latent ControlNet, missing weights."""

from __future__ import annotations

import shutil

import pytest
import torch

from discover_core.errors import ConfigError, WeightsError
from discover_core.interfaces import Context


def test_latent_controlnet_survives_save_and_load(tiny_base, tmp_path):
    from diffusers import ControlNetModel, UNet2DConditionModel

    from discover_diffusion.loading import check_latent_controlnet, new_controlnet
    from discover_diffusion.tiny import perturb_zero_convs

    unet = UNet2DConditionModel.from_pretrained(tiny_base, subfolder="unet")
    net = new_controlnet(unet, 8)
    perturb_zero_convs(net, 0.1)
    assert net.config.conditioning_channels == 4 and tuple(net.config.conditioning_embedding_out_channels) == (8,)
    net.save_pretrained(tmp_path / "cn")
    assert (tmp_path / "cn" / "diffusion_pytorch_model.safetensors").is_file()
    again = ControlNetModel.from_pretrained(tmp_path / "cn")
    check_latent_controlnet(again, unet, "the saved folder")
    a, b = net.state_dict(), again.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # the condition is taken at latent resolution (no downsampling in the conditioning embedding)
    cond = torch.randn(1, 4, 6, 8)
    assert again.controlnet_cond_embedding(cond).shape[-2:] == (6, 8)


def test_new_controlnet_is_the_same_every_time(tiny_base):
    from diffusers import UNet2DConditionModel

    from discover_diffusion.loading import new_controlnet

    unet = UNet2DConditionModel.from_pretrained(tiny_base, subfolder="unet")
    a, b = new_controlnet(unet, 8).state_dict(), new_controlnet(unet, 8).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert all(not v.any() for k, v in a.items() if k.startswith(("controlnet_down_blocks", "controlnet_mid_block")))


def test_stock_pipeline_preprocessing_lets_a_latent_condition_through(make):
    """StableDiffusionControlNetPipeline.prepare_image leaves a 4-channel tensor as it is (no resize, no
    normalisation); its __call__ then takes the output size from it, which is why sampling has its own loop."""
    pipe = make().models.pipe
    cond = torch.randn(1, 4, 6, 8) * 5
    out = pipe.prepare_image(cond, width=64, height=48, batch_size=1, num_images_per_prompt=1,
                             device=torch.device("cpu"), dtype=torch.float32)
    assert torch.equal(out, cond)


def test_image_controlnet_is_refused(tiny_base, tmp_path, context):
    from diffusers import ControlNetModel, UNet2DConditionModel

    from discover_diffusion.composer import ControlNetComposer

    unet = UNet2DConditionModel.from_pretrained(tiny_base, subfolder="unet")
    ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(8, 16)).save_pretrained(tmp_path / "rgb")
    opts = ControlNetComposer.Options(base=str(tiny_base), controlnet=str(tmp_path / "rgb"))
    with pytest.raises(WeightsError, match="image ControlNet"):
        ControlNetComposer(opts, context)


def _build(base, context, **options):
    from discover_diffusion.composer import ControlNetComposer

    return ControlNetComposer(ControlNetComposer.Options(base=str(base), **options), context)


def test_missing_base_folder_says_where_and_what(tmp_path, context):
    with pytest.raises(WeightsError) as e:
        _build(tmp_path / "nowhere", context)
    text = str(e.value)
    assert "nowhere" in text and "does not exist" in text
    for part in ("model_index.json", "unet/", "vae/", "text_encoder/", "tokenizer/", "scheduler/"):
        assert part in text, f"the hint does not name {part}"


def test_incomplete_base_names_the_missing_files(tiny_base, tmp_path, context):
    copy = shutil.copytree(tiny_base, tmp_path / "copy")
    (copy / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(WeightsError, match=r"unet/diffusion_pytorch_model\.safetensors missing"):
        _build(copy, context)
    (copy / "scheduler" / "scheduler_config.json").unlink()
    with pytest.raises(WeightsError, match=r"scheduler/scheduler_config\.json"):
        _build(copy, context)


def test_hub_id_offline_without_a_copy_names_the_local_copy_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    ctx = Context(cache_dir=tmp_path / "cache")
    with pytest.raises(WeightsError) as e:
        _build("stabilityai/stable-diffusion-2-1-base", ctx)
    text = str(e.value)
    assert str(tmp_path / "cache" / "hub" / "stabilityai" / "stable-diffusion-2-1-base") in text
    assert "model_index.json" in text and "text_encoder/" in text


def test_hub_id_uses_the_local_copy(tiny_base, tmp_path):
    """A copy in <cache>/hub/<org>/<name> with the files a hub download would bring serves the hub id."""
    from discover_diffusion.loading import resolve_base

    ctx = Context(cache_dir=tmp_path / "cache")
    copy = shutil.copytree(tiny_base, ctx.cache_dir / "hub" / "someone" / "tiny-sd")
    for name in ("vocab.json", "merges.txt", "special_tokens_map.json"):
        (copy / "tokenizer" / name).write_text("{}")
    assert resolve_base("someone/tiny-sd", ctx) == copy.resolve()


def test_missing_controlnet_says_what_it_needs(tiny_base, tmp_path, context):
    with pytest.raises(WeightsError) as e:
        _build(tiny_base, context, controlnet=str(tmp_path / "cn"))
    assert "config.json" in str(e.value) and "diffusion_pytorch_model.safetensors" in str(e.value)
    (tmp_path / "cn").mkdir()
    (tmp_path / "cn" / "config.json").write_text("{}")
    with pytest.raises(WeightsError, match="no diffusion_pytorch_model.safetensors"):
        _build(tiny_base, context, controlnet=str(tmp_path / "cn"))


def test_gpu_only_settings_on_the_cpu_are_config_errors(tiny_base, context):
    with pytest.raises(ConfigError, match="float16"):
        _build(tiny_base, context, dtype="float16")
    with pytest.raises(ConfigError, match="cpu_offload"):
        _build(tiny_base, context, cpu_offload=True)
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA"):
            _build(tiny_base, context, device="cuda")


def test_models_are_shared_and_fingerprint_follows_the_files(make, trained_controlnet, tiny_base, tmp_path, context):
    a, b = make(steps=2), make(steps=5, seed=9)
    assert a.models is b.models, "decode-time options load the models again"
    fp = a.weights_fingerprint()
    assert make(controlnet=str(trained_controlnet)).weights_fingerprint() != fp
    copy = shutil.copytree(tiny_base, tmp_path / "copy")
    assert _build(copy, context).weights_fingerprint() == fp, "the fingerprint depends on the folder's path"
    (copy / "README.md").write_text("not loaded")
    assert _build(copy, context).weights_fingerprint() == fp
    cfg = copy / "unet" / "config.json"
    cfg.write_text(cfg.read_text().replace('"sample_size": 8', '"sample_size": 16'))
    assert _build(copy, context).weights_fingerprint() != fp
