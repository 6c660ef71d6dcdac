"""Baseline ``vtm``: VVC intra with the reference software VTM (``EncoderApp`` / ``DecoderApp`` on PATH).

The picture goes in as 8-bit YCbCr 4:2:0 (BT.601 full range, as JPEG: Pillow's ``YCbCr``), odd sides
padded by repeating the edge; the decoder's output is converted back and cropped.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from pydantic import Field

from discover_core.errors import ExtraMissingError, InputError, PayloadError
from discover_core.interfaces import PATH_OPTION, Context, Options

from .whole import WholeImage


def to_yuv420(image: np.ndarray) -> tuple[bytes, int, int]:
    from PIL import Image

    h, w = image.shape[:2]
    img = np.pad(image, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    ycc = np.asarray(Image.fromarray(img, "RGB").convert("YCbCr"), dtype=np.float32)
    H, W = ycc.shape[:2]
    y = ycc[:, :, 0]
    chroma = [ycc[:, :, c].reshape(H // 2, 2, W // 2, 2).mean(axis=(1, 3)) for c in (1, 2)]
    planes = [np.clip(np.rint(p), 0, 255).astype(np.uint8) for p in [y, *chroma]]
    return b"".join(p.tobytes() for p in planes), W, H


def from_yuv420(data: bytes, W: int, H: int, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    n = W * H
    if len(data) < n * 3 // 2:
        raise PayloadError("the VTM decoder wrote fewer samples than the picture has", "the stream is damaged")
    y = np.frombuffer(data, np.uint8, n).reshape(H, W)
    cb = np.frombuffer(data, np.uint8, n // 4, n).reshape(H // 2, W // 2).repeat(2, 0).repeat(2, 1)
    cr = np.frombuffer(data, np.uint8, n // 4, n + n // 4).reshape(H // 2, W // 2).repeat(2, 0).repeat(2, 1)
    rgb = np.asarray(Image.fromarray(np.stack([y, cb, cr], -1), "YCbCr").convert("RGB"), dtype=np.uint8)
    return np.ascontiguousarray(rgb[:size[1], :size[0]])


class Vtm(WholeImage):
    """Baseline: VVC intra (VTM reference software; its EncoderApp / DecoderApp must be on PATH)."""

    name = "vtm"

    class Options(Options):
        qp: int = Field(37, ge=0, le=63, description="quantisation parameter (the paper's anchor: 22-37)")
        config: str | None = Field(None, description="VTM encoder config (encoder_intra_vtm.cfg); none: VTM's "
                                   "built-in defaults with intra-only settings", json_schema_extra=PATH_OPTION)
        encoder: str = Field("EncoderApp", description="encoder executable (name on PATH or a path)")
        decoder: str = Field("DecoderApp", description="decoder executable (name on PATH or a path)")

    def __init__(self, options: Options | None = None, context: Context | None = None):
        super().__init__(options, context)
        o = self.options
        self.encoder, self.decoder = shutil.which(o.encoder), shutil.which(o.decoder)
        missing = [n for n, p in ((o.encoder, self.encoder), (o.decoder, self.decoder)) if p is None]
        if missing:
            raise ExtraMissingError(f"the vtm baseline needs VTM's {' and '.join(missing)}, which is not on PATH",
                                    "build VTM (https://vcgit.hhi.fraunhofer.de/jvet/VVCSoftware_VTM, e.g. 12.1) "
                                    "and put its bin folder on PATH, or set the encoder / decoder options")
        self.config_file = self.context.resolve(o.config) if o.config else None
        if self.config_file is not None and not self.config_file.is_file():
            raise InputError(f"VTM config file not found: {self.config_file}", "fix entropy_model.options.config")

    def code(self, image: np.ndarray) -> bytes:
        yuv, W, H = to_yuv420(image)
        with tempfile.TemporaryDirectory() as tmp:
            src, out = Path(tmp) / "in.yuv", Path(tmp) / "out.bin"
            src.write_bytes(yuv)
            cmd = [self.encoder] + (["-c", str(self.config_file)] if self.config_file else []) + [
                "-i", str(src), "-b", str(out), "-o", "", "-wdt", str(W), "-hgt", str(H), "-fr", "1", "-f", "1",
                "-q", str(self.options.qp), "--InputBitDepth=8", "--OutputBitDepth=8", "--InputChromaFormat=420",
                "--IntraPeriod=1", "--ConformanceWindowMode=1"]
            done = subprocess.run(cmd, capture_output=True)
            if done.returncode != 0 or not out.is_file():
                raise RuntimeError(f"VTM EncoderApp failed ({done.returncode}): {done.stderr[-400:]!r}")
            header = W.to_bytes(4, "big") + H.to_bytes(4, "big")
            return header + out.read_bytes()

    def uncode(self, data: bytes, size: tuple[int, int]) -> np.ndarray:
        W, H = int.from_bytes(data[:4], "big"), int.from_bytes(data[4:8], "big")
        if (W, H) != (size[0] + size[0] % 2, size[1] + size[1] % 2):
            raise PayloadError(f"the VTM payload is {W}x{H}, the stream header says {size[0]}x{size[1]}",
                               "the stream is damaged")
        with tempfile.TemporaryDirectory() as tmp:
            bits, rec = Path(tmp) / "in.bin", Path(tmp) / "rec.yuv"
            bits.write_bytes(data[8:])
            done = subprocess.run([self.decoder, "-b", str(bits), "-o", str(rec), "-d", "8"], capture_output=True)
            if done.returncode != 0 or not rec.is_file():
                raise PayloadError(f"VTM DecoderApp cannot decode the payload ({done.returncode})",
                                   "the stream is damaged")
            return from_yuv420(rec.read_bytes(), W, H, size)
