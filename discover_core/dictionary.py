"""The static string table of stream format 3.x: well-known strings a header names by their index.

A format 3.x header may write any string of :data:`STRINGS` as its index instead of its text (as HPACK's static
table does for HTTP header names): the names of the built-in components of every kind and of the plugins that
provide them, the core's distribution, chunk and task names, the image mode, the option keys a stream records
and the parameter keys the built-in entropy models write, and frequent option values. Anything else is written
as a literal; a literal equal to a table string means the same string (a writer always takes the reference).

**The table is part of the format.** Its first ``SIZES[m]`` strings are those of format 3.m; a later minor
version may only append strings (and add its size to :data:`SIZES`), never change, remove or reorder one, so
an index means the same string in every 3.x stream. A reader refuses an index beyond the table of the stream's
minor version, naming the version (:func:`lookup`); an index beyond the table it knows, in a stream of a later
minor version, asks for an upgrade (:class:`NewerTableError`). The strings it names are no claim that a
component is installed: a stream naming ``roi-image`` by index reads exactly as one that spells it out.

Where a string is referenced decides what an index costs, so the order is by use: indices 0-23 take one byte
inside a value (options, params: their keys and frequent values come first), 0-63 one byte in a string table
(tasks, labels, chunk names), 0-127 one byte as a component field (plugin, provider, distribution, mode).
"""

from __future__ import annotations

STRINGS: tuple[str, ...] = (
    # 0-23: keys and values inside options and params (one byte in a value)
    "background_size", "region_scale", "feather", "upsample", "fill", "codec", "jpeg", "webp", "avif",
    "nearest", "bilinear", "bicubic", "lanczos", "layout", "shape", "quality", "target", "pixels", "sd-latent",
    "seed", "model", "metric", "channels", "latent_channels",
    # 24-63: the built-in pipelines' names: entropy models, composers, providers, chunks, tasks, modes (one byte
    # in a string table)
    "roi-image", "paste", "roi", "discover-codec", "background", "region", "rest", "classification", "detection",
    "segmentation", "faces", "instance-segmentation", "RGB", "L", "image", "hyperprior", "elic", "learned",
    "plain", "controlnet", "diffusion", "baselines", "hevc-intra", "vtm", "compressai", "global_channels",
    "groups", "mse", "ms-ssim", "blend", "condition_channels", "conditioning_scale", "guidance_scale",
    "paste_pixels", "prompt", "prompt_labels", "scheduler", "end", "steps", "none",
    # 64-127: the rest of the built-in components and their plugins, option values, modes (one byte as a field)
    "ddim", "dpm-solver++", "unipc", "euler", "heun", "bmshj2018-factorized", "bmshj2018-factorized-relu",
    "bmshj2018-hyperprior", "mbt2018-mean", "mbt2018", "cheng2020-anchor", "cheng2020-attn", "static", "boxes",
    "imagenet", "face", "centernet", "segment", "llm", "opensets", "tvheads", "openai", "ollama", "cam",
    "grounding-dino", "person-mask", "yolo-world", "coco-detector", "coco-instance-segmenter",
    "imagenet-classifier", "person-segmenter", "resnet50-classifier", "RGBA", "LA", "I;16", "I", "F", "1", "P",
    "CMYK", "objects", "person", "subsampling", "4:2:0", "4:2:2", "4:4:4", "region_side", "background_side",
    # 112-: appended (roi-image's param of the built-in detection pipeline)
    "region_max_side",
)
"""Every string of the table, format 3.0's first. Append only (see the module docstring)."""

SIZES: dict[int, int] = {0: 113}
"""How many strings of :data:`STRINGS` each minor version of format 3 has: ``{minor: count}``."""

_INDEX = {s: i for i, s in enumerate(STRINGS)}


class NewerTableError(ValueError):
    """An index beyond the table this code knows, in a stream of a later minor version: upgrade to read it."""


def size(minor: int) -> int:
    """The number of table strings format ``3.minor`` may reference (a later minor version than this code
    knows: all it knows)."""
    known = [m for m in SIZES if m <= minor]
    return SIZES[max(known)] if known else 0


def index(s: str, minor: int) -> int | None:
    """The index of ``s`` in the table of format ``3.minor``, or ``None`` (write it as a literal)."""
    i = _INDEX.get(s)
    return i if i is not None and i < size(minor) else None


def lookup(i: int, minor: int, what: str = "a string") -> str:
    """The string at index ``i`` for a stream of format ``3.minor``; ``ValueError`` naming the version if the
    table of that version has no such string (:class:`NewerTableError` if a later table may have it)."""
    n = size(minor)
    if i < n:
        return STRINGS[i]
    latest = max(SIZES)
    if minor > latest:
        raise NewerTableError(
            f"{what} is string {i} of the format's string table, which format 3.{minor} may have added: this "
            f"discover knows the table of format 3.{latest} ({n} strings)")
    raise ValueError(f"{what} is string {i} of the format's string table, which has {n} strings in format "
                     f"3.{minor}")
