"""Helper of scripts/gpu-smoke.sh: the paper pipeline at real size on a GPU, then the composer on a real base.

1. The whole paper pipeline (Grounding DINO Swin-T, ELIC 192/320 on the SD latent, SD 2.1-base + ControlNet,
   Faster / Mask R-CNN, ResNet-50) at real size with random weights, one 512x512 photo: scripts/real_size_check.py
   (nothing needed but this repository).
2. With ``--base``: the controlnet composer on that Stable Diffusion base (and ``--controlnet``, a trained one),
   8 steps for machines and 50 for people: time per step, per picture, peak memory, PSNR to the photo.

Prints one Markdown table (with the machine, driver and library versions) to paste into an issue; ``--out FILE``
writes it too.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import real_size_check  # noqa: E402


def environment(device: str) -> str:
    import diffusers
    import transformers

    parts = [f"python {platform.python_version()}", f"torch {torch.__version__}", f"diffusers {diffusers.__version__}",
             f"transformers {transformers.__version__}", f"{platform.system()} {platform.machine()}"]
    if device.startswith("cuda") and torch.cuda.is_available():
        d = torch.device(device)
        props = torch.cuda.get_device_properties(d)
        parts.insert(0, f"{props.name} ({props.total_memory / 2**30:.0f} GiB, CUDA {torch.version.cuda}, "
                        f"cuDNN {torch.backends.cudnn.version()})")
    return ", ".join(parts)


def photo(size: int) -> np.ndarray:
    return real_size_check.photo(size)


def composer_rows(args, image: np.ndarray) -> list[tuple]:
    """(stage, seconds, peak GPU MB or None, note) of the composer on the real base: load, then per purpose one
    warm-up and one timed picture (half the latent arrived)."""
    from discover_core.interfaces import Context, Decoded, Latent
    from discover_core.testing.samples import psnr
    from discover_diffusion.composer import ControlNetComposer
    from discover_diffusion.sampling import plain_decode

    cuda = args.device.startswith("cuda")

    def reset():
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()

    def gpu():
        if cuda:
            torch.cuda.synchronize()
            return torch.cuda.max_memory_allocated() / 2**20
        return None

    rows = []
    reset()
    t = time.perf_counter()
    opts = dict(base=args.base, controlnet=args.controlnet, cpu_offload=args.cpu_offload,
                attention_slicing=args.attention_slicing)
    comp = ControlNetComposer(ControlNetComposer.Options(**opts), Context(device=args.device))
    rows.append(("real base: load (SD + ControlNet)", time.perf_counter() - t, gpu(),
                 f"{args.base}; ControlNet {args.controlnet or 'untrained, from the UNet'}; {comp.models.dtype}"))
    m = comp.models
    x = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float().div(127.5).sub(1)
    with torch.no_grad():
        z = m.vae.encode(x.to(m.execution_device, m.dtype)).latent_dist.mean[0].float().cpu().numpy()
    arrived = np.zeros(z.shape[1:], bool)
    arrived[:, : z.shape[2] // 2] = True
    h, w = image.shape[:2]
    decoded = Decoded(size=(w, h), representation="latent", latent=Latent(z, 8, arrived, "sd-vae"))
    plain = plain_decode(m, z)
    for purpose, steps in (("machine", 8), ("human", 50)):
        comp.steps = steps
        comp.compose(decoded)  # warm-up
        reset()
        per_step: list[float] = []
        t = time.perf_counter()
        picture = comp._sample([comp._item(decoded)], on_step=lambda i, s: per_step.append(s))[0][:h, :w]
        total = time.perf_counter() - t
        inside = np.repeat(np.repeat(arrived, 8, 0), 8, 1)[:h, :w]
        rows.append((f"real base: compose, {steps} steps ({purpose})", total, gpu(),
                     f"{statistics.median(per_step) * 1e3:.0f} ms/step; PSNR composed {psnr(picture, image):.2f} dB "
                     f"(arrived half {psnr(picture, image, inside):.2f}), plain VAE {psnr(plain, image):.2f} dB"))
        if args.pictures:
            from PIL import Image

            args.pictures.mkdir(parents=True, exist_ok=True)
            Image.fromarray(picture).save(args.pictures / f"real-{purpose}.png")
    return rows


def table(rows: list[tuple], cuda: bool) -> str:
    head = "| part | stage | time (s) | " + ("peak GPU (MB) | " if cuda else "") + "peak RSS so far (MB) | what |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for part, stage, seconds, gpu_mb, rss, note in rows:
        cells = [part, stage, f"{seconds:.2f}"] + ([f"{gpu_mb:.0f}" if gpu_mb is not None else ""] if cuda else []) \
            + [f"{rss:.0f}" if rss is not None else "", note]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--base", help="SD 2.x base folder or hub id (adds the composer on real weights)")
    ap.add_argument("--controlnet", help="a trained latent ControlNet folder (default: untrained)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--fp16", action=argparse.BooleanOptionalAction, default=None,
                    help="float16 composer in the real-size check (default: on a GPU)")
    ap.add_argument("--steps", type=int, default=8, help="sampling steps of the real-size check (default 8)")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--work", help="keep the real-size check's random-weight models here (reused next time)")
    ap.add_argument("--skip-paper", action="store_true", help="only the composer on --base")
    ap.add_argument("--cpu-offload", action="store_true")
    ap.add_argument("--attention-slicing", action="store_true")
    ap.add_argument("--pictures", type=Path, default=Path("gpu-smoke"), help="where the composed pictures go")
    ap.add_argument("--out", type=Path, help="also write the table here")
    args = ap.parse_args()
    cuda = args.device.startswith("cuda")
    if not cuda:
        print("no CUDA device: running on the CPU (the real-size pipeline takes minutes and ~10 GB of RAM)")
    fp16 = cuda if args.fp16 is None else args.fp16
    rows = []
    header = f"discover GPU smoke test on {environment(args.device)}"
    if not args.skip_paper:
        argv = ["--device", args.device, "--steps", str(args.steps), "--size", str(args.size)]
        argv += ["--fp16"] if fp16 else []
        argv += ["--work", args.work, "--keep"] if args.work else []
        first, stages = real_size_check.measure(argv)
        header += "\n\n" + first
        for name, seconds, rss, peak, gpu_mb, note in stages.rows:
            rows.append(("paper pipeline (random weights)", name, seconds, gpu_mb, peak, note))
    if args.base:
        image = photo(args.size)
        with tempfile.TemporaryDirectory():
            for stage, seconds, gpu_mb, note in composer_rows(args, image):
                rows.append(("composer (your base)", stage, seconds, gpu_mb, real_size_check.peak_mb(), note))
    text = header + "\n\n" + table(rows, cuda)
    print("\n" + text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
