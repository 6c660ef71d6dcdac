"""A TensorFlow.js graph model as one PyTorch module.

``TFJSGraph(model, outputs)`` keeps the nodes the requested outputs depend on,
in an order where every node comes after its inputs, and builds each one with
:data:`.ops.OP_BUILDERS`. An op it does not know raises
:class:`.ops.UnsupportedOpError` naming the op, the node and the model, and
listing every unknown op of the graph at once.

``graph(x)`` runs it: ``x`` is the input as an NHWC tensor (TensorFlow's
layout) or, with ``nchw=True``, channels-first; the result is a dict of output
name -> tensor in TensorFlow's layout.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .ops import OP_BUILDERS, Op, UnsupportedOpError, tensor, to_nchw, to_nhwc
from .reader import GraphModel, Node


def _key(name: str) -> str:
    return name.replace(".", "_").replace("/", "__").replace(":", "_")


def _order(model: GraphModel, outputs: Sequence[str]) -> list[Node]:
    """The nodes ``outputs`` depend on, inputs before their users (iterative DFS; graphs may be deep)."""
    by_name = {n.name: n for n in model.nodes}
    missing = [o for o in outputs if o not in by_name]
    if missing:
        raise UnsupportedOpError(f"{model.source}: the graph has no node {', '.join(missing)}",
                                 f"outputs are {', '.join(model.outputs) or 'not listed in its signature'}")
    order: list[Node] = []
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    for out in outputs:
        stack = [(out, False)]
        while stack:
            name, expanded = stack.pop()
            if expanded:
                state[name] = 2
                order.append(by_name[name])
                continue
            if state.get(name) == 2:
                continue
            if state.get(name) == 1:
                raise UnsupportedOpError(f"{model.source}: the graph has a cycle through '{name}'")
            if name not in by_name:
                raise UnsupportedOpError(f"{model.source}: node input '{name}' is not a node of the graph")
            state[name] = 1
            stack.append((name, True))
            for dep, _ in reversed(by_name[name].inputs):
                if state.get(dep) != 2:
                    stack.append((dep, False))
    return order


class TFJSGraph(nn.Module):
    """Runs the part of a graph model that computes ``outputs`` (default: the signature's outputs)."""

    def __init__(self, model: GraphModel, outputs: Sequence[str] | None = None):
        super().__init__()
        self.source = model.source
        self.output_names = list(outputs or model.outputs)
        if not self.output_names:
            raise UnsupportedOpError(f"{model.source}: no outputs named and none in the model's signature")
        nodes = _order(model, self.output_names)
        unknown = sorted({n.op for n in nodes if n.op not in OP_BUILDERS and n.op not in ("Const", "Placeholder")})
        if unknown:
            first = next(n for n in nodes if n.op == unknown[0])
            raise UnsupportedOpError(
                f"{model.source}: op {', '.join(unknown)} is not supported by this TensorFlow.js port "
                f"(first use: node '{first.name}')",
                f"supported ops: {', '.join(sorted(OP_BUILDERS))}",
            )
        by_name = {n.name: n for n in nodes}
        self.input_names = [n.name for n in nodes if n.op == "Placeholder"]
        self.ops = nn.ModuleDict()
        self.steps: list[tuple[str, str, list[tuple[str, int]]]] = []  # (node, module key, runtime inputs)
        used_consts: set[str] = set()
        for node in nodes:
            if node.op in ("Const", "Placeholder"):
                continue
            consts = [model.weights[dep] if by_name[dep].op == "Const" and idx == 0 else None
                      for dep, idx in node.inputs]
            op: Op = OP_BUILDERS[node.op](node, consts)
            key = _key(node.name)
            self.ops[key] = op
            runtime = [node.inputs[i] for i in op.runtime]
            used_consts.update(dep for dep, _ in runtime if by_name[dep].op == "Const")
            self.steps.append((node.name, key, runtime))
        self.consts = nn.ParameterDict()  # constants that flow as values (rare: most are folded into ops)
        for name in sorted(used_consts):
            self.consts[_key(name)] = nn.Parameter(tensor(model.weights[name]), requires_grad=False)
        self._const_keys = {name: _key(name) for name in used_consts}

    def forward(self, x: torch.Tensor | dict[str, torch.Tensor], nchw: bool = False) -> dict[str, torch.Tensor]:
        if not isinstance(x, dict):
            if len(self.input_names) != 1:
                raise ValueError(f"the graph has inputs {self.input_names}; pass a dict")
            x = {self.input_names[0]: x}
        # value of (node, output index) -> (tensor, channels-first?)
        env: dict[tuple[str, int], tuple[torch.Tensor, bool]] = {
            (name, 0): (value, nchw and value.ndim == 4) for name, value in x.items()
        }
        for name, key in self._const_keys.items():
            env[(name, 0)] = (self.consts[key], False)
        for name, key, runtime in self.steps:
            op = self.ops[key]
            args = [env[ref] for ref in runtime]
            if op.layout == "nchw":
                ins = [t if cf or t.ndim != 4 else to_nchw(t) for t, cf in args]
                out, out_cf = op(*ins), True
            elif op.layout == "any" and any(cf for _, cf in args):
                ins = [t if cf else to_nchw(t) for t, cf in args]
                out, out_cf = op(*ins, nchw=True), True
            elif op.layout == "any":
                out, out_cf = op(*[t for t, _ in args], nchw=False), False
            else:
                out, out_cf = op(*[to_nhwc(t) if cf else t for t, cf in args]), False
            outs = out if op.n_outputs > 1 else (out,)
            for i, t in enumerate(outs):
                env[(name, i)] = (t, out_cf and t.ndim == 4)
        result = {}
        for name in self.output_names:
            t, cf = env[(name, 0)]
            result[name] = to_nhwc(t).contiguous() if cf else t
        return result
