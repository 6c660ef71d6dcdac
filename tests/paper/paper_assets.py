"""Everything the paper pipeline needs, built small and offline, in the places a user puts the real files.

- ``<cache>/hub/IDEA-Research/grounding-dino-tiny``: a tiny Grounding DINO (discover_opensets.tiny);
- ``<cache>/hub/stabilityai/stable-diffusion-2-1-base``: a tiny SD-shaped base (discover_diffusion.tiny);
- ``$TORCH_HOME/hub/checkpoints/``: torchvision's Faster R-CNN, Mask R-CNN and ResNet-50 files under their
  published names, with random weights (real architectures);
- a local OpenAI-compatible server (``OPENAI_BASE_URL``) answering Algorithm 1 with 100+ labels per task;
- stand-ins for VTM's EncoderApp / DecoderApp (a lossy 4:2:0 quantiser whose size falls with the QP);
- the "local copies" of the training sets and the evaluation sets, from the photos that install with
  scikit-image and matplotlib, downsized so that every stage runs in seconds.
"""

from __future__ import annotations

import importlib.util
import json
import os
import stat
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
PAPER = ROOT / "examples" / "paper"


def load_script(name: str):
    """A script of examples/paper as a module (its ``main(argv)`` runs in this process)."""
    spec = importlib.util.spec_from_file_location(f"paper_{name}", PAPER / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


COCO_NAMES = ["person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
              "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
              "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
              "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
              "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
              "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
              "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard",
              "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase",
              "scissors", "teddy bear", "hair drier", "toothbrush"]
EXTRA = ["rocket", "astronaut", "coffee", "flag", "helmet", "lamp", "window", "door", "tree", "road", "sign",
         "tabby cat", "tiger cat", "espresso", "space shuttle", "jersey", "suit", "uniform", "wheel", "engine",
         "mug", "saucer", "plate", "glove", "shoe", "hat", "face", "hand"]
TASK_LABELS = {"detection": COCO_NAMES + EXTRA[:22], "instance-segmentation": COCO_NAMES[::-1] + EXTRA[6:28],
               "classification": EXTRA + COCO_NAMES}
"""What the stand-in for GPT-4o answers for each task (at least 100 labels each)."""

TV_FILES = {"fasterrcnn_resnet50_fpn_coco-258fb6c6.pth": "fasterrcnn_resnet50_fpn",
            "maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth": "maskrcnn_resnet50_fpn",
            "resnet50-0676ba61.pth": "resnet50"}

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")


def label_for(body: dict) -> list[str]:
    """The stand-in server's answer: the task's labels, told apart by the task description in the prompt."""
    text = json.dumps(body.get("messages", ""))
    task = next((t for t in ("instance-segmentation", "instance segmentation", "classification") if t in text),
                "detection")
    return TASK_LABELS[{"instance segmentation": "instance-segmentation"}.get(task, task)]


def openai_server():
    """A started stand-in for the OpenAI API (use as a context manager); ``.base_url`` for OPENAI_BASE_URL."""
    from discover_llm.fakes import FakeOpenAI, labels_reply

    return FakeOpenAI(default=lambda body: labels_reply(label_for(body)))


def models(cache: Path, torch_home: Path) -> None:
    """The tiny Grounding DINO and SD base in the hub-copy folders, the torchvision heads in torch's hub folder."""
    from discover_diffusion.tiny import save_tiny_base
    from discover_opensets.tiny import tiny_grounding_dino

    words = sorted({w for labels in TASK_LABELS.values() for lab in labels for w in lab.split()})
    gd = cache / "hub" / "IDEA-Research" / "grounding-dino-tiny"
    if not (gd / "config.json").is_file():
        tiny_grounding_dino(gd, words, num_queries=12)
    sd = cache / "hub" / "stabilityai" / "stable-diffusion-2-1-base"
    if not (sd / "model_index.json").is_file():
        save_tiny_base(sd)
        hub_tokenizer_files(sd / "tokenizer")
    heads(torch_home / "hub" / "checkpoints")


def hub_tokenizer_files(folder: Path) -> None:
    """The tokenizer files SD 2.1-base's hub repository has (vocab.json, merges.txt, special_tokens_map.json),
    which a hub copy must hold, for the tiny byte-level vocabulary (no merges)."""
    from discover_diffusion.tiny import byte_level_vocabulary

    (folder / "vocab.json").write_text(json.dumps(byte_level_vocabulary()))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    (folder / "special_tokens_map.json").write_text(json.dumps(
        {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
         "pad_token": "<|endoftext|>"}))


def heads(folder: Path) -> None:
    """The torchvision files of the three heads under their published names: the real architectures' state dicts
    (shapes from a model built on the meta device), filled with small seeded random values (quick to make)."""
    import torch
    import torchvision.models as tvm
    import torchvision.models.detection as tvd

    folder.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    for name, builder in TV_FILES.items():
        if (folder / name).is_file():
            continue
        with torch.device("meta"):
            net = (getattr(tvd, builder)(weights=None, weights_backbone=None, num_classes=91)
                   if "rcnn" in builder else getattr(tvm, builder)())
        state = {}
        for k, v in net.state_dict().items():
            if k.endswith("num_batches_tracked"):
                state[k] = torch.zeros((), dtype=torch.long)
            elif k.endswith("running_var"):
                state[k] = torch.ones(v.shape)
            else:
                state[k] = torch.randn(v.shape, generator=g) * 0.02
        torch.save(state, folder / f"{name}.tmp")
        (folder / f"{name}.tmp").replace(folder / name)


VTM_STANDIN = r'''#!{python}
"""Stand-in for VTM's {name}: the 4:2:0 planes quantised with a step that grows with the QP, zlib-coded."""
import sys, zlib
import numpy as np
a = sys.argv[1:]
def arg(flag, default=None):
    return a[a.index(flag) + 1] if flag in a else default
if "{name}" == "EncoderApp":
    qp = int(arg("-q", arg("--QP", "32")))
    step = max(1, 2 ** ((qp - 4) / 6.0) / 2)
    data = np.frombuffer(open(arg("-i"), "rb").read(), np.uint8)
    q = np.round(data / step).astype(np.uint8)
    open(arg("-b"), "wb").write(np.float32(step).tobytes() + zlib.compress(q.tobytes(), 9))
else:
    raw = open(arg("-b"), "rb").read()
    step = float(np.frombuffer(raw[:4], np.float32)[0])
    q = np.frombuffer(zlib.decompress(raw[4:]), np.uint8)
    open(arg("-o"), "wb").write(np.clip(np.round(q * step), 0, 255).astype(np.uint8).tobytes())
'''


def vtm_standins(folder: Path) -> tuple[Path, Path]:
    """EncoderApp and DecoderApp stand-ins (the vtm plugin's command line; bytes fall as the QP grows)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name in ("EncoderApp", "DecoderApp"):
        f = folder / name
        f.write_text(VTM_STANDIN.format(python=sys.executable, name=name))
        f.chmod(f.stat().st_mode | stat.S_IEXEC)
        out.append(f)
    return out[0], out[1]


def photos(side: int = 128) -> dict[str, np.ndarray]:
    """The bundled photos with their longer side ``side`` (multiples of 16 on both sides)."""
    from discover_core.evaluate.datasets import _demo_loaders

    out = {}
    for name, load in _demo_loaders().items():
        arr, _ = load()
        h, w = arr.shape[:2]
        s = side / max(h, w)
        size = (max(16, round(w * s / 16) * 16), max(16, round(h * s / 16) * 16))
        out[Path(name).stem] = np.asarray(Image.fromarray(arr).resize(size, Image.Resampling.LANCZOS))
    return out


def datasets(root: Path, side: int = 128) -> dict[str, Path]:
    """Local copies as the real ones are laid out: training sources, COCO val2017 (instances with polygons),
    ImageNet val (class folders), CLIC2020 and Kodak (image folders)."""
    pics = photos(side)
    names = list(pics)
    out = {}
    # training sources, one folder per published set
    train = {"openimages/train": names[:3], "coco/train2017": names[3:4], "clic2020/train": names[4:5],
             "flickr2k/Flickr2K_HR": names[5:6], "div2k/DIV2K_train_HR": names[1:2]}
    for sub, which in train.items():
        (root / sub).mkdir(parents=True, exist_ok=True)
        for n in which:
            Image.fromarray(pics[n]).save(root / sub / f"{n}.png")
    out["sources"] = root
    # COCO val2017: the demo annotations scaled to the small photos, each box with a rectangle polygon
    from importlib import resources

    ann = json.loads(resources.files("discover_core").joinpath("data/demo/annotations.json").read_text())
    coco = root / "coco" / "val2017"
    coco.mkdir(parents=True, exist_ok=True)
    keep = [i for i in ann["images"] if Path(i["file_name"]).stem in PHOTOS[:2]]
    scale = {}
    for img in keep:
        stem = Path(img["file_name"]).stem
        arr = pics[stem]
        scale[img["id"]] = (arr.shape[1] / img["width"], arr.shape[0] / img["height"])
        img.update(file_name=f"{stem}.jpg", width=arr.shape[1], height=arr.shape[0])
        Image.fromarray(arr).save(coco / f"{stem}.jpg", quality=95)
    anns = []
    for a in ann["annotations"]:
        if a["image_id"] not in scale:
            continue
        sx, sy = scale[a["image_id"]]
        x, y, w, h = a["bbox"]
        x, y, w, h = x * sx, y * sy, w * sx, h * sy
        anns.append({**a, "bbox": [x, y, w, h], "area": w * h,
                     "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]]})
    (root / "coco" / "annotations").mkdir(exist_ok=True)
    annotations = root / "coco" / "annotations" / "instances_val2017.json"
    annotations.write_text(json.dumps({**ann, "images": keep, "annotations": anns}))
    out["coco"] = annotations
    # ImageNet val: class folders named by class index (tabby 281, space shuttle 812)
    for cls, stem in ((281, "chelsea"), (812, "rocket")):
        (root / "imagenet" / "val" / str(cls)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(pics[stem]).save(root / "imagenet" / "val" / str(cls) / f"{stem}.JPEG", format="JPEG")
    out["imagenet"] = root / "imagenet" / "val"
    for name, stem in (("clic2020/valid", "coffee"), ("kodak", "astronaut")):
        (root / name).mkdir(parents=True, exist_ok=True)
        Image.fromarray(pics[stem]).save(root / name / f"{stem}.png")
    out["clic"], out["kodak"] = root / "clic2020" / "valid", root / "kodak"
    return out


def environment(cache: Path, torch_home: Path, server_url: str | None) -> dict[str, str]:
    """The environment under which the paper pipeline finds all of the above and nothing else."""
    env = {"DISCOVER_CACHE_DIR": str(cache), "TORCH_HOME": str(torch_home), "HF_HUB_OFFLINE": "1",
           "HF_HOME": str(cache.parent / "hf"), "OPENAI_API_KEY": "sk-test-paper"}
    if server_url:
        env["OPENAI_BASE_URL"] = server_url
    return env


def apply(env: dict[str, str]) -> None:
    os.environ.update(env)
