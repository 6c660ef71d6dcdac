"""One local Ray instance for the whole session (the Ray tests run in one xdist worker: group "ray")."""

from __future__ import annotations

import pytest

import ray_helpers


@pytest.fixture(scope="session")
def ray_local():
    import ray
    if not ray.is_initialized():
        ray.init(num_cpus=2, object_store_memory=150 * 1024 * 1024, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    ray.cloudpickle.register_pickle_by_value(ray_helpers)
    yield ray
    ray.shutdown()
