"""The same input gives the same bytes in separate processes; a stream decodes alike with 1 and 2 threads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

RESULT = textwrap.dedent("""
    import hashlib
    import torch
    from discover_core.interfaces import Region
    from discover_core.testing import samples
    from discover_learned.component import Hyperprior


    def result(threads):
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            o = Hyperprior.Options(checkpoint=None, channels=16, latent_channels=16, global_channels=8, seed=5)
            m = Hyperprior(o)
            img = samples.sample_image(256, 192)
            regs = [Region((16, 16, 96, 96), "square"), Region((150, 10, 240, 100), "disc")]
            enc = m.encode(img, regs)
            y_hat, _, _ = m.decode_latent((256, 192), enc.params, enc.chunks[:2])
        finally:
            torch.set_num_threads(before)
        return {"chunks": {c.name: hashlib.sha256(c.payload).hexdigest() for c in enc.chunks},
                "latent": hashlib.sha256(y_hat.numpy().tobytes()).hexdigest()}
""")
SCRIPT = RESULT + "\nimport json, sys\nprint(json.dumps(result(int(sys.argv[1]))))\n"


def _run(threads: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(threads)], capture_output=True, text=True, env=env,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def runs():
    """The script's result in this process and in two others (one with one thread, one with two)."""
    here = subprocess_free()
    return here, _run(1), _run(2)


def subprocess_free() -> dict:
    namespace: dict = {}
    exec(compile(RESULT, "<result>", "exec"), namespace)
    return namespace["result"](1)


def test_same_bytes_in_separate_processes(runs):
    here, one, two = runs
    assert len(here["chunks"]) == 4  # side, two regions, rest
    assert one["chunks"] == here["chunks"]
    assert two["chunks"] == here["chunks"], "the encoder's own threads option fixes the bytes"


def test_same_latent_with_one_and_two_threads(runs, build_model, image, regions):
    """g_a may differ bitwise between thread counts, but ŷ comes from ẑ and the strings only, computed on
    one thread at both ends: the latent a stream decodes to does not depend on the decoder's threads."""
    here, one, two = runs
    assert one["latent"] == two["latent"] == here["latent"]
    first, second = build_model(threads=1), build_model(threads=2)
    encoded = second.encode(image, regions)
    for chunks in (encoded.chunks, encoded.chunks[:2]):
        a, _, _ = first.decode_latent((256, 192), encoded.params, chunks)
        b, _, _ = second.decode_latent((256, 192), encoded.params, chunks)
        assert torch.equal(a, b)
        assert second.decode((256, 192), encoded.params, chunks, second.format_version).coarse.shape == (192, 256, 3)


def test_thread_setting_is_restored(build_model, image, regions):
    before = torch.get_num_threads()
    build_model(threads=2).encode(image, regions)
    assert torch.get_num_threads() == before
