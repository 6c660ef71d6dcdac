"""Convolutions, pooling and resizing: the channels-first ops (``layout = "nchw"``) of TensorFlow.js graphs.

TensorFlow's conventions are kept: SAME padding puts the extra pixel after; ``AvgPool`` with SAME padding
averages over the pixels inside the image only; ``Conv2DBackpropInput`` (a transposed convolution) crops its
full output the way TensorFlow pads the forward convolution it is the gradient of; ``ResizeBilinear`` has
TensorFlow's three coordinate conventions (legacy, aligned corners, half-pixel centres).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .base import ACTIVATIONS, Op, UnsupportedOpError, attr_padding, need_const, same_pads, tensor, to_nchw


class Conv(Op):
    """Conv2D / DepthwiseConv2dNative and their fused forms (BiasAdd + activation), channels-first."""

    layout = "nchw"

    def __init__(self, node, consts, depthwise: bool):
        super().__init__(node, (0,))
        filt = need_const(node, consts, 1, "filter")
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
            bias = tensor(need_const(node, consts, 2, "bias").astype(np.float32))
            if len(fused) == 2:
                act = fused[1]
                if act == "Prelu":
                    alpha = need_const(node, consts, 3, "prelu alpha").astype(np.float32)
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
        self.padding = attr_padding(node)
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


class ConvTranspose(Op):
    """Conv2DBackpropInput: the gradient of a convolution with respect to its input (a transposed convolution).

    Inputs: the output shape (a constant, NHWC), the filter ``(kh, kw, out_channels, in_channels)`` and the
    values. The full transposed output is cropped as TensorFlow pads the forward convolution of that output
    shape (SAME: the extra pixel after); positions no input reaches are zero."""

    layout = "nchw"

    def __init__(self, node, consts):
        super().__init__(node, (2,))
        sizes = np.atleast_1d(need_const(node, consts, 0, "output shape")).astype(int)
        filt = need_const(node, consts, 1, "filter")
        if filt.ndim != 4 or sizes.size != 4:
            raise UnsupportedOpError(f"{node.op} '{node.name}': filter of rank {filt.ndim}, output shape of "
                                     f"{sizes.size} values (4 and 4 expected)")
        dilations = node.attr.get("dilations", [1, 1, 1, 1]) or [1, 1, 1, 1]
        if any(int(d) != 1 for d in dilations):
            raise UnsupportedOpError(f"{node.op} '{node.name}': dilations {list(dilations)} are not supported")
        kh, kw, _, _ = filt.shape
        self.register_buffer("weight", tensor(filt.transpose(3, 2, 0, 1).astype(np.float32)))  # (in, out, kh, kw)
        strides = node.attr.get("strides", [1, 1, 1, 1])
        self.stride = (int(strides[1]), int(strides[2]))
        self.kernel = (kh, kw)
        self.out_size = (int(sizes[1]), int(sizes[2]))
        self.padding = attr_padding(node)
        explicit = node.attr.get("explicit_paddings") or []
        self.explicit = tuple(int(v) for v in explicit[2:6]) if self.padding == "EXPLICIT" else ()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        oh, ow = self.out_size
        if self.padding == "SAME":
            top, left = same_pads(oh, self.kernel[0], self.stride[0], 1)[0], same_pads(ow, self.kernel[1],
                                                                                      self.stride[1], 1)[0]
        elif self.padding == "EXPLICIT":
            top, left = self.explicit[0], self.explicit[2]
        else:
            top = left = 0
        y = F.conv_transpose2d(x, self.weight, None, self.stride)[:, :, top:top + oh, left:left + ow]
        if y.shape[2] < oh or y.shape[3] < ow:
            y = F.pad(y, (0, ow - y.shape[3], 0, oh - y.shape[2]))
        return y


class _Pool(Op):
    """A 2-D pooling window (``ksize``, ``strides``) over height and width, SAME or VALID."""

    layout = "nchw"

    def __init__(self, node, consts):
        super().__init__(node, (0,))
        ksize, strides = node.attr.get("ksize", [1, 1, 1, 1]), node.attr.get("strides", [1, 1, 1, 1])
        if len(ksize) != 4 or len(strides) != 4 or ksize[0] != 1 or ksize[3] != 1 or strides[0] != 1 \
                or strides[3] != 1:
            raise UnsupportedOpError(f"{node.op} '{node.name}': pooling over batch or channels is not supported")
        self.kernel, self.stride = (int(ksize[1]), int(ksize[2])), (int(strides[1]), int(strides[2]))
        self.padding = attr_padding(node)
        if self.padding == "EXPLICIT":
            raise UnsupportedOpError(f"{node.op} '{node.name}': padding 'EXPLICIT' is not supported")

    def pads(self, x: torch.Tensor) -> tuple[int, int, int, int]:
        """(top, bottom, left, right) of TensorFlow's padding for ``x``."""
        if self.padding != "SAME":
            return 0, 0, 0, 0
        top, bottom = same_pads(x.shape[2], self.kernel[0], self.stride[0], 1)
        left, right = same_pads(x.shape[3], self.kernel[1], self.stride[1], 1)
        return top, bottom, left, right


class MaxPool(_Pool):

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = (0, 0)
        top, bottom, left, right = self.pads(x)
        if top == bottom <= self.kernel[0] // 2 and left == right <= self.kernel[1] // 2:
            pad = (top, left)  # max_pool2d pads with -inf itself
        elif top or bottom or left or right:
            x = F.pad(x, (left, right, top, bottom), value=float("-inf"))
        # PyTorch's CPU max-pooling is several times faster on channels-last memory
        x = x.contiguous(memory_format=torch.channels_last)
        return F.max_pool2d(x, self.kernel, self.stride, pad)


class AvgPool(_Pool):
    """TensorFlow's AvgPool: with SAME padding, each window averages the pixels inside the image only."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom, left, right = self.pads(x)
        if not (top or bottom or left or right):
            if tuple(x.shape[2:]) == self.kernel:  # a global average (squeeze-and-excitation blocks)
                return x.mean(dim=(2, 3), keepdim=True)
            return F.avg_pool2d(x, self.kernel, self.stride)
        inside = F.pad(torch.ones_like(x[:, :1]), (left, right, top, bottom))
        x = F.pad(x, (left, right, top, bottom))
        return F.avg_pool2d(x, self.kernel, self.stride) / F.avg_pool2d(inside, self.kernel, self.stride)


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
        size = need_const(node, consts, 1, "size")
        self.size = (int(size[0]), int(size[1]))
        self.align_corners = bool(node.attr.get("align_corners", False))
        self.half_pixel_centers = bool(node.attr.get("half_pixel_centers", False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return resize_bilinear(x, *self.size, self.align_corners, self.half_pixel_centers)
