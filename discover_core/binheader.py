"""The binary header of stream formats 2.x and 3.x: the validated header's dict shape to bytes and back.

Reading gives the same dict a 1.x JSON header parses to; :class:`~discover_core.bitstream.StreamHeader`
validates it either way, so every check (types, tables, references, boxes, areas) holds for every format.
Integers are varints, strings a varint length and UTF-8, JSON-like data (options, params) the value encoding
of :mod:`discover_core.values`. Format 3.x is 2.x with names made short (below, **Format 3.x**); 2.x streams
are still read, and written back as 2.x.

**Records** (the header, a component, a chunk's extension) are sequences of fields ``key value``, key =
varint ``tag << 2 | wire``: wire 0 a varint, 1 a varint length and that many bytes (a string, a record, a
table, a digest), 2 one value; wire 3 is refused. Fields may come in any order, each at most once; the writer
leaves out those equal to their default. A field's value that its compact form cannot hold (a string
width, say, in a crafted header) is written as a value (wire 2) and read as such, for the model to refuse::

    header      1 width  2 height  3 mode ("RGB")  4 entropy_model  5 composer  6 params ({})  7 tasks ([])
                8 labels ([])  9 chunks  10 content_chunks_encoded (the content chunks present: a full stream)
    component   1 plugin  2 provider  3 distribution  4 version  5 format_version (1)  6 options ({})
                7 weights: the 32 bytes of a ``sha256:`` fingerprint (none)

Tables (tasks, labels) are a count and strings. A component's provider, distribution and version default
to ``""``, :data:`CORE_DISTRIBUTION` and ``""`` for the entropy model, and to the entropy model's for the
composer: built-in components come from the core's own distribution, and the two components of a stream
mostly come from one distribution and version, so a typical stream names them once. ``CORE_DISTRIBUTION``
is fixed by the format (not whatever the reading core calls itself), so a stream means the same everywhere;
it keeps ``pip install X`` hints exact without spelling ``discover-codec`` in every stream.

**The chunk table** (field 9): the grid ``g`` (varint), the name table (count, strings), the entries
(count, entries). Entry: a head byte -- bit 0 content (else side), 1 labels, 2 boxes, bits 3-4 tasks (0 none;
1 all tasks of the table, in order; 2 a varint bitmask; 3 count and indices), 5 an extension, 6 generic, 7
reserved (0) -- then the name reference, payload length (varints), payload CRC-32 (4 bytes, big-endian),
then as flagged: labels (count, label-table indices), boxes (count; per box ``x0/g, y0/g``, width and height
in cells), tasks, extension (a length and a record of fields a later minor version added). A name reference
``r`` below the name table's size ``k`` is ``names[r]``; above it ``names[i] + "-" + q`` with
``q, i = divmod(r - k, k)``: ``region-0 ... region-N`` share one table entry. A box's far edges are
``min(x0 + width * g, image width)`` (and so for y): the writer picks the largest ``g`` of
:data:`GRIDS` that every box coordinate is a multiple of or equals the image's width or height; a reader
takes any ``g``. A generic entry (bit 6 alone) is one value, the entry as a map (what a crafted entry that
the compact form cannot hold is written as).

**Later minor versions** add fields only under new tags (header, components, a chunk's extension). Unknown
tags are read into the dict as ``"tag N"``; the model drops them for a later minor version and refuses them
otherwise, as it does unknown JSON fields.

**Format 3.x** writes the well-known strings of the static table of :mod:`discover_core.dictionary` (built-in
component and plugin names, the core's distribution, chunk and task names, option and param keys) as their
index ``i``, at most as long as their text and mostly one byte:

* a string field of a record or the header (plugin, provider, distribution, version, mode): wire 0, ``i``
  (wire 1 the UTF-8 of any string, as in 2.x);
* a string of the task, label and chunk name tables: a varint ``v``; ``v`` odd: the table's string
  ``v >> 1``; even: ``v >> 1`` bytes of UTF-8 follow;
* a string inside a value (options, params): see :mod:`discover_core.values`, which 3.x also gives float16s
  and ratios.

A component's ``version`` that is a release number (``0.1.0``: up to 8 dot-separated numbers, no leading
zeros) is wire 1, the numbers as varints (``0.1.0``: 5 bytes with its key, 7 as text); any other version is a
string value (wire 2).
A 2.x reader cannot read a 3.x header (it would take an index for a number), hence the new major version: a
2.x reader refuses a 3.x stream by its version, before the header. A 3.x reader refuses an index beyond the
table of the stream's minor version (:func:`discover_core.dictionary.lookup`), naming the version.

Counts are checked against their ``MAX_*`` and against the bytes that remain before anything is allocated.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from . import dictionary
from .limits import MAX_BOXES, MAX_BOXES_PER_CHUNK, MAX_CHUNKS, MAX_LABELS, MAX_SIDE, MAX_TASKS
from .values import Reader, decode_value, encode_value, string, utf8, varint

VARINT, BYTES, VALUE = 0, 1, 2
CORE_DISTRIBUTION = "discover-codec"
"""The distribution a component's record names when it leaves the distribution out (formats 2.x and 3.x)."""
GRIDS = (16, 8, 4, 2)
"""Grids the writer tries for boxes, largest first (else 1)."""

HEADER_FIELDS = {1: ("width", "uint"), 2: ("height", "uint"), 3: ("mode", "str"), 4: ("entropy_model", "record"),
                 5: ("composer", "record"), 6: ("params", "value"), 7: ("tasks", "strings"),
                 8: ("labels", "strings"), 9: ("chunks", "chunks"), 10: ("content_chunks_encoded", "uint")}
RECORD_FIELDS = {1: ("plugin", "str"), 2: ("provider", "str"), 3: ("distribution", "str"), 4: ("version", "version"),
                 5: ("format_version", "uint"), 6: ("options", "value"), 7: ("weights", "sha256")}
HEADER_DEFAULTS = {"mode": "RGB", "params": {}, "tasks": [], "labels": []}
RECORD_DEFAULTS = {"format_version": 1, "options": {}, "weights": None}
ORIGIN_FIELDS = ("provider", "distribution", "version")
TEXT_KINDS = ("str", "version")
MAX_VERSION_PARTS = 8
"""Most numbers of a release version written as varints (format 3.x)."""

CONTENT, LABELS, BOXES, EXTENSION, GENERIC, RESERVED = 1, 2, 4, 32, 64, 128
TASKS_SHIFT, NO_TASKS, ALL_TASKS, TASK_MASK, TASK_LIST = 3, 0, 1, 2, 3
ENTRY_KEYS = ("kind", "name", "length", "crc32", "labels", "boxes", "tasks")
_SHA256 = re.compile(r"sha256:[0-9a-f]{64}")
_NUMBERED = re.compile(r"(.*)-(0|[1-9][0-9]{0,8})", re.S)
_TAG = re.compile(r"tag ([1-9][0-9]{0,17})")
_RELEASE = re.compile(rf"(0|[1-9][0-9]{{0,17}})(\.(0|[1-9][0-9]{{0,17}})){{0,{MAX_VERSION_PARTS - 1}}}")


# -- shared ---------------------------------------------------------------------------------------------
def table_of(version: tuple[int, int]) -> int | None:
    """The minor version whose static string table a header of ``version`` uses (``None``: format 2.x)."""
    return version[1] if version[0] >= 3 else None


def _uint(v: Any, below: int = 1 << 64) -> bool:
    return type(v) is int and 0 <= v < below


def _same(v: Any, default: Any) -> bool:
    """Equal and of the same type (``True`` is not the default ``1``)."""
    return type(v) is type(default) and v == default


def _origin(base: Any) -> dict[str, str]:
    """Defaults of a component's provider, distribution and version: ``base``'s (the entropy model's)."""
    d = {"provider": "", "distribution": CORE_DISTRIBUTION, "version": ""}
    if isinstance(base, dict):
        d.update((k, base[k]) for k in ORIGIN_FIELDS if isinstance(base.get(k), str))
    return d


def grid_of(boxes: list, width: int, height: int) -> int:
    """The largest grid of :data:`GRIDS` every coordinate of ``boxes`` is a multiple of or ends the image at."""
    for g in GRIDS:
        if all((x % g == 0 or x == width) and (y % g == 0 or y == height)
               for x0, y0, x1, y1 in boxes for x, y in ((x0, y0), (x1, y1))):
            return g
    return 1


def _content_count(chunks: Any) -> int | None:
    if not isinstance(chunks, list):
        return None
    return sum(isinstance(e, dict) and e.get("kind") == "content" for e in chunks)


def _text(s: str, table: int | None) -> bytes:
    """A string of a table (tasks, labels, chunk names): 2.x a length and UTF-8; 3.x a static table index
    ``i`` as ``2i + 1``, else ``2 * length`` and UTF-8."""
    if table is None:
        return string(s)
    i = dictionary.index(s, table)
    if i is not None:
        return varint(2 * i + 1)
    raw = utf8(s)
    return varint(2 * len(raw)) + raw


def _read_text(r: Reader, what: str, table: int | None) -> str:
    if table is None:
        return r.string(what)
    v = r.varint(f"the length of {what}")
    return dictionary.lookup(v >> 1, table, what) if v & 1 else r.text(v >> 1, what)


# -- writing --------------------------------------------------------------------------------------------
def encode_header(h: dict, version: tuple[int, int]) -> bytes:
    """The binary header of ``h`` (a header dict, as ``StreamHeader.model_dump(mode="json")`` gives, or a
    crafted one) in format ``version`` (2.x or 3.x); ``ValueError`` if the format cannot hold it (a key that
    is not a field, a lone surrogate, an integer beyond 64 bits)."""
    if not isinstance(h, dict):
        raise ValueError(f"a header is a map, not {type(h).__name__}")
    table = table_of(version)
    em = h.get("entropy_model")
    tasks = h.get("tasks", [])
    width, height = h.get("width"), h.get("height")
    compact: dict[str, Callable[[Any], bytes | None]] = {
        "entropy_model": lambda v: _record(v, _origin(None), table) if isinstance(v, dict) else None,
        "composer": lambda v: _record(v, _origin(_as_read(em)), table) if isinstance(v, dict) else None,
        "chunks": lambda v: (_chunk_table(v, width, height, len(tasks) if isinstance(tasks, list) else None, table)
                             if isinstance(v, list) else None),
    }
    defaults = {**HEADER_DEFAULTS, "content_chunks_encoded": _content_count(h.get("chunks"))}
    return _fields(HEADER_FIELDS, h, defaults, 2, compact, table)


def _as_read(rec: Any) -> Any:
    """A component record as the model reads it: a missing provider, distribution or version is ``""``."""
    return {**{k: "" for k in ORIGIN_FIELDS}, **rec} if isinstance(rec, dict) else rec


def _record(rec: dict, origin: dict[str, str], table: int | None) -> bytes:
    return _fields(RECORD_FIELDS, _as_read(rec), {**RECORD_DEFAULTS, **origin}, 3, {}, table)


def _fields(schema: dict[int, tuple[str, str]], d: dict, defaults: dict, depth: int,
            compact: dict[str, Callable[[Any], bytes | None]], table: int | None) -> bytes:
    """The record of ``d``'s fields (``"tag N"`` keys as tag N), those equal to their default left out."""
    tags = {name: (tag, kind) for tag, (name, kind) in schema.items()}
    items = []
    for key, v in d.items():
        if key in tags:
            tag, kind = tags[key]
        elif (m := _TAG.fullmatch(str(key))) and int(m[1]) not in schema:
            tag, kind = int(m[1]), "unknown"
        else:
            raise ValueError(f"{key!r} is not a field a format {'2' if table is None else '3'} header can hold")
        if key not in defaults or not _same(v, defaults[key]):
            items.append((tag, key, kind, v))
    out = bytearray()
    for tag, key, kind, v in sorted(items, key=lambda item: item[0]):
        if kind in ("uint", "unknown") and _uint(v):
            out += varint(tag << 2 | VARINT) + varint(v)
            continue
        if table is not None and kind in TEXT_KINDS and isinstance(v, str) and (
                i := dictionary.index(v, table)) is not None:
            out += varint(tag << 2 | VARINT) + varint(i)
            continue
        payload = compact[key](v) if key in compact else _bytes_of(kind, v, table)
        if payload is None:
            out += varint(tag << 2 | VALUE) + encode_value(v, depth, table)
        else:
            out += varint(tag << 2 | BYTES) + varint(len(payload)) + payload
    return bytes(out)


def _bytes_of(kind: str, v: Any, table: int | None) -> bytes | None:
    """The length-delimited form of a field of ``kind`` (``None``: write it as a value)."""
    if kind == "version" and table is not None:
        if isinstance(v, str) and _RELEASE.fullmatch(v) and all(int(n) < 1 << 64 for n in v.split(".")):
            return b"".join(varint(int(n)) for n in v.split("."))
        return None
    if kind in TEXT_KINDS and isinstance(v, str):
        return utf8(v)
    if kind == "sha256" and isinstance(v, str) and _SHA256.fullmatch(v):
        return bytes.fromhex(v[7:])
    if kind == "strings" and isinstance(v, list) and all(isinstance(s, str) for s in v):
        return varint(len(v)) + b"".join(_text(s, table) for s in v)
    if kind == "unknown" and isinstance(v, bytes):
        return v
    return None


def _packable(e: Any, width: Any, height: Any) -> bool:
    """Whether the compact entry form holds ``e`` exactly."""
    if not isinstance(e, dict) or any(k not in ENTRY_KEYS and not _TAG.fullmatch(str(k)) for k in e):
        return False
    if e.get("kind") not in ("side", "content") or not isinstance(e.get("name"), str):
        return False
    if not (_uint(e.get("length")) and _uint(e.get("crc32"), 1 << 32)):
        return False
    if not all(isinstance(e.get(k, []), list) and all(map(_uint, e.get(k, []))) for k in ("labels", "tasks")):
        return False
    boxes = e.get("boxes", [])
    if boxes and not (_uint(width) and _uint(height)):
        return False
    return isinstance(boxes, list) and all(
        isinstance(b, (list, tuple)) and len(b) == 4 and all(type(v) is int for v in b)
        and 0 <= b[0] < b[2] <= width and 0 <= b[1] < b[3] <= height for b in boxes)


def _chunk_table(entries: list, width: Any, height: Any, n_tasks: int | None, table: int | None) -> bytes:
    fits = [_packable(e, width, height) for e in entries]
    packable = [e for e, ok in zip(entries, fits) if ok]
    g = grid_of([b for e in packable for b in e.get("boxes", [])], width, height)
    names: dict[str, int] = {}
    refs = []
    for e in packable:
        m = _NUMBERED.fullmatch(e["name"])
        stem = m[1] if m else e["name"]
        names.setdefault(stem, len(names))
        refs.append((names[stem], int(m[2]) if m else None))
    k = len(names)
    out = bytearray(varint(g) + varint(k) + b"".join(_text(s, table) for s in names) + varint(len(entries)))
    ref = iter(refs)
    for e, ok in zip(entries, fits):
        if ok:
            i, n = next(ref)
            out += _entry(e, i if n is None else k + n * k + i, g, width, height, n_tasks, table)
        else:
            out += bytes([GENERIC]) + encode_value(e, 3, table)
    return bytes(out)


def _entry(e: dict, name_ref: int, g: int, width: int, height: int, n_tasks: int | None,
           table: int | None) -> bytes:
    head = CONTENT if e["kind"] == "content" else 0
    body = bytearray(varint(name_ref) + varint(e["length"]) + e["crc32"].to_bytes(4, "big"))
    labels, boxes, tasks = e.get("labels", []), e.get("boxes", []), e.get("tasks", [])
    if labels:
        head |= LABELS
        body += varint(len(labels)) + b"".join(map(varint, labels))
    if boxes:
        head |= BOXES
        body += varint(len(boxes))
        for x0, y0, x1, y1 in boxes:
            body += varint(x0 // g) + varint(y0 // g) + varint(-(-(x1 - x0) // g)) + varint(-(-(y1 - y0) // g))
    if tasks:
        if tasks == list(range(n_tasks or 0)):
            mode = ALL_TASKS
        elif all(a < b for a, b in zip(tasks, tasks[1:])) and tasks[-1] < 64:
            mode = TASK_MASK
            body += varint(sum(1 << t for t in tasks))
        else:
            mode = TASK_LIST
            body += varint(len(tasks)) + b"".join(map(varint, tasks))
        head |= mode << TASKS_SHIFT
    extension = _fields({}, {k: v for k, v in e.items() if k not in ENTRY_KEYS}, {}, 4, {}, table)
    if extension:
        head |= EXTENSION
        body += varint(len(extension)) + extension
    return bytes([head]) + bytes(body)


# -- reading --------------------------------------------------------------------------------------------
def decode_header(data: bytes, version: tuple[int, int]) -> dict:
    """The header dict of binary header ``data`` of format ``version`` (not validated: that is the model's
    job)."""
    table = table_of(version)
    r = Reader(data, what="the header")
    h = _read_fields(r, HEADER_FIELDS, 2, "the header", table)
    for slot in ("entropy_model", "composer"):
        if isinstance(h.get(slot), dict):
            h[slot] = {**_origin(h.get("entropy_model") if slot == "composer" else None), **h[slot]}
    if isinstance(h.get("chunks"), Reader):
        tasks = h.get("tasks", [])
        h["chunks"] = _read_chunks(h["chunks"], h.get("width"), h.get("height"),
                                   len(tasks) if isinstance(tasks, list) else None, table)
    if "content_chunks_encoded" not in h and isinstance(h.get("chunks"), list):
        h["content_chunks_encoded"] = _content_count(h["chunks"])
    return h


def _read_fields(r: Reader, schema: dict[int, tuple[str, str]], depth: int, what: str, table: int | None) -> dict:
    out: dict[str, Any] = {}
    while r.remaining:
        key = r.varint(f"a field key of {what}")
        tag, wire = key >> 2, key & 3
        name, kind = schema.get(tag, (f"tag {tag}", "unknown"))
        if wire == VARINT:
            value: Any = r.varint(f"{what}: {name}")
            if table is not None and kind in TEXT_KINDS:
                value = dictionary.lookup(value, table, f"{what}: {name}")
        elif wire == VALUE:
            value = decode_value(r, depth, table)
        elif wire == BYTES:
            value = _read_bytes(r.sub(r.varint(f"{what}: the length of {name}"), f"{what}: {name}"), name, kind,
                                depth, table)
        else:
            raise ValueError(f"{what}: field {name} has wire type {wire}, which no "
                             f"{'2' if table is None else '3'}.x reader can skip")
        if name in out:
            raise ValueError(f"{what}: field {name} appears twice")
        out[name] = value
    return out


def _read_bytes(sub: Reader, name: str, kind: str, depth: int, table: int | None) -> Any:
    if kind == "version" and table is not None:
        if not sub.remaining:
            raise ValueError(f"{sub.what} is a release version without numbers")
        parts = []
        while sub.remaining:
            if len(parts) == MAX_VERSION_PARTS:
                raise ValueError(f"{sub.what} is a release version of more than {MAX_VERSION_PARTS} numbers")
            parts.append(str(sub.varint(sub.what)))
        return ".".join(parts)
    if kind in TEXT_KINDS:
        return sub.text(sub.remaining, sub.what)
    if kind == "sha256":
        return "sha256:" + sub.take(sub.remaining, sub.what).hex()
    if kind == "strings":
        n = sub.count(MAX_TASKS if name == "tasks" else MAX_LABELS, name)
        items = [_read_text(sub, f"{name} {i}", table) for i in range(n)]
        sub.done()
        return items
    if kind == "record":
        return _read_fields(sub, RECORD_FIELDS, depth + 1, sub.what, table)
    if kind == "chunks":
        return sub  # read last: its boxes and tasks need the image size and the task table
    return bytes(sub.take(sub.remaining, sub.what))


def _read_chunks(r: Reader, width: Any, height: Any, n_tasks: int | None, table: int | None) -> list:
    g = r.varint("the grid")
    if not 1 <= g <= MAX_SIDE:
        raise ValueError(f"the chunk table's grid is {g}")
    names = [_read_text(r, "a chunk name", table) for _ in range(r.count(MAX_CHUNKS, "chunk names"))]
    entries: list[Any] = []
    boxes = 0
    for i in range(r.count(MAX_CHUNKS, "chunks")):
        e = _read_entry(r, i, names, g, width, height, n_tasks, table)
        boxes += len(e.get("boxes", [])) if isinstance(e, dict) and isinstance(e.get("boxes"), list) else 0
        if boxes > MAX_BOXES:
            raise ValueError(f"the chunks carry {boxes} boxes, more than {MAX_BOXES}")
        entries.append(e)
    r.done()
    return entries


def _read_entry(r: Reader, i: int, names: list[str], g: int, width: Any, height: Any, n_tasks: int | None,
                table: int | None) -> Any:
    what = f"chunk {i}"
    head = r.byte(what)
    if head & GENERIC:
        if head != GENERIC:
            raise ValueError(f"{what}: a generic entry has flags 0x{head:02x}")
        return decode_value(r, 3, table)
    if head & RESERVED:
        raise ValueError(f"{what}: reserved flag set (0x{head:02x})")
    ref, k = r.varint(f"{what}: name"), len(names)
    if ref >= k and not k:
        raise ValueError(f"{what}: name reference {ref} outside the name table")
    name = names[ref] if ref < k else f"{names[(ref - k) % k]}-{(ref - k) // k}"
    e: dict[str, Any] = {"kind": "content" if head & CONTENT else "side", "name": name,
                         "length": r.varint(f"{what}: length"), "crc32": int.from_bytes(r.take(4, what), "big")}
    if head & LABELS:
        e["labels"] = [r.varint(f"{what}: label") for _ in range(r.count(MAX_LABELS, f"labels of {what}"))]
    if head & BOXES:
        if not (_uint(width) and _uint(height)):
            raise ValueError(f"{what} has boxes, but the header gives no image size to place them on")
        e["boxes"] = []
        for _ in range(r.count(MAX_BOXES_PER_CHUNK, f"boxes of {what}", 4)):
            x, y, w, h = (r.varint(f"{what}: box") * g for _ in range(4))
            e["boxes"].append([x, y, min(x + w, width), min(y + h, height)])
    mode = head >> TASKS_SHIFT & 3
    if mode == ALL_TASKS:
        if n_tasks is None:
            raise ValueError(f"{what} has all tasks, but the header has no task table")
        e["tasks"] = list(range(n_tasks))
    elif mode == TASK_MASK:
        mask = r.varint(f"{what}: tasks")
        e["tasks"] = [t for t in range(mask.bit_length()) if mask >> t & 1]
    elif mode == TASK_LIST:
        e["tasks"] = [r.varint(f"{what}: task") for _ in range(r.count(MAX_TASKS, f"tasks of {what}"))]
    if head & EXTENSION:
        e.update(_read_fields(r.sub(r.varint(f"{what}: extension length"), f"{what}'s extension"), {}, 4, what,
                              table))
    return e
