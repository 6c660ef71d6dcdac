"""TensorFlow ops of TensorFlow.js graph models as PyTorch modules: the registry, elementwise and axis ops.

:data:`OP_BUILDERS` maps a TensorFlow op name to a builder ``(node, consts) -> Op`` (see :mod:`.base` for
what an op is and the layouts it runs in). Convolutions, pooling and resizing are in :mod:`.spatial`; the
elementwise, matrix and axis ops are here. An op missing from :data:`OP_BUILDERS` makes
:class:`.graph.TFJSGraph` raise :class:`UnsupportedOpError` naming it.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from .base import (ACTIVATIONS, NHWC_TO_NCHW_AXIS, TORCH_DTYPES, Op, UnsupportedOpError, need_const, same_pads,
                   tensor, to_nchw, to_nhwc)
from .spatial import AvgPool, Conv, ConvTranspose, MaxPool, ResizeBilinear, resize_bilinear

__all__ = ["ACTIVATIONS", "NHWC_TO_NCHW_AXIS", "OP_BUILDERS", "TORCH_DTYPES", "Op", "UnsupportedOpError",
           "resize_bilinear", "same_pads", "tensor", "to_nchw", "to_nhwc"]

# ---------------------------------------------------------------- elementwise


class Elementwise(Op):
    """An elementwise op of one or more operands, some of them constants."""

    layout = "any"

    def __init__(self, node, consts, fn: Callable[..., torch.Tensor], arity: int):
        runtime = [i for i in range(arity) if i >= len(consts) or consts[i] is None]
        super().__init__(node, runtime)
        if len(node.inputs) != arity:
            raise UnsupportedOpError(f"{node.op} '{node.name}' has {len(node.inputs)} inputs, expected {arity}")
        self.fn, self.arity = fn, arity
        self.const_slots = [i for i in range(arity) if i not in runtime]
        for i in self.const_slots:
            value = tensor(consts[i])
            self.register_buffer(f"c{i}", value)
            self.register_buffer(f"c{i}_nchw", to_nchw(value).contiguous())

    def forward(self, *xs: torch.Tensor, nchw: bool = False) -> torch.Tensor:
        args, it = [], iter(xs)
        for i in range(self.arity):
            if i in self.const_slots:
                args.append(getattr(self, f"c{i}_nchw" if nchw else f"c{i}"))
            else:
                args.append(next(it))
        return self.fn(*args)


def _cast_like(fn):
    def wrapped(a, b):
        if a.dtype != b.dtype:  # TensorFlow never mixes dtypes; constants may come in wider types here
            b = b.to(a.dtype)
        return fn(a, b)

    return wrapped


BINARY = {
    "Add": _cast_like(torch.add), "AddV2": _cast_like(torch.add), "Sub": _cast_like(torch.sub),
    "Mul": _cast_like(torch.mul), "RealDiv": _cast_like(torch.div),
    "Maximum": _cast_like(torch.maximum), "Minimum": _cast_like(torch.minimum),
    "Equal": _cast_like(torch.eq), "Greater": _cast_like(torch.gt), "Less": _cast_like(torch.lt),
    "FloorDiv": _cast_like(lambda a, b: torch.div(a, b, rounding_mode="floor")),
    "FloorMod": _cast_like(torch.remainder),
}
UNARY = {
    "Relu": torch.relu, "Relu6": ACTIVATIONS["Relu6"], "Sigmoid": torch.sigmoid, "Tanh": torch.tanh,
    "Exp": torch.exp, "Sqrt": torch.sqrt, "Rsqrt": torch.rsqrt, "Neg": torch.neg, "Square": torch.square,
    "Identity": lambda x: x,
}


class Cast(Op):
    layout = "any"

    def __init__(self, node, consts):
        super().__init__(node, (0,))
        dst = node.attr.get("DstT")
        if dst not in TORCH_DTYPES:
            raise UnsupportedOpError(f"Cast '{node.name}' to {dst!r} is not supported")
        self.dtype = TORCH_DTYPES[dst]

    def forward(self, x: torch.Tensor, nchw: bool = False) -> torch.Tensor:
        return x.to(self.dtype)


class AddN(Op):
    """The sum of N tensors of one shape."""

    layout = "any"

    def __init__(self, node, consts):
        if any(c is not None for c in consts):
            raise UnsupportedOpError(f"AddN '{node.name}': constant operands are not supported")
        super().__init__(node, range(len(node.inputs)))

    def forward(self, *xs: torch.Tensor, nchw: bool = False) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


def _bias_add(node, consts):
    if node.attr.get("data_format", "NHWC") != "NHWC":
        raise UnsupportedOpError(f"BiasAdd '{node.name}': data_format {node.attr.get('data_format')!r} "
                                 "is not supported (only NHWC)")
    bias = need_const(node, consts, 1, "bias")
    if bias.ndim != 1:
        raise UnsupportedOpError(f"BiasAdd '{node.name}': bias of rank {bias.ndim} (1 expected)")
    return Elementwise(node, consts, BINARY["Add"], 2)  # a 1-D bias broadcasts over the last (channel) axis


class MatMul(Op):
    """A product of two matrices (``transpose_a`` / ``transpose_b``); either operand may be a constant."""

    def __init__(self, node, consts):
        runtime = [i for i in range(2) if i >= len(consts) or consts[i] is None]
        super().__init__(node, runtime)
        self.transpose = (bool(node.attr.get("transpose_a", False)), bool(node.attr.get("transpose_b", False)))
        self.const_slots = [i for i in range(2) if i not in runtime]
        for i in self.const_slots:
            value = consts[i]
            if value.ndim != 2:
                raise UnsupportedOpError(f"MatMul '{node.name}': operand {i} of rank {value.ndim} (2 expected)")
            self.register_buffer(f"c{i}", tensor(value))

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        it = iter(xs)
        a, b = (getattr(self, f"c{i}") if i in self.const_slots else next(it) for i in range(2))
        if a.ndim != 2 or b.ndim != 2:
            raise UnsupportedOpError(f"MatMul '{self.node_name}': operands of rank {a.ndim} and {b.ndim} "
                                     "(2 expected; BatchMatMul is another op)")
        a = a.T if self.transpose[0] else a
        b = b.T if self.transpose[1] else b
        return torch.matmul(a, b.to(a.dtype))


# ---------------------------------------------------------------- axes


class Mean(Op):
    layout = "any"

    def __init__(self, node, consts):
        super().__init__(node, (0,))
        axes = np.atleast_1d(need_const(node, consts, 1, "reduction axes")).astype(int).tolist()
        self.axes = tuple(axes)
        self.keep = bool(node.attr.get("keep_dims", False))

    def forward(self, x: torch.Tensor, nchw: bool = False) -> torch.Tensor:
        axes = [a % 4 for a in self.axes] if nchw else [a % x.ndim for a in self.axes]
        if not nchw:
            return x.mean(dim=axes, keepdim=self.keep)
        y = x.mean(dim=[NHWC_TO_NCHW_AXIS[a] for a in axes], keepdim=True)
        return y if self.keep else to_nhwc(y).squeeze(tuple(axes))


class Concat(Op):
    layout = "any"

    def __init__(self, node, consts):
        n = len(node.inputs) - 1
        super().__init__(node, range(n))
        self.axis = int(need_const(node, consts, n, "axis"))

    def forward(self, *xs: torch.Tensor, nchw: bool = False) -> torch.Tensor:
        rank = xs[0].ndim
        axis = self.axis % (4 if nchw else rank)
        return torch.cat(xs, dim=NHWC_TO_NCHW_AXIS[axis] if nchw else axis)


class Reshape(Op):
    def __init__(self, node, consts):
        super().__init__(node, (0,))
        self.shape = tuple(int(s) for s in np.atleast_1d(need_const(node, consts, 1, "shape")))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(self.shape)


class ExpandDims(Op):
    def __init__(self, node, consts):
        super().__init__(node, (0,))
        self.axis = int(need_const(node, consts, 1, "axis"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(self.axis if self.axis >= 0 else x.ndim + 1 + self.axis)


class Squeeze(Op):
    def __init__(self, node, consts):
        super().__init__(node, (0,))
        self.axes = tuple(node.attr.get("squeeze_dims", []) or [])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.squeeze(self.axes) if self.axes else x.squeeze()


class GatherV2(Op):
    def __init__(self, node, consts):
        super().__init__(node, (0, 1))
        self.axis = int(need_const(node, consts, 2, "axis"))
        if int(node.attr.get("batch_dims", 0) or 0) != 0:
            raise UnsupportedOpError(f"GatherV2 '{node.name}' with batch_dims is not supported")

    def forward(self, params: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        axis = self.axis % params.ndim
        flat = indices.reshape(-1).long()
        out = params.index_select(axis, flat)
        return out.reshape(params.shape[:axis] + indices.shape + params.shape[axis + 1:])


class StridedSlice(Op):
    def __init__(self, node, consts):
        super().__init__(node, (0,))
        self.begin = [int(v) for v in need_const(node, consts, 1, "begin")]
        self.end = [int(v) for v in need_const(node, consts, 2, "end")]
        self.strides = [int(v) for v in need_const(node, consts, 3, "strides")]
        if any(s <= 0 for s in self.strides):
            raise UnsupportedOpError(f"StridedSlice '{node.name}' with non-positive strides is not supported")
        self.masks = {k: int(node.attr.get(f"{k}_mask", 0) or 0)
                      for k in ("begin", "end", "ellipsis", "new_axis", "shrink_axis")}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.masks
        index: list = []
        for i, (b, e, s) in enumerate(zip(self.begin, self.end, self.strides)):
            bit = 1 << i
            if m["ellipsis"] & bit:
                index.append(Ellipsis)
            elif m["new_axis"] & bit:
                index.append(None)
            elif m["shrink_axis"] & bit:
                index.append(b)
            else:
                index.append(slice(None if m["begin"] & bit else b, None if m["end"] & bit else e, s))
        return x[tuple(index)]


class TopKV2(Op):
    """The k largest values on the last axis and their indices (int32); ties keep the lower index first."""

    n_outputs = 2

    def __init__(self, node, consts):
        super().__init__(node, (0,))
        self.k = int(need_const(node, consts, 1, "k"))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rows = x.reshape(-1, x.shape[-1])
        k = min(self.k, rows.shape[-1])
        kth = rows.topk(k, dim=-1, sorted=True).values[:, -1:]
        indices = []
        for row, t in zip(rows, kth):  # TensorFlow's order: by value, equal values by index
            above = torch.nonzero(row > t, as_tuple=True)[0]
            above = above[torch.sort(row[above], descending=True, stable=True).indices]
            tied = torch.nonzero(row == t, as_tuple=True)[0][: k - above.numel()]
            indices.append(torch.cat([above, tied]))
        idx = torch.stack(indices)
        values = torch.gather(rows, 1, idx)
        shape = x.shape[:-1] + (k,)
        return values.reshape(shape), idx.to(torch.int32).reshape(shape)


# ---------------------------------------------------------------- registry


def _elementwise(fn, arity):
    return lambda node, consts: Elementwise(node, consts, fn, arity)


OP_BUILDERS: dict[str, Callable] = {
    "Conv2D": lambda node, consts: Conv(node, consts, depthwise=False),
    "_FusedConv2D": lambda node, consts: Conv(node, consts, depthwise=False),
    "DepthwiseConv2dNative": lambda node, consts: Conv(node, consts, depthwise=True),
    "FusedDepthwiseConv2dNative": lambda node, consts: Conv(node, consts, depthwise=True),
    "Conv2DBackpropInput": ConvTranspose,
    "MaxPool": MaxPool,
    "AvgPool": AvgPool,
    "ResizeBilinear": ResizeBilinear,
    "Cast": Cast,
    "AddN": AddN,
    "BiasAdd": _bias_add,
    "MatMul": MatMul,
    "Mean": Mean,
    "ConcatV2": Concat,
    "Reshape": Reshape,
    "ExpandDims": ExpandDims,
    "Squeeze": Squeeze,
    "GatherV2": GatherV2,
    "StridedSlice": StridedSlice,
    "TopKV2": TopKV2,
    **{op: _elementwise(fn, 2) for op, fn in BINARY.items()},
    **{op: _elementwise(fn, 1) for op, fn in UNARY.items()},
}
"""TensorFlow op name -> builder ``(node, consts) -> Op``. ``Placeholder`` and ``Const`` are the graph's own."""
