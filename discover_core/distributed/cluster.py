"""Ray for the dataset runs: connecting (a local instance, or a cluster), and a pool of actors that builds its
components once, keeps a bounded number of images in flight, retries failures and replaces dead workers.

Ray is imported here only (the ``ray`` extra); the rest of discover never needs it.
"""

from __future__ import annotations

import os
import traceback
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from ..errors import DiscoverError, InputError

RAY_HINT = "pip install 'discover-codec[ray]' (or run with --engine local)"


@dataclass(frozen=True)
class RayOptions:
    """How the Ray engine runs: where, how many workers, what each one gets, how failures are handled."""

    address: str | None = None
    """A cluster's address (``ray://host:10001`` or ``host:6379``); None: a local instance on this machine."""
    workers: int | None = None
    """Actors (each builds the pipeline once); None: as many as the cluster's CPUs allow."""
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    """GPUs per actor (fractions share a GPU); above 0 the actors run on GPU nodes only."""
    threads: int | None = None
    """torch threads per actor; None: ``cpus_per_worker`` rounded up (bit-exact learned encoders need the
    thread count of the run they are compared with)."""
    in_flight: int = 2
    """Images queued per actor at once (back-pressure: at most workers × in_flight images in memory)."""
    retries: int = 2
    """Attempts after the first for an image that failed (a plugin bug, a worker that died); user errors (an
    unreadable image) are recorded at once."""
    object_store_mb: int | None = None
    """Object store of a local instance (MB); None: Ray's default."""

    def worker_threads(self) -> int:
        return self.threads or max(1, int(-(-self.cpus_per_worker // 1)))


def connect(opts: RayOptions):
    """``ray`` connected to the cluster (started locally when no address is given); a clear error otherwise."""
    try:
        import ray
    except ImportError:
        raise InputError("the Ray engine needs Ray, which is not installed", RAY_HINT) from None
    if opts.address:
        _probe(opts.address)
    if ray.is_initialized():
        return ray
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    if opts.address:
        kwargs["address"] = opts.address
    else:
        if opts.object_store_mb:
            kwargs["object_store_memory"] = opts.object_store_mb * 1024 * 1024
    try:
        ray.init(**kwargs)
    except (ConnectionError, TimeoutError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {opts.address}" if opts.address else "a local Ray instance"
        raise InputError(f"cannot connect to {where}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                         "start the cluster (ray start --head) and give its address with --address, or drop "
                         "--address to start a local instance") from None
    return ray


def _probe(address: str, timeout: float = 5.0) -> None:
    """Fail fast (Ray itself waits for minutes) when nothing listens at a ``host:port`` / ``ray://host:port``."""
    import socket

    if address == "auto":
        return
    hint = ("start the cluster (ray start --head) and give its address with --address, or drop --address to "
            "start a local instance")
    host, sep, port = address.split("://", 1)[-1].rpartition(":")
    if not sep or not port.isdigit():
        raise InputError(f"--address {address!r} is not HOST:PORT or ray://HOST:PORT", hint)
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise InputError(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}", hint) from None


def default_workers(ray, opts: RayOptions) -> int:
    """As many actors as the cluster's free CPUs (and GPUs, for GPU actors) allow, at least one."""
    res = ray.cluster_resources()
    n = int(res.get("CPU", 1) // max(opts.cpus_per_worker, 1e-3))
    if opts.gpus_per_worker > 0:
        gpus = res.get("GPU", 0)
        if gpus < opts.gpus_per_worker:
            raise InputError(f"the Ray cluster has {gpus:g} GPU(s); {opts.gpus_per_worker:g} per worker was asked",
                             "add GPU nodes, or drop --gpus-per-worker to run on CPUs")
        n = min(n, int(gpus // opts.gpus_per_worker))
    return max(1, n)


@dataclass
class Task:
    """One unit of work (an image of a cell, a file to encode) and how often it has been tried."""

    key: Any
    payload: Any
    attempts: int = 0


@dataclass
class Outcome:
    task: Task
    result: Any = None
    error: str | None = None
    user_error: bool = False
    """The error is the input's (a :class:`DiscoverError`: not retried), not a bug or a dead worker."""


def describe_error(exc: BaseException) -> str:
    """One line for a failure: a user error's message, else the exception and where it was raised."""
    if isinstance(exc, DiscoverError):
        return exc.message + (f" ({exc.hint})" if getattr(exc, "hint", None) else "")
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" at {os.path.basename(tb[-1].filename)}:{tb[-1].lineno}" if tb else ""
    return f"{type(exc).__name__}: {exc}{where}"


@dataclass
class Pool:
    """``workers`` actors made by ``make_actor(index)``, each with a ``build()`` method (builds its components,
    raises what building raises) and the methods ``run`` calls."""

    ray: Any
    make_actor: Callable[[int], Any]
    workers: int
    opts: RayOptions
    actors: list = field(default_factory=list)

    def start(self) -> "Pool":
        """Start every actor and build its components; a component that fails to build fails here, once."""
        self.actors = [self.make_actor(i) for i in range(self.workers)]
        try:
            self.ray.get([a.build.remote() for a in self.actors])
        except self.ray.exceptions.RayTaskError as exc:
            self.stop()
            raise _cause(exc) from None
        return self

    def stop(self) -> None:
        for a in self.actors:
            try:
                self.ray.kill(a)
            except Exception:  # already gone
                pass
        self.actors = []

    def run(self, tasks: Iterable[Task], call: Callable[[Any, Task], Any]) -> Iterator[Outcome]:
        """Outcomes as they finish (any order). At most ``workers × in_flight`` tasks are submitted at once and
        ``tasks`` is read only as they finish (back-pressure). A failure is retried ``retries`` times (on a new
        actor when the old one died), then given as an outcome with its error."""
        ray = self.ray
        errors = ray.exceptions
        source, again = iter(tasks), deque()
        pending: dict[Any, tuple[Task, int, Any, int]] = {}
        load: dict[int, int] = {}  # tasks pending per actor (by identity: a replaced actor starts at 0)
        counted: dict[int, Any] = {}  # dead actors whose running task was charged an attempt (kept: ids stay unique)
        limit = max(1, len(self.actors) * max(1, self.opts.in_flight))
        seq = 0
        while True:
            while len(pending) < limit:
                task = again.popleft() if again else next(source, None)
                if task is None:
                    break
                i = min(range(len(self.actors)), key=lambda j: load.get(id(self.actors[j]), 0))
                actor = self.actors[i]
                pending[call(actor, task)] = (task, i, actor, seq)
                load[id(actor)] = load.get(id(actor), 0) + 1
                seq += 1
            if not pending:
                return
            ready, _ = ray.wait(list(pending), num_returns=1)
            task, i, actor, n = pending.pop(ready[0])
            load[id(actor)] -= 1
            try:
                yield Outcome(task, ray.get(ready[0]))
                continue
            except errors.RayTaskError as exc:
                cause = _cause(exc)
                error, final, counts = describe_error(cause), isinstance(cause, DiscoverError), True
            except (errors.RayActorError, errors.ObjectLostError) as exc:
                if self.actors[i] is actor:  # the first failure seen from this actor: replace it
                    self.actors[i] = self.make_actor(i)
                error, final = f"the worker died ({type(exc).__name__}: {str(exc).splitlines()[0]})", False
                # An actor runs its tasks in order: the oldest one still pending was running when it died; the
                # others were only queued behind it and are resubmitted without counting an attempt.
                counts = id(actor) not in counted and all(m > n for _, _, a, m in pending.values() if a is actor)
                if counts:
                    counted[id(actor)] = actor
            task.attempts += counts
            if final or task.attempts > self.opts.retries:
                yield Outcome(task, error=error, user_error=final)
            else:
                again.append(task)


def _cause(exc) -> BaseException:
    """The exception raised inside the actor (Ray wraps it)."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc


def actor_options(opts: RayOptions) -> dict:
    return {"num_cpus": opts.cpus_per_worker, "num_gpus": opts.gpus_per_worker, "max_restarts": 0,
            "max_concurrency": 1}


def pin_threads(threads: int) -> None:
    """torch threads of an actor (Ray sets OMP_NUM_THREADS from num_cpus; torch may have read it already)."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(threads)


def head_node(ray) -> dict:
    """Scheduling options that keep an actor on this (the driver's) node: it reads the run folder."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    node = ray.get_runtime_context().get_node_id()
    return {"scheduling_strategy": NodeAffinitySchedulingStrategy(node_id=node, soft=False), "num_cpus": 0}
