"""Reading images of any mode into RGB arrays, and writing outputs atomically."""

from __future__ import annotations

import logging
import os
import stat
import tempfile
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InputError
from .files import open_regular
from .interfaces import ImageMeta
from .limits import MAX_PIXELS
from .stills import MAX_SIDE

PILLOW_OPEN = Image.open
"""Pillow's own ``Image.open``, kept at import: other libraries replace it process-wide (ultralytics does, with a
wrapper that tries to install a HEIF plugin on any unreadable file), and an image read must not depend on that."""

# MAX_PIXELS (discover_core.limits): the largest image (width x height, 268 Mpx) discover reads, encodes or
# decodes; larger ones are refused before their pixels are decoded. Stream headers are held to the same cap.

# Pillow's own decompression-bomb limit (89 Mpx) would otherwise be the cap: discover checks MAX_PIXELS itself.
if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < MAX_PIXELS:
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS

log = logging.getLogger(__name__)

SAVE_MAX_SIDE = {"WEBP": MAX_SIDE["webp"], "JPEG": MAX_SIDE["jpeg"], "AVIF": MAX_SIDE["avif"]}
"""The largest width or height each output format can hold."""


def to_rgb(img: Image.Image, name: str) -> np.ndarray:
    """An RGB uint8 array from a Pillow image of any mode.

    Grey, palette, CMYK, YCbCr and 1-bit images are converted; 16-bit and
    32-bit grey images are scaled to 8 bits; images with real transparency
    are refused (the codec does not carry alpha), fully opaque ones lose
    their alpha channel.
    """
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
        arr = np.clip(np.round(arr / top * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(arr[:, :, None], 3, axis=2)
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        arr = np.clip(np.round(arr * (255.0 if arr.max() <= 1.0 else 1.0)), 0, 255).astype(np.uint8)
        return np.repeat(arr[:, :, None], 3, axis=2)
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode = img.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        alpha = np.asarray(img.getchannel("A"))
        if alpha.min() < 255:
            raise InputError(
                f"{name} has transparent pixels; discover codes colour only and would lose them",
                "flatten the image onto a background first (e.g. `magick in.png -flatten out.png`)",
            )
    return np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))


def load_image(path: str | Path) -> tuple[np.ndarray, ImageMeta]:
    """Read an image file into an ``(H, W, 3)`` uint8 RGB array, honouring EXIF orientation.

    An image of more than :data:`MAX_PIXELS` pixels is refused from its header, before its pixels are decoded.
    """
    path = Path(path)
    try:
        with open_regular(path, "image") as f, warnings.catch_warnings():
            # Pillow's own decompression-bomb check would fire first (and call a valid image unreadable):
            # discover checks the size itself, from the header, below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            try:
                opened = PILLOW_OPEN(f)
            except Image.DecompressionBombError:
                raise _too_large(path, _header_size(f)) from None
            with opened as img:
                if img.width * img.height > MAX_PIXELS:
                    raise _too_large(path, img.size)
                frames = getattr(img, "n_frames", 1)
                if frames > 1:
                    log.warning("%s has %d frames (an animation or a multi-page file); only the first is encoded",
                                path, frames)
                img.load()
                mode = img.mode
                img = ImageOps.exif_transpose(img)
                arr = to_rgb(img, str(path))
    except InputError:
        raise
    except UnidentifiedImageError as exc:
        raise InputError(f"{path} is not an image Pillow can read ({exc})",
                         "pass a PNG, JPEG, WebP, AVIF, TIFF or BMP file") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc}", "the file may be truncated or damaged") from None
    return arr, ImageMeta(name=path.name, path=path, source_mode=mode)


def _too_large(path: Path, size: tuple[int, int] | None) -> InputError:
    what = f"{size[0]}x{size[1]}" if size else "larger"
    return InputError(f"{path} is {what}, larger than discover accepts ({MAX_PIXELS} pixels)",
                      "split or downscale the image first")


def _header_size(f) -> tuple[int, int] | None:
    """Width and height from an image file's header, as ``Image.open`` reads it but without Pillow's
    decompression-bomb check (no pixel is decoded); ``None`` if no format reads it."""
    Image.init()
    f.seek(0)
    prefix = f.read(16)
    for fmt in Image.ID:
        factory, accept = Image.OPEN[fmt]
        result = not accept or accept(prefix)
        if not result or isinstance(result, str):
            continue
        try:
            f.seek(0)
            return tuple(factory(f, "").size)
        except Exception:  # noqa: BLE001 - this format does not read it; try the next, as Image.open does
            continue
    return None


def check_rgb(image: np.ndarray) -> np.ndarray:
    """``image`` if it is an (H, W, 3) uint8 RGB array with pixels, else an :class:`InputError` saying what it is."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        what = f"shape {image.shape} and dtype {image.dtype}" if isinstance(image, np.ndarray) else type(image).__name__
        raise InputError(f"expected an (H, W, 3) uint8 RGB image, got {what}",
                         "convert with discover_core.images (or numpy.asarray(PIL.Image.open(path).convert('RGB')))")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise InputError(f"empty image of shape {image.shape}")
    return image


def from_array(array: np.ndarray, name: str = "array") -> np.ndarray:
    """Check and normalise an in-memory image: (H, W), (H, W, 1|3|4), uint8 or uint16."""
    a = np.asarray(array)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4) or a.shape[0] < 1 or a.shape[1] < 1:
        raise InputError(f"{name} has shape {np.shape(array)}; expected (H, W), (H, W, 3) or (H, W, 4)")
    if a.dtype == np.uint16:
        a = (a.astype(np.uint32) * 255 + 32767) // 65535
    elif a.dtype != np.uint8:
        raise InputError(f"{name} has dtype {a.dtype}; expected uint8 or uint16")
    a = a.astype(np.uint8)
    if a.shape[2] == 4:
        if a[:, :, 3].min() < 255:
            raise InputError(f"{name} has transparent pixels; discover codes colour only",
                             "flatten the image onto a background first")
        a = a[:, :, :3]
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    return np.ascontiguousarray(a)


def restore_mode(image: np.ndarray, mode: str) -> Image.Image:
    """A Pillow image of the decoded pixels in the source's colour family (grey stays grey)."""
    img = Image.fromarray(image, "RGB")
    if mode in ("L", "1", "I", "I;16", "I;16B", "I;16L", "I;16N", "F", "LA", "La"):
        return img.convert("L")
    return img


def _file_mode(path: Path) -> int:
    """The existing file's permissions, or those of a new file under the current umask."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        umask = os.umask(0o022)
        os.umask(umask)
        return 0o666 & ~umask


def _cannot_write(path: Path, exc: OSError) -> InputError:
    return InputError(f"cannot write {path}: {exc.strerror or exc}",
                      "check that the folder can be written to and that the disk has room")


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one.

    An operating-system error (no such folder, no permission, disk full) is an
    :class:`InputError` naming the path; the old file, if any, is left as it was.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _cannot_write(path, exc) from exc
    try:
        with os.fdopen(fd, "wb") as f:
            # mkstemp makes the file private (0600); give it the mode a plain open() would have.
            os.chmod(tmp, _file_mode(path))
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):
            raise _cannot_write(path, exc) from exc
        raise


def atomic_save_image(path: str | Path, image: Image.Image | np.ndarray, **save_kwargs) -> None:
    """Save an image atomically; the format follows the file extension."""
    import io

    img = Image.fromarray(image) if isinstance(image, np.ndarray) else image
    buf = io.BytesIO()
    fmt = Image.registered_extensions().get(Path(path).suffix.lower())
    if fmt is None:
        raise InputError(f"cannot write {path}: unknown image extension", "use .png, .jpg, .webp or .avif")
    limit = SAVE_MAX_SIDE.get(fmt)
    if limit is not None and max(img.size) > limit:
        raise InputError(f"cannot write {path}: a {img.width}x{img.height} picture is too large for {fmt} "
                         f"(at most {limit} pixels a side)", "write it as PNG (--format png)")
    try:
        img.save(buf, format=fmt, **save_kwargs)
    except OSError as exc:
        raise InputError(f"cannot write {path} as {fmt}: {exc}", "write it as PNG (--format png)") from None
    atomic_write_bytes(path, buf.getvalue())
