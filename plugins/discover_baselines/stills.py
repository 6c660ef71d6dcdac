"""Whole-image JPEG, WebP, AVIF (Pillow, through :mod:`discover_core.stills`) and HEVC intra (pillow-heif)."""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from discover_core.errors import ExtraMissingError, PayloadError
from discover_core.interfaces import Context, Options
from discover_core.stills import decode_still, encode_still

from .whole import WholeImage


class _Still(WholeImage):
    codec = "jpeg"

    class Options(Options):
        quality: int = Field(75, ge=1, le=100, description="codec quality (1-100)")
        subsampling: Literal["4:2:0", "4:2:2", "4:4:4"] = Field("4:2:0", description="chroma subsampling")

    def code(self, image: np.ndarray) -> bytes:
        return encode_still(image, self.codec, self.options.quality, subsampling=self.options.subsampling)

    def uncode(self, data: bytes, size: tuple[int, int]) -> np.ndarray:
        return decode_still(data, self.codec, size)


class Jpeg(_Still):
    """Baseline: the whole image as one JPEG (Pillow / libjpeg)."""

    name = "jpeg"
    codec = "jpeg"


class Webp(_Still):
    """Baseline: the whole image as one WebP (Pillow / libwebp; 4:2:0 always)."""

    name = "webp"
    codec = "webp"


class Avif(_Still):
    """Baseline: the whole image as one AVIF (Pillow / libavif)."""

    name = "avif"
    codec = "avif"

    class Options(_Still.Options):
        speed: int = Field(6, ge=0, le=10, description="encoder speed (0 slowest and smallest, 10 fastest)")

    def code(self, image: np.ndarray) -> bytes:
        o = self.options
        return encode_still(image, "avif", o.quality, subsampling=o.subsampling, speed=o.speed)


class HevcIntra(WholeImage):
    """Baseline: the whole image as one HEVC intra frame (pillow-heif's x265, else ffmpeg's libx265)."""

    name = "hevc-intra"
    requires = ()
    extra = "eval"

    class Options(Options):
        quality: int = Field(50, ge=1, le=100, description="pillow-heif quality (1-100); with ffmpeg, "
                                                           "qp = round(51 * (100 - quality) / 99)")
        backend: Literal["auto", "pillow-heif", "ffmpeg"] = Field("auto", description="who codes HEVC: "
                                                                  "pillow-heif when installed, else ffmpeg")

    def __init__(self, options: Options | None = None, context: Context | None = None):
        super().__init__(options, context)
        import importlib.util

        have_heif = importlib.util.find_spec("pillow_heif") is not None
        backend = self.options.backend
        if backend == "auto":
            backend = "pillow-heif" if have_heif else "ffmpeg"
        if backend == "pillow-heif" and not have_heif:
            raise ExtraMissingError("hevc-intra needs pillow-heif, which is not installed",
                                    "pip install 'discover-codec[eval]' (or put ffmpeg with libx265 on PATH)")
        if backend == "ffmpeg" and shutil.which("ffmpeg") is None:
            raise ExtraMissingError("hevc-intra needs pillow-heif or ffmpeg on PATH; neither is there",
                                    "pip install pillow-heif, or install ffmpeg with libx265")
        self.backend = backend

    def code(self, image: np.ndarray) -> bytes:
        if self.backend == "pillow-heif":
            import pillow_heif

            heif = pillow_heif.from_bytes(mode="RGB", size=(image.shape[1], image.shape[0]), data=image.tobytes())
            buf = io.BytesIO()
            heif.save(buf, quality=self.options.quality, chroma=420)
            return b"HEIF" + buf.getvalue()
        return b"H265" + _ffmpeg_encode(image, round(51 * (100 - self.options.quality) / 99))

    def uncode(self, data: bytes, size: tuple[int, int]) -> np.ndarray:
        tag, body = data[:4], data[4:]
        try:
            if tag == b"HEIF":
                import pillow_heif

                heif = pillow_heif.open_heif(io.BytesIO(body), convert_hdr_to_8bit=True)
                if tuple(heif.size) != tuple(size):
                    raise PayloadError(f"the HEVC payload is {heif.size[0]}x{heif.size[1]}, the stream header "
                                       f"says {size[0]}x{size[1]}", "the stream is damaged")
                return np.asarray(heif.to_pillow().convert("RGB"), dtype=np.uint8).copy()
            if tag == b"H265":
                return _ffmpeg_decode(body, size)
        except PayloadError:
            raise
        except Exception as exc:  # whatever the HEVC library says about data it cannot read
            raise PayloadError(f"the HEVC payload cannot be read ({type(exc).__name__}: {exc})",
                               "the stream is damaged") from None
        raise PayloadError("the HEVC payload has an unknown tag", "the stream is damaged")


def _ffmpeg_encode(image: np.ndarray, qp: int) -> bytes:
    h, w = image.shape[:2]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.hevc"
        subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
                        "-i", "-", "-frames:v", "1", "-c:v", "libx265", "-x265-params", f"qp={qp}:log-level=error",
                        "-pix_fmt", "yuv420p", "-f", "hevc", str(out)], input=image.tobytes(), check=True)
        return out.read_bytes()


def _ffmpeg_decode(data: bytes, size: tuple[int, int]) -> np.ndarray:
    w, h = size
    done = subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "hevc", "-i", "-", "-frames:v", "1", "-f",
                           "rawvideo", "-pix_fmt", "rgb24", "-"], input=data, capture_output=True)
    if done.returncode != 0 or len(done.stdout) != w * h * 3:
        raise PayloadError("ffmpeg cannot decode the HEVC payload to the declared size", "the stream is damaged")
    return np.frombuffer(done.stdout, np.uint8).reshape(h, w, 3).copy()
