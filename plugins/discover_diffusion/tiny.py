"""A tiny Stable-Diffusion-shaped model folder built from configs: for tests, benchmarks and smoke runs.

Same layout and classes as a real SD 2.x base (``model_index.json``, ``unet/``, ``vae/``, ``text_encoder/``,
``tokenizer/``, ``scheduler/``), random weights (seeded), a VAE of four blocks (scale factor 8, 4 latent
channels) and a CLIP tokenizer whose byte-level vocabulary is built in memory, so nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

UNET = dict(
    block_out_channels=(16, 32), layers_per_block=1, sample_size=8, in_channels=4, out_channels=4,
    down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
    cross_attention_dim=32, attention_head_dim=(2, 4), use_linear_projection=True, norm_num_groups=8,
)
VAE = dict(
    block_out_channels=(8, 8, 16, 16), in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1,
    down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
    norm_num_groups=4, sample_size=64,
)
TEXT = dict(
    bos_token_id=0, eos_token_id=2, pad_token_id=1, hidden_size=32, intermediate_size=37, layer_norm_eps=1e-05,
    num_attention_heads=4, num_hidden_layers=2, vocab_size=1000, max_position_embeddings=77, hidden_act="gelu",
    projection_dim=32,
)


def byte_level_vocabulary() -> dict[str, int]:
    """CLIP's byte-level BPE vocabulary without merges: every byte alone and at a word's end, plus the specials."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    chars = list(bytes_to_unicode().values())
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 2}
    for token in chars + [c + "</w>" for c in chars]:
        vocab.setdefault(token, len(vocab) + 1)
    return vocab


def tiny_tokenizer():
    from transformers import CLIPTokenizer

    return CLIPTokenizer(vocab=byte_level_vocabulary(), merges=[], model_max_length=77)


def tiny_models(seed: int = 0) -> dict:
    """The components of a tiny SD base: unet, vae, text_encoder, tokenizer, scheduler (seeded weights)."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(**UNET)
        vae = AutoencoderKL(**VAE)
        text_encoder = CLIPTextModel(CLIPTextConfig(**TEXT))
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    return dict(unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tiny_tokenizer(), scheduler=scheduler)


def save_tiny_base(folder: str | Path, seed: int = 0) -> Path:
    """Write a tiny SD base to ``folder`` in the diffusers layout (as ``save_pretrained`` of a pipeline does)."""
    from diffusers import StableDiffusionPipeline

    parts = tiny_models(seed)
    pipe = StableDiffusionPipeline(**parts, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.save_pretrained(folder)
    return Path(folder)


def save_tiny_controlnet(folder: str | Path, base: str | Path, channels: int = 8, seed: int = 1,
                         perturb: float = 0.0) -> Path:
    """A latent-condition ControlNet of the tiny base, saved to ``folder``; ``perturb`` > 0 fills its zero
    convolutions with random weights of that scale (an 'already trained' ControlNet whose condition matters)."""
    from diffusers import UNet2DConditionModel

    from .loading import new_controlnet

    unet = UNet2DConditionModel.from_pretrained(base, subfolder="unet")
    net = new_controlnet(unet, channels)
    if perturb:
        perturb_zero_convs(net, perturb, seed)
    net.save_pretrained(folder)
    return Path(folder)


def perturb_zero_convs(controlnet, scale: float = 0.1, seed: int = 1) -> None:
    """Random weights (normal, ``scale``) in the zero convolutions of a ControlNet, in place."""
    import torch

    g = torch.Generator().manual_seed(seed)
    convs = [controlnet.controlnet_cond_embedding.conv_out, controlnet.controlnet_mid_block,
             *controlnet.controlnet_down_blocks]
    with torch.no_grad():
        for conv in convs:
            for p in conv.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * scale)
