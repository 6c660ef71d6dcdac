"""The learned entropy models as discover components: image + regions -> side and content chunks, and back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np

from discover_core.errors import ConfigError, PayloadError, WeightsError
from discover_core.interfaces import Chunk, Decoded, Encoded, EntropyModel, Latent, Region

from . import memory
from .layout import REST, arrived_map, chunk_map, grid_size, layout_params, plan_chunks, read_layout
from .options import ARCH_FIELDS, ElicOptions, LearnedOptions

SIDE = "hyperprior"
DEFAULTS = {"target": "pixels", "channels": 128, "latent_channels": 192, "global_channels": 64}


class LearnedEntropyModel(EntropyModel):
    """Base of ``hyperprior`` and ``elic``: the chunked learned codec (subclasses pick the latent coder)."""

    kind_name: ClassVar[str] = "hyperprior"
    requires = ("torch", "compressai", "safetensors")
    extra = "learned"
    format_version = 2
    """2: strings ANS-coded with the bounds-checked coder (:mod:`discover_core.coding`); 1 (compressai's rANS,
    which reads past the end of crafted strings) is refused."""
    Options = LearnedOptions
    decoder_options = ("quality", "target", "channels", "latent_channels", "global_channels", "seed")

    # -- what it produces -------------------------------------------------------
    @classmethod
    def produces_for(cls, options) -> tuple[str, str | None]:
        target = options.target or cls._checkpoint_target(options) or "pixels"
        return ("latent", "sd-vae") if target == "sd-latent" else ("pixels", None)

    @classmethod
    def _checkpoint_target(cls, options) -> str | None:
        """The target recorded beside a local checkpoint (cheap: reads its JSON only), else None."""
        spec = options.checkpoint
        if not spec or spec == "builtin":
            return None
        path = Path(spec).expanduser()
        metas = [path.with_suffix(".json")] if not path.is_dir() else \
            [path / f"quality-{options.quality}.json"] if options.quality else sorted(path.glob("*.json"))
        for meta in metas:
            try:
                return json.loads(meta.read_text())["arch"]["target"]
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return None

    # -- building ---------------------------------------------------------------
    def __init__(self, options=None, context=None):
        super().__init__(options, context)
        import torch

        from . import checkpoint
        from .nets import Arch

        self._torch = torch
        o = self.options
        if o.checkpoint is None:
            arch = Arch(kind=self.kind_name, groups=self._groups(o), **{
                f: (getattr(o, f) if getattr(o, f) is not None else DEFAULTS[f]) for f in ARCH_FIELDS})
            self.context.require_memory(memory.build_bytes(arch),
                                        f"building a '{self.kind_name}' network with {arch.channels}/"
                                        f"{arch.latent_channels}/{arch.global_channels} channels")
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(o.seed)
                net = checkpoint.build_net(arch)
            net.update_tables()
            self.net = net.eval()
            self._fingerprint = checkpoint.state_fingerprint(self.net)
        else:
            path = checkpoint.resolve(o.checkpoint, self.context, o.quality)
            zoo = checkpoint.is_zoo(path)
            if not zoo:
                self._check_arch(path, checkpoint.read_arch(path))  # before any network is built
            self.net = checkpoint.load(path)
            self._fingerprint = checkpoint.file_fingerprint(path, self.context)
            if zoo:
                self._check_arch(path, self.net.arch)
        # Coding runs on the CPU whatever the context's device: the entropy parameters must come out
        # bit-identical at encoder and decoder (training moves the network to the device itself).
        self.device = torch.device("cpu")
        self.latent_coder = self._latent_coder()

    def _groups(self, o) -> tuple[int, ...]:
        return ()

    def _latent_coder(self):
        from .latent import HyperpriorLatent

        return HyperpriorLatent(self.net)

    def _check_arch(self, path: Path, arch) -> None:
        """The options against the checkpoint's recorded architecture (its JSON), before anything is built."""
        if arch.kind != self.kind_name:
            raise WeightsError(f"checkpoint {path} is a '{arch.kind}' model, not '{self.kind_name}'",
                               f"use it with entropy model '{arch.kind}'")
        wrong = [(f, getattr(self.options, f), getattr(arch, f)) for f in ARCH_FIELDS
                 if getattr(self.options, f) is not None and getattr(self.options, f) != getattr(arch, f)]
        if wrong:
            raise WeightsError(f"checkpoint {path} does not match the options: " +
                               ", ".join(f"{f} is {want!r} but the checkpoint has {got!r}" for f, want, got in wrong),
                               "leave these options out (null) to take them from the checkpoint")

    def weights_fingerprint(self) -> str | None:
        return self._fingerprint

    @property
    def target(self) -> str:
        return self.net.arch.target

    # -- tensors ----------------------------------------------------------------
    def _image_tensor(self, image: np.ndarray):
        torch = self._torch
        h, w = image.shape[:2]
        gw, gh = grid_size(w, h)
        x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float().div_(255.0)
        x = torch.nn.functional.pad(x, (0, gw * 16 - w, 0, gh * 16 - h), mode="replicate")
        return x.to(self.device)

    def analyse(self, image: np.ndarray):
        """``y = g_a(x)`` of the image padded to multiples of 64."""
        from .model import threads

        with self._torch.no_grad(), threads(self.options.threads):
            return self.net.g_a(self._image_tensor(image))

    # -- encoding ---------------------------------------------------------------
    def encode(self, image: np.ndarray, regions: Sequence[Region]) -> Encoded:
        return self.encode_latent(self.analyse(image), image.shape[1], image.shape[0], regions)

    def encode_latent(self, y, width: int, height: int, regions: Sequence[Region], z=None) -> Encoded:
        """Code a latent ``y`` (``(1, M, gh, gw)``) of a ``width`` x ``height`` image; ``z`` (default
        ``h_a(y)``) lets tests code a ``y`` drawn from the model's own Gaussians."""
        plans = plan_chunks(regions, width, height)
        layout = [(p.name, p.cells) for p in plans]
        cmap = chunk_map(layout, grid_size(width, height))
        with self._torch.no_grad():
            side, strings = self.latent_coder.encode(y, cmap, len(plans) + 1, z)
        chunks = [Chunk("side", SIDE, side)]
        for p, s in zip(plans, strings):
            if s is not None:
                chunks.append(Chunk("content", p.name, s, labels=p.labels, boxes=p.boxes))
        if strings[-1] is not None:
            chunks.append(Chunk("content", REST, strings[-1]))
        return Encoded(chunks, params={"layout": layout_params(plans)})

    def estimate_bits(self, y, width: int, height: int, regions: Sequence[Region], z=None,
                      exact: bool = False) -> dict[str, float]:
        """Estimated bits of each chunk that :meth:`encode_latent` writes (by chunk name): the model's −log2
        likelihoods, or with ``exact`` what the coder's quantised tables charge (escapes included)."""
        plans = plan_chunks(regions, width, height)
        cmap = chunk_map([(p.name, p.cells) for p in plans], grid_size(width, height))
        with self._torch.no_grad():
            side, per = self.latent_coder.estimate(y, cmap, len(plans) + 1, z, exact)
        names = [p.name for p in plans] + [REST]
        out = {SIDE: side}
        out.update({n: b for k, (n, b) in enumerate(zip(names, per)) if (cmap == k).any()})
        return out

    # -- decoding ---------------------------------------------------------------
    def decode_latent(self, size: tuple[int, int], params: dict[str, Any], chunks: Sequence[Chunk]):
        """``(ŷ, ẑ, arrived)``: the decoded latent (positions that did not arrive hold the means)."""
        w, h = size
        grid = grid_size(w, h)
        layout = read_layout(params, grid)
        cmap = chunk_map(layout, grid)
        index = {name: i for i, (name, _) in enumerate(layout)}
        index[REST] = len(layout)
        sides = [c for c in chunks if c.kind == "side" and c.name == SIDE]
        if len(sides) != 1:
            raise PayloadError(f"expected one '{SIDE}' side chunk, found {len(sides)}",
                               "the stream is incomplete or was written by another codec")
        strings = {}
        for c in chunks:
            if c.kind != "content":
                continue
            if c.name not in index:
                raise PayloadError(f"content chunk '{c.name}' is not in the stream's chunk layout",
                                   "the stream is damaged or was written by another codec")
            if not (cmap == index[c.name]).any():
                raise PayloadError(f"content chunk '{c.name}' covers no latent position",
                                   "the stream is damaged or was written by another codec")
            strings[index[c.name]] = (c.name, c.payload)
        with self._torch.no_grad():
            y_hat, z_hat = self.latent_coder.decode(sides[0].payload, grid, cmap, strings)
        arrived = arrived_map(cmap, layout, {c.name for c in chunks if c.kind == "content"})
        return y_hat, z_hat, arrived

    def decode(self, size: tuple[int, int], params: dict[str, Any], chunks: Sequence[Chunk],
               format_version: int = 1) -> Decoded:
        if not type(self).reads(format_version):
            if format_version < self.format_version:
                raise PayloadError(f"'{self.name}' streams of format version {format_version} (compressai's rANS "
                                   f"strings, whose decoder is not bounds-checked) are no longer read; this version "
                                   f"reads {self.format_version}", "encode the image again with this version")
            raise PayloadError(f"'{self.name}' streams of format version {format_version} cannot be read here "
                               f"(this version reads {self.format_version})", "upgrade discover-codec")
        from .model import threads

        w, h = size
        self.context.require_memory(memory.decode_bytes(self.net.arch, w, h),
                                    f"decoding this {w}x{h} '{self.name}' stream")
        y_hat, z_hat, arrived = self.decode_latent(size, params, chunks)
        with self._torch.no_grad(), threads(self.options.threads):
            out = self.net.synthesize(y_hat, z_hat)[0].float().cpu()
        a16 = arrived[:-(-h // 16), :-(-w // 16)]
        missing = None if a16.all() else ~np.repeat(np.repeat(a16, 16, 0), 16, 1)[:h, :w]
        if self.target == "pixels":
            pixels = out[:, :h, :w].clamp(0, 1).mul(255).round().to(self._torch.uint8).permute(1, 2, 0).numpy()
            return Decoded(size=(w, h), representation="pixels", coarse=np.ascontiguousarray(pixels),
                           missing=missing)
        h8, w8 = -(-h // 8), -(-w // 8)
        a8 = np.repeat(np.repeat(arrived, 2, 0), 2, 1)[:h8, :w8]
        values = np.ascontiguousarray(out[:, :h8, :w8].numpy(), dtype=np.float32)
        return Decoded(size=(w, h), representation="latent", latent=Latent(values, 8, a8, "sd-vae"),
                       missing=missing)

    # -- training ---------------------------------------------------------------
    @classmethod
    def trainer(cls, options, config: dict[str, Any], context):
        """A :class:`discover_learned.training.Trainer` for ``discover train`` (see discover_core.cli_train)."""
        from .training.trainer import Trainer

        return Trainer(cls, options, config, context)


class Elic(LearnedEntropyModel):
    """Learned ELIC-style codec: channel groups and a checkerboard context kept inside each chunk (compressai).

    The spatial and channel contexts of a position only see positions of its own chunk, so every content
    chunk still decodes on its own, to the same values whichever other chunks arrived."""

    name = "elic"
    kind_name = "elic"
    decoder_options = LearnedEntropyModel.decoder_options + ("groups",)

    Options = ElicOptions

    def _groups(self, o) -> tuple[int, ...]:
        from .elic_net import default_groups

        m = o.latent_channels if o.latent_channels is not None else DEFAULTS["latent_channels"]
        groups = tuple(o.groups) if o.groups else default_groups(m)
        if sum(groups) != m:
            raise ConfigError("elic options", [("groups", f"{list(groups)} do not sum to latent_channels {m}")])
        return groups

    def _latent_coder(self):
        from .elic_latent import ElicLatent

        return ElicLatent(self.net)

    def _check_arch(self, path: Path, arch) -> None:
        super()._check_arch(path, arch)
        if self.options.groups and tuple(self.options.groups) != arch.groups:
            raise WeightsError(f"checkpoint {path} has channel groups {list(arch.groups)}, "
                               f"not {list(self.options.groups)}", "leave groups out (null)")


class Hyperprior(LearnedEntropyModel):
    """Learned mean-scale hyperprior codec whose latent is split by the regions into chunks (compressai)."""

    name = "hyperprior"
    kind_name = "hyperprior"
