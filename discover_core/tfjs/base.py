"""What every TensorFlow.js op module shares: the :class:`Op` base, layouts, constant inputs, padding.

Each op is an ``nn.Module`` built from a graph node (``OP_BUILDERS[op](node, consts)`` in :mod:`.ops`,
``consts[i]`` the value of input *i* when it is a ``Const`` node, else ``None``). An op takes the constant
inputs it needs at build time (filters, biases, axes, shapes) and lists the positions of the inputs it
needs at run time in ``runtime``.

Layouts. TensorFlow graphs are NHWC; PyTorch convolutions are NCHW. To avoid a transpose around every
convolution, 4-D values may flow channels-first between ops. ``layout`` says what an op wants:

- ``"nchw"``: 4-D inputs channels-first, 4-D outputs channels-first (convolutions, pooling, resizing);
- ``"any"``: elementwise and axis ops; called with ``nchw=True`` when their 4-D
  inputs are channels-first (operands of lower rank are broadcast as
  TensorFlow would, then moved to channels-first; axes are mapped);
- ``"nhwc"``: everything else, in TensorFlow's own layout.

:class:`.graph.TFJSGraph` moves values between layouts as needed.
"""

from __future__ import annotations

import math
from typing import Callable, ClassVar, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from discover_core.errors import WeightsError

NHWC_TO_NCHW_AXIS = {0: 0, 1: 2, 2: 3, 3: 1}
TORCH_DTYPES = {"float32": torch.float32, "int32": torch.int32, "bool": torch.bool, "int64": torch.int64,
                "float16": torch.float16, "uint8": torch.uint8}


class UnsupportedOpError(WeightsError):
    """A graph uses an op (or an op variant) that this port does not implement."""


def to_nchw(t: torch.Tensor) -> torch.Tensor:
    """A TensorFlow-layout operand as channels-first: 4-D transposed; lower ranks broadcast to 4-D first."""
    if t.ndim == 4:
        return t.permute(0, 3, 1, 2)
    if t.numel() == 1 or t.ndim == 0:
        return t
    if t.ndim > 4:
        raise UnsupportedOpError(f"cannot move a rank-{t.ndim} operand to channels-first")
    return t.reshape((1,) * (4 - t.ndim) + tuple(t.shape)).permute(0, 3, 1, 2)


def to_nhwc(t: torch.Tensor) -> torch.Tensor:
    return t.permute(0, 2, 3, 1)


def tensor(value: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(value))


class Op(nn.Module):
    layout: ClassVar[str] = "nhwc"
    n_outputs: ClassVar[int] = 1

    def __init__(self, node, runtime: Sequence[int]):
        super().__init__()
        self.node_name = node.name
        self.runtime = tuple(runtime)

    def extra_repr(self) -> str:
        return self.node_name


def need_const(node, consts, index: int, what: str) -> np.ndarray:
    if index >= len(consts) or consts[index] is None:
        raise UnsupportedOpError(f"{node.op} '{node.name}': its {what} (input {index}) must be a constant here")
    return consts[index]


def attr_padding(node) -> str:
    padding = node.attr.get("padding", "VALID")
    if padding not in ("SAME", "VALID", "EXPLICIT"):
        raise UnsupportedOpError(f"{node.op} '{node.name}': padding {padding!r} is not supported")
    if node.attr.get("data_format", "NHWC") != "NHWC":
        raise UnsupportedOpError(f"{node.op} '{node.name}': data_format {node.attr.get('data_format')!r} "
                                 "is not supported (only NHWC)")
    return padding


def same_pads(size: int, k: int, stride: int, dilation: int) -> tuple[int, int]:
    """TensorFlow's SAME padding (before, after) of one axis; the extra pixel goes after."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + (k - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "Relu": torch.relu,
    "Relu6": lambda x: torch.clamp(x, 0.0, 6.0),
    "Sigmoid": torch.sigmoid,
    "Elu": F.elu,
    "Tanh": torch.tanh,
}
