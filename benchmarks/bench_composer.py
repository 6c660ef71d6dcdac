"""Cost of the controlnet composer against a plain VAE decode of the same latent, in the same process.

    python benchmarks/bench_composer.py [--sizes 256,512] [--steps 8] [--repeat 3] [--real-arch]

Tiny configuration (the tests' SD-shaped models built from configs, random weights): per image size, the
time per sampling step (ControlNet + UNet, median), the whole compose at ``--steps`` steps, and the plain
VAE decode of ẑ_c (the "w/o composition" path) as the baseline; the process's peak RSS growth; batch 4 against
four single decodes on the CPU; PSNR inside the arrived regions against the plain decode, with and without
the blend. ``--real-arch`` also builds SD 2.1-base's UNet, a latent ControlNet of it, its VAE and text
encoder from their published configs (random weights, nothing downloaded) to count parameters and FLOPs and
time one real-size sampling step on this CPU.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from discover_core.interfaces import Context, Decoded, Latent
from discover_core.testing.samples import psnr
from discover_diffusion.composer import ControlNetComposer
from discover_diffusion.sampling import plain_decode
from discover_diffusion.tiny import save_tiny_base, save_tiny_controlnet

SD21_UNET = dict(
    sample_size=64, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=(320, 640, 1280, 1280),
    down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3, cross_attention_dim=1024,
    attention_head_dim=(5, 10, 20, 20), use_linear_projection=True)
SD21_VAE = dict(block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4,
                down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4)
SD21_TEXT = dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=23, num_attention_heads=16,
                 projection_dim=512, hidden_act="gelu", vocab_size=49408, max_position_embeddings=77)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def decode_of(width: int, height: int, frac: float, seed: int) -> Decoded:
    rng = np.random.default_rng(seed)
    h, w = -(-height // 8), -(-width // 8)
    arrived = np.zeros((h, w), bool)
    arrived[:, : int(w * frac)] = True
    values = (rng.standard_normal((4, h, w)) * 4).astype(np.float32)
    return Decoded(size=(width, height), representation="latent", latent=Latent(values, 8, arrived, "sd-vae"))


def best(fn, repeat: int) -> float:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return min(out)


def tiny(args, folder: Path) -> None:
    base = save_tiny_base(folder / "base")
    cn = save_tiny_controlnet(folder / "cn", base, channels=8, perturb=0.2)
    ctx = Context(cache_dir=folder / "cache")

    def make(**o):
        return ControlNetComposer(ControlNetComposer.Options(base=str(base), controlnet=str(cn), **o), ctx)

    comp = make(steps=args.steps)
    comp.compose(decode_of(64, 64, 0.5, 0))  # warm-up
    print(f"## tiny configuration, CPU, {torch.get_num_threads()} thread(s), {args.steps} steps, ddim\n")
    print("| image | latent | step (ms) | compose (ms) | plain VAE decode (ms) | compose / plain | step / plain "
          "| peak RSS growth (MB) |")
    print("|---|---|---|---|---|---|---|---|")
    for size in args.sizes:
        d = decode_of(size, size, 0.5, 1)
        rss0 = peak_rss_mb()
        steps: list[float] = []
        t_comp = best(lambda: comp._sample([comp._item(d)], on_step=lambda i, s: steps.append(s)), args.repeat)
        t_plain = best(lambda: plain_decode(comp.models, d.latent.values), args.repeat)
        step = statistics.median(steps)
        print(f"| {size}x{size} | {size // 8}x{size // 8} | {step * 1e3:.1f} | {t_comp * 1e3:.0f} | "
              f"{t_plain * 1e3:.1f} | {t_comp / t_plain:.1f} | {step / t_plain:.2f} | {peak_rss_mb() - rss0:.0f} |")
    print(f"\nprocess peak RSS {peak_rss_mb():.0f} MB (torch, diffusers and transformers included)\n")

    from discover_diffusion.sampling import sample

    items = [comp._item(decode_of(256, 256, 0.5, k)) for k in range(4)]
    kw = dict(steps=args.steps, scheduler="ddim", guidance_scale=1.0, conditioning_scale=1.0, blend="end", seed=0)
    t_batch = best(lambda: sample(comp.models, items, **kw), args.repeat)
    t_single = best(lambda: [sample(comp.models, [it], **kw) for it in items], args.repeat)
    print(f"batch of 4 at 256x256 on the CPU: {t_batch * 1e3:.0f} ms vs 4 single {t_single * 1e3:.0f} ms "
          f"(batch / single {t_batch / t_single:.2f})\n")

    print("PSNR (dB) inside the arrived regions against the plain VAE decode of ẑ_c (half the columns "
          "arrived, 256x256, 5 latents):\n")
    modes = {"none": {"blend": "none"}, "end": {"blend": "end"}, "steps": {"blend": "steps"},
             "end + paste_pixels": {"blend": "end", "paste_pixels": True}}
    scores = {m: [] for m in modes}
    comps = {m: make(steps=args.steps, **o) for m, o in modes.items()}
    for k in range(5):
        d = decode_of(256, 256, 0.5, 10 + k)
        ref = plain_decode(comp.models, d.latent.values)
        inside = np.repeat(np.repeat(d.latent.arrived, 8, 0), 8, 1)
        for m, c in comps.items():
            scores[m].append(psnr(c.compose(d), ref, inside))
    print("| blend | " + " | ".join(modes) + " |")
    print("|---|" + "---|" * len(modes))
    print("| mean PSNR | " + " | ".join(f"{np.mean(v):.2f}" for v in scores.values()) + " |\n")


def real_arch(args) -> None:
    """SD 2.1-base's architecture with random weights: sizes, FLOPs per step and one step on this CPU."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from torch.utils.flop_counter import FlopCounterMode
    from transformers import CLIPTextConfig, CLIPTextModel

    from discover_diffusion.loading import new_controlnet

    with torch.device("meta"):
        meta_unet = UNet2DConditionModel(**SD21_UNET)
        meta_vae = AutoencoderKL(**SD21_VAE)
        meta_text = CLIPTextModel(CLIPTextConfig(**SD21_TEXT))
    counts = {"unet": sum(p.numel() for p in meta_unet.parameters()),
              "vae decoder": sum(p.numel() for n, p in meta_vae.named_parameters() if not n.startswith(
                  ("encoder", "quant_conv"))),
              "text encoder": sum(p.numel() for p in meta_text.parameters())}
    t = time.perf_counter()
    unet = UNet2DConditionModel(**SD21_UNET).eval()
    controlnet = new_controlnet(unet, 64).eval()
    vae = AutoencoderKL(**SD21_VAE).eval()
    print(f"## SD 2.1-base architecture (random weights, built in {time.perf_counter() - t:.0f} s)\n")
    counts["controlnet (latent condition)"] = sum(p.numel() for p in controlnet.parameters())
    for name, n in counts.items():
        print(f"- {name}: {n / 1e6:.1f} M parameters ({n * 2 / 2**30:.2f} GiB in fp16, {n * 4 / 2**30:.2f} GiB fp32)")
    x = torch.randn(1, 4, 64, 64)
    emb = torch.randn(1, 77, 1024)
    ts = torch.tensor(500)
    with torch.no_grad():
        with FlopCounterMode(display=False) as fc:
            down, mid = controlnet(x, ts, encoder_hidden_states=emb, controlnet_cond=x, return_dict=False)
            unet(x, ts, encoder_hidden_states=emb, down_block_additional_residuals=down,
                 mid_block_additional_residual=mid)
        step_flops = fc.get_total_flops()
        with FlopCounterMode(display=False) as fc:
            vae.decode(x)
        vae_flops = fc.get_total_flops()
        rss0 = peak_rss_mb()
        t = time.perf_counter()
        down, mid = controlnet(x, ts, encoder_hidden_states=emb, controlnet_cond=x, return_dict=False)
        unet(x, ts, encoder_hidden_states=emb, down_block_additional_residuals=down,
             mid_block_additional_residual=mid)
        t_step = time.perf_counter() - t
        t = time.perf_counter()
        vae.decode(x)
        t_vae = time.perf_counter() - t
    print(f"\n512x512 (latent 64x64), batch 1, no guidance: one step (ControlNet + UNet) {step_flops / 1e12:.2f} "
          f"TFLOP, VAE decode {vae_flops / 1e12:.2f} TFLOP")
    print(f"this CPU, fp32, {torch.get_num_threads()} thread(s): step {t_step:.1f} s "
          f"({step_flops / t_step / 1e9:.0f} GFLOP/s), VAE decode {t_vae:.1f} s; 8 steps + decode ≈ "
          f"{8 * t_step + t_vae:.0f} s; peak RSS {peak_rss_mb():.0f} MB (+{peak_rss_mb() - rss0:.0f} MB while running)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="256,512", help="square image sizes of the tiny configuration")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--real-arch", action="store_true", help="also time SD 2.1-base's architecture (slow, ~6 GB)")
    args = ap.parse_args()
    args.sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as folder:
        tiny(args, Path(folder))
    if args.real_arch:
        real_arch(args)


if __name__ == "__main__":
    main()
