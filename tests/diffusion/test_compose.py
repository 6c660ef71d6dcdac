"""Composing full and partial sd-vae latents with the tiny base: blending, seeds, batches, prompts, steps."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest
from diffusion_samples import latent_decode

from discover_core.errors import PluginError
from discover_core.interfaces import Latent
from discover_core.testing.samples import psnr


def arrived_pixels(decoded) -> np.ndarray:
    w, h = decoded.size
    return np.repeat(np.repeat(decoded.latent.arrived, 8, 0), 8, 1)[:h, :w]


def test_full_and_partial_latents_compose_to_the_image_size(make, trained_controlnet):
    comp = make(controlnet=str(trained_controlnet))
    for frac in (1.0, 0.5, 0.0):
        for size in ((64, 48), (70, 33), (41, 90)):
            picture = comp.compose(latent_decode(*size, frac))
            assert picture.shape == (size[1], size[0], 3) and picture.dtype == np.uint8
            assert picture.std() > 0, "a flat picture"


def test_blend_keeps_the_arrived_regions(make, trained_controlnet):
    """Inside the arrived regions the blended latent is ẑ_c; the pixels there are its VAE decode up to what the
    VAE decoder's group norms and attention take from the generated rest; paste_pixels makes them exact."""
    from discover_diffusion.sampling import plain_decode

    decoded = latent_decode(64, 64, 0.5, seed=5)
    inside = arrived_pixels(decoded)
    cn = str(trained_controlnet)
    comps = {mode: make(controlnet=cn, blend=mode) for mode in ("end", "steps", "none")}
    comps["paste"] = make(controlnet=cn, paste_pixels=True)
    reference = plain_decode(comps["end"].models, decoded.latent.values)
    pictures = {mode: c.compose(decoded) for mode, c in comps.items()}
    scores = {mode: round(psnr(p, reference, inside), 2) for mode, p in pictures.items()}
    print("PSNR inside the arrived regions vs the VAE decode of ẑ_c:", scores)
    assert scores["end"] > scores["none"] + 2 and scores["steps"] > scores["none"] + 2
    assert np.array_equal(pictures["paste"][inside], reference[inside])
    assert np.array_equal(pictures["paste"][~inside], pictures["end"][~inside])
    # everything arrived: the picture is the plain decode; nothing arrived: blending changes nothing
    full = latent_decode(64, 48, 1.0, seed=6)
    assert np.array_equal(comps["end"].compose(full), plain_decode(comps["end"].models, full.latent.values))
    nothing = latent_decode(64, 64, 0.0, seed=5)
    assert np.array_equal(comps["end"].compose(nothing), comps["none"].compose(nothing))


def test_same_seed_same_picture_other_seed_other_picture(make, trained_controlnet):
    decoded = latent_decode(64, 48, 0.5, seed=3)
    a = make(controlnet=str(trained_controlnet), seed=11)
    b = make(controlnet=str(trained_controlnet), seed=11, batch_size=2)  # another instance, same models
    c = make(controlnet=str(trained_controlnet), seed=12)
    first = a.compose(decoded)
    assert np.array_equal(a.compose(decoded), first)
    assert np.array_equal(b.compose(decoded), first)
    missing = ~arrived_pixels(decoded)
    assert not np.array_equal(c.compose(decoded)[missing], first[missing])


def test_seed_defaults_to_the_context_seed(make, tiny_base, trained_controlnet, context):
    from discover_diffusion.composer import ControlNetComposer

    decoded = latent_decode(64, 48, 0.0, seed=3)
    opts = ControlNetComposer.Options(base=str(tiny_base), controlnet=str(trained_controlnet), steps=4)
    seven = ControlNetComposer(opts, dataclasses.replace(context, seed=7))
    assert seven.seed == 7
    assert np.array_equal(seven.compose(decoded), make(controlnet=str(trained_controlnet), seed=7).compose(decoded))


SCRIPT = """
import hashlib, sys
sys.path.insert(0, {tests!r})
from diffusion_samples import latent_decode
from discover_core.interfaces import Context
from discover_diffusion.composer import ControlNetComposer
opts = ControlNetComposer.Options(base={base!r}, controlnet={cn!r}, steps=3, seed=5)
comp = ControlNetComposer(opts, Context(cache_dir={cache!r}))
print(hashlib.sha256(comp.compose(latent_decode(70, 33, 0.5, seed=9)).tobytes()).hexdigest())
"""


def test_two_processes_give_the_same_bytes_on_cpu(make, tiny_base, trained_controlnet, context):
    here = make(controlnet=str(trained_controlnet), steps=3, seed=5).compose(latent_decode(70, 33, 0.5, seed=9))
    code = SCRIPT.format(tests=os.path.dirname(__file__), base=str(tiny_base), cn=str(trained_controlnet),
                         cache=str(context.cache_dir))
    import torch

    # The same thread count as here: CPU convolutions may round differently with another one.
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-1] == hashlib.sha256(here.tobytes()).hexdigest()


def test_compose_batch_mixes_sizes_and_matches_one_by_one(make, trained_controlnet):
    comp = make(controlnet=str(trained_controlnet), batch_size=2, seed=1)
    batch = [latent_decode(64, 48, 0.5, 0), latent_decode(70, 33, 0.3, 1), latent_decode(64, 48, 1.0, 2),
             latent_decode(64, 48, 0.0, 3), latent_decode(64, 48, 0.5, 4)]
    together = comp.compose_batch(batch)
    assert [p.shape for p in together] == [(d.size[1], d.size[0], 3) for d in batch]
    for d, picture in zip(batch, together):
        assert np.array_equal(picture, comp.compose(d))


def test_steps_by_purpose_or_set(make):
    assert make(steps=None).steps == 8
    assert make(steps=None, purpose="human").steps == 50
    assert make(steps=3, purpose="human").steps == 3


@pytest.mark.parametrize("scheduler", ["dpm-solver++", "unipc", "euler", "heun"])
def test_schedulers_compose(make, trained_controlnet, scheduler):
    comp = make(controlnet=str(trained_controlnet), scheduler=scheduler, steps=3, blend="steps")
    decoded = latent_decode(64, 48, 0.5, 0)
    picture = comp.compose(decoded)
    assert picture.shape == (48, 64, 3)
    assert np.array_equal(comp.compose(decoded), picture)


def test_prompt_from_labels_embedded_once(make, trained_controlnet, monkeypatch):
    comp = make(controlnet=str(trained_controlnet), prompt="a photo", prompt_labels=True, guidance_scale=3.0)
    calls = []
    real = comp.models.pipe.encode_prompt
    monkeypatch.setattr(comp.models.pipe, "encode_prompt", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    cat = dataclasses.replace(latent_decode(64, 48, 0.5, 0), labels=("cat", "tabby"))
    assert comp.prompt_for(cat) == "a photo, cat, tabby"
    guided = comp.compose(cat)
    comp.compose(cat)
    comp.compose_batch([cat, cat])
    assert calls == ["a photo, cat, tabby"], "the prompt's embedding is computed once"
    plain = make(controlnet=str(trained_controlnet)).compose(cat)
    assert not np.array_equal(guided, plain), "the prompt and guidance change nothing"
    assert make(controlnet=str(trained_controlnet)).prompt_for(cat) == "", "the prompt is empty by default"


def test_condition_reaches_the_unet_only_through_trained_zero_convs(make, trained_controlnet):
    """An untrained ControlNet (zero convolutions) ignores its condition; perturbed ones do not."""
    a, b = latent_decode(64, 48, 0.0, seed=1), latent_decode(64, 48, 0.0, seed=2)
    untrained = make(blend="none", seed=3)
    assert np.array_equal(untrained.compose(a), untrained.compose(b))
    trained = make(controlnet=str(trained_controlnet), blend="none", seed=3)
    assert not np.array_equal(trained.compose(a), trained.compose(b))
    weak = make(controlnet=str(trained_controlnet), blend="none", seed=3, conditioning_scale=0.0)
    assert np.array_equal(weak.compose(a), weak.compose(b)), "conditioning_scale 0 still conditions"


def test_latents_that_do_not_fit_are_refused(make):
    comp = make()
    good = latent_decode(64, 48, 0.5)
    lat = good.latent
    bad = [dataclasses.replace(good, latent=Latent(lat.values, 16, lat.arrived, "sd-vae")),
           dataclasses.replace(good, latent=Latent(lat.values[:3], 8, lat.arrived, "sd-vae")),
           dataclasses.replace(good, latent=Latent(lat.values, 8, lat.arrived, "other")),
           dataclasses.replace(good, representation="pixels", latent=None)]
    for d in bad:
        with pytest.raises(PluginError, match="controlnet"):
            comp.compose(d)


def test_decode_time_options_are_not_recorded(make):
    from discover_diffusion.composer import ControlNetComposer
    from discover_core.interfaces import path_options

    recorded = set(ControlNetComposer.decoder_options)
    assert not recorded & {"steps", "purpose", "seed", "device", "batch_size", "dtype", "cpu_offload"}
    assert path_options(ControlNetComposer.Options) == {"base", "controlnet"}
    fp = make().weights_fingerprint()
    assert fp.startswith("sha256:") and fp == make(steps=7, seed=3).weights_fingerprint()
    assert make(condition_channels=16).weights_fingerprint() != fp
