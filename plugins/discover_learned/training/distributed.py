"""Data-parallel training on several GPUs (or CPU processes) with ``torch.distributed``, launched by torchrun::

    torchrun --standalone --nproc_per_node 4 $(which discover) train CONFIG.yaml --device cuda

Every process trains on its own random crops (``batch_size`` each: the global batch is ``batch_size × processes``);
after each backward pass the gradients are averaged across processes (``all_reduce``, as DDP does, but also for
the bottleneck's quantiles, which DDP would leave out because the forward pass never uses them), so the models
stay identical. Rank 0 alone writes the train state and the checkpoints and reports progress. Backend: NCCL on
CUDA, Gloo on CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Ranks:
    rank: int
    world: int
    local_rank: int

    @property
    def main(self) -> bool:
        return self.rank == 0


def from_env() -> Ranks | None:
    """The ranks torchrun set (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``); None for a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return None
    return Ranks(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def device_for(ranks: Ranks | None, device: str) -> torch.device:
    """``cuda`` becomes this process's GPU (``cuda:LOCAL_RANK``)."""
    dev = torch.device(device)
    if ranks is not None and dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", ranks.local_rank)
        torch.cuda.set_device(dev)
    return dev


def start(ranks: Ranks, device: torch.device) -> None:
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")


def stop() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def broadcast(module: torch.nn.Module) -> None:
    """Every process starts from rank 0's parameters and buffers."""
    import torch.distributed as dist

    for tensor in module.state_dict().values():
        dist.broadcast(tensor, 0)


def average_gradients(params, world: int) -> None:
    import torch.distributed as dist

    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])  # one collective per step, not one per tensor
    dist.all_reduce(flat)
    flat.div_(world)
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def in_sync(module: torch.nn.Module) -> bool:
    """Whether every process holds the same parameters (a checksum compared across ranks)."""
    import torch.distributed as dist

    total = torch.stack([p.detach().double().sum() for p in module.parameters()]).sum().reshape(1)
    low, high = total.clone(), total.clone()
    dist.all_reduce(low, op=dist.ReduceOp.MIN)
    dist.all_reduce(high, op=dist.ReduceOp.MAX)
    return bool(low.item() == high.item())
