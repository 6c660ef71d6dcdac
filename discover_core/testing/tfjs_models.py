"""Hand-built TensorFlow.js graph models for the reader tests, and numpy references of the ops they use.

:func:`write_model` writes ``model.json`` + shards in tfjs-converter's layout (the weights one after the
other, optionally quantized to float16 or affine uint8, split over several shards). The numpy functions
are independent re-statements of TensorFlow's semantics (NHWC, SAME padding with the extra pixel after,
legacy bilinear coordinates), written from the TensorFlow documentation, not from the port.
"""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path

import numpy as np


def attr_s(text: str) -> dict:
    return {"s": base64.b64encode(text.encode()).decode()}


def attr_list_i(values) -> dict:
    return {"list": {"i": [str(v) for v in values]}}


def attr_list_s(values) -> dict:
    return {"list": {"s": [base64.b64encode(v.encode()).decode() for v in values]}}


def node(name: str, op: str, inputs=(), **attr) -> dict:
    return {"name": name, "op": op, "input": list(inputs), "attr": attr}


def const(name: str, dtype: str = "DT_FLOAT") -> dict:
    return node(name, "Const", dtype={"type": dtype})


def write_model(folder: Path, nodes: list[dict], weights: dict[str, np.ndarray], outputs: list[str],
                quantize: dict[str, str] | None = None, shards: int = 1,
                input_shape=(1, 8, 8, 3)) -> Path:
    """Write ``model.json`` and ``group1-shardNofM.bin``; ``quantize[name]`` is ``"float16"`` or ``"uint8"``."""
    folder.mkdir(parents=True, exist_ok=True)
    quantize = quantize or {}
    specs, blobs = [], []
    for name, value in weights.items():
        value = np.asarray(value)
        dtype = {np.dtype(np.float32): "float32", np.dtype(np.int32): "int32", np.dtype(np.bool_): "bool"}[value.dtype]
        spec = {"name": name, "shape": list(value.shape), "dtype": dtype}
        q = quantize.get(name)
        if q == "float16":
            spec["quantization"] = {"dtype": "float16", "original_dtype": dtype}
            blobs.append(value.astype("<f2").tobytes())
        elif q == "uint8":
            lo, hi = float(value.min()), float(value.max())
            scale = (hi - lo) / 255 if hi > lo else 1.0
            codes = np.round((value - lo) / scale).astype(np.uint8)
            spec["quantization"] = {"dtype": "uint8", "scale": scale, "min": lo, "original_dtype": dtype}
            blobs.append(codes.tobytes())
        else:
            blobs.append(value.astype(value.dtype.newbyteorder("<")).tobytes())
        specs.append(spec)
    data = b"".join(blobs)
    step = math.ceil(len(data) / shards) if data else 0
    paths = []
    for i in range(shards):
        p = f"group1-shard{i + 1}of{shards}.bin"
        (folder / p).write_bytes(data[i * step:(i + 1) * step])
        paths.append(p)
    doc = {
        "format": "graph-model", "generatedBy": "hand", "convertedBy": "tests",
        "signature": {"inputs": {"x": {"name": "x", "dtype": "DT_FLOAT",
                                       "tensorShape": {"dim": [{"size": str(s)} for s in input_shape]}}},
                      "outputs": {o: {"name": o} for o in outputs}},
        "modelTopology": {"node": nodes, "library": {}, "versions": {}},
        "weightsManifest": [{"paths": paths, "weights": specs}],
    }
    path = folder / "model.json"
    path.write_text(json.dumps(doc))
    return path


def dequantized_uint8(value: np.ndarray) -> np.ndarray:
    """What an affine uint8 quantization (as :func:`write_model` does it) gives back."""
    lo, hi = float(value.min()), float(value.max())
    scale = (hi - lo) / 255 if hi > lo else 1.0
    codes = np.round((value - lo) / scale).astype(np.uint8)
    return codes.astype(np.float32) * np.float32(scale) + np.float32(lo)


# ---------------------------------------------------------------- numpy references (NHWC, float64)


def same_pad(size: int, k: int, s: int) -> tuple[int, int]:
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def conv2d(x: np.ndarray, w: np.ndarray, stride: int, padding: str) -> np.ndarray:
    """x (1, H, W, C), w (kh, kw, C, O)."""
    kh, kw, _, o = w.shape
    if padding == "SAME":
        (t, b), (le, r) = same_pad(x.shape[1], kh, stride), same_pad(x.shape[2], kw, stride)
        x = np.pad(x, ((0, 0), (t, b), (le, r), (0, 0)))
    oh, ow = (x.shape[1] - kh) // stride + 1, (x.shape[2] - kw) // stride + 1
    out = np.zeros((1, oh, ow, o))
    for i in range(oh):
        for j in range(ow):
            patch = x[0, i * stride:i * stride + kh, j * stride:j * stride + kw, :]
            out[0, i, j] = np.tensordot(patch, w, axes=([0, 1, 2], [0, 1, 2]))
    return out


def depthwise(x: np.ndarray, w: np.ndarray, stride: int, padding: str) -> np.ndarray:
    """w (kh, kw, C, M); output channel c * M + m."""
    kh, kw, c, m = w.shape
    outs = [conv2d(x[..., ci:ci + 1], w[:, :, ci:ci + 1, :], stride, padding) for ci in range(c)]
    return np.concatenate(outs, axis=-1)


def max_pool_same(x: np.ndarray, k: int, stride: int) -> np.ndarray:
    (t, b), (le, r) = same_pad(x.shape[1], k, stride), same_pad(x.shape[2], k, stride)
    x = np.pad(x, ((0, 0), (t, b), (le, r), (0, 0)), constant_values=-np.inf)
    oh, ow = (x.shape[1] - k) // stride + 1, (x.shape[2] - k) // stride + 1
    out = np.zeros((1, oh, ow, x.shape[3]))
    for i in range(oh):
        for j in range(ow):
            out[0, i, j] = x[0, i * stride:i * stride + k, j * stride:j * stride + k].max(axis=(0, 1))
    return out


def resize_bilinear_legacy(x: np.ndarray, h: int, w: int) -> np.ndarray:
    """tf.image.resize_bilinear(align_corners=False, half_pixel_centers=False): source = dest * in / out."""
    ih, iw = x.shape[1], x.shape[2]
    out = np.zeros((1, h, w, x.shape[3]))
    for i in range(h):
        sy = i * ih / h
        y0 = int(math.floor(sy))
        y1, fy = min(y0 + 1, ih - 1), sy - y0
        for j in range(w):
            sx = j * iw / w
            x0 = int(math.floor(sx))
            x1, fx = min(x0 + 1, iw - 1), sx - x0
            top = x[0, y0, x0] * (1 - fx) + x[0, y0, x1] * fx
            bottom = x[0, y1, x0] * (1 - fx) + x[0, y1, x1] * fx
            out[0, i, j] = top * (1 - fy) + bottom * fy
    return out


def conv2d_backprop_input(dy: np.ndarray, w: np.ndarray, out_hw: tuple[int, int], stride: int,
                          padding: str) -> np.ndarray:
    """tf.nn.conv2d_transpose, by its definition: the gradient of conv2d (input of size ``out_hw``) with respect to
    its input. dy (1, h, w, C_in), w (kh, kw, C_out, C_in); every dy pixel adds ``dy . w`` to the input pixels
    its forward window covered."""
    kh, kw, c_out, _ = w.shape
    oh, ow = out_hw
    top = same_pad(oh, kh, stride)[0] if padding == "SAME" else 0
    left = same_pad(ow, kw, stride)[0] if padding == "SAME" else 0
    out = np.zeros((1, oh, ow, c_out))
    for i in range(dy.shape[1]):
        for j in range(dy.shape[2]):
            for a in range(kh):
                for b in range(kw):
                    y, x = i * stride - top + a, j * stride - left + b
                    if 0 <= y < oh and 0 <= x < ow:
                        out[0, y, x] += w[a, b] @ dy[0, i, j]
    return out


def avg_pool(x: np.ndarray, k: int, stride: int, padding: str) -> np.ndarray:
    """tf.nn.avg_pool2d: SAME windows average only the pixels inside the image."""
    h, w = x.shape[1], x.shape[2]
    if padding == "SAME":
        (t, _), (le, _) = same_pad(h, k, stride), same_pad(w, k, stride)
        oh, ow = -(-h // stride), -(-w // stride)
    else:
        t = le = 0
        oh, ow = (h - k) // stride + 1, (w - k) // stride + 1
    out = np.zeros((1, oh, ow, x.shape[3]))
    for i in range(oh):
        for j in range(ow):
            y0, x0 = i * stride - t, j * stride - le
            window = x[0, max(y0, 0):min(y0 + k, h), max(x0, 0):min(x0 + k, w)]
            out[0, i, j] = window.mean(axis=(0, 1))
    return out
