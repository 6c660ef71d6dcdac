"""examples/paper: both pipelines validate, say what is missing and where it goes, and encode once it is there."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from paper_assets import PAPER, ROOT

from discover_core.cli import main


def run(capsys, *argv) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    got = capsys.readouterr()
    return rc, got.out, got.err


def one_error(err: str) -> str:
    """The single error message (and its hint) a user error prints: no traceback, no second error."""
    assert "Traceback" not in err and err.count("error:") == 1, err
    return " ".join(err.split())


def test_both_pipelines_validate(capsys):
    rc, out, err = run(capsys, "validate", PAPER / "discover-paper.yaml", PAPER / "discover-local.yaml")
    assert rc == 0, err
    assert out.count(": ok") == 2


def test_the_paper_pipeline_is_the_papers():
    """GPT-4o for three tasks (cached), Grounding DINO Swin-T with 256-token prompts, ELIC 192/320 on the SD latent,
    SD 2.1-base + ControlNet at 8 steps, Faster / Mask R-CNN and ResNet-50 heads; the local one swaps the analysis."""
    paper = yaml.safe_load((PAPER / "discover-paper.yaml").read_text())
    local = yaml.safe_load((PAPER / "discover-local.yaml").read_text())
    assert [t["name"] for t in paper["tasks"]] == ["detection", "instance-segmentation", "classification"]
    assert {t["label_source"]["plugin"] for t in paper["tasks"]} == {"openai"}
    assert all(t["label_source"]["options"]["model"] == "gpt-4o" and t["label_source"]["options"]["min_labels"] >= 100
               for t in paper["tasks"])
    heads = [(h["plugin"], h.get("options", {})) for t in paper["tasks"] for h in t["task_heads"]]
    assert heads[0] == ("coco-detector", {"backend": "faster-rcnn", "weights": "hub"})
    assert [h[0] for h in heads] == ["coco-detector", "coco-instance-segmenter", "resnet50-classifier"]
    (g,) = paper["grounders"]
    assert g["plugin"] == "grounding-dino" and g["options"]["model"] == "IDEA-Research/grounding-dino-tiny"
    assert g["options"]["max_text_len"] == 256
    em, comp = paper["entropy_model"], paper["composer"]
    assert em["plugin"] == "elic" and em["options"]["target"] == "sd-latent"
    assert (em["options"]["channels"], em["options"]["latent_channels"]) == (192, 320)
    assert comp["plugin"] == "controlnet" and comp["options"]["base"] == "stabilityai/stable-diffusion-2-1-base"
    assert comp["options"]["purpose"] == "machine"
    assert comp["options"]["quality"] == em["options"]["quality"]
    assert comp["options"]["controlnet"] == em["options"]["checkpoint"]  # the family the trainer writes
    assert {t["label_source"]["plugin"] for t in local["tasks"]} == {"ollama"}
    assert local["grounders"][0]["plugin"] == "yolo-world"
    for key in ("entropy_model", "composer"):
        assert local[key] == paper[key]
    assert [t["task_heads"] for t in local["tasks"]] == [t["task_heads"] for t in paper["tasks"]]


def test_steps_come_from_the_purpose_and_are_decode_time_options():
    from discover_diffusion.composer import ControlNetComposer
    from discover_diffusion.options import PURPOSE_STEPS

    assert PURPOSE_STEPS == {"machine": 8, "human": 50}
    assert {"steps", "purpose"}.isdisjoint(ControlNetComposer.decoder_options)  # never fixed by a stream
    o = ControlNetComposer.Options(controlnet="runs/x", quality=3)
    assert o.controlnet_folder() == "runs/x/controlnet-quality-3"
    assert ControlNetComposer.Options(controlnet="runs/x/cn").controlnet_folder() == "runs/x/cn"
    with pytest.raises(ValueError, match="set `controlnet`"):
        ControlNetComposer.Options(quality=2)


@pytest.fixture
def copies(tmp_path):
    """The example pipelines copied to tmp/examples/paper/, so that their relative paths (the trained family in
    ../../runs/) point into tmp."""
    folder = tmp_path / "examples" / "paper"
    folder.mkdir(parents=True)
    for name in ("discover-paper.yaml", "discover-local.yaml"):
        shutil.copy(PAPER / name, folder / name)
    from PIL import Image

    from discover_core.testing.samples import sample_image

    Image.fromarray(sample_image(128, 96)).save(tmp_path / "photo.png")
    return folder


def bare_environment(monkeypatch, tmp_path) -> None:
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DISCOVER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))


def test_encoding_with_nothing_in_place_names_each_missing_piece_and_its_place(copies, tmp_path, monkeypatch,
                                                                                capsys, assets, fast_rcnn, one_thread):
    """`discover encode -c discover-paper.yaml photo.png` on a bare machine: exit 2 and one message naming what is
    missing and where it goes; put that there and the next message names the next piece; with everything in
    place (and a key, and the stand-in server) the photo is encoded, and the stream serves the three tasks."""
    import paper_assets

    from discover_diffusion.tiny import save_tiny_controlnet
    from discover_learned import checkpoint
    from discover_learned.component import Elic

    bare_environment(monkeypatch, tmp_path)
    pipeline, photo, out = copies / "discover-paper.yaml", tmp_path / "photo.png", tmp_path / "streams"
    cache, runs = tmp_path / "cache", tmp_path / "runs" / "discover-paper" / "stage2"

    def encode() -> tuple[int, str]:
        rc, _, err = run(capsys, "encode", "-c", pipeline, photo, "-o", f"{out}/")
        return rc, err

    rc, err = encode()
    msg = one_error(err)
    assert rc == 2
    assert "Grounding DINO" in msg and str(cache / "hub" / "IDEA-Research" / "grounding-dino-tiny") in msg

    shutil.copytree(assets["cache"] / "hub" / "IDEA-Research", cache / "hub" / "IDEA-Research")
    rc, err = encode()
    msg = one_error(err)
    assert rc == 2 and "checkpoint" in msg and "runs/discover-paper/stage2 does not exist" in msg

    # a family at the paper's sizes: quality-2 of ELIC (N 192, M 320) and its ControlNet
    net = Elic(Elic.Options(checkpoint=None, target="sd-latent", channels=192, latent_channels=320,
                            global_channels=128)).net
    checkpoint.save(net, runs / "quality-2.safetensors")
    rc, err = encode()
    msg = one_error(err)
    assert rc == 2 and "Stable Diffusion base" in msg
    assert str(cache / "hub" / "stabilityai" / "stable-diffusion-2-1-base") in msg and "diffusers layout" in msg

    shutil.copytree(assets["cache"] / "hub" / "stabilityai", cache / "hub" / "stabilityai")
    rc, err = encode()
    msg = one_error(err)
    assert rc == 2 and "ControlNet" in msg and "runs/discover-paper/stage2/controlnet-quality-2" in msg

    save_tiny_controlnet(runs / "controlnet-quality-2", cache / "hub" / "stabilityai" / "stable-diffusion-2-1-base")
    rc, err = encode()
    msg = one_error(err)
    checkpoints = tmp_path / "torch" / "hub" / "checkpoints"
    assert rc == 2 and str(checkpoints / "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth") in msg

    shutil.copytree(assets["torch"] / "hub" / "checkpoints", checkpoints, copy_function=os.symlink)
    rc, err = encode()
    msg = one_error(err)
    assert rc == 2 and "OPENAI_API_KEY" in msg  # labels are asked last, once the models are there

    with paper_assets.openai_server() as server:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        rc, err = encode()
        assert rc == 0, err
        assert len(server.requests) == 3  # Algorithm 1 once per task
        rc, err = encode()  # cached: no request, no key needed
        assert rc == 0 and len(server.requests) == 3
    rc, info, err = run(capsys, "info", out / "photo.dscv")
    assert rc == 0, err
    for task in ("detection", "instance-segmentation", "classification"):
        assert task in info


def test_the_local_pipeline_names_its_weights_and_its_server(copies, tmp_path, monkeypatch, capsys):
    bare_environment(monkeypatch, tmp_path)
    pipeline = copies / "discover-local.yaml"
    rc, _, err = run(capsys, "encode", "-c", pipeline, tmp_path / "photo.png", "-o", f"{tmp_path / 'out'}/")
    msg = one_error(err)
    assert rc == 2 and str(copies / "yolov8s-worldv2.pt") in msg
    # no Ollama server listening: the labels command names the host it tried
    text = pipeline.read_text().replace("http://127.0.0.1:11434", "http://127.0.0.1:9")
    text = text.replace("min_labels: 100,", "min_labels: 100, retries: 0, max_wait: 0,")
    pipeline.write_text(text)
    rc, _, err = run(capsys, "labels", "generate", "-c", pipeline, "--task", "detection")
    msg = one_error(err)
    assert rc == 2 and "127.0.0.1:9" in msg


def test_labels_without_a_key_name_the_variable(copies, tmp_path, monkeypatch, capsys):
    bare_environment(monkeypatch, tmp_path)
    rc, _, err = run(capsys, "labels", "generate", "-c", copies / "discover-paper.yaml", "--task", "detection")
    msg = one_error(err)
    assert rc == 2 and "OPENAI_API_KEY" in msg


def test_training_configs_are_the_papers_recipe():
    """Stage I: λ_R 1, 2, 4, 8 as one family, λ_diff = 2 with the ControlNet of the frozen SD 2.1-base, 300k steps,
    512 crops; stage II: 50k steps, masks of 0-50 %, from stage I's codec and ControlNet of the same quality."""
    from discover_core.cli_train import build_trainer

    s1 = build_trainer(ROOT / "examples" / "training" / "discover-sd-latent-stage1.yaml").cfg
    s2 = build_trainer(ROOT / "examples" / "training" / "discover-sd-latent-stage2.yaml").cfg
    assert s1.stage == 1 and s1.lambda_rate == [1.0, 2.0, 4.0, 8.0] and s1.steps == 300_000
    assert s2.stage == 2 and s2.steps == 50_000 and tuple(s2.mask) == (0.0, 0.5)
    for cfg in (s1, s2):
        kinds = {t.kind: t for t in cfg.distortion}
        assert kinds["diffusion"].weight == 2.0 and kinds["sd-latent-mse"].weight == 1.0
        assert kinds["diffusion"].options["base"] == "stabilityai/stable-diffusion-2-1-base"
        assert kinds["sd-latent-mse"].options == {"vae": "stabilityai/stable-diffusion-2-1-base",
                                                 "vae_subfolder": "vae"}
        assert cfg.data.crop == 512
    assert s2.init.endswith("stage1/quality-1.safetensors")
    assert {t.kind: t for t in s2.distortion}["diffusion"].options["controlnet"].endswith(
        "stage1/controlnet-quality-1")
    text = (ROOT / "examples" / "training" / "discover-sd-latent-stage1.yaml").read_text()
    assert "torchrun" in text and "registers its training term" not in text


def test_stage_one_with_the_diffusion_term_under_torchrun(assets, tmp_path):
    """The multi-GPU command of the recipe, on two CPU processes (Gloo): the paper's stage I config (tiny sizes by
    --set) trains the codec and the ControlNet together; rank 0 writes both once."""
    import os
    import subprocess
    import sys

    import paper_assets
    from PIL import Image

    from discover_core.testing import samples

    images = tmp_path / "images"
    images.mkdir()
    for i in range(2):
        Image.fromarray(samples.sample_image(128, 128, seed=i)).save(images / f"img{i}.png")
    sets = ["entropy_model.options.channels=16", "entropy_model.options.latent_channels=32",
            "entropy_model.options.global_channels=8", "batch_size=1", "data.crop=64", "data.workers=0", "threads=1",
            "distortion[1].options.condition_channels=8", "lambda_rate=[2.0]", "steps=2",
            f"data.folder={images}", f"output={tmp_path / 'run'}"]
    discover = shutil.which("discover", path=str(Path(sys.executable).parent))
    env = {**os.environ, **paper_assets.environment(assets["cache"], assets["torch"], None), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           discover, "train", str(ROOT / "examples" / "training" / "discover-sd-latent-stage1.yaml"),
                           *[a for s in sets for a in ("--set", s)]], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == [str(tmp_path / "run" / "quality-1.safetensors")]
    assert (tmp_path / "run" / "controlnet-quality-1" / "diffusion_pytorch_model.safetensors").is_file()
