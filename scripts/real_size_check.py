"""One encode + decode of a 512x512 photo through the paper pipeline at real size, with random weights.

    python scripts/real_size_check.py                      # CPU, 2 sampling steps (~10 GB RAM, several minutes)
    python scripts/real_size_check.py --device cuda --fp16 # a GPU: float16 composer (the grounder is half there anyway)
    python scripts/real_size_check.py --steps 8 --size 768 --work /scratch/rsc --keep

Nothing is downloaded: every model is its published architecture with seeded random weights, loaded through the
same code paths as the real files -- Grounding DINO Swin-T (transformers GroundingDinoConfig with
IDEA-Research/grounding-dino-tiny's values, BERT-base text encoder) from a folder; ELIC at the paper's sizes
(N 192, M 320, M(ẑ) 128, the sd-latent target); Stable Diffusion 2.1-base (UNet, VAE, OpenCLIP text encoder:
discover_diffusion.sd21, the published configs) from a folder in the diffusers layout; the latent ControlNet made
from that UNet (ControlNetModel.from_unet, what the composer does without a trained one); torchvision's Faster
R-CNN, Mask R-CNN (R50-FPN) and ResNet-50 from files under their published names. The tokenizers are stand-ins
(BERT's and CLIP's vocabularies are not shipped in any package); the label lists are fixed (100+ per task,
not asked from an LLM). The weights are written by a child process first (not counted); then each stage runs
once and the script prints a table -- wall time, process RSS after the stage and its peak so far (and the peak
GPU memory of the stage on CUDA) -- and asserts the tensor shapes at every boundary: image -> y (stride 16)
-> z (stride 64) -> stream -> ẑ_c (4 channels, stride 8, the SD VAE latent's shape) -> ControlNet residuals
and UNet -> VAE decoder -> picture.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
GROUNDING_DINO_SWIN_T = dict(  # IDEA-Research/grounding-dino-tiny (config.json)
    backbone=dict(embed_dim=96, depths=[2, 2, 6, 2], num_heads=[3, 6, 12, 24], window_size=7, image_size=224,
                  out_features=["stage2", "stage3", "stage4"]),
    text=dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
              intermediate_size=3072, max_position_embeddings=512),
    model=dict(d_model=256, num_queries=900, encoder_layers=6, decoder_layers=6, encoder_ffn_dim=2048,
               decoder_ffn_dim=2048, encoder_attention_heads=8, decoder_attention_heads=8, num_feature_levels=4,
               encoder_n_points=4, decoder_n_points=4, max_text_len=256, two_stage=True),
)
TV_FILES = {"fasterrcnn_resnet50_fpn_coco-258fb6c6.pth": "fasterrcnn_resnet50_fpn",
            "maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth": "maskrcnn_resnet50_fpn",
            "resnet50-0676ba61.pth": "resnet50"}
ELIC = dict(target="sd-latent", channels=192, latent_channels=320, global_channels=128)


# -- the random-weight model files (a child process) ---------------------------------------------------------------
def label_lists() -> dict[str, list[str]]:
    """The candidate labels of the three tasks, fixed instead of GPT-4o's: COCO-80 plus 20 more object names for
    detection and segmentation, 60 one-word ImageNet class names and 60 COCO names for classification (about the size of
    Algorithm 1's lists, overlapping as GPT-4o's do)."""
    from discover_core.labelsets import label_list

    coco, imagenet = label_list("coco-80"), label_list("imagenet-1k")
    extra = imagenet[400:420]
    return {"detection": coco + extra, "instance-segmentation": coco + extra[::-1],
            "classification": [n for n in imagenet if " " not in n][::8][:60] + coco[20:80]}


def write_models(work: str) -> dict:
    """Write Grounding DINO Swin-T, SD 2.1-base and the torchvision heads with seeded random weights."""
    import torch

    work_p = Path(work)
    out = {}
    t = time.perf_counter()
    from discover_diffusion.sd21 import save_random_base

    save_random_base(work_p / "sd21-base")
    out["sd21-base"] = time.perf_counter() - t
    gc.collect()
    t = time.perf_counter()
    from transformers import (BertConfig, BertTokenizer, GroundingDinoConfig, GroundingDinoForObjectDetection,
                              GroundingDinoImageProcessor, GroundingDinoProcessor, SwinConfig)

    from discover_opensets.tiny import wordpiece_vocab

    words = sorted({w for labs in label_lists().values() for lab in labs for w in lab.split()})
    vocab = wordpiece_vocab(words)
    tokenizer = BertTokenizer(vocab={tok: i for i, tok in enumerate(vocab)}, do_lower_case=True)
    g = GROUNDING_DINO_SWIN_T
    config = GroundingDinoConfig(backbone_config=SwinConfig(**g["backbone"]), text_config=BertConfig(**g["text"]),
                                 **g["model"])
    torch.manual_seed(0)
    model = GroundingDinoForObjectDetection(config).eval()
    folder = work_p / "grounding-dino-tiny"
    model.save_pretrained(folder)
    GroundingDinoProcessor(image_processor=GroundingDinoImageProcessor(), tokenizer=tokenizer).save_pretrained(folder)
    out["grounding-dino"] = time.perf_counter() - t
    del model
    gc.collect()
    t = time.perf_counter()
    import torchvision.models as tvm
    import torchvision.models.detection as tvd

    ckpt = work_p / "torch" / "hub" / "checkpoints"
    ckpt.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    for name, builder in TV_FILES.items():
        net = (getattr(tvd, builder)(weights=None, weights_backbone=None, num_classes=91) if "rcnn" in builder
               else getattr(tvm, builder)())
        torch.save(net.state_dict(), ckpt / name)
        del net
    out["heads"] = time.perf_counter() - t
    (work_p / "done.json").write_text(json.dumps(out))
    return out


# -- measuring -----------------------------------------------------------------------------------------------------
def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Stages:
    def __init__(self, device: str):
        self.rows: list[tuple[str, float, float, float, float | None, str]] = []
        self.cuda = device.startswith("cuda")

    def run(self, name: str, fn, note=lambda r: ""):
        import torch

        gc.collect()
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        t = time.perf_counter()
        result = fn()
        if self.cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t
        gpu = torch.cuda.max_memory_allocated() / 2**20 if self.cuda else None
        self.rows.append((name, seconds, rss_mb(), peak_mb(), gpu, note(result)))
        print(f"  {name}: {seconds:.1f} s", flush=True)
        return result

    def table(self) -> str:
        head = ("| stage | time (s) | RSS after (MB) | peak RSS so far (MB) |"
                + (" peak GPU (MB) |" if self.cuda else "") + " what |")
        lines = [head, "|" + "---|" * (head.count("|") - 1)]
        for name, s, rss, peak, gpu, note in self.rows:
            gpu_cell = f" {gpu:.0f} |" if self.cuda else ""
            lines.append(f"| {name} | {s:.1f} | {rss:.0f} | {peak:.0f} |{gpu_cell} {note} |")
        return "\n".join(lines)


class Shapes:
    """Forward hooks recording the input and output shapes of named modules (first call of each)."""

    def __init__(self):
        self.seen: dict[str, dict] = {}
        self.handles = []

    def watch(self, name: str, module) -> None:
        def hook(mod, args, kwargs, output):
            if name in self.seen:
                self.seen[name]["calls"] += 1
                return
            self.seen[name] = {"in": [tuple(a.shape) for a in args if hasattr(a, "shape")],
                               "kw": {k: tuple(v.shape) for k, v in kwargs.items() if hasattr(v, "shape")},
                               "out": _shapes(output), "calls": 1}
        self.handles.append(module.register_forward_hook(hook, with_kwargs=True))


def _shapes(x):
    if hasattr(x, "shape"):
        return tuple(x.shape)
    if isinstance(x, (list, tuple)):
        return [_shapes(v) for v in x]
    if hasattr(x, "to_tuple"):
        return [_shapes(v) for v in x.to_tuple()]
    return type(x).__name__


def check(cond: bool, what: str) -> None:
    if not cond:
        raise AssertionError(what)
    print(f"  ok: {what}")


# -- the run ---------------------------------------------------------------------------------------------------------
def photo(size: int) -> np.ndarray:
    from PIL import Image
    from skimage import data

    return np.asarray(Image.fromarray(data.astronaut()).convert("RGB").resize((size, size), Image.BICUBIC))


def pipeline_dict(work: Path, steps: int, fp16: bool) -> dict:
    import yaml

    p = yaml.safe_load((ROOT / "examples" / "paper" / "discover-paper.yaml").read_text())
    lists = label_lists()
    for task in p["tasks"]:
        task["label_source"] = {"plugin": "static", "options": {"labels": lists[task["name"]]}}
        for h in task["task_heads"]:
            h.setdefault("options", {})
    p["grounders"][0]["options"]["model"] = str(work / "grounding-dino-tiny")
    p["entropy_model"]["options"] = {"checkpoint": None, "seed": 0, **ELIC}
    p["composer"]["options"] = {"base": str(work / "sd21-base"), "steps": steps, "purpose": "machine",
                                "dtype": "float16" if fp16 else "auto"}
    return p


def run(args) -> str:
    import torch

    from discover_core.pipeline import pipeline_from_dict

    work = Path(args.work)
    os.environ["TORCH_HOME"] = str(work / "torch")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device
    stages = Stages(device)
    image = photo(args.size)
    size = args.size
    p = pipeline_from_dict(pipeline_dict(work, args.steps, args.fp16), device=device)
    base_rss = rss_mb()
    print(f"process RSS before any model: {base_rss:.0f} MB")

    gd = stages.run("build grounder (Grounding DINO Swin-T)", lambda: p.grounders[0],
                    lambda g: f"{sum(x.numel() for x in g.model.parameters()) / 1e6:.1f}M parameters")
    em = stages.run("build entropy model (ELIC 192/320/128)", lambda: p.entropy_model,
                    lambda e: f"{sum(x.numel() for x in e.net.parameters()) / 1e6:.1f}M parameters")
    comp = stages.run("build composer (SD 2.1-base + ControlNet.from_unet)", lambda: p.composer,
                      lambda c: "UNet {:.1f}M, ControlNet {:.1f}M, VAE {:.1f}M, text {:.1f}M; {}".format(
                          *(sum(x.numel() for x in m.parameters()) / 1e6 for m in
                            (c.models.unet, c.models.controlnet, c.models.vae, c.models.text_encoder)),
                          str(c.models.dtype).replace("torch.", "")))
    heads = stages.run("build task heads (Faster/Mask R-CNN, ResNet-50)", lambda: p.task_heads,
                       lambda hs: ", ".join(type(h).__name__ for h in hs))
    m = comp.models
    from discover_diffusion.sd21 import PARAMETERS

    for key, model in (("unet", m.unet), ("vae", m.vae), ("text_encoder", m.text_encoder)):
        n = sum(x.numel() for x in model.parameters())
        check(n == PARAMETERS[key], f"SD 2.1-base {key}: {n:,} parameters, the published model's")
    shapes = Shapes()
    net = em.net
    for name in ("g_a", "h_a", "h_s", "m", "g_s"):
        if getattr(net, name, None) is not None:
            shapes.watch(f"elic.{name}", getattr(net, name))
    shapes.watch("controlnet", m.controlnet)
    shapes.watch("unet", m.unet)
    shapes.watch("vae.decoder", m.vae.decoder)
    shapes.watch("grounding-dino", gd.model)

    labels = stages.run("labels (fixed lists)", lambda: p.task_labels,
                        lambda t: ", ".join(f"{k} {len(v)}" for k, v in t.items()))
    plan = gd.plan(p.labels)
    regions = stages.run("ground (Grounding DINO, 800 px, chunked prompts)", lambda: p.ground(image),
                         lambda r: f"{len(p.labels)} labels in {len(plan[1])} prompts; {len(r)} regions ("
                                   + ", ".join(f"{t} {sum(x.label in set(v) for x in r)}"
                                               for t, v in p.task_labels.items()) + ")")
    stream = stages.run("encode (ELIC: g_a, h_a, chunked entropy coding)", lambda: p.encode(image, regions=regions),
                        lambda s: f"{len(s.to_bytes())} bytes ({len(s.to_bytes()) * 8 / size ** 2:.3f} bpp), "
                                  f"{len(s.chunks)} chunks")
    part = stages.run("extract the detection part", lambda: stream.extract(task="detection"),
                      lambda s: f"{len(s.to_bytes())} bytes, {len(s.chunks)} chunks")
    decoded = stages.run("entropy-decode the full stream (ẑ_c)", lambda: p.decode_content(stream),
                         lambda d: f"latent {tuple(d.latent.values.shape)}, stride {d.latent.stride}")
    picture = stages.run(f"compose ({args.steps} steps: ControlNet + UNet, VAE decode)", lambda: comp.compose(decoded),
                         lambda x: f"picture {x.shape}")
    part_picture = stages.run("decode + compose the detection part", lambda: p.decode(part),
                              lambda x: f"picture {x.shape}")
    z_c = stages.run("VAE-encode the photo (z_c, the training target)", lambda: vae_latent(m, image),
                     lambda z: f"{tuple(z.shape)}")
    preds = stages.run("task heads on the full picture", lambda: [h.predict(picture) for h in p.task_heads],
                       lambda ps: ", ".join(f"{n} {len(x.get('boxes', x.get('classes', [])))}" for n, x in
                                            zip(("boxes", "masks", "top-k classes"), ps)))
    for h in shapes.handles:
        h.remove()

    s = shapes.seen
    y, z = s["elic.g_a"]["out"], s["elic.h_a"]["out"]
    print("shapes at the boundaries:")
    print(json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "calls"} for k, v in s.items()
                      if not k.startswith("grounding")}, default=str)[:3000])
    check(image.shape == (size, size, 3), f"photo {image.shape}")
    check(y == (1, 320, size // 16, size // 16), f"y = g_a(x): {y} (M 320, stride 16)")
    check(z == (1, 192, size // 64, size // 64), f"z = h_a(y): {z} (N 192, stride 64)")
    check(s["elic.m"]["out"] == (1, 128, size // 16, size // 16),
          f"M(ẑ): {s['elic.m']['out']} (128 channels, stride 16)")
    check(s["elic.g_s"]["out"] == (1, 4, size // 8, size // 8), f"g_s(ŷ, M(ẑ)) = ẑ_c: {s['elic.g_s']['out']}")
    check(decoded.latent.values.shape == (4, size // 8, size // 8) and decoded.latent.space == "sd-vae"
          and bool(decoded.latent.arrived.all()),
          f"decoded full stream: ẑ_c {decoded.latent.values.shape}, all arrived")
    part_decoded = p.decode_content(part)
    check(part_decoded.latent.values.shape == decoded.latent.values.shape,
          f"decoded detection part: ẑ_c {part_decoded.latent.values.shape}, "
          f"{part_decoded.latent.arrived.mean():.0%} of positions arrived")
    check(tuple(z_c.shape) == (1, *decoded.latent.values.shape),
          f"SD VAE latent of the photo {tuple(z_c.shape)} = ẑ_c's")
    cn, un = s["controlnet"], s["unet"]
    cond = cn["kw"].get("controlnet_cond")
    check(cond == (1, 4, size // 8, size // 8), f"ControlNet condition {cond} (ẑ_c at latent resolution)")
    check(cn["in"][0] == (1, 4, size // 8, size // 8) and cn["kw"]["encoder_hidden_states"] == (1, 77, 1024),
          f"ControlNet sample {cn['in'][0]}, text {cn['kw']['encoder_hidden_states']}")
    down, mid = cn["out"][0], cn["out"][1]
    check(len(down) == 12 and mid == (1, 1280, size // 64, size // 64),
          f"ControlNet residuals: {len(down)} down ({down[0]} ... {down[-1]}), mid {mid}")
    eps = un["out"][0] if isinstance(un["out"], list) else un["out"]
    check(eps == (1, 4, size // 8, size // 8), f"UNet ε: {eps}; {un['calls']} calls for {args.steps} steps")
    check(s["vae.decoder"]["out"] == (1, 3, size, size), f"VAE decoder {s['vae.decoder']['out']}")
    check(picture.shape == (size, size, 3) and picture.dtype == np.uint8, f"picture {picture.shape} {picture.dtype}")
    check(part_picture.shape == (size, size, 3), f"detection part's picture {part_picture.shape}")
    g = s["grounding-dino"]
    check(g["kw"]["pixel_values"][1:] == (3, 800, 800) and g["kw"]["input_ids"][1] <= 256,
          f"Grounding DINO: pixels {g['kw']['pixel_values']}, prompts {g['kw']['input_ids']} (≤ 256 tokens each), "
          f"logits {g['out'][0]}")
    del preds, labels
    cpu = platform.processor() or platform.machine()
    header = (f"real-size check: {size}x{size} photo, {args.steps} sampling steps, device {device}"
              f"{' (float16)' if args.fp16 else ''}, torch {torch.__version__}, {os.cpu_count()} CPUs ({cpu}), "
              f"torch threads {torch.get_num_threads()}")
    if device.startswith("cuda"):
        header += f", {torch.cuda.get_device_name(torch.device(device))}"
    return header, stages


def main(argv: list[str] | None = None) -> None:
    header, stages = measure(argv)
    print("\n" + header + "\n\n" + stages.table())


def measure(argv: list[str] | None = None):
    """Parse ``argv``, write the models if needed, run the stages: ``(header, Stages)``."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--fp16", action="store_true", help="float16 composer on a GPU (grounder and heads follow the "
                                                        "device's defaults)")
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's, one per core; on a machine busy "
                                                "with other work one thread can be much faster)")
    ap.add_argument("--size", type=int, default=512, help="photo side (a multiple of 64)")
    ap.add_argument("--work", help="where the random-weight models are written (default: a temporary folder)")
    ap.add_argument("--keep", action="store_true", help="keep --work (later runs reuse its models)")
    ap.add_argument("--out", help="also write the table to this file")
    args = ap.parse_args(argv)
    if args.fp16 and not args.device.startswith("cuda"):
        ap.error("--fp16 needs --device cuda")
    if args.size % 64:
        ap.error("--size must be a multiple of 64")
    tmp = None
    if not args.work:
        tmp = tempfile.TemporaryDirectory(prefix="discover-real-size-")
        args.work = tmp.name
    work = Path(args.work)
    if not (work / "done.json").is_file():
        print(f"writing the random-weight models into {work} (a child process; not counted below) ...", flush=True)
        t = time.perf_counter()
        child = multiprocessing.get_context("spawn").Process(target=write_models, args=(str(work),))
        child.start()
        child.join()
        if child.exitcode != 0 or not (work / "done.json").is_file():
            raise SystemExit(f"writing the models failed (exit {child.exitcode})")
        written = json.loads((work / "done.json").read_text())
        print(f"  written in {time.perf_counter() - t:.0f} s: "
              + ", ".join(f"{k} {v:.0f} s" for k, v in written.items()))
    try:
        header, stages = run(args)
    finally:
        if tmp is not None and not args.keep:
            tmp.cleanup()
    if args.out:
        Path(args.out).write_text(header + "\n\n" + stages.table() + "\n")
    return header, stages


def vae_latent(models, image: np.ndarray):
    import torch

    x = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float().div(127.5).sub(1)
    with torch.no_grad():
        return models.vae.encode(x.to(models.execution_device, models.dtype)).latent_dist.mean


if __name__ == "__main__":
    main()
