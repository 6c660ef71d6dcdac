"""``--engine local|ray`` and the Ray options shared by ``evaluate``, ``sweep`` and ``encode``."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import click


@dataclass(frozen=True)
class EngineChoice:
    kind: str = "local"
    ray: "object | None" = None
    """:class:`~.distributed.RayOptions` when ``kind == "ray"``."""

    def evaluate_engine(self):
        """The engine object :func:`~.evaluate.run_cells` takes (None: the local one)."""
        if self.kind != "ray":
            return None
        from .distributed import RayEngine

        return RayEngine(self.ray)


def engine_options(f):
    """Adds the engine options to a command; the command receives one ``engine: EngineChoice`` argument."""

    @functools.wraps(f)
    def wrapper(*args, engine, address, workers, cpus_per_worker, gpus_per_worker, worker_threads, retries,
                **kwargs):
        ray_only = {"--address": address, "--workers": workers, "--gpus-per-worker": gpus_per_worker,
                    "--worker-threads": worker_threads}
        if engine != "ray":
            given = [k for k, v in ray_only.items() if v is not None]
            if given:
                raise click.UsageError(f"{', '.join(given)} only apply with --engine ray")
            return f(*args, engine=EngineChoice(), **kwargs)
        from .distributed import RayOptions

        device = str(kwargs.get("device") or "cpu")
        gpus = gpus_per_worker if gpus_per_worker is not None else (1.0 if device.startswith("cuda") else 0.0)
        opts = RayOptions(address=address, workers=workers, cpus_per_worker=cpus_per_worker, gpus_per_worker=gpus,
                          threads=worker_threads, retries=retries)
        return f(*args, engine=EngineChoice("ray", opts), **kwargs)

    options = [
        click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
                     help="where the per-image work runs: this process, or Ray actors (pip install "
                          "'discover-codec[ray]')"),
        click.option("--address", default=None, help="Ray cluster address (ray://HOST:10001 or HOST:6379); "
                                                     "default: a local Ray instance"),
        click.option("--workers", type=click.IntRange(1), default=None,
                     help="Ray actors, each building the pipeline once (default: as many as the CPUs allow)"),
        click.option("--cpus-per-worker", type=click.FloatRange(0.01), default=1.0, show_default=True,
                     help="CPUs each Ray actor reserves"),
        click.option("--gpus-per-worker", type=click.FloatRange(0), default=None,
                     help="GPUs each Ray actor reserves (fractions share a GPU; default 1 with --device cuda, "
                          "else 0)"),
        click.option("--worker-threads", type=click.IntRange(1), default=None,
                     help="torch threads per Ray actor (default: its CPUs; learned encoders are bit-exact only "
                          "between runs with the same thread count)"),
        click.option("--retries", type=click.IntRange(0), default=2, show_default=True,
                     help="Ray engine: attempts after the first for an image that failed (plugin bug, dead "
                          "worker) before its error is recorded"),
    ]
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper
