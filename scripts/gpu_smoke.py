"""Helper of scripts/gpu-smoke.sh: time the controlnet composer (tiny, and a real base when given)."""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from discover_core.interfaces import Context, Decoded, Latent
from discover_core.testing.samples import psnr
from discover_diffusion.composer import ControlNetComposer
from discover_diffusion.sampling import plain_decode
from discover_diffusion.tiny import save_tiny_base


def reset_peak(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def peak(device: str) -> str:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        return f"peak GPU memory {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB allocated " \
               f"({torch.cuda.max_memory_reserved() / 2**20:.0f} MiB reserved)"
    return f"peak process RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"


def photo(size: int) -> np.ndarray:
    try:
        from skimage import data

        img = Image.fromarray(data.astronaut())
    except ImportError:  # a gradient if scikit-image is missing
        y, x = np.mgrid[0:size, 0:size]
        img = Image.fromarray(np.stack([x % 256, y % 256, (x + y) % 256], -1).astype(np.uint8))
    return np.asarray(img.convert("RGB").resize((size, size), Image.BICUBIC))


def latent_of(comp: ControlNetComposer, image: np.ndarray, frac: float) -> Decoded:
    """ẑ_c = the VAE's latent of the image (a perfect codec), the left ``frac`` of the columns arrived."""
    m = comp.models
    x = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float().div(127.5).sub(1)
    x = x.to(m.execution_device, m.dtype)
    with torch.no_grad():
        z = m.vae.encode(x).latent_dist.mean[0].float().cpu().numpy()
    arrived = np.zeros(z.shape[1:], bool)
    arrived[:, : int(z.shape[2] * frac)] = True
    h, w = image.shape[:2]
    return Decoded(size=(w, h), representation="latent", latent=Latent(z, 8, arrived, "sd-vae"))


def run(name: str, comp: ControlNetComposer, image: np.ndarray, device: str, out: Path) -> None:
    decoded = latent_of(comp, image, 0.5)
    comp.compose(decoded)  # warm-up (kernels, allocator)
    reset_peak(device)
    steps: list[float] = []
    t = time.perf_counter()
    picture = comp._sample([comp._item(decoded)], on_step=lambda i, s: steps.append(s))[0]
    total = time.perf_counter() - t
    plain = plain_decode(comp.models, decoded.latent.values)
    inside = np.repeat(np.repeat(decoded.latent.arrived, 8, 0), 8, 1)
    h, w = image.shape[:2]
    print(f"{name}: {w}x{h}, {len(steps)} steps ({comp.options.scheduler}), {comp.models.dtype}, {device}: "
          f"{statistics.median(steps) * 1e3:.1f} ms per step (median), {total:.2f} s per picture; {peak(device)}")
    print(f"  PSNR to the photo: composed {psnr(picture[:h, :w], image):.2f} dB, plain VAE decode "
          f"{psnr(plain, image):.2f} dB; inside the arrived half {psnr(picture[:h, :w], image, inside):.2f} dB")
    out.mkdir(parents=True, exist_ok=True)
    Image.fromarray(picture[:h, :w]).save(out / f"{name}-composed.png")
    Image.fromarray(plain).save(out / f"{name}-plain.png")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--base", help="SD 2.x base folder or hub id (runs the real pipeline at 512x512)")
    ap.add_argument("--controlnet", help="a trained latent ControlNet folder (default: untrained)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--cpu-offload", action="store_true")
    ap.add_argument("--attention-slicing", action="store_true")
    ap.add_argument("--out", type=Path, default=Path("gpu-smoke"))
    args = ap.parse_args()
    if not args.device.startswith("cuda"):
        print("no CUDA device: running on the CPU (the real base then takes minutes per picture)")
    image = photo(args.size)
    with tempfile.TemporaryDirectory() as tmp:
        ctx = Context(device=args.device, cache_dir=Path(tmp) / "cache")
        tiny = save_tiny_base(Path(tmp) / "tiny")
        comp = ControlNetComposer(ControlNetComposer.Options(base=str(tiny), steps=args.steps), ctx)
        run("tiny", comp, image, args.device, args.out)
    if args.base:
        ctx = Context(device=args.device)
        opts = ControlNetComposer.Options(base=args.base, controlnet=args.controlnet, steps=args.steps,
                                          cpu_offload=args.cpu_offload, attention_slicing=args.attention_slicing)
        reset_peak(args.device)
        t = time.perf_counter()
        comp = ControlNetComposer(opts, ctx)
        print(f"real base loaded in {time.perf_counter() - t:.1f} s; {peak(args.device)}")
        run("real", comp, image, args.device, args.out)
    print(f"pictures in {args.out}/")


if __name__ == "__main__":
    main()
