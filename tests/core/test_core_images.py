"""Reading images of every mode into RGB, and writing outputs atomically."""

from __future__ import annotations

import io
import os
import stat

import numpy as np
import pytest
from PIL import Image

import discover_core.images as images_mod
from discover_core.errors import InputError
from discover_core.images import atomic_save_image, atomic_write_bytes, from_array, load_image, restore_mode


def save(img: Image.Image, path, **kwargs):
    img.save(path, **kwargs)
    return path


# -- load_image ------------------------------------------------------------------------------
def test_rgb_png_round_trip(tmp_path, image):
    path = save(Image.fromarray(image), tmp_path / "rgb.png")
    arr, meta = load_image(path)
    assert arr.dtype == np.uint8 and arr.flags.c_contiguous
    np.testing.assert_array_equal(arr, image)
    assert (meta.name, meta.path, meta.source_mode) == ("rgb.png", path, "RGB")


def test_grey_png(tmp_path):
    grey = np.arange(0, 240, 10, dtype=np.uint8).reshape(4, 6)
    arr, meta = load_image(save(Image.fromarray(grey, "L"), tmp_path / "grey.png"))
    assert arr.shape == (4, 6, 3)
    for c in range(3):
        np.testing.assert_array_equal(arr[:, :, c], grey)
    assert meta.source_mode == "L"


def test_palette_png(tmp_path):
    img = Image.new("P", (4, 2))
    img.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (256 * 3 - 9))
    img.putdata([0, 1, 2, 0, 1, 2, 2, 2])
    arr, meta = load_image(save(img, tmp_path / "palette.png"))
    assert meta.source_mode == "P"
    assert arr[0, 0].tolist() == [255, 0, 0]
    assert arr[0, 1].tolist() == [0, 255, 0]
    assert arr[1, 3].tolist() == [0, 0, 255]


def test_palette_png_with_transparent_entry_is_refused(tmp_path):
    img = Image.new("P", (2, 2))
    img.putpalette([255, 0, 0, 0, 255, 0] + [0] * (256 * 3 - 6))
    img.putdata([0, 1, 1, 1])
    with pytest.raises(InputError, match="transparent"):
        load_image(save(img, tmp_path / "ptrans.png", transparency=0))


def test_rgba_opaque_is_accepted(tmp_path, image):
    rgba = np.dstack([image, np.full(image.shape[:2], 255, np.uint8)])
    arr, meta = load_image(save(Image.fromarray(rgba, "RGBA"), tmp_path / "opaque.png"))
    np.testing.assert_array_equal(arr, image)
    assert meta.source_mode == "RGBA"


def test_rgba_transparent_is_refused(tmp_path, image):
    alpha = np.full(image.shape[:2], 255, np.uint8)
    alpha[3, 5] = 254
    path = save(Image.fromarray(np.dstack([image, alpha]), "RGBA"), tmp_path / "transparent.png")
    with pytest.raises(InputError) as exc:
        load_image(path)
    assert "transparent" in exc.value.message and str(path) in exc.value.message
    assert exc.value.hint


def test_grey_with_alpha_transparent_is_refused(tmp_path):
    la = Image.merge("LA", [Image.new("L", (3, 3), 100), Image.new("L", (3, 3), 0)])
    with pytest.raises(InputError, match="transparent"):
        load_image(save(la, tmp_path / "la.png"))


def test_16_bit_grey_png_is_scaled(tmp_path):
    values = np.array([[65535, 32768, 0, 257]], dtype=np.uint16)
    path = save(Image.fromarray(values), tmp_path / "grey16.png")
    arr, meta = load_image(path)
    assert meta.source_mode.startswith("I")
    assert arr[0, :, 0].tolist() == [255, 128, 0, 1]
    assert (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all()


def test_dark_16_bit_grey_png_stays_dark(tmp_path):
    """A 16-bit image whose values are all small is dark, not an 8-bit image."""
    values = np.array([[200, 100, 0]], dtype=np.uint16)
    arr, _ = load_image(save(Image.fromarray(values), tmp_path / "dark16.png"))
    assert arr[0, :, 0].tolist() == [1, 0, 0]


def test_cmyk_jpeg(tmp_path):
    img = Image.new("CMYK", (16, 8), (255, 0, 0, 0))  # pure cyan
    img.paste((0, 0, 0, 255), (8, 0, 16, 8))          # black on the right
    arr, meta = load_image(save(img, tmp_path / "cmyk.jpg", quality=95))
    assert meta.source_mode == "CMYK"
    assert arr.shape == (8, 16, 3)
    left, right = arr[:, :4].mean(axis=(0, 1)), arr[:, 12:].mean(axis=(0, 1))
    assert left[0] < 30 and left[1] > 225 and left[2] > 225, left
    assert right.max() < 30, right


def test_exif_rotated_jpeg_comes_upright(tmp_path):
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:, :20] = (255, 0, 0)   # red on the left
    stored[:, 20:] = (0, 0, 255)   # blue on the right
    img = Image.fromarray(stored)
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    path = save(img, tmp_path / "rotated.jpg", exif=exif.tobytes(), quality=95)
    arr, _ = load_image(path)
    assert arr.shape == (40, 20, 3)
    top, bottom = arr[:15].mean(axis=(0, 1)), arr[25:].mean(axis=(0, 1))
    assert top[0] > 200 and top[2] < 50, top           # red is now on top
    assert bottom[2] > 200 and bottom[0] < 50, bottom  # blue at the bottom


def test_truncated_file(tmp_path, image):
    buf = io.BytesIO()
    Image.fromarray(np.repeat(np.repeat(image, 4, 0), 4, 1)).save(buf, "PNG")
    path = tmp_path / "truncated.png"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(InputError) as exc:
        load_image(path)
    assert str(path) in exc.value.message


@pytest.mark.parametrize("content", [b"", b"certainly not an image", bytes(range(256)) * 10])
def test_garbage_file(tmp_path, content):
    path = tmp_path / "garbage.png"
    path.write_bytes(content)
    with pytest.raises(InputError) as exc:
        load_image(path)
    assert "not an image" in exc.value.message and exc.value.hint


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="image not found"):
        load_image(tmp_path / "nope.png")


def test_directory_is_input_error(tmp_path):
    with pytest.raises(InputError):
        load_image(tmp_path)


def test_too_many_pixels(tmp_path, monkeypatch):
    monkeypatch.setattr(images_mod, "MAX_PIXELS", 100)
    path = save(Image.new("RGB", (11, 10)), tmp_path / "big.png")
    with pytest.raises(InputError, match="larger than discover accepts"):
        load_image(path)


# -- from_array ------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 1), (5, 7, 3), (5, 7, 4)])
def test_from_array_shapes(shape):
    a = np.full(shape, 200, np.uint8)
    if shape[-1] == 4:
        a[..., 3] = 255  # opaque
    out = from_array(a)
    assert out.shape == (5, 7, 3) and out.dtype == np.uint8 and out.flags.c_contiguous
    assert (out == 200).all()


def test_from_array_uint16_is_scaled():
    a = np.array([[65535, 32768, 0, 257]], dtype=np.uint16)
    assert from_array(a)[0, :, 0].tolist() == [255, 128, 0, 1]


def test_from_array_keeps_rgb_values(image):
    np.testing.assert_array_equal(from_array(image), image)
    np.testing.assert_array_equal(from_array(image[:, ::-1]), image[:, ::-1])  # non-contiguous views


def test_from_array_drops_opaque_alpha_and_refuses_transparency(image):
    rgba = np.dstack([image, np.full(image.shape[:2], 255, np.uint8)])
    np.testing.assert_array_equal(from_array(rgba), image)
    rgba[0, 0, 3] = 0
    with pytest.raises(InputError, match="transparent"):
        from_array(rgba)


@pytest.mark.parametrize("bad", [
    np.zeros((4, 4, 2), np.uint8), np.zeros((4, 4, 3, 1), np.uint8), np.zeros((4,), np.uint8),
    np.zeros((0, 4, 3), np.uint8), np.zeros((4, 0), np.uint8), [1, 2, 3],
])
def test_from_array_bad_shapes(bad):
    with pytest.raises(InputError, match="shape"):
        from_array(bad)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.int8, bool])
def test_from_array_bad_dtypes(dtype):
    with pytest.raises(InputError, match="dtype"):
        from_array(np.zeros((4, 4, 3), dtype))


# -- restore_mode ----------------------------------------------------------------------------
@pytest.mark.parametrize("mode, expected", [
    ("L", "L"), ("I;16", "L"), ("I", "L"), ("LA", "L"), ("1", "L"),
    ("RGB", "RGB"), ("RGBA", "RGB"), ("P", "RGB"), ("CMYK", "RGB"),
])
def test_restore_mode(mode, expected):
    grey = np.repeat(np.arange(12, dtype=np.uint8).reshape(3, 4, 1) * 20, 3, axis=2)
    out = restore_mode(grey, mode)
    assert out.mode == expected and out.size == (4, 3)
    if expected == "L":
        np.testing.assert_array_equal(np.asarray(out), grey[:, :, 0])


def test_grey_source_is_written_back_as_grey(tmp_path):
    grey = np.arange(0, 240, 10, dtype=np.uint8).reshape(4, 6)
    arr, meta = load_image(save(Image.fromarray(grey, "L"), tmp_path / "g.png"))
    out = tmp_path / "g-out.png"
    atomic_save_image(out, restore_mode(arr, meta.source_mode))
    with Image.open(out) as back:
        assert back.mode == "L"
        np.testing.assert_array_equal(np.asarray(back), grey)


# -- atomic writes ---------------------------------------------------------------------------
def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_atomic_write_creates_and_replaces(tmp_path):
    path = tmp_path / "sub" / "out.bin"
    atomic_write_bytes(path, b"first")
    atomic_write_bytes(path, b"second")
    assert path.read_bytes() == b"second"
    assert leftovers(path.parent) == []
    assert sorted(p.name for p in path.parent.iterdir()) == ["out.bin"]


def test_atomic_write_respects_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = tmp_path / "shared.bin"
        atomic_write_bytes(path, b"x")
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
    finally:
        os.umask(old)


def test_atomic_write_keeps_the_mode_of_the_file_it_replaces(tmp_path):
    path = tmp_path / "private.bin"
    path.write_bytes(b"old")
    path.chmod(0o600)
    atomic_write_bytes(path, b"new")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.read_bytes() == b"new"


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old content")

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(images_mod.os, "fsync", broken_fsync)
    with pytest.raises(InputError, match="No space left on device") as exc:
        atomic_write_bytes(path, b"new content that never lands")
    assert str(path) in exc.value.message and exc.value.hint
    assert path.read_bytes() == b"old content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_failed_write_call_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old content")
    real_fdopen = os.fdopen

    class Exploding:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def fileno(self):
            return self.f.fileno()

        def write(self, data):
            self.f.write(data[:3])
            raise OSError(5, "Input/output error")

    monkeypatch.setattr(images_mod.os, "fdopen", lambda fd, mode: Exploding(real_fdopen(fd, mode)))
    with pytest.raises(InputError, match="Input/output error"):
        atomic_write_bytes(path, b"new content")
    assert path.read_bytes() == b"old content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_unwritable_destination_is_an_input_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(InputError, match="cannot write"):
        atomic_write_bytes(blocker / "sub" / "out.bin", b"x")  # a file where a folder should be
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_atomic_save_image(tmp_path, image):
    path = tmp_path / "pic.png"
    atomic_save_image(path, image)
    with Image.open(path) as back:
        np.testing.assert_array_equal(np.asarray(back), image)
    with pytest.raises(InputError, match="unknown image extension"):
        atomic_save_image(tmp_path / "pic.unknownext", image)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pic.png"]


# -- odd files and output limits -------------------------------------------------------------
def test_pillow_does_not_cap_below_max_pixels():
    assert Image.MAX_IMAGE_PIXELS is None or Image.MAX_IMAGE_PIXELS >= images_mod.MAX_PIXELS


def test_a_fifo_is_refused_without_hanging(tmp_path):
    import signal

    path = tmp_path / "pipe.png"
    os.mkfifo(path)
    signal.alarm(5)  # a blocking open would hang the test; fail it instead
    try:
        with pytest.raises(InputError, match="is a FIFO"):
            load_image(path)
    finally:
        signal.alarm(0)


@pytest.mark.parametrize("path, expected", [
    ("/dev/null", "is a character device"),
    ("x" * 256 + ".png", "more than the 255"),
])
def test_special_files_and_long_names(tmp_path, path, expected):
    with pytest.raises(InputError, match=expected) as exc:
        load_image(tmp_path / path)
    assert exc.value.hint


def test_symlink_loop_is_an_input_error(tmp_path):
    (tmp_path / "a.png").symlink_to(tmp_path / "b.png")
    (tmp_path / "b.png").symlink_to(tmp_path / "a.png")
    with pytest.raises(InputError, match="symbolic link loop"):
        load_image(tmp_path / "a.png")


def test_animated_gif_warns_that_only_the_first_frame_is_encoded(tmp_path, caplog):
    frames = [Image.new("RGB", (8, 6), c) for c in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50)
    with caplog.at_level("WARNING", logger="discover_core.images"):
        arr, _ = load_image(path)
    assert "has 3 frames" in caplog.text and "only the first is encoded" in caplog.text
    assert arr.shape == (6, 8, 3) and arr[0, 0, 0] > 200 and arr[0, 0, 2] < 50
    caplog.clear()
    with caplog.at_level("WARNING", logger="discover_core.images"):
        load_image(save(frames[0], tmp_path / "still.gif"))
    assert "frames" not in caplog.text


@pytest.mark.parametrize("ext, width, limit", [(".webp", 16384, 16383), (".jpg", 65501, 65500)])
def test_pictures_too_wide_for_the_format_are_input_errors(tmp_path, ext, width, limit):
    wide = np.zeros((1, width, 3), np.uint8)
    with pytest.raises(InputError, match=f"at most {limit} pixels a side") as exc:
        atomic_save_image(tmp_path / f"wide{ext}", wide)
    assert "png" in exc.value.hint
    assert list(tmp_path.iterdir()) == []
    atomic_save_image(tmp_path / "wide.png", wide)  # PNG holds it


def test_reading_does_not_depend_on_a_patched_pillow(tmp_path, monkeypatch):
    """Libraries replace PIL.Image.open process-wide (ultralytics does); image reads keep Pillow's own."""
    def patched(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'pi_heif'")

    monkeypatch.setattr(Image, "open", patched)
    path = tmp_path / "garbage.png"
    path.write_bytes(b"certainly not an image")
    with pytest.raises(InputError, match="not an image"):
        load_image(path)
