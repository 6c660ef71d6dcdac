"""Checks and helpers the contract suites share: image and decoded-content checks, JSON, heavy imports.

Each ``check_*`` raises ``AssertionError`` with a message that says what is
wrong and what was expected; plugin authors can call them from their own tests.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from ..interfaces import Component, Decoded, Latent, Patch
from ..plugins import Registry

HEAVY_MODULES = ("torch", "torchvision", "timm", "transformers", "diffusers", "ultralytics", "openai", "ollama",
                 "cv2", "skimage", "compressai", "facenet_pytorch", "tensorflow", "jax")
"""Modules a plugin must not import when it is loaded (only when a component is built)."""

UNKNOWN_OPTION = "surely_not_an_option_of_this_component"


@functools.lru_cache(maxsize=1)
def entry_point_registry() -> Registry:
    """A registry loaded from the ``discover`` entry points (once per test process)."""
    return Registry().load_entry_points()


@functools.lru_cache(maxsize=None)
def heavy_imports_of(module: str, heavy: tuple[str, ...] = HEAVY_MODULES) -> tuple[str, ...]:
    """The heavy modules that importing ``module`` pulls in, measured in a clean subprocess."""
    code = ("import importlib, json, sys; importlib.import_module(sys.argv[1]); "
            "print(json.dumps(sorted(m for m in sys.argv[2:] if m in sys.modules)))")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    proc = subprocess.run([sys.executable, "-c", code, module, *heavy], capture_output=True, text=True,
                          env=env, timeout=120)
    if proc.returncode != 0:
        raise AssertionError(f"importing {module} in a fresh interpreter failed:\n{proc.stderr[-3000:]}")
    return tuple(json.loads(proc.stdout.strip().splitlines()[-1]))


def require_extras(cls: type[Component]) -> None:
    """Skip the calling test when a module the component ``requires`` is not importable."""
    for module in cls.requires:
        pytest.importorskip(module, reason=f"{cls.kind.replace('_', ' ')} '{cls.name}' needs {module}: "
                                           f"pip install {cls.install_hint()}")


def json_round_trip(value: Any, what: str) -> Any:
    """``value`` through strict JSON (no NaN/inf), as a stream header or a report stores it."""
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise AssertionError(f"{what} is not JSON-serialisable ({exc}): {value!r}"[:2000]) from None
    return json.loads(text)


def check_image(image: Any, size: tuple[int, int], what: str) -> None:
    """``image`` is an ``(H, W, 3)`` uint8 array for ``size == (W, H)``."""
    w, h = size
    assert isinstance(image, np.ndarray), f"{what} returned {type(image).__name__}, expected a numpy array"
    assert image.shape == (h, w, 3), f"{what} returned shape {image.shape}, expected {(h, w, 3)}"
    assert image.dtype == np.uint8, f"{what} returned dtype {image.dtype}, expected uint8"


def check_mask(mask: Any, shape: tuple[int, int], what: str) -> None:
    """``mask`` is a bool array of ``shape``."""
    assert isinstance(mask, np.ndarray) and mask.shape == tuple(shape) and mask.dtype == bool, \
        f"{what} must be a {tuple(shape)} bool array, got {getattr(mask, 'shape', type(mask).__name__)} " \
        f"{getattr(mask, 'dtype', '')}"


def check_pixels_decoded(decoded: Decoded) -> None:
    """A ``"pixels"`` Decoded is what a composer may trust: RGB uint8 arrays whose patches fit their boxes."""
    w, h = decoded.size
    if decoded.coarse is not None:
        c = decoded.coarse
        assert isinstance(c, np.ndarray) and c.ndim == 3 and c.shape[2] == 3 and c.dtype == np.uint8 \
            and c.shape[0] >= 1 and c.shape[1] >= 1, f"coarse content must be an (h, w, 3) uint8 array, " \
                                                     f"got {getattr(c, 'shape', c)} {getattr(c, 'dtype', '')}"
    for p in decoded.patches:
        assert isinstance(p, Patch), f"patches must be discover_core.Patch, got {type(p).__name__}"
        x0, y0, x1, y1 = p.box
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h, f"patch box {p.box} is empty or outside the {w}x{h} image"
        assert isinstance(p.pixels, np.ndarray) and p.pixels.shape == (y1 - y0, x1 - x0, 3) \
            and p.pixels.dtype == np.uint8, f"patch at {p.box} has pixels {p.pixels.shape} {p.pixels.dtype}, " \
                                            f"expected {(y1 - y0, x1 - x0, 3)} uint8"
        if p.mask is not None:
            check_mask(p.mask, (y1 - y0, x1 - x0), f"the mask of the patch at {p.box}")


def check_latent(latent: Any, size: tuple[int, int], space: str | None = None) -> None:
    """A :class:`Latent` of a ``size == (W, H)`` image: float32 ``(C, ceil(H/stride), ceil(W/stride))`` values,
    an ``arrived`` mask of the same positions, and its ``space`` (``space`` if given)."""
    assert isinstance(latent, Latent), f"Decoded.latent must be a discover_core.Latent, got {type(latent).__name__}"
    w, h = size
    s = latent.stride
    assert isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 1, \
        f"Latent.stride must be a positive int, got {s!r}"
    v = latent.values
    expected = (math.ceil(h / s), math.ceil(w / s))
    assert isinstance(v, np.ndarray) and v.dtype == np.float32 and v.ndim == 3 and v.shape[0] >= 1, \
        f"Latent.values must be a float32 (channels, h, w) array, got {getattr(v, 'shape', v)} " \
        f"{getattr(v, 'dtype', '')}"
    assert v.shape[1:] == expected, f"Latent.values are {v.shape[1:]} positions for a {w}x{h} image at stride " \
                                    f"{s}; expected {expected} (ceil(H/stride), ceil(W/stride))"
    assert np.isfinite(v).all(), "Latent.values hold NaN or infinity"
    check_mask(latent.arrived, expected, "Latent.arrived")
    assert isinstance(latent.space, str) and latent.space, f"Latent.space must name the space, got {latent.space!r}"
    if space is not None:
        assert latent.space == space, f"Latent.space is {latent.space!r}, the model declares {space!r}"


def check_decoded(decoded: Any, size: tuple[int, int], representation: str | None = None,
                  space: str | None = None) -> None:
    """A Decoded of a ``size`` image: the representation it says (``representation`` if given), content of that
    representation that a composer may trust, and a ``missing`` mask of the image when set."""
    assert isinstance(decoded, Decoded), f"decode() returned {type(decoded).__name__}, expected Decoded"
    assert tuple(decoded.size) == tuple(size), f"decoded size {decoded.size} != image size {tuple(size)}"
    if representation is not None:
        assert decoded.representation == representation, \
            f"decoded representation {decoded.representation!r}, the model declares {representation!r} " \
            f"(produces_for)"
    if decoded.representation == "pixels":
        check_pixels_decoded(decoded)
    elif decoded.representation == "latent":
        assert decoded.latent is not None, "a 'latent' Decoded must carry its Latent"
        check_latent(decoded.latent, size, space)
    else:
        raise AssertionError(f"unknown representation {decoded.representation!r}")
    if decoded.missing is not None:
        check_mask(decoded.missing, (size[1], size[0]), "Decoded.missing")
    assert all(isinstance(t, str) for t in decoded.tasks) and all(isinstance(x, str) for x in decoded.labels)


def decoded_digest(decoded: Decoded) -> str:
    """A hash of everything a Decoded holds (to compare two decodes exactly)."""
    h = hashlib.sha256(repr((decoded.size, decoded.representation, decoded.tasks, decoded.labels)).encode())

    def add(array: np.ndarray | None) -> None:
        if array is None:
            h.update(b"none")
            return
        a = np.ascontiguousarray(array)
        h.update(repr((a.shape, a.dtype.str)).encode())
        h.update(a.tobytes())

    add(decoded.coarse)
    for p in decoded.patches:
        h.update(repr((tuple(p.box), tuple(p.labels))).encode())
        add(p.pixels)
        add(p.mask)
    if decoded.latent is not None:
        h.update(repr((decoded.latent.stride, decoded.latent.space)).encode())
        add(decoded.latent.values)
        add(decoded.latent.arrived)
    add(decoded.missing)
    return h.hexdigest()
