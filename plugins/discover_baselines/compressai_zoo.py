"""Baseline ``compressai``: a compressai zoo architecture (Ballé 2018, Minnen 2018, Cheng 2020 ...) with the
user's own weights file (nothing is downloaded: ``torch.load(..., weights_only=True)``)."""

from __future__ import annotations

import struct
import warnings
from typing import Any, Literal, Sequence

import numpy as np
from pydantic import Field

from discover_core.errors import PayloadError, WeightsError
from discover_core.interfaces import PATH_OPTION, Chunk, Context, Decoded, Encoded, Options, Region

from .whole import WholeImage

ZOO = ("bmshj2018-factorized", "bmshj2018-factorized-relu", "bmshj2018-hyperprior", "mbt2018-mean", "mbt2018",
       "cheng2020-anchor", "cheng2020-attn")
STRIDE = 64
"""Input sides are padded to a multiple of this (the zoo models' total downsampling)."""


def pack(strings: Sequence[Sequence[bytes]]) -> bytes:
    """compressai's ``strings`` (one list per entropy coder, one bytes per image) as one payload."""
    out = [struct.pack(">B", len(strings))]
    for s in strings:
        if len(s) != 1:
            raise ValueError("one image at a time")
        out.append(struct.pack(">I", len(s[0])) + s[0])
    return b"".join(out)


def unpack(data: bytes) -> list[list[bytes]]:
    try:
        (n,) = struct.unpack_from(">B", data, 0)
        pos, out = 1, []
        for _ in range(n):
            (k,) = struct.unpack_from(">I", data, pos)
            pos += 4
            if pos + k > len(data):
                raise ValueError("truncated")
            out.append([data[pos:pos + k]])
            pos += k
    except (struct.error, ValueError):
        raise PayloadError("the compressai payload is truncated or not one", "the stream is damaged") from None
    if pos != len(data) or not 1 <= n <= 4:
        raise PayloadError("the compressai payload has trailing bytes or an absurd count", "the stream is damaged")
    return out


class CompressaiZoo(WholeImage):
    """Baseline: a compressai zoo model (e.g. bmshj2018-hyperprior) with weights from a file."""

    name = "compressai"
    requires = ("torch", "compressai")
    extra = "learned"
    decoder_options = ("model", "quality", "metric")
    format_version = 2
    """2: strings ANS-coded with the bounds-checked coder (:mod:`discover_core.coding`); 1 was compressai's rANS."""

    class Options(Options):
        model: Literal[ZOO] = Field("bmshj2018-hyperprior", description="compressai zoo architecture")
        quality: int = Field(4, ge=1, le=8, description="the zoo's quality index (its N, M channel counts)")
        metric: Literal["mse", "ms-ssim"] = Field("mse", description="what the weights were trained for")
        weights: str = Field(description="state_dict file (.pth.tar / .pt) of these weights; relative to the "
                                         "pipeline file", json_schema_extra=PATH_OPTION)

    def __init__(self, options: Options | None = None, context: Context | None = None):
        super().__init__(options, context)
        self.check_requirements()
        import torch

        with warnings.catch_warnings():  # torch_geometric (imported by compressai) warns about torch.jit.script
            warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning)
            from compressai.zoo import models

        o = self.options
        self.path = self.context.resolve(o.weights)
        if not self.path.is_file():
            raise WeightsError(f"compressai weights file not found: {self.path}",
                               "download the zoo weights elsewhere and point entropy_model.options.weights at them")
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - a file that is not a state_dict is the user's to fix
            raise WeightsError(f"{self.path} is not a torch state_dict ({type(exc).__name__}: {exc})") from None
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        net = models[o.model](quality=o.quality, metric=o.metric, pretrained=False)
        try:
            net.load_state_dict({k.removeprefix("module."): v for k, v in state.items()})
        except (RuntimeError, AttributeError) as exc:
            raise WeightsError(f"{self.path} does not fit compressai {o.model} quality {o.quality}: "
                               f"{str(exc).splitlines()[0]}", "check model and quality") from None
        net.update(force=True)
        from .checked_ar import checked

        self.net = checked(net).eval()  # compressai's rANS decoder reads past the end of crafted strings

    def weights_fingerprint(self) -> str:
        from discover_core.weights import fingerprint

        return fingerprint(self.path, context=self.context)

    def encode(self, image: np.ndarray, regions: Sequence[Region]) -> Encoded:
        import torch

        h, w = image.shape[:2]
        ph, pw = -h % STRIDE, -w % STRIDE
        x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 255.0
        x = torch.nn.functional.pad(x, (0, pw, 0, ph), mode="replicate")
        torch.manual_seed(self.context.seed)
        with torch.no_grad():
            out = self.net.compress(x)
        shape = [int(v) for v in out["shape"]]
        return Encoded([Chunk("side", "image", pack(out["strings"]))], params={"shape": shape})

    def decode(self, size: tuple[int, int], params: dict[str, Any], chunks: Sequence[Chunk],
               format_version: int) -> Decoded:
        self._params = params
        return super().decode(size, params, chunks, format_version)

    def uncode(self, data: bytes, size: tuple[int, int]) -> np.ndarray:
        import torch

        w, h = size
        shape = self._params.get("shape") if isinstance(self._params, dict) else None
        strings = unpack(data)
        # compressai records the shape of the last latent it codes: y (stride 16) for a factorized prior
        # (one string), z (stride 64) for the hyperprior models (two strings)
        per = 4 if len(strings) == 1 else 1
        want = [-(-h // STRIDE) * per, -(-w // STRIDE) * per]
        if not (isinstance(shape, list) and len(shape) == 2 and all(isinstance(v, int) for v in shape)):
            raise PayloadError("the compressai params have no latent shape", "the stream is damaged")
        if shape != want:
            raise PayloadError(f"latent shape {shape} does not fit a {w}x{h} image (expected {want})",
                               "the stream is damaged or was crafted")
        with torch.no_grad():
            x = self.net.decompress(strings, shape)["x_hat"]
        x = x[0, :, :h, :w].clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).numpy()
        return np.ascontiguousarray(x)

