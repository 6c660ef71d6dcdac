"""The TensorFlow.js graph reader and the op set, on small hand-built models checked against numpy."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from discover_core.errors import WeightsError  # noqa: E402
from discover_core.tfjs.graph import TFJSGraph  # noqa: E402
from discover_core.tfjs.ops import UnsupportedOpError  # noqa: E402
from discover_core.tfjs.reader import read_graph_model  # noqa: E402

from discover_core.testing import tfjs_models as tm  # noqa: E402

RNG = np.random.default_rng(7)
X = (RNG.random((1, 8, 8, 3)) * 10).astype(np.float32)
WEIGHTS = {
    "w1": RNG.normal(size=(3, 3, 3, 4)).astype(np.float32),
    "b1": RNG.normal(size=4).astype(np.float32),
    "wd": RNG.normal(size=(3, 3, 4, 2)).astype(np.float32),
    "bd": RNG.normal(size=8).astype(np.float32),
    "s": RNG.uniform(0.5, 2.0, size=8).astype(np.float32),
    "c": np.array(0.25, dtype=np.float32),
    "axes": np.array([1, 2], dtype=np.int32),
    "axis1": np.array([1], dtype=np.int32),
    "size": np.array([8, 8], dtype=np.int32),
    "cat_axis": np.array(-1, dtype=np.int32),
    "flat_shape": np.array([1, -1], dtype=np.int32),
    "all_shape": np.array([-1], dtype=np.int32),
    "k": np.array(5, dtype=np.int32),
    "eleven": np.array(11, dtype=np.int32),
    "gather_axis": np.array(0, dtype=np.int32),
    "b": np.array([0, 0, 0, 0], dtype=np.int32),
    "e": np.array([0, 2, 8, 3], dtype=np.int32),
    "st": np.array([1, 1, 2, 1], dtype=np.int32),
    "wp": RNG.normal(size=(1, 1, 3, 2)).astype(np.float32),
    "bp": RNG.normal(size=2).astype(np.float32),
}
OUTPUTS = ["pool", "top", "top_index", "pixel", "klass", "slice", "gathered", "mean_h", "pointwise", "plain"]


def _nodes() -> list[dict]:
    same, nhwc = tm.attr_s("SAME"), tm.attr_s("NHWC")
    nodes = [tm.node("x", "Placeholder", dtype={"type": "DT_FLOAT"})]
    nodes += [tm.const(n, "DT_INT32" if WEIGHTS[n].dtype == np.int32 else "DT_FLOAT") for n in WEIGHTS]
    nodes += [
        tm.node("conv", "_FusedConv2D", ["x", "w1", "b1"], strides=tm.attr_list_i([1, 2, 2, 1]), padding=same,
                data_format=nhwc, fused_ops=tm.attr_list_s(["BiasAdd", "Relu"]), num_args={"i": "1"}),
        tm.node("dw", "FusedDepthwiseConv2dNative", ["conv", "wd", "bd"], strides=tm.attr_list_i([1, 1, 1, 1]),
                padding=same, data_format=nhwc, fused_ops=tm.attr_list_s(["BiasAdd", "Relu6"])),
        tm.node("scale", "Mul", ["dw", "s"]),
        tm.node("add", "AddV2", ["c", "scale"]),
        tm.node("mean", "Mean", ["add", "axes"], keep_dims={"b": True}),
        tm.node("se", "Mul", ["add", "mean"]),
        tm.node("up", "ResizeBilinear", ["se", "size"], align_corners={"b": False}, half_pixel_centers={"b": False}),
        tm.node("cat", "ConcatV2", ["up", "x", "cat_axis"], N={"i": "2"}),
        tm.node("pool", "MaxPool", ["cat"], ksize=tm.attr_list_i([1, 3, 3, 1]), strides=tm.attr_list_i([1, 1, 1, 1]),
                padding=same, data_format=nhwc),
        tm.node("flat", "Reshape", ["pool", "flat_shape"]),
        tm.node("topk", "TopKV2", ["flat", "k"], sorted={"b": True}),
        tm.node("top", "Identity", ["topk"]),
        tm.node("top_index", "Identity", ["topk:1"]),
        tm.node("pixel", "FloorDiv", ["topk:1", "eleven"]),
        tm.node("mod", "FloorMod", ["topk:1", "eleven"]),
        tm.node("klass", "Cast", ["mod"], SrcT={"type": "DT_INT32"}, DstT={"type": "DT_FLOAT"}),
        tm.node("slice", "StridedSlice", ["pool", "b", "e", "st"], begin_mask={"i": "0"}, end_mask={"i": "1"},
                ellipsis_mask={"i": "0"}, new_axis_mask={"i": "0"}, shrink_axis_mask={"i": "0"}),
        tm.node("all", "Reshape", ["pool", "all_shape"]),
        tm.node("gathered", "GatherV2", ["all", "topk:1", "gather_axis"], batch_dims={"i": "0"}),
        tm.node("mean_h", "Mean", ["pool", "axis1"], keep_dims={"b": False}),
        tm.node("pointwise", "_FusedConv2D", ["x", "wp", "bp"], strides=tm.attr_list_i([1, 1, 1, 1]),
                padding=tm.attr_s("VALID"), data_format=nhwc, fused_ops=tm.attr_list_s(["BiasAdd", "Sigmoid"])),
        tm.node("plain", "Conv2D", ["x", "wp"], strides=tm.attr_list_i([1, 2, 2, 1]), padding=same, data_format=nhwc),
    ]
    return nodes


def _reference() -> dict[str, np.ndarray]:
    x = X.astype(np.float64)
    w1 = tm.dequantized_uint8(WEIGHTS["w1"]).astype(np.float64)
    wd = WEIGHTS["wd"].astype(np.float16).astype(np.float64)
    conv = np.maximum(tm.conv2d(x, w1, 2, "SAME") + WEIGHTS["b1"], 0)
    dw = np.clip(tm.depthwise(conv, wd, 1, "SAME") + WEIGHTS["bd"], 0, 6)
    add = 0.25 + dw * WEIGHTS["s"]
    se = add * add.mean(axis=(1, 2), keepdims=True)
    cat = np.concatenate([tm.resize_bilinear_legacy(se, 8, 8), x], axis=-1)
    pool = tm.max_pool_same(cat, 3, 1)
    flat = pool.reshape(1, -1)
    order = np.argsort(-flat[0], kind="stable")[:5]
    return {"pool": pool, "top": flat[:, order], "top_index": order[None], "pixel": order[None] // 11,
            "klass": (order[None] % 11).astype(np.float64), "slice": pool[:, 0:2, 0:8:2, 0:3],
            "gathered": flat[0, order][None], "mean_h": pool.mean(axis=1),
            "pointwise": 1 / (1 + np.exp(-(tm.conv2d(x, WEIGHTS["wp"], 1, "VALID") + WEIGHTS["bp"]))),
            "plain": tm.conv2d(x, WEIGHTS["wp"], 2, "SAME")}


@pytest.fixture
def tiny(tmp_path):
    return tm.write_model(tmp_path / "tiny", _nodes(), WEIGHTS, OUTPUTS, quantize={"w1": "uint8", "wd": "float16"},
                          shards=2)


def test_reader_dequantizes_uint8_and_float16_and_keeps_int32(tiny):
    model = read_graph_model(tiny)
    assert model.inputs == ["x"] and set(model.outputs) == set(OUTPUTS)
    np.testing.assert_array_equal(model.weights["w1"], tm.dequantized_uint8(WEIGHTS["w1"]))
    assert np.abs(model.weights["w1"] - WEIGHTS["w1"]).max() > 0  # it really was quantized
    np.testing.assert_array_equal(model.weights["wd"], WEIGHTS["wd"].astype(np.float16).astype(np.float32))
    np.testing.assert_array_equal(model.weights["b1"], WEIGHTS["b1"])
    assert model.weights["e"].dtype == np.int32 and model.weights["e"].tolist() == [0, 2, 8, 3]
    assert model.node("topk").inputs == (("flat", 0), ("k", 0))
    assert model.node("pixel").inputs[0] == ("topk", 1)


def test_reader_reads_a_folder(tiny):
    assert read_graph_model(tiny.parent).source == str(tiny)


@pytest.mark.parametrize("nchw_input", [False, True], ids=["nhwc-input", "nchw-input"])
def test_graph_matches_numpy(tiny, nchw_input):
    graph = TFJSGraph(read_graph_model(tiny))
    x = torch.from_numpy(X)
    with torch.no_grad():
        out = graph(x.permute(0, 3, 1, 2) if nchw_input else x, nchw=nchw_input)
    ref = _reference()
    for name in OUTPUTS:
        got = out[name].double().numpy()
        assert got.shape == ref[name].shape, (name, got.shape, ref[name].shape)
        np.testing.assert_allclose(got, ref[name], rtol=1e-5, atol=1e-4, err_msg=name)
    assert out["top_index"].dtype == torch.int32


def test_graph_runs_only_what_the_outputs_need(tiny):
    graph = TFJSGraph(read_graph_model(tiny), ["conv"])
    assert [name for name, _, _ in graph.steps] == ["conv"]
    assert graph(torch.from_numpy(X))["conv"].shape == (1, 4, 4, 4)


def test_unknown_op_is_named(tmp_path):
    nodes = [tm.node("x", "Placeholder"), tm.node("y", "Erf", ["x"]), tm.node("z", "Softplus", ["y"]),
             tm.node("out", "Relu", ["z"])]
    path = tm.write_model(tmp_path / "m", nodes, {}, ["out"])
    with pytest.raises(UnsupportedOpError) as err:
        TFJSGraph(read_graph_model(path))
    message = str(err.value)
    assert "Erf" in message and "Softplus" in message and "'y'" in message and str(path) in message
    assert "supported ops:" in message and "_FusedConv2D" in message
    assert isinstance(err.value, WeightsError)


def test_unsupported_fused_activation_is_named(tmp_path):
    nodes = [tm.node("x", "Placeholder"), tm.const("w1"), tm.const("b1"),
             tm.node("out", "_FusedConv2D", ["x", "w1", "b1"], strides=tm.attr_list_i([1, 1, 1, 1]),
                     padding=tm.attr_s("VALID"), fused_ops=tm.attr_list_s(["BiasAdd", "Gelu"]))]
    path = tm.write_model(tmp_path / "m", nodes, {k: WEIGHTS[k] for k in ("w1", "b1")}, ["out"])
    with pytest.raises(UnsupportedOpError, match="Gelu"):
        TFJSGraph(read_graph_model(path))


def test_missing_shard(tiny):
    (tiny.parent / "group1-shard2of2.bin").unlink()
    with pytest.raises(WeightsError, match="group1-shard2of2.bin is missing"):
        read_graph_model(tiny)


def test_truncated_shard(tiny):
    shard = tiny.parent / "group1-shard2of2.bin"
    shard.write_bytes(shard.read_bytes()[:-7])
    with pytest.raises(WeightsError, match="end before weight"):
        read_graph_model(tiny)


def test_unknown_quantization(tiny):
    doc = json.loads(tiny.read_text())
    doc["weightsManifest"][0]["weights"][0]["quantization"] = {"dtype": "int4"}
    tiny.write_text(json.dumps(doc))
    with pytest.raises(WeightsError, match="unknown quantization dtype 'int4'"):
        read_graph_model(tiny)


@pytest.mark.parametrize("text, message", [("{", "not JSON"), ('{"a": 1}', "not a TensorFlow.js model"),
                                           ('{"format": "layers-model", "modelTopology": {}, "weightsManifest": []}',
                                            "only graph-model")])
def test_not_a_graph_model(tmp_path, text, message):
    path = tmp_path / "model.json"
    path.write_text(text)
    with pytest.raises(WeightsError, match=message):
        read_graph_model(path)


def test_missing_file(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        read_graph_model(tmp_path / "nothing.json")


# ---------------------------------------------------------------- the ops of the segmentation models

LAYER_WEIGHTS = {
    "sizes2": np.array([1, 16, 16, 2], dtype=np.int32),
    "sizes3": np.array([1, 15, 15, 2], dtype=np.int32),
    "sizes_valid": np.array([1, 18, 18, 2], dtype=np.int32),  # VALID k3 s2 reaches 17 rows: the last one stays 0
    "wt2": RNG.normal(size=(2, 2, 2, 3)).astype(np.float32),
    "wt3": RNG.normal(size=(3, 3, 2, 3)).astype(np.float32),
    "bias2": RNG.normal(size=2).astype(np.float32),
    "kernel": RNG.normal(size=(3, 4)).astype(np.float32),
    "kernel_t": RNG.normal(size=(4, 3)).astype(np.float32),
    "bias4": RNG.normal(size=4).astype(np.float32),
    "row": np.array([1, 3], dtype=np.int32),
}
LAYER_OUTPUTS = ["tconv2", "tconv3", "tconv_valid", "biased", "avg_same", "avg_valid", "avg_global", "addn",
                 "dense", "dense_t"]


def _layer_nodes() -> list[dict]:
    same, valid = tm.attr_s("SAME"), tm.attr_s("VALID")
    s2 = tm.attr_list_i([1, 2, 2, 1])

    def pool(name, k, s, padding, src="x"):
        return tm.node(name, "AvgPool", [src], ksize=tm.attr_list_i([1, k, k, 1]), strides=tm.attr_list_i([1, s, s, 1]),
                       padding=padding, data_format=tm.attr_s("NHWC"))

    nodes = [tm.node("x", "Placeholder", dtype={"type": "DT_FLOAT"})]
    nodes += [tm.const(n, "DT_INT32" if LAYER_WEIGHTS[n].dtype == np.int32 else "DT_FLOAT") for n in LAYER_WEIGHTS]
    nodes += [
        tm.node("tconv2", "Conv2DBackpropInput", ["sizes2", "wt2", "x"], strides=s2, padding=same),
        tm.node("tconv3", "Conv2DBackpropInput", ["sizes3", "wt3", "x"], strides=s2, padding=same),
        tm.node("tconv_valid", "Conv2DBackpropInput", ["sizes_valid", "wt3", "x"], strides=s2, padding=valid),
        tm.node("biased", "BiasAdd", ["tconv3", "bias2"], data_format=tm.attr_s("NHWC")),
        pool("avg_same", 3, 2, same), pool("avg_valid", 2, 2, valid), pool("avg_global", 8, 8, valid),
        tm.node("square", "Square", ["x"]),
        tm.node("addn", "AddN", ["x", "square", "x"], N={"i": "3"}),
        tm.node("flat", "Reshape", ["avg_global", "row"]),
        tm.node("matmul", "MatMul", ["flat", "kernel"], transpose_a={"b": False}, transpose_b={"b": False}),
        tm.node("dense", "BiasAdd", ["matmul", "bias4"]),
        tm.node("dense_t", "MatMul", ["flat", "kernel_t"], transpose_a={"b": False}, transpose_b={"b": True}),
    ]
    return nodes


def _layer_reference() -> dict[str, np.ndarray]:
    x = X.astype(np.float64)
    w = {k: v.astype(np.float64) for k, v in LAYER_WEIGHTS.items()}
    tconv3 = tm.conv2d_backprop_input(x, w["wt3"], (15, 15), 2, "SAME")
    flat = x.mean(axis=(1, 2))
    return {"tconv2": tm.conv2d_backprop_input(x, w["wt2"], (16, 16), 2, "SAME"), "tconv3": tconv3,
            "tconv_valid": tm.conv2d_backprop_input(x, w["wt3"], (18, 18), 2, "VALID"), "biased": tconv3 + w["bias2"],
            "avg_same": tm.avg_pool(x, 3, 2, "SAME"), "avg_valid": tm.avg_pool(x, 2, 2, "VALID"),
            "avg_global": x.mean(axis=(1, 2), keepdims=True), "addn": 2 * x + x * x,
            "dense": flat @ w["kernel"] + w["bias4"], "dense_t": flat @ w["kernel_t"].T}


def test_layer_ops_match_numpy(tmp_path):
    """Conv2DBackpropInput (SAME cropping, VALID zero rows), BiasAdd (on channels-first values too), AvgPool
    (SAME averages inside the image only; global), AddN and MatMul (transpose_b), against numpy."""
    path = tm.write_model(tmp_path / "layers", _layer_nodes(), LAYER_WEIGHTS, LAYER_OUTPUTS)
    with torch.no_grad():
        out = TFJSGraph(read_graph_model(path))(torch.from_numpy(X).permute(0, 3, 1, 2), nchw=True)
    ref = _layer_reference()
    for name in LAYER_OUTPUTS:
        got = out[name].double().numpy()
        assert got.shape == ref[name].shape, (name, got.shape, ref[name].shape)
        np.testing.assert_allclose(got, ref[name], rtol=1e-5, atol=1e-4, err_msg=name)
    assert np.all(out["tconv_valid"][0, 17].numpy() == 0) and np.any(out["tconv_valid"][0, 16].numpy() != 0)


@pytest.mark.parametrize("op, attr, message", [
    ("Conv2DBackpropInput", {"dilations": tm.attr_list_i([1, 2, 2, 1])}, "dilations"),
    ("AvgPool", {"ksize": tm.attr_list_i([1, 2, 2, 2])}, "pooling over batch or channels"),
])
def test_unsupported_op_variants_are_named(tmp_path, op, attr, message):
    inputs = ["sizes2", "wt2", "x"] if op == "Conv2DBackpropInput" else ["x"]
    nodes = [tm.node("x", "Placeholder"), tm.const("sizes2", "DT_INT32"), tm.const("wt2"),
             tm.node("out", op, inputs, strides=tm.attr_list_i([1, 2, 2, 1]), padding=tm.attr_s("SAME"), **attr)]
    path = tm.write_model(tmp_path / "m", nodes, {k: LAYER_WEIGHTS[k] for k in ("sizes2", "wt2")}, ["out"])
    with pytest.raises(UnsupportedOpError, match=message) as err:
        TFJSGraph(read_graph_model(path))
    assert f"{op} 'out'" in str(err.value)
