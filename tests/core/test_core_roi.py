"""The built-in ``roi-image`` entropy model and ``paste`` composer (plugins/discover_roi)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import skimage.data

from discover_core import Region
from discover_core.bitstream import Stream, StreamHeader, _entry
from discover_core.pipeline import decode, pipeline_from_dict
from discover_core.errors import PayloadError
from discover_core.interfaces import Chunk
from discover_core.regions import bounds, box_mask
from discover_core.stills import decode_still
from discover_roi.avif_boxes import rebuild
from discover_roi.codec import Stills
from discover_roi.layout import align_box, group_regions

MAGIC_OF = {"jpeg": lambda b: b[:3] == b"\xff\xd8\xff",
            "webp": lambda b: b[:4] == b"RIFF" and b[8:12] == b"WEBP",
            "avif": lambda b: b[0] == 0x0A}  # AV1 data only (roi-image format 2): a sequence header OBU first


def keep(stream: Stream, names) -> Stream:
    """The side chunks and the named content chunks, as a valid stream (like extract, by chunk name)."""
    chunks = [c for c in stream.chunks if c.kind == "side" or c.name in names]
    h = stream.header
    header = StreamHeader.model_validate({**h.model_dump(), "chunks": [_entry(c, h.labels, h.tasks) for c in chunks]})
    return Stream.from_bytes(Stream(header, chunks).to_bytes())


def decoded_parts(pipeline, stream: Stream):
    return pipeline.entropy_model.decode(stream.size, stream.header.params, stream.chunks,
                                         stream.header.entropy_model.format_version)


def with_payloads(stream: Stream, payloads, format_version: int) -> Stream:
    """``stream`` with other chunk payloads, written by roi-image format ``format_version``."""
    chunks = [Chunk(c.kind, c.name, p, c.labels, c.boxes, c.tasks) for c, p in zip(stream.chunks, payloads)]
    h = stream.header.model_dump()
    h["entropy_model"]["format_version"] = format_version
    h["chunks"] = [_entry(c, stream.header.labels, stream.header.tasks) for c in chunks]
    return Stream.from_bytes(Stream(StreamHeader.model_validate(h), chunks).to_bytes())


# -- layout ----------------------------------------------------------------------------------
def R(box, label="x"):
    return Region(tuple(float(v) for v in box), label)


def test_overlapping_regions_share_a_group():
    groups = group_regions([R((4, 4, 20, 20), "cat"), R((12, 10, 30, 22), "dog"), R((40, 26, 60, 44), "bird")],
                           64, 48, align=1, margin=0)
    assert [(g.boxes, g.labels) for g in groups] == [
        (((4, 4, 20, 20), (12, 10, 30, 22)), ("cat", "dog")),
        (((40, 26, 60, 44),), ("bird",)),
    ]
    assert groups[0].bounds == (4, 4, 30, 22)


def test_touching_boxes_are_separate_groups():
    groups = group_regions([R((0, 0, 10, 10), "a"), R((10, 0, 20, 10), "b"), R((0, 10, 10, 20), "c")],
                           32, 32, align=1, margin=0)
    assert [g.labels for g in groups] == [("a",), ("b",), ("c",)]


def test_chains_of_overlaps_are_one_group():
    # a overlaps b, b overlaps c, a and c are apart.
    groups = group_regions([R((0, 0, 10, 10), "a"), R((8, 0, 18, 10), "b"), R((16, 0, 26, 10), "c")],
                           32, 32, align=1, margin=0)
    assert len(groups) == 1 and groups[0].labels == ("a", "b", "c") and groups[0].bounds == (0, 0, 26, 10)


def test_alignment_decides_grouping_and_dedupes_boxes():
    regions = [R((1, 1, 5, 5), "a"), R((9, 9, 12, 12), "b")]
    apart = group_regions(regions, 64, 64, align=8, margin=0)
    assert [g.boxes for g in apart] == [((0, 0, 8, 8),), ((8, 8, 16, 16),)]  # corners touch: not merged
    merged = group_regions(regions, 64, 64, align=16, margin=0)
    assert [(g.boxes, g.labels) for g in merged] == [(((0, 0, 16, 16),), ("a", "b"))]


def test_margin_and_clipping():
    assert align_box((10, 10, 20, 20), 1, 3, 64, 64) == (7, 7, 23, 23)
    assert align_box((1, 1, 62, 62), 8, 4, 64, 60) == (0, 0, 64, 60)
    assert align_box((10, 10, 20, 20), 8, 0, 64, 64) == (8, 8, 24, 24)
    # outside the image or empty after clipping: dropped
    assert group_regions([R((70, 10, 90, 20)), R((10, 10, 10, 20))], 64, 48, 8, 0) == []
    # a box partly outside is clipped
    [g] = group_regions([R((-5.5, -3, 10.2, 60))], 64, 48, 1, 0)
    assert g.boxes == ((0, 0, 11, 48),)


def test_groups_in_reading_order():
    groups = group_regions([R((40, 30, 50, 40), "c"), R((40, 0, 50, 10), "b"), R((0, 0, 10, 10), "a")],
                           64, 48, 1, 0)
    assert [g.labels for g in groups] == [("a",), ("b",), ("c",)]


def test_no_pixel_is_coded_twice(make_pipeline, image):
    """The masks of the region chunks are disjoint and together cover exactly the union of the boxes."""
    regions = [R((4, 4, 20, 20), "cat"), R((12, 10, 30, 22), "dog"), R((18, 18, 26, 40), "dog"),
               R((2, 30, 14, 46), "bird"), R((44, 2, 60, 46), "cat"), R((46, 20, 58, 30), "bird")]
    pipeline = make_pipeline(codec="jpeg", align=2, margin=1)
    stream = pipeline.encode(image, regions=regions)
    h, w = image.shape[:2]
    groups = group_regions(regions, w, h, 2, 1)
    region_chunks = [c for c in stream.chunks if c.name.startswith("region-")]
    assert [(c.boxes, c.labels) for c in region_chunks] == [(g.boxes, g.labels) for g in groups]
    assert len(region_chunks) == 3
    count = np.zeros((h, w), int)
    for p in decoded_parts(pipeline, stream).patches:
        if p.labels:
            x0, y0, x1, y1 = p.box
            count[y0:y1, x0:x1] += p.mask
    union = box_mask([b for g in groups for b in g.boxes], (0, 0, w, h))
    assert count.max() == 1
    np.testing.assert_array_equal(count == 1, union)


# -- decoding any subset ---------------------------------------------------------------------
def test_every_subset_of_content_chunks_decodes(make_pipeline, image):
    pipeline = make_pipeline(codec="jpeg", align=4)
    regions = [R((4, 4, 20, 20), "cat"), R((36, 4, 60, 16), "dog"), R((20, 28, 44, 44), "bird")]
    full = pipeline.encode(image, regions=regions)
    content = [c.name for c in full.chunks if c.kind == "content"]
    assert content == ["region-0", "region-1", "region-2", "rest"]
    full_picture = decode(full)
    h, w = image.shape[:2]
    masks = {c.name: box_mask(c.boxes, (0, 0, w, h)) for c in full.chunks if c.name.startswith("region-")}
    background_only = decode(keep(full, []))
    for n in range(len(content) + 1):
        for subset in itertools.combinations(content, n):
            stream = keep(full, subset)
            assert stream.content_count == n
            picture = decode(stream)
            assert picture.shape == image.shape and picture.dtype == np.uint8
            # Each region chunk decodes on its own: its pixels do not depend on the other chunks.
            for name, m in masks.items():
                if name in subset:
                    np.testing.assert_array_equal(picture[m], full_picture[m])
            outside = ~np.any(list(masks.values()), axis=0)
            expected = full_picture if "rest" in subset else background_only
            np.testing.assert_array_equal(picture[outside], expected[outside])


def test_regions_are_reproduced_better_than_the_rest(make_pipeline, psnr_fn):
    photo = skimage.data.astronaut()
    pipeline = make_pipeline(codec="jpeg", code_rest=False, region_quality=90)
    box = (150, 40, 330, 220)
    stream = pipeline.encode(photo, regions=[Region(box, "cat")])
    assert [c.name for c in stream.chunks] == ["background", "region-0"]
    picture = decode(stream)
    inside = np.zeros(photo.shape[:2], bool)
    inside[box[1]:box[3], box[0]:box[2]] = True
    p_in, p_out = psnr_fn(picture, photo, inside), psnr_fn(picture, photo, ~inside)
    assert p_in > 33, p_in
    assert p_in > p_out + 10, (p_in, p_out)


def test_background_scale_sets_background_size(make_pipeline, image):
    small = make_pipeline(codec="jpeg", background_scale=0.125).encode(image, regions=[])
    large = make_pipeline(codec="jpeg", background_scale=0.5).encode(image, regions=[])
    full = make_pipeline(codec="jpeg", background_scale=1.0).encode(image, regions=[])
    assert small.header.params["background_size"] == [8, 6]
    assert large.header.params["background_size"] == [32, 24]
    assert full.header.params["background_size"] == [64, 48]
    sizes = [len(s.chunks[0].payload) for s in (small, large, full)]
    assert sizes[0] < sizes[1] < sizes[2], sizes
    for s in (small, large, full):
        assert decode(s).shape == image.shape


def test_rest_chunk_is_not_tagged_and_left_out_by_extract(make_pipeline, image, regions):
    stream = make_pipeline(codec="jpeg").encode(image, regions=regions)
    rest = [c for c in stream.chunks if c.name == "rest"]
    assert len(rest) == 1 and rest[0].kind == "content"
    assert rest[0].labels == () and rest[0].tasks == () and rest[0].boxes == ()
    for c in stream.chunks:
        if c.name.startswith("region-"):
            assert c.tasks == ("detection",)
    part = stream.extract(task="detection")
    assert "rest" not in [c.name for c in part.chunks]
    assert "rest" not in [c.name for c in stream.extract(labels=["cat", "dog", "bird"]).chunks]


def test_code_rest_false_has_no_rest_chunk(make_pipeline, image, regions):
    stream = make_pipeline(codec="jpeg", code_rest=False).encode(image, regions=regions)
    assert "rest" not in [c.name for c in stream.chunks]
    assert decode(stream).shape == image.shape


def test_full_stream_with_rest_reproduces_the_whole_picture(make_pipeline, image, regions, psnr_fn):
    with_rest = decode(make_pipeline(codec="jpeg", rest_quality=90).encode(image, regions=regions))
    without = decode(make_pipeline(codec="jpeg", code_rest=False).encode(image, regions=regions))
    assert psnr_fn(with_rest, image) > psnr_fn(without, image) + 3


@pytest.mark.parametrize("codec", ["jpeg", "webp", "avif"])
def test_codecs(make_pipeline, image, regions, psnr_fn, codec):
    stream = make_pipeline(codec=codec, region_quality=90, rest_quality=90, background_quality=90).encode(
        image, regions=regions)
    assert stream.header.entropy_model.options.get("codec", "avif") == codec  # a default may go unrecorded
    for c in stream.chunks:
        assert MAGIC_OF[codec](c.payload), (codec, c.name, c.payload[:16])
    picture = decode(Stream.from_bytes(stream.to_bytes()))
    assert picture.shape == image.shape
    assert psnr_fn(picture, image) > 25


@pytest.mark.parametrize("codec", ["jpeg", "webp", "avif"])
@pytest.mark.parametrize("size", [(1, 1), (3, 2), (2, 3)])
@pytest.mark.parametrize("with_region", [False, True])
def test_tiny_images(make_pipeline, synth, codec, size, with_region):
    w, h = size
    tiny = synth(w, h)
    regions = [Region((0, 0, 1, 1), "cat")] if with_region else []
    stream = make_pipeline(codec=codec).encode(tiny, regions=regions)
    assert stream.size == (w, h)
    for part in (stream, stream.extract(task="detection")) if with_region else (stream,):
        picture = decode(Stream.from_bytes(part.to_bytes()))
        assert picture.shape == (h, w, 3)


@pytest.mark.parametrize("codec", ["jpeg", "avif"])
def test_region_covering_the_whole_image(make_pipeline, image, psnr_fn, codec):
    h, w = image.shape[:2]
    pipeline = make_pipeline(codec=codec, region_quality=95, subsampling="4:4:4")
    stream = pipeline.encode(image, regions=[Region((0, 0, w, h), "cat")])
    assert [c.name for c in stream.chunks] == ["background", "region-0"]  # nothing left for 'rest'
    assert stream.chunks[1].boxes == ((0, 0, w, h),)
    picture = decode(stream)
    np.testing.assert_array_equal(picture, Stills(codec, 2).decode(stream.chunks[1].payload, (w, h)))
    assert psnr_fn(picture, image) > 30


def test_feathered_paste_keeps_region_interiors(make_pipeline, make_dict, synth, psnr_fn):
    big = synth(128, 96)
    pipeline = make_pipeline(codec="jpeg", code_rest=False)
    stream = pipeline.encode(big, regions=[Region((32, 24, 96, 80), "cat")])
    d = make_dict(codec="jpeg", code_rest=False)
    d["composer"]["options"] = {"feather": 4}
    soft = pipeline_from_dict(d).decode(stream)
    sharp = pipeline.decode(stream)
    assert soft.shape == sharp.shape == big.shape
    inner = (slice(24 + 12, 80 - 12), slice(32 + 12, 96 - 12))
    np.testing.assert_array_equal(soft[inner], sharp[inner])
    assert not np.array_equal(soft, sharp)  # the edges are blended


def test_decoder_needs_exactly_one_background(make_pipeline, image):
    pipeline = make_pipeline(codec="jpeg")
    stream = pipeline.encode(image, regions=[])
    with pytest.raises(PayloadError, match="one 'background' side chunk"):
        pipeline.entropy_model.decode(stream.size, stream.header.params, [], 1)


def test_too_large_for_the_codec_is_a_user_error():
    from discover_core.errors import InputError
    from discover_core.stills import encode_still

    wide = np.zeros((2, 16384, 3), np.uint8)
    with pytest.raises(InputError, match="too large for webp"):
        encode_still(wide, "webp", 50)
    assert encode_still(wide, "jpeg", 50)[:2] == b"\xff\xd8"


# -- decode: checks, missing area, one patch at a time ----------------------------------------
def test_missing_is_the_area_no_content_arrived_for(make_pipeline, image, regions):
    pipeline = make_pipeline(codec="jpeg", align=4)
    full = pipeline.encode(image, regions=regions)
    assert decoded_parts(pipeline, full).missing is None  # 'rest' arrived: everything did
    part = full.extract(task="detection")
    h, w = image.shape[:2]
    covered = box_mask([b for c in part.chunks for b in c.boxes], (0, 0, w, h))
    missing = decoded_parts(pipeline, part).missing
    assert missing.shape == (h, w) and missing.dtype == bool
    np.testing.assert_array_equal(missing, ~covered)
    assert decoded_parts(pipeline, keep(full, [])).missing.all()


def test_patches_are_decoded_one_at_a_time(make_pipeline, image, regions, monkeypatch):
    import discover_roi.codec as codec_mod

    pipeline = make_pipeline(codec="jpeg", align=4)
    stream = pipeline.encode(image, regions=regions)
    calls = []
    real = codec_mod.decode_still
    monkeypatch.setattr(codec_mod, "decode_still", lambda *a: calls.append(a[2]) or real(*a))
    decoded = decoded_parts(pipeline, stream)
    assert calls == [(8, 6)]  # only the background so far; the other payloads' headers were checked
    assert len(decoded.patches) == 3
    first = decoded.patches[0]
    assert first.box == (0, 0, 64, 48) and first.mask is None  # 'rest' goes first
    assert len(calls) == 2
    assert [p.labels for p in decoded.patches] == [(), ("cat", "dog"), ("bird",)]
    assert len(calls) == 5


def test_composing_holds_one_decoded_patch_at_a_time():
    """Eight overlapping chunks, each decoding to the whole 1024x1024 picture: peak memory stays near one."""
    import tracemalloc

    from discover_core.interfaces import Chunk
    from discover_core.stills import encode_still
    from discover_roi.codec import RoiImage
    from discover_roi.paste import Paste

    n, side = 8, 1024
    pixels = np.random.default_rng(0).integers(0, 255, (side, side, 3), dtype=np.uint8)
    payload = encode_still(pixels, "jpeg", 30)
    chunks = [Chunk("side", "background", encode_still(pixels[:8, :8], "jpeg", 30))] + [
        Chunk("content", f"region-{i}", payload, ("cat",), ((0, 0, side, side),)) for i in range(n)]
    em, comp = RoiImage(RoiImage.Options(codec="jpeg")), Paste()
    patch_bytes = side * side * 3

    def peak(eager: bool) -> float:
        tracemalloc.start()
        try:
            decoded = em.decode((side, side), {"background_size": [8, 8]}, chunks, 1)
            if eager:  # what holding every decoded patch at once would cost
                decoded.patches = list(decoded.patches)
            comp.compose(decoded)
            return tracemalloc.get_traced_memory()[1] / patch_bytes
        finally:
            tracemalloc.stop()

    assert peak(eager=True) > n
    assert peak(eager=False) < 4  # the canvas, one patch while it is decoded and pasted, its mask


@pytest.mark.parametrize("params, expected", [
    ({}, "background_size: Field required"),
    ({"background_size": [True, 6]}, "background_size.0"),
    ({"background_size": [8.0, 6]}, "background_size.0"),
    ({"background_size": [0, 6]}, "background_size.0"),
    ({"background_size": [8, 6, 1]}, "background_size"),
    ({"background_size": "8x6"}, "background_size"),
    ({"background_size": [65, 48]}, "larger than the 64x48 image"),
    ({"background_size": [8, 6], "surprise": 1}, "surprise"),
])
def test_params_from_the_header_are_checked(make_pipeline, image, params, expected):
    pipeline = make_pipeline(codec="jpeg")
    stream = pipeline.encode(image, regions=[])
    with pytest.raises(PayloadError, match=expected):
        pipeline.entropy_model.decode(stream.size, params, stream.chunks, 1)


def test_format_versions_it_does_not_read_are_payload_errors(make_pipeline, image):
    pipeline = make_pipeline(codec="jpeg")
    stream = pipeline.encode(image, regions=[])
    assert stream.header.entropy_model.format_version == 2
    for version in (0, 3):
        with pytest.raises(PayloadError, match=f"roi-image format {version}"):
            pipeline.entropy_model.decode(stream.size, stream.header.params, stream.chunks, version)


def chunk_size(stream: Stream, c: Chunk) -> tuple[int, int]:
    """The (width, height) of a roi-image chunk's picture."""
    if c.kind == "side":
        return tuple(stream.header.params["background_size"])
    x0, y0, x1, y1 = bounds(c.boxes) if c.boxes else (0, 0, *stream.size)
    return x1 - x0, y1 - y0


def test_format_1_streams_of_whole_avif_files_still_decode(make_pipeline, image, regions):
    """Format 1 chunks are whole AVIF files; the same AV1 data decodes to the same picture either way."""
    stream = make_pipeline(codec="avif").encode(image, regions=regions)
    assert [c.name for c in stream.chunks] == ["background", "region-0", "region-1", "rest"]
    old = with_payloads(stream, [rebuild(c.payload, chunk_size(stream, c)) for c in stream.chunks], 1)
    assert old.header.entropy_model.format_version == 1
    assert all(c.payload[4:12] == b"ftypavif" for c in old.chunks)
    np.testing.assert_array_equal(decode(old), decode(stream))
    with pytest.raises(PayloadError, match="avif payload cannot be read"):  # AV1 data alone is not format 1
        decode(with_payloads(stream, [c.payload for c in stream.chunks], 1))
    with pytest.raises(PayloadError, match="avif payload is not AV1 data"):
        decode(with_payloads(stream, [c.payload for c in old.chunks], 2))  # nor a whole file format 2


def test_unexpected_chunks_are_payload_errors(make_pipeline, image, regions):
    import dataclasses

    pipeline = make_pipeline(codec="jpeg", align=4)
    chunks = list(pipeline.encode(image, regions=regions).chunks)
    em, params = pipeline.entropy_model, {"background_size": [8, 6]}
    extra_side = chunks + [dataclasses.replace(chunks[0], name="hyperprior")]
    with pytest.raises(PayloadError, match="found 2 side chunk"):
        em.decode((64, 48), params, extra_side, 1)
    with pytest.raises(PayloadError, match="second 'rest' chunk"):
        em.decode((64, 48), params, chunks + [chunks[-1]], 1)
    with pytest.raises(PayloadError, match="carries no boxes"):
        em.decode((64, 48), params, chunks[:1] + [dataclasses.replace(chunks[1], boxes=())], 1)
    garbage = dataclasses.replace(chunks[1], payload=b"\xff\xd8\xff" + bytes(50))
    with pytest.raises(PayloadError, match="jpeg payload cannot be read"):
        em.decode((64, 48), params, chunks[:1] + [garbage], 1)


@pytest.mark.parametrize("codec", ["jpeg", "webp", "avif"])
def test_decode_still_checks_the_payloads_own_header(codec):
    from discover_core.stills import encode_still, probe_still

    data = encode_still(np.zeros((6, 10, 3), np.uint8), codec, 50)
    probe_still(data, codec, (10, 6))
    for call in (probe_still, decode_still):
        with pytest.raises(PayloadError, match=f"the {codec} payload is 10x6, the stream header says 10x7"):
            call(data, codec, (10, 7))
    with pytest.raises(PayloadError, match="cannot be read"):
        decode_still(data[: len(data) // 2], codec, (10, 6))
    other = "webp" if codec != "webp" else "jpeg"
    with pytest.raises(PayloadError, match="cannot be read"):
        decode_still(data, other, (10, 6))


def test_a_progressive_jpeg_is_not_what_roi_image_writes():
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (1, 2, 3)).save(buf, "JPEG", progressive=True)
    with pytest.raises(PayloadError, match="not a sequential Huffman-coded JPEG"):
        decode_still(buf.getvalue(), "jpeg", (16, 16))


def test_a_group_of_more_boxes_than_a_chunk_lists_is_coded_as_its_rectangle():
    from discover_core.bitstream import MAX_BOXES_PER_CHUNK

    # A staircase of overlapping boxes: one group of more distinct boxes than a chunk may list.
    regions = [R((i, i, i + 3, i + 3)) for i in range(MAX_BOXES_PER_CHUNK + 1)]
    [group] = group_regions(regions, 2000, 2000, align=1, margin=0)
    assert group.boxes == ((0, 0, MAX_BOXES_PER_CHUNK + 3, MAX_BOXES_PER_CHUNK + 3),)
    [group] = group_regions(regions[:MAX_BOXES_PER_CHUNK], 2000, 2000, align=1, margin=0)
    assert len(group.boxes) == MAX_BOXES_PER_CHUNK


def test_head_view_sizes_code_the_background_and_regions_at_the_heads_resolution(make_pipeline, psnr_fn):
    """background_side / region_side: the shorter side of what is coded, as the task head sees the image."""
    photo = skimage.data.astronaut()  # 512 x 512
    box = (150, 40, 330, 220)
    full = make_pipeline(code_rest=False, region_quality=60).encode(photo, regions=[Region(box, "cat")])
    view = make_pipeline(code_rest=False, region_quality=60, region_side=256, background_side=128,
                         background_quality=None).encode(photo, regions=[Region(box, "cat")])
    assert view.header.params == {"background_size": [128, 128], "region_scale": 0.5}
    assert "region_scale" not in full.header.params
    assert len(view.chunks[1].payload) < 0.5 * len(full.chunks[1].payload)
    picture = decode(view)
    inside = np.zeros(photo.shape[:2], bool)
    inside[box[1]:box[3], box[0]:box[2]] = True
    assert picture.shape == photo.shape and psnr_fn(picture, photo, inside) > 24
    # a region_side above the image's own codes at full size (no scale recorded)
    big = make_pipeline(code_rest=False, region_side=4096).encode(photo, regions=[Region(box, "cat")])
    assert "region_scale" not in big.header.params
    for bad in (0.0, 1.5, float("nan")):
        crafted = Stream(view.header.model_copy(update={"params": {**view.header.params, "region_scale": bad}}),
                         view.chunks, view.version)
        with pytest.raises(PayloadError, match="region_scale"):
            decode(crafted)


def test_region_max_side_codes_large_regions_smaller_and_small_ones_as_they_are(make_pipeline, psnr_fn):
    """region_max_side bounds each region chunk's shorter side; both ends compute the scale from the chunk's box."""
    photo = skimage.data.astronaut()
    large, small = (100, 40, 420, 300), (440, 440, 488, 480)  # shorter sides 260 and 40 (aligned to 8)
    regions = [Region(large, "person"), Region(small, "cup")]
    plain = make_pipeline(code_rest=False, region_quality=60).encode(photo, regions=regions)
    bounded = make_pipeline(code_rest=False, region_quality=60, region_max_side=96).encode(photo, regions=regions)
    assert bounded.header.params["region_max_side"] == 96 and "region_max_side" not in plain.header.params
    sizes = {c.name: (len(a.payload), len(b.payload)) for c, (a, b) in
             zip(plain.chunks, zip(plain.chunks, bounded.chunks))}
    assert sizes["region-1"][0] == sizes["region-1"][1]  # 40 px side: untouched
    assert sizes["region-0"][1] < 0.4 * sizes["region-0"][0]  # 260 px side coded at 96
    picture = decode(bounded)
    inside = np.zeros(photo.shape[:2], bool)
    inside[large[1]:large[3], large[0]:large[2]] = True
    assert picture.shape == photo.shape and psnr_fn(picture, photo, inside) > 22
    assert psnr_fn(decode(plain), photo, inside) > psnr_fn(picture, photo, inside)
    for bad in (0, 7, 1.5, "96"):
        crafted = Stream(bounded.header.model_copy(update={"params": {**bounded.header.params,
                                                                       "region_max_side": bad}}),
                         bounded.chunks, bounded.version)
        with pytest.raises(PayloadError, match="region_max_side"):
            decode(crafted)
