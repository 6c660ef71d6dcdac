"""roi-image's background as a task head needs it: its quality bounded (``background_max_quality``) and a smooth
fill under the regions pasted over it (``background_under_regions: smooth``)."""

from __future__ import annotations

import numpy as np
import skimage.data

from discover_core import Region
from discover_core.pipeline import decode

PHOTO = skimage.data.chelsea()  # 451 x 300


def background(stream):
    [side] = [c for c in stream.chunks if c.kind == "side"]
    return side


def test_background_max_quality_bounds_the_background_that_follows_region_quality(make_pipeline):
    def coded(**options):
        return background(make_pipeline(codec="avif", background_side=96, **options).encode(PHOTO, regions=[]))

    bounded = {q: coded(region_quality=q, background_quality=None, background_max_quality=20) for q in (10, 60)}
    assert bounded[60].payload == coded(region_quality=60, background_quality=20).payload  # bounded above 20
    assert bounded[10].payload == coded(region_quality=10, background_quality=10).payload  # follows below it
    # a fixed background_quality is what it says, whatever the bound
    assert coded(region_quality=60, background_quality=50, background_max_quality=20).payload == \
        coded(region_quality=60, background_quality=50).payload


def test_a_smooth_background_under_the_regions_costs_less_and_decodes_the_same_part(make_pipeline, psnr_fn):
    options = dict(codec="avif", background_side=150, background_quality=None, region_quality=60)
    regions = [Region((100, 20, 360, 280), "cat")]
    image = make_pipeline(**options).encode(PHOTO, regions=regions)
    smooth = make_pipeline(**options, background_under_regions="smooth").encode(PHOTO, regions=regions)
    assert len(background(smooth).payload) < 0.8 * len(background(image).payload)
    part, part_image = decode(smooth.extract(task="detection")), decode(image.extract(task="detection"))
    # the region is pasted over the fill: the part's picture is the same inside and out, to coding noise
    assert psnr_fn(part, part_image) > 40
    # without the region, the background shows the fill: smooth inside, the picture outside
    bare = make_pipeline(**options, background_under_regions="smooth", code_rest=False)
    coarse = bare.entropy_model.decode(smooth.size, smooth.header.params, smooth.chunks[:1], 2).coarse
    # the region on the 225x150 background is x 50..179, y 10..140; 2 + 8 pixels inside its edges are kept
    inner = coarse[20:130, 60:169].astype(float)
    assert np.abs(np.diff(inner, axis=1)).mean() < 1.0 < np.abs(np.diff(coarse[:, :25].astype(float), axis=1)).mean()
