"""examples/paper/reproduce.py: the paper's commands (dry run), and the whole run end to end on tiny models."""

from __future__ import annotations

import hashlib
import json
import shlex
from pathlib import Path

import pytest
import yaml

from paper_assets import load_script


def commands(out: Path) -> list[list[str]]:
    lines = (out / "commands.sh").read_text().splitlines()
    return [shlex.split(x) for x in lines if x and not x.startswith(("#", "set "))]


def test_the_paper_run_as_commands(tmp_path):
    """Without running anything: Algorithm 1, stage I with the four λ_R, stage II per rate point from its stage I
    codec and ControlNet, a sweep of the four rate points and of VTM at QP 22-37 per dataset (perception with 50
    steps on CLIC and Kodak), a report per dataset against VTM."""
    reproduce = load_script("reproduce")
    out = tmp_path / "repro"
    reproduce.main(["-o", str(out), "--dry-run", "--train-folder", str(tmp_path / "train"), "--device", "cuda",
                    "--coco", "coco/ann.json,images=coco/val2017", "--imagenet", "imagenet/val",
                    "--clic", "clic", "--kodak", "kodak"])
    cmds = commands(out)
    assert [c[1] for c in cmds] == ["labels"] + ["train"] * 5 + ["sweep"] * 8 + ["report"] * 4
    stage1, *stage2 = [c for c in cmds if c[1] == "train"]
    assert stage1[2].endswith("discover-sd-latent-stage1.yaml") and f"output={out}/train/stage1" in stage1
    for q, (c, lam) in enumerate(zip(stage2, (1.0, 2.0, 4.0, 8.0)), start=1):
        assert f"quality={q}" in c and f"lambda_rate={lam}" in c
        assert f"init={out}/train/stage1/quality-{q}.safetensors" in c
        assert f"distortion[1].options.controlnet={out}/train/stage1/controlnet-quality-{q}" in c
    sweeps = {Path(c[2]).stem: c for c in cmds if c[1] == "sweep"}
    assert set(sweeps) == {f"{m}-{d}" for m in ("discover", "vtm") for d in ("coco", "imagenet", "clic", "kodak")}
    for name, c in sweeps.items():
        assert ("--perception" in c) == name.endswith(("clic", "kodak")) and "cuda" in c
    discover = yaml.safe_load((out / "ablations" / "discover-coco.yaml").read_text())
    assert [c["overrides"] for c in discover["cells"]] == [
        {"entropy_model.options.quality": q, "composer.options.quality": q} for q in (1, 2, 3, 4)]
    vtm = yaml.safe_load((out / "ablations" / "vtm-kodak.yaml").read_text())
    assert vtm["grid"] == {"entropy_model.options.qp": [22, 27, 32, 37]} and vtm["rate"] == "entropy_model.options.qp"
    p = {n: yaml.safe_load((out / "pipelines" / f"{n}.yaml").read_text())
         for n in ("discover-coco", "discover-imagenet", "discover-kodak", "vtm-coco")}
    assert [bool(t["task_heads"]) for t in p["discover-coco"]["tasks"]] == [True, True, False]
    assert [bool(t["task_heads"]) for t in p["discover-imagenet"]["tasks"]] == [False, False, True]
    assert p["discover-coco"]["composer"]["options"]["purpose"] == "machine"
    assert p["discover-kodak"]["composer"]["options"]["purpose"] == "human"
    assert p["discover-coco"]["entropy_model"]["options"]["checkpoint"] == str(out / "train" / "stage2")
    assert p["vtm-coco"]["entropy_model"]["plugin"] == "vtm" and p["vtm-coco"]["tasks"] == p["discover-coco"]["tasks"]
    reports = [c for c in cmds if c[1] == "report"]
    assert all(c[c.index("--anchor") + 1] == f"vtm-{Path(c[c.index('-o') + 1]).name}" for c in reports)


TINY_TRAINING = ["entropy_model.options.channels=16", "entropy_model.options.latent_channels=32",
                 "entropy_model.options.global_channels=8", "batch_size=1", "data.crop=64", "data.workers=0",
                 "distortion[1].options.condition_channels=8", "lambda_rate=[1.0,8.0]", "save_every=1", "threads=1",
                 "lr=0.01"]
TINY_PIPELINE = ["entropy_model.options.channels=null", "entropy_model.options.latent_channels=null",
                 "entropy_model.options.global_channels=null", "grounders[0].options.max_regions=6",
                 *[f"tasks[{i}].task_heads[0].options.{k}" for i in (0, 1) for k in ("min_size=64", "max_size=96")]]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_reproduction_end_to_end_on_tiny_models(assets, paper_env, fast_rcnn, one_thread, tmp_path):
    """Every stage on tiny models, one step per training stage and one photo per dataset: the training folder from
    "local copies", Algorithm 1 against the stand-in server, stage I + II with the diffusion term, the sweeps
    (full stream and each task's part; VTM through stand-in binaries), the reports, Fig. 5 and the table."""
    build = load_script("build_training_folder")
    reproduce = load_script("reproduce")
    src = assets["data"]["sources"]
    train = tmp_path / "train"
    taken = build.main(["-o", str(train), "--openimages", str(src / "openimages"), "--coco", str(src / "coco" /
                        "train2017"), "--clic", str(src / "clic2020" / "train"), "--flickr2k", str(src / "flickr2k"),
                        "--div2k", str(src / "div2k")])
    assert sum(taken.values()) == 7
    enc, dec = assets["bin"]
    data = assets["data"]
    out = tmp_path / "repro"
    argv = ["-o", str(out), "--train-folder", str(train), "--train-steps", "1,1", "--steps", "1,2", "--limit", "1",
            "--coco", f"{data['coco']},images={data['coco'].parents[1] / 'val2017'}",
            "--imagenet", str(data["imagenet"]), "--clic", str(data["clic"]),
            "--vtm-encoder", str(enc), "--vtm-decoder", str(dec), "--vtm-qps", "52,62",
            "--perception", "fid,kid", "--features", "proxy:mobilenet_v2", "--pictures", "1", "--formats", "png"]
    for s in TINY_TRAINING:
        argv += ["--train-set", s]
    for s in TINY_PIPELINE:
        argv += ["--set", s]
    done = reproduce.main(argv)

    assert len(paper_env.requests) == 3  # Algorithm 1: once per task, then cached for every stage after it
    s1, s2 = out / "train" / "stage1", out / "train" / "stage2"
    for q, lam in ((1, 1.0), (2, 8.0)):
        meta = json.loads((s2 / f"quality-{q}.json").read_text())
        assert meta["training"]["stage"] == 2 and meta["training"]["lambda_rate"] == lam
        assert {d["kind"] for d in meta["training"]["distortion"]} == {"sd-latent-mse", "diffusion"}
        # each rate point's ControlNet went on training in stage II from its stage I state
        a, b = s1 / f"controlnet-quality-{q}", s2 / f"controlnet-quality-{q}"
        assert (b / "config.json").is_file() and sha(a / "diffusion_pytorch_model.safetensors") != sha(
            b / "diffusion_pytorch_model.safetensors")
    assert sorted(done["runs"]) == ["clic", "coco", "imagenet"]

    from discover_core.evaluate.store import Store

    for name, methods in done["runs"].items():
        for method, folder in methods.items():
            store = Store.open_existing(Path(folder))
            assert not store.failures()
            cells = store.cells()
            assert len(cells) == 2
            streams = {r["stream"] for r in store.rows()}
            assert streams == {"full", "task:detection", "task:instance-segmentation", "task:classification"}
            aggs = store.aggregates()
            metrics = set().union(*(m for c in aggs.values() for m in c.values()))
            if name == "coco":
                assert {"detection/coco-detector/ap",
                        "instance-segmentation/coco-instance-segmenter/mask_ap"} <= metrics
            elif name == "imagenet":
                assert "classification/resnet50-classifier/top1" in metrics
            else:
                assert {"fid@proxy:mobilenet_v2", "kid@proxy:mobilenet_v2"} <= metrics
    for name in ("coco", "imagenet", "clic"):
        results = json.loads((out / "reports" / name / "results.json").read_text())
        assert results["anchor"] == f"vtm-{name}"
        assert {c["label"] for c in results["curves"]} == {f"discover-{name}", f"vtm-{name}"}
        assert (out / "reports" / name / "index.html").is_file()
    from PIL import Image

    fig = Image.open(out / "fig5.png")
    assert fig.width > 2.5 * fig.height  # three panels side by side
    rows = json.loads((out / "table.json").read_text())
    figures = {(r["dataset"], r["figure"], r["stream"]) for r in rows}
    assert ("coco", "BD-rate (%), detection AP", "task part") in figures
    assert ("coco", "BD-rate (%), instance segmentation mask AP", "task part") in figures
    assert ("imagenet", "BD-rate (%), classification top-1", "task part") in figures
    assert ("clic", "BD-FID (proxy:mobilenet_v2)", "detection part") in figures
    table = (out / "table.md").read_text()
    assert "-80.41" in table and "-45.615" in table
    assert any(r["value"] is not None for r in rows if r["dataset"] == "clic"), rows  # the BD plumbing gives figures
    assert [c[1] for c in commands(out)] == ["labels"] + ["train"] * 3 + ["sweep"] * 6 + ["report"] * 3
