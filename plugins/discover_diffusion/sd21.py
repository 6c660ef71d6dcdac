"""The published configs of Stable Diffusion 2.1-base, for real-size models with random weights (no download).

Values as in the hub repository ``stabilityai/stable-diffusion-2-1-base`` (``unet/config.json``,
``vae/config.json``, ``text_encoder/config.json``, ``scheduler/scheduler_config.json``; diffusers / transformers
defaults left out): UNet2DConditionModel 865.9M parameters, AutoencoderKL 83.7M, CLIPTextModel (OpenCLIP ViT-H/14's
text tower, 23 of its 24 layers) 340.4M. :func:`save_random_base` writes a folder in the diffusers layout that the
``controlnet`` composer and the ``diffusion`` training term load as they load the real one. Its tokenizer is the
byte-level stand-in of :mod:`.tiny` (CLIP's BPE merges are not shipped in any package): prompts tokenize to other
ids, always padded to 77 tokens, so shapes and costs are the real ones.

Used by ``scripts/real_size_check.py`` and ``scripts/gpu_smoke.py``.
"""

from __future__ import annotations

from pathlib import Path

UNET = dict(
    sample_size=64, in_channels=4, out_channels=4, center_input_sample=False, flip_sin_to_cos=True, freq_shift=0,
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    block_out_channels=(320, 640, 1280, 1280), layers_per_block=2, downsample_padding=1, mid_block_scale_factor=1,
    act_fn="silu", norm_num_groups=32, norm_eps=1e-5, cross_attention_dim=1024, attention_head_dim=(5, 10, 20, 20),
    use_linear_projection=True, dual_cross_attention=False,
)
VAE = dict(
    in_channels=3, out_channels=3, latent_channels=4, sample_size=512, layers_per_block=2, act_fn="silu",
    norm_num_groups=32, block_out_channels=(128, 256, 512, 512),
    down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
)
TEXT = dict(
    vocab_size=49408, hidden_size=1024, intermediate_size=4096, num_hidden_layers=23, num_attention_heads=16,
    max_position_embeddings=77, hidden_act="gelu", layer_norm_eps=1e-5, attention_dropout=0.0, dropout=0.0,
    initializer_range=0.02, initializer_factor=1.0, projection_dim=512, bos_token_id=0, eos_token_id=2,
    pad_token_id=1,
)
SCHEDULER = dict(
    _class_name="PNDMScheduler", num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
    beta_schedule="scaled_linear", trained_betas=None, clip_sample=False, set_alpha_to_one=False,
    skip_prk_steps=True, steps_offset=1, prediction_type="epsilon",
)
PARAMETERS = {"unet": 865_910_724, "vae": 83_653_863, "text_encoder": 340_387_840}
"""Parameter counts of the published models (checked against the models these configs build)."""


def random_models(seed: int = 0, dtype=None) -> dict:
    """unet, vae, text_encoder, tokenizer, scheduler of SD 2.1-base with seeded random weights."""
    import torch
    from diffusers import AutoencoderKL, PNDMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from .tiny import tiny_tokenizer

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(**UNET)
        vae = AutoencoderKL(**VAE)
        text_encoder = CLIPTextModel(CLIPTextConfig(**TEXT))
    if dtype is not None:
        unet, vae, text_encoder = (m.to(dtype) for m in (unet, vae, text_encoder))
    scheduler = PNDMScheduler.from_config({k: v for k, v in SCHEDULER.items() if k != "_class_name"})
    return dict(unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tiny_tokenizer(), scheduler=scheduler)


def save_random_base(folder: str | Path, seed: int = 0) -> Path:
    """Write SD 2.1-base with random weights to ``folder`` in the diffusers layout (``save_pretrained`` of a
    pipeline, safetensors), one model at a time so that the peak memory stays near the UNet's 3.5 GB."""
    import gc
    import json

    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from .tiny import byte_level_vocabulary, tiny_tokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    builders = (("unet", lambda: UNet2DConditionModel(**UNET)), ("vae", lambda: AutoencoderKL(**VAE)),
                ("text_encoder", lambda: CLIPTextModel(CLIPTextConfig(**TEXT))))
    for k, (name, build) in enumerate(builders):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + k)
            model = build()
        model.save_pretrained(folder / name, safe_serialization=True)
        del model
        gc.collect()
    tok = tiny_tokenizer()
    tok.save_pretrained(folder / "tokenizer")
    (folder / "tokenizer" / "vocab.json").write_text(json.dumps(byte_level_vocabulary()))
    (folder / "tokenizer" / "merges.txt").write_text("#version: 0.2\n")
    (folder / "scheduler").mkdir(exist_ok=True)
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps(SCHEDULER, indent=2))
    index = {"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.30.0",
             "feature_extractor": [None, None], "requires_safety_checker": False, "safety_checker": [None, None],
             "scheduler": ["diffusers", "PNDMScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
             "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "UNet2DConditionModel"],
             "vae": ["diffusers", "AutoencoderKL"]}
    (folder / "model_index.json").write_text(json.dumps(index, indent=2))
    return folder
