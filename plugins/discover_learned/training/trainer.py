"""The training loop of ``discover train``: stage I (rate + distortion) and stage II (masked latents).

Stage I: ``λ_R (R(ŷ) + R(ẑ)) + Σ w·distortion`` (rate in bits per pixel), the auxiliary loss of the
bottleneck's quantiles on its own optimiser. Stage II: region-shaped random masks replace 0-50 % of ŷ's
positions by their Gaussian means (what the decoder has where a chunk did not arrive) before g_s; g_a and the
hyperprior are frozen, g_s and M are trained, the rate counts the kept part only.
A ``train-state`` file is written every ``save_every`` steps and a run resumes from it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from discover_core.errors import ConfigError

from .. import checkpoint
from ..model import threads
from . import data as datasets
from . import distributed
from .losses import TERMS, bits
from .masks import region_masks

Report = Callable[[int, int, dict[str, float]], None]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Term(_Model):
    kind: str = Field("mse", description=f"distortion term: {', '.join(sorted(TERMS))}")
    weight: float = Field(1.0, ge=0, description="its weight in the loss")
    options: dict[str, Any] = Field(default_factory=dict, description="options of the term (e.g. vae)")


class Data(_Model):
    folder: str | None = Field(None, description="image folder (recursive); null: the registry photos")
    exclude: list[str] = Field(list(datasets.HELD_OUT), description="registry photos left out (evaluation)")
    crop: int = Field(256, ge=64, le=4096, description="random crop size (pixels, multiple of 64)")
    workers: int = Field(0, ge=0, le=64, description="data loader worker processes")
    scale: tuple[float, float] = Field((1.0, 1.0), description="images are resized by a random factor in this "
                                                                "range before cropping (low, high)")
    shuffle_channels: bool = Field(False, description="put the colour channels of each crop in a random order "
                                                      "(more colour variety from few colour photos)")


class TrainConfig(_Model):
    output: str = Field(..., description="folder of the checkpoints (quality-N.safetensors) and train state")
    stage: Literal[1, 2] = Field(1, description="1: rate + distortion; 2: masked latents, encoder frozen")
    init: str | None = Field(None, description="checkpoint to start from (stage II: the stage-I result)")
    quality: int = Field(1, ge=1, le=64, description="quality number of the (first) checkpoint written")
    lambda_rate: float | list[float] = Field(1.0, description="λ_R; a list trains a rate family "
                                                              "(quality, quality+1, ...)")
    distortion: list[Term] = Field(default_factory=lambda: [Term(kind="mse", weight=250.0)])
    steps: int = Field(..., ge=1, description="optimiser steps per checkpoint")
    batch_size: int = Field(8, ge=1)
    lr: float = Field(1e-4, gt=0)
    aux_lr: float = Field(1e-3, gt=0)
    lr_drop: list[int] = Field(default_factory=list, description="steps at which the learning rate drops 10x")
    mask: tuple[float, float] = Field((0.0, 0.5), description="stage II: fraction of ŷ dropped, low-high")
    data: Data = Field(default_factory=Data)
    save_every: int = Field(500, ge=1)
    resume: bool = Field(True, description="continue from the train state in output, if there is one")
    seed: int = 0
    threads: int = Field(1, ge=1, le=256, description="torch threads")
    clip: float = Field(1.0, gt=0, description="gradient norm clipping")


def parse(config: dict[str, Any], source: str = "training") -> TrainConfig:
    try:
        cfg = TrainConfig.model_validate(config)
    except ValidationError as exc:
        raise ConfigError(source, [(".".join(str(p) for p in ("training", *e["loc"])), _message(e))
                                   for e in exc.errors()]) from None
    unknown = [t.kind for t in cfg.distortion if t.kind not in TERMS]
    if unknown:
        raise ConfigError(source, [("training.distortion", f"unknown term(s) {unknown}; known: {sorted(TERMS)}")])
    if cfg.data.crop % 64:
        raise ConfigError(source, [("training.data.crop", "must be a multiple of 64")])
    low, high = cfg.data.scale
    if not 0 < low <= high <= 4:
        raise ConfigError(source, [("training.data.scale", f"must be (low, high) with 0 < low <= high <= 4, "
                                                           f"not {list(cfg.data.scale)}")])
    return cfg


def _message(error: dict) -> str:
    """Pydantic's message; for an unknown key, the nearest key at that place in :class:`TrainConfig`."""
    if error["type"] != "extra_forbidden":
        return error["msg"]
    import difflib
    import typing

    model: Any = TrainConfig
    for part in error["loc"][:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if isinstance(model, type) and issubclass(model, BaseModel) else None
        model = field.annotation if field else None
        if typing.get_origin(model) is list:
            model = typing.get_args(model)[0]
    names = list(model.model_fields) if isinstance(model, type) and issubclass(model, BaseModel) else []
    close = difflib.get_close_matches(str(error["loc"][-1]), names, n=1, cutoff=0.6)
    return "unknown key" + (f"; did you mean '{close[0]}'?" if close else f"; known: {', '.join(names)}")


class Trainer:
    """Trains one entropy-model class with its options; ``run(report)`` returns the checkpoints written."""

    def __init__(self, cls, options, config: dict[str, Any], context):
        self.cls, self.options, self.context = cls, options, context
        self.cfg = parse(config)
        lambdas = self.cfg.lambda_rate if isinstance(self.cfg.lambda_rate, list) else [self.cfg.lambda_rate]
        self.points = [(self.cfg.quality + i, float(lam)) for i, lam in enumerate(lambdas)]
        self.total = self.cfg.steps * len(self.points)
        self.output = context.resolve(self.cfg.output)
        self.ranks = distributed.from_env()
        """Set when launched by torchrun with several processes (see :mod:`.distributed`)."""

    def _net(self):
        opts = self.options.model_copy(update={"checkpoint": self.cfg.init} if self.cfg.init else {})
        component = self.cls(opts, self.context)
        return component.net

    def _source(self):
        if self.cfg.data.folder:
            return datasets.folder_images(self.context.resolve(self.cfg.data.folder))
        photos = datasets.sample_photos(self.cfg.data.exclude)
        if not photos:
            raise ConfigError("training", [("training.data", "no registry photos are installed "
                                                             "(scikit-image, matplotlib); give a folder")])
        return photos

    def run(self, report: Report | None = None) -> list[Path]:
        report = report or (lambda step, total, metrics: None)
        if self.ranks is not None and not self.ranks.main:
            report = lambda step, total, metrics: None  # noqa: E731  (rank 0 reports)
        written = []
        self.device = distributed.device_for(self.ranks, self.context.device)
        if self.ranks is not None:
            distributed.start(self.ranks, self.device)
        try:
            with threads(self.cfg.threads):
                for n, (quality, lam) in enumerate(self.points):
                    written.append(self._train_one(quality, lam, n * self.cfg.steps, report))
        finally:
            if self.ranks is not None:
                distributed.stop()
        return written

    def _train_one(self, quality: int, lam: float, offset: int, report: Report) -> Path:
        cfg, device, ranks = self.cfg, self.device, self.ranks
        main_rank = ranks is None or ranks.main
        torch.manual_seed(cfg.seed)
        net = self._net().to(device).train()
        terms = [(t.weight, TERMS[t.kind](t.options, self.context, device)) for t in cfg.distortion]
        if cfg.stage == 2:
            for part in (net.g_a, net.h_a, net.h_s, net.entropy_bottleneck):
                part.requires_grad_(False)
        main = [p for name, p in net.named_parameters() if p.requires_grad and not name.endswith("quantiles")]
        # Terms with their own trainable models (the diffusion term's ControlNet) train with the codec.
        main += [p for _, term in terms for p in (term.parameters() if hasattr(term, "parameters") else [])]
        aux = [net.entropy_bottleneck.quantiles] if cfg.stage == 1 else []
        opt = torch.optim.Adam(main, lr=cfg.lr)
        aux_opt = torch.optim.Adam(aux, lr=cfg.aux_lr) if aux else None
        self.output.mkdir(parents=True, exist_ok=True)
        state_path = self.output / f"train-state-quality-{quality}.pt"
        step = 0
        if cfg.resume and state_path.is_file():
            state = torch.load(state_path, map_location=device, weights_only=True)
            checkpoint.load_state(net, state["net"], str(state_path))
            opt.load_state_dict(state["opt"])
            if aux_opt and state.get("aux"):
                aux_opt.load_state_dict(state["aux"])
            for (_, term), saved in zip(terms, state.get("terms", [])):
                if saved and hasattr(term, "models"):
                    term.models.controlnet.load_state_dict(saved)
            step = int(state["step"])
        if ranks is not None:
            distributed.broadcast(net)
            for term in (t for _, t in terms if hasattr(t, "parameters")):
                distributed.broadcast(term)
        shard = 7919 * ranks.rank if ranks is not None else 0  # every process its own crops
        loader = torch.utils.data.DataLoader(datasets.Crops(self._source(), cfg.data.crop, cfg.seed + step + shard,
                                                            cfg.data.scale, cfg.data.shuffle_channels),
                                             batch_size=cfg.batch_size, num_workers=cfg.data.workers)
        gen = torch.Generator().manual_seed(cfg.seed + step + shard)
        batches = iter(loader)
        started, first = time.perf_counter(), step
        for step in range(step + 1, cfg.steps + 1):
            lr = cfg.lr * 0.1 ** sum(step > s for s in cfg.lr_drop)
            for g in opt.param_groups:
                g["lr"] = lr
            x = next(batches).to(device)
            b, _, h, w = x.shape
            keep = region_masks(b, h // 16, w // 16, *cfg.mask, gen).to(device) if cfg.stage == 2 else None
            if hasattr(net, "group_parameters"):  # elic: contexts stop at random region-shaped chunk borders
                ids = 1 - region_masks(b, h // 16, w // 16, 0.0, 0.5, gen).to(device)
                out = net(x, keep, ids=ids)
            else:
                out = net(x, keep)
            bpp = (bits(out["y_likelihoods"], keep) + bits(out["z_likelihoods"])) / (b * h * w)
            dist = sum(wt * term(out["x_hat"], x) for wt, term in terms)
            loss = lam * bpp + dist
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if ranks is not None:
                distributed.average_gradients(main, ranks.world)
            torch.nn.utils.clip_grad_norm_(main, cfg.clip)
            opt.step()
            metrics = {"loss": float(loss.detach()), "bpp": float(bpp.detach()), "distortion": float(dist.detach())}
            if aux_opt:
                aux_loss = net.aux_loss()
                aux_opt.zero_grad(set_to_none=True)
                aux_loss.backward()
                if ranks is not None:
                    distributed.average_gradients(aux, ranks.world)
                aux_opt.step()
                metrics["aux"] = float(aux_loss.detach())
            if self.cls.produces_for(self.options)[0] == "pixels":
                mse = float(torch.mean((out["x_hat"].detach().clamp(0, 1) - x) ** 2))
                metrics["psnr"] = float(10 * torch.log10(torch.tensor(1.0 / max(mse, 1e-10))))
            metrics["s/step"] = (time.perf_counter() - started) / (step - first)
            report(offset + step, self.total, metrics)
            if main_rank and (step % cfg.save_every == 0 or step == cfg.steps):
                torch.save({"net": net.state_dict(), "opt": opt.state_dict(),
                            "aux": aux_opt.state_dict() if aux_opt else {}, "step": step,
                            "terms": [t.models.controlnet.state_dict() if hasattr(t, "models") else {}
                                      for _, t in terms]}, state_path)
                for _, term in terms:
                    if hasattr(term, "save"):
                        term.save(self.output / f"controlnet-quality-{quality}")
                self._export(net, quality, lam, step)
        if ranks is not None and not distributed.in_sync(net):
            raise RuntimeError("the training processes ended with different parameters (a bug: gradients were "
                               "not averaged for every parameter)")
        return self._export(net, quality, lam, cfg.steps) if main_rank else state_path.with_name(
            f"quality-{quality}.safetensors")

    def _export(self, net, quality: int, lam: float, step: int) -> Path:
        was = net.training
        net.eval()
        net.update_tables()
        path = checkpoint.save(net, self.output / f"quality-{quality}.safetensors",
                               extra={"training": {"stage": self.cfg.stage, "lambda_rate": lam, "steps": step,
                                                   "distortion": [t.model_dump() for t in self.cfg.distortion]}})
        net.train(was)
        return path
