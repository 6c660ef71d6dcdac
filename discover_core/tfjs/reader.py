"""Read a TensorFlow.js graph model (``model.json`` + weight shards) into plain Python and numpy.

The format (tfjs-converter's ``graph-model``):

- ``modelTopology.node``: the TensorFlow GraphDef nodes (``name``, ``op``,
  ``input``, ``attr``); an input ``"a:1"`` is output 1 of node ``a``, an input
  starting with ``^`` is a control dependency (ignored here).
- ``weightsManifest``: groups of ``paths`` (shard files, read in order and
  concatenated) and ``weights`` (``name``, ``shape``, ``dtype``, optional
  ``quantization``), laid out one after the other in the group's bytes. Every
  ``Const`` node takes its value from the weight of the same name.
- Quantized weights: ``{"dtype": "float16"}`` (IEEE half floats), or
  ``{"dtype": "uint8" | "uint16", "scale": s, "min": m}`` (affine: value =
  q * s + m; rounded when ``original_dtype`` is ``int32``).
- ``signature``: the input and output tensor names.

Only numpy here; :mod:`.graph` turns the result into PyTorch modules.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from discover_core.errors import WeightsError

DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_, "uint8": np.uint8}
"""Stored dtype -> numpy dtype (of the value after de-quantization)."""
QUANTIZED = {"float16": np.float16, "uint8": np.uint8, "uint16": np.uint16}
"""Quantization dtype -> how the bytes are stored."""
TF_DTYPES = {"DT_FLOAT": "float32", "DT_INT32": "int32", "DT_BOOL": "bool", "DT_INT64": "int64",
             "DT_HALF": "float16", "DT_UINT8": "uint8"}


@dataclass(frozen=True)
class Node:
    """One graph node: its op, its inputs as ``(node name, output index)`` and its decoded attributes."""

    name: str
    op: str
    inputs: tuple[tuple[str, int], ...]
    attr: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass
class GraphModel:
    """A parsed graph model: nodes in file order, constant values, signature names, where it came from."""

    nodes: list[Node]
    weights: dict[str, np.ndarray]
    inputs: list[str]
    outputs: list[str]
    source: str
    meta: dict[str, Any] = field(default_factory=dict)

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def op_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for n in self.nodes:
            counts[n.op] = counts.get(n.op, 0) + 1
        return counts


def parse_input(ref: str) -> tuple[str, int] | None:
    """``"a"`` -> ("a", 0); ``"a:1"`` -> ("a", 1); control inputs (``"^a"``) -> None."""
    if ref.startswith("^"):
        return None
    name, sep, index = ref.rpartition(":")
    if sep and index.isdigit():
        return name, int(index)
    return ref, 0


def decode_attr(value: dict[str, Any]) -> Any:
    """A GraphDef AttrValue as JSON -> a Python value (bytes as str, lists as lists, types as dtype names)."""
    if not isinstance(value, dict) or not value:
        return None
    if "s" in value:
        return base64.b64decode(value["s"]).decode("utf-8", "replace")
    if "i" in value:
        return int(value["i"])
    if "f" in value:
        return float(value["f"])
    if "b" in value:
        return bool(value["b"])
    if "type" in value:
        return TF_DTYPES.get(value["type"], value["type"])
    if "shape" in value:
        return [int(d.get("size", -1)) for d in value["shape"].get("dim", [])]
    if "list" in value:
        lst = value["list"]
        if "s" in lst:
            return [base64.b64decode(s).decode("utf-8", "replace") for s in lst["s"]]
        if "i" in lst:
            return [int(i) for i in lst["i"]]
        if "f" in lst:
            return [float(f) for f in lst["f"]]
        if "b" in lst:
            return [bool(b) for b in lst["b"]]
        if "type" in lst:
            return [TF_DTYPES.get(t, t) for t in lst["type"]]
        return []
    if "tensor" in value:
        return value["tensor"]
    return value


def _bad(path: Path, message: str) -> WeightsError:
    return WeightsError(f"{path}: {message}",
                        "the file is not a complete TensorFlow.js graph model; fetch it again "
                        "(discover models fetch) or give the folder that holds model.json and its .bin shards")


def _weight_values(spec: dict[str, Any], data: memoryview, offset: int, path: Path) -> tuple[np.ndarray, int]:
    name, shape, dtype = spec.get("name"), [int(d) for d in spec.get("shape", [])], spec.get("dtype", "float32")
    count = int(np.prod(shape)) if shape else 1
    quant = spec.get("quantization")
    if quant:
        qdtype = quant.get("dtype")
        if qdtype not in QUANTIZED:
            raise _bad(path, f"weight '{name}' has an unknown quantization dtype {qdtype!r}")
        stored = np.dtype(QUANTIZED[qdtype])
    elif dtype in DTYPES:
        stored = np.dtype(DTYPES[dtype])
    else:
        raise _bad(path, f"weight '{name}' has dtype {dtype!r}, which this reader does not support "
                         f"(supported: {', '.join(DTYPES)})")
    nbytes = count * stored.itemsize
    if offset + nbytes > len(data):
        raise _bad(path, f"the weight shards end before weight '{name}' ({offset + nbytes} bytes needed, "
                         f"{len(data)} present)")
    raw = np.frombuffer(data[offset:offset + nbytes], dtype=stored.newbyteorder("<"), count=count)
    if quant and quant["dtype"] == "float16":
        values = raw.astype(np.float32)
    elif quant:
        if "scale" not in quant or "min" not in quant:
            raise _bad(path, f"weight '{name}' is {quant['dtype']}-quantized without scale and min")
        values = raw.astype(np.float32) * np.float32(quant["scale"]) + np.float32(quant["min"])
        if quant.get("original_dtype", dtype) == "int32" or dtype == "int32":
            values = np.round(values).astype(np.int32)
    else:
        values = raw.copy()
    target = DTYPES.get(dtype)
    if target is not None and values.dtype != target:
        values = values.astype(target)
    return values.reshape(shape), offset + nbytes


def read_weights(manifest: list[dict[str, Any]], folder: Path, path: Path) -> dict[str, np.ndarray]:
    """Every weight of the manifest, de-quantized, by name."""
    weights: dict[str, np.ndarray] = {}
    for group in manifest:
        chunks = []
        for rel in group.get("paths", []):
            shard = folder / rel
            if not shard.is_file():
                raise _bad(path, f"weight shard {shard} is missing")
            chunks.append(shard.read_bytes())
        data = memoryview(b"".join(chunks))
        offset = 0
        for spec in group.get("weights", []):
            weights[spec["name"]], offset = _weight_values(spec, data, offset, path)
        if offset != len(data):
            raise _bad(path, f"the weight shards hold {len(data)} bytes but the manifest describes {offset}")
    return weights


def read_graph_model(path: str | Path, fetch: str | None = None) -> GraphModel:
    """Parse ``model.json`` (a file, or a folder holding exactly one ``*.json`` graph model) and its shards.

    ``fetch``: the ``discover models fetch`` name that provides the model (for the hint when it is missing).
    """
    path = Path(path)
    if path.is_dir():
        found = sorted(p for p in path.glob("*.json") if p.name != "models.json")
        if len(found) != 1:
            raise WeightsError(f"{path} holds {len(found)} .json files; cannot tell which is the model",
                               "give the path of the model's .json file")
        path = found[0]
    if not path.is_file():
        raise WeightsError(f"model file {path} does not exist",
                           (f"fetch it with `discover models fetch {fetch}`, or " if fetch else "")
                           + "give the path of the model's .json file")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _bad(path, f"not JSON ({e})") from e
    if not isinstance(doc, dict) or "modelTopology" not in doc or "weightsManifest" not in doc:
        raise _bad(path, "not a TensorFlow.js model (no modelTopology / weightsManifest)")
    if doc.get("format", "graph-model") != "graph-model":
        raise _bad(path, f"format {doc.get('format')!r} is not supported (only graph-model; "
                         "Keras layers-models are not)")
    topology = doc["modelTopology"]
    raw_nodes = topology.get("node", []) if isinstance(topology, dict) else []
    nodes = []
    for n in raw_nodes:
        inputs = tuple(p for p in (parse_input(i) for i in n.get("input", [])) if p is not None)
        nodes.append(Node(n["name"], n["op"], inputs, {k: decode_attr(v) for k, v in n.get("attr", {}).items()}))
    if topology.get("library", {}).get("function"):
        raise _bad(path, "the graph uses TensorFlow functions (control flow), which this reader does not support")
    weights = read_weights(doc["weightsManifest"], path.parent, path)
    for n in nodes:
        if n.op == "Const" and n.name not in weights:
            raise _bad(path, f"constant '{n.name}' has no weight in the manifest")
    signature = doc.get("signature") or {}
    inputs = [v.get("name", k) for k, v in (signature.get("inputs") or {}).items()]
    outputs = [v.get("name", k) for k, v in (signature.get("outputs") or {}).items()]
    if not inputs:
        inputs = [n.name for n in nodes if n.op == "Placeholder"]
    meta = {k: doc[k] for k in ("generatedBy", "convertedBy", "userDefinedMetadata") if k in doc}
    return GraphModel(nodes, weights, [i.split(":")[0] for i in inputs], [o.split(":")[0] for o in outputs],
                      str(path), meta)
