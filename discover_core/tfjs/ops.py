"""TensorFlow ops of TensorFlow.js graph models as PyTorch modules.

Each op is an ``nn.Module`` built from a graph node (``OP_BUILDERS[op](node, consts)``,
``consts[i]`` the value of input *i* when it is a ``Const`` node, else ``None``).
An op takes the constant inputs it needs at build time (filters, biases, axes,
shapes) and lists the positions of the inputs it needs at run time in ``runtime``.

Layouts. TensorFlow graphs are NHWC; PyTorch convolutions are NCHW. To avoid a
transpose around every convolution, 4-D values may flow channels-first between
ops. ``layout`` says what an op wants:

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


def _need_const(node, consts, index: int, what: str) -> np.ndarray:
    if index >= len(consts) or consts[index] is None:
        raise UnsupportedOpError(f"{node.op} '{node.name}': its {what} (input {index}) must be a constant here")
    return consts[index]


def _attr_padding(node) -> str:
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


# ---------------------------------------------------------------- convolutions

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "Relu": torch.relu,
    "Relu6": lambda x: torch.clamp(x, 0.0, 6.0),
    "Sigmoid": torch.sigmoid,
    "Elu": F.elu,
    "Tanh": torch.tanh,
}


class Conv(Op):
    """Conv2D / DepthwiseConv2dNative and their fused forms (BiasAdd + activation), channels-first."""

    layout = "nchw"

    def __init__(self, node, consts, depthwise: bool):
        super().__init__(node, (0,))
        filt = _need_const(node, consts, 1, "filter")
        if filt.ndim != 4:
            raise UnsupportedOpError(f"{node.op} '{node.name}': filter of rank {filt.ndim}")
        kh, kw, cin, cout = filt.shape
        if depthwise:  # (kh, kw, in, multiplier) -> (in * multiplier, 1, kh, kw): channel c*m + j
            weight = filt.reshape(kh, kw, cin * cout).transpose(2, 0, 1)[:, None]
            self.groups = cin
        else:
            weight = filt.transpose(3, 2, 0, 1)
            self.groups = 1
        self.register_buffer("weight", tensor(weight.astype(np.float32)))
        fused = [f for f in node.attr.get("fused_ops", []) or []]
        bias = None
        self.activation: str | None = None
        self.leaky_alpha = float(node.attr.get("leakyrelu_alpha", 0.2) or 0.2)
        if fused:
            if fused[0] != "BiasAdd" or len(fused) > 2:
                raise UnsupportedOpError(f"{node.op} '{node.name}': fused ops {fused} are not supported "
                                         "(only BiasAdd followed by one activation)")
            bias = tensor(_need_const(node, consts, 2, "bias").astype(np.float32))
            if len(fused) == 2:
                act = fused[1]
                if act == "Prelu":
                    alpha = _need_const(node, consts, 3, "prelu alpha").astype(np.float32)
                    self.register_buffer("prelu", to_nchw(tensor(alpha)).reshape(1, -1, 1, 1)
                                         if alpha.size > 1 else tensor(alpha))
                elif act not in ACTIVATIONS and act != "LeakyRelu":
                    raise UnsupportedOpError(f"{node.op} '{node.name}': fused activation {act!r} is not supported")
                self.activation = act
        self.register_buffer("bias", bias)
        strides = node.attr.get("strides", [1, 1, 1, 1])
        dilations = node.attr.get("dilations", [1, 1, 1, 1]) or [1, 1, 1, 1]
        self.stride = (int(strides[1]), int(strides[2]))
        self.dilation = (int(dilations[1]), int(dilations[2]))
        self.padding = _attr_padding(node)
        explicit = node.attr.get("explicit_paddings") or []
        self.explicit = tuple(int(v) for v in explicit[2:6]) if self.padding == "EXPLICIT" else ()
        self.kernel = (kh, kw)
        self.pointwise = (kh, kw) == (1, 1) and self.stride == (1, 1) and self.groups == 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.padding == "SAME":
            top, bottom = same_pads(x.shape[2], self.kernel[0], self.stride[0], self.dilation[0])
            left, right = same_pads(x.shape[3], self.kernel[1], self.stride[1], self.dilation[1])
        elif self.padding == "EXPLICIT":
            top, bottom, left, right = self.explicit
        else:
            top = bottom = left = right = 0
        if self.pointwise and not (top or bottom or left or right):
            y = self._pointwise(x)
        else:
            y = self._conv(x, top, bottom, left, right)
        act = self.activation
        if act is None:
            return y
        if act == "Prelu":
            return torch.where(y >= 0, y, y * self.prelu)
        if act == "LeakyRelu":
            return F.leaky_relu(y, self.leaky_alpha)
        return ACTIVATIONS[act](y)

    def _pointwise(self, x: torch.Tensor) -> torch.Tensor:
        """A 1x1, stride-1 convolution as one matrix product (no im2col copy)."""
        n, c, h, w = x.shape
        weight = self.weight.reshape(self.weight.shape[0], c)
        flat = x.reshape(n, c, h * w)
        y = torch.matmul(weight, flat)
        if self.bias is not None:
            y = y + self.bias[:, None]
        return y.reshape(n, -1, h, w)

    def _conv(self, x: torch.Tensor, top: int, bottom: int, left: int, right: int) -> torch.Tensor:
        pad: tuple[int, int] | int = 0
        if top == bottom and left == right:
            pad = (top, left)
        elif top or bottom or left or right:
            x = F.pad(x, (left, right, top, bottom))
        return F.conv2d(x, self.weight, self.bias, self.stride, pad, self.dilation, self.groups)


class MaxPool(Op):
    layout = "nchw"

    def __init__(self, node, consts):
        super().__init__(node, (0,))
        ksize, strides = node.attr.get("ksize", [1, 1, 1, 1]), node.attr.get("strides", [1, 1, 1, 1])
        if ksize[0] != 1 or ksize[3] != 1 or strides[0] != 1 or strides[3] != 1:
            raise UnsupportedOpError(f"MaxPool '{node.name}': pooling over batch or channels is not supported")
        self.kernel, self.stride = (int(ksize[1]), int(ksize[2])), (int(strides[1]), int(strides[2]))
        self.padding = _attr_padding(node)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = (0, 0)
        if self.padding == "SAME":
            top, bottom = same_pads(x.shape[2], self.kernel[0], self.stride[0], 1)
            left, right = same_pads(x.shape[3], self.kernel[1], self.stride[1], 1)
            if top == bottom <= self.kernel[0] // 2 and left == right <= self.kernel[1] // 2:
                pad = (top, left)  # max_pool2d pads with -inf itself
            elif top or bottom or left or right:
                x = F.pad(x, (left, right, top, bottom), value=float("-inf"))
        # PyTorch's CPU max-pooling is several times faster on channels-last memory
        x = x.contiguous(memory_format=torch.channels_last)
        return F.max_pool2d(x, self.kernel, self.stride, pad)


def _axis(n_in: int, n_out: int, align_corners: bool, half_pixel_centers: bool, device):
    """Source indices (low, high) and weights of TensorFlow's bilinear resize along one axis."""
    scale = (n_in - 1) / (n_out - 1) if align_corners and n_out > 1 else n_in / n_out
    pos = torch.arange(n_out, dtype=torch.float64)
    src = (pos + 0.5) * scale - 0.5 if half_pixel_centers else pos * scale
    lo = torch.clamp(torch.floor(src), min=0)
    frac = (src - lo).to(torch.float32)
    lo_i = lo.long().clamp(max=n_in - 1)
    hi_i = torch.clamp(torch.ceil(src).long(), 0, n_in - 1)
    return lo_i.to(device), hi_i.to(device), frac.to(device)


def resize_bilinear(x: torch.Tensor, height: int, width: int, align_corners: bool = False,
                    half_pixel_centers: bool = False) -> torch.Tensor:
    """TensorFlow's ResizeBilinear on a channels-first tensor (all three coordinate conventions).

    Like TensorFlow: interpolate along x on the two source rows, then between them along y."""
    if x.shape[2] == height and x.shape[3] == width:
        return x
    x = x.float()
    x0, x1, fx = _axis(x.shape[3], width, align_corners, half_pixel_centers, x.device)
    y0, y1, fy = _axis(x.shape[2], height, align_corners, half_pixel_centers, x.device)
    left, right = x.index_select(3, x0), x.index_select(3, x1)
    cols = torch.lerp(left, right, fx)  # (N, C, H_in, width)
    top, bottom = cols.index_select(2, y0), cols.index_select(2, y1)
    return torch.lerp(top, bottom, fy[:, None])


class ResizeBilinear(Op):
    layout = "nchw"

    def __init__(self, node, consts):
        super().__init__(node, (0,))
        size = _need_const(node, consts, 1, "size")
        self.size = (int(size[0]), int(size[1]))
        self.align_corners = bool(node.attr.get("align_corners", False))
        self.half_pixel_centers = bool(node.attr.get("half_pixel_centers", False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return resize_bilinear(x, *self.size, self.align_corners, self.half_pixel_centers)


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


# ---------------------------------------------------------------- axes


class Mean(Op):
    layout = "any"

    def __init__(self, node, consts):
        super().__init__(node, (0,))
        axes = np.atleast_1d(_need_const(node, consts, 1, "reduction axes")).astype(int).tolist()
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
        self.axis = int(_need_const(node, consts, n, "axis"))

    def forward(self, *xs: torch.Tensor, nchw: bool = False) -> torch.Tensor:
        rank = xs[0].ndim
        axis = self.axis % (4 if nchw else rank)
        return torch.cat(xs, dim=NHWC_TO_NCHW_AXIS[axis] if nchw else axis)


class Reshape(Op):
    def __init__(self, node, consts):
        super().__init__(node, (0,))
        self.shape = tuple(int(s) for s in np.atleast_1d(_need_const(node, consts, 1, "shape")))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(self.shape)


class ExpandDims(Op):
    def __init__(self, node, consts):
        super().__init__(node, (0,))
        self.axis = int(_need_const(node, consts, 1, "axis"))

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
        self.axis = int(_need_const(node, consts, 2, "axis"))
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
        self.begin = [int(v) for v in _need_const(node, consts, 1, "begin")]
        self.end = [int(v) for v in _need_const(node, consts, 2, "end")]
        self.strides = [int(v) for v in _need_const(node, consts, 3, "strides")]
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
        self.k = int(_need_const(node, consts, 1, "k"))

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
    "MaxPool": MaxPool,
    "ResizeBilinear": ResizeBilinear,
    "Cast": Cast,
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
