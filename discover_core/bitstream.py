"""The structured bitstream container.

Format 3.0 (written; see :mod:`discover_core.binheader` for the header, :mod:`discover_core.values` for
varints and values and :mod:`discover_core.dictionary` for the static string table) and 2.0 (read, and written
back for a stream read from a 2.0 file) frame a stream alike::

    magic      4 bytes   b"DSCV"
    version    2 bytes   major, minor
    hlen       varint    length of the header (LEB128, at most 10 bytes)
    header     hlen      binary header: tagged fields, varints, a chunk table on the boxes' grid
                         (3.x: well-known strings as indices into the format's static string table)
    hcrc       4 bytes   CRC-32 (big-endian) of everything before it: magic, version, hlen, header
    payloads             chunk payloads, in the order of header.chunks

Format 1.x (still read, and written back for a stream read from a 1.x file): magic, version, a 4-byte
big-endian header length, a zlib-compressed JSON header (:mod:`discover_core.jsonheader`), its CRC-32,
the payloads.

The header records what the decoder needs (image size, the entropy model and composer with their versions
and options, the entropy model's parameters) and the chunk table: for each chunk its kind, length, CRC-32
and, for content chunks, the boxes, labels and tasks it carries. Nothing in a stream is executed or
unpickled: every header is parsed into plain data and validated by the same pydantic model
(:class:`StreamHeader`), with the same bounds (:mod:`discover_core.limits`); payloads are handed to the
entropy model as bytes.

A reader of major version M reads every M.y: a header from a later minor version may carry fields it does
not know (ignored); for its own or an earlier minor version an unknown field is an error (and in 3.y, an
index beyond the string table of 3.y or of the reader). Majors 1, 2 and 3 are read; any other is refused,
naming it.

A partial stream (see :meth:`Stream.extract`) is a stream with fewer content chunks; it is a complete, valid
stream in its own right.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from typing import Annotated, Any, Iterable, Literal, Sequence

from pydantic import (BaseModel, ConfigDict, Field, StrictInt, ValidationError, ValidationInfo,
                      model_validator)

from . import binheader, jsonheader
from .dictionary import NewerTableError
from .errors import StreamError
from .interfaces import Chunk, normalize_label
from .limits import (MAX_PIXELS, MAX_BOXES, MAX_BOXES_PER_CHUNK, MAX_CHUNKS, MAX_DECODED_AREA, MAX_HEADER_BYTES,  # noqa: F401
                     MAX_HEADER_DEPTH, MAX_LABELS, MAX_NAME_CHARS, MAX_SIDE, MAX_TASKS)
from .values import Reader, encode_value, varint

MAGIC = b"DSCV"
FORMAT_VERSION = (3, 0)
"""(major, minor) this code writes. 1.1 added ``provider``, ``distribution``, ``format_version`` and
``weights`` to the component records; 2.0 is the binary header; 3.0 its static string table, float16s and
ratios, and release versions as numbers (a fixed header of about 60 bytes for a built-in pipeline)."""
LATEST_MINOR = {1: 1, 2: 0, 3: 0}
"""The latest minor version of each major version this code reads: a later one may hold unknown fields."""
PREFIX = struct.Struct(">4sBBI")
"""The fixed prefix of a 1.x stream (magic, major, minor, header length)."""
CRC = struct.Struct(">I")
VERSION_BYTES = len(MAGIC) + 2
"""Magic and version: what every format version starts with."""

_KNOWN_MAGICS = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"RIFF": "a RIFF file (WebP?)",
    b"GIF8": "a GIF image",
    b"PK\x03\x04": "a zip archive",
    b"\x80": "a Python pickle",
    b"\x1f\x8b": "a gzip file",
}

Name = Annotated[str, Field(max_length=MAX_NAME_CHARS)]
Count = Annotated[int, Field(strict=True, ge=0)]
IntBoxField = tuple[StrictInt, StrictInt, StrictInt, StrictInt]


class _Model(BaseModel):
    """Header models: unknown fields are errors, unless the header comes from a later minor version."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _drop_unknown(cls, data: Any, info: ValidationInfo) -> Any:
        if info.context and info.context.get("later_minor") and isinstance(data, dict):
            return {k: v for k, v in data.items() if k in cls.model_fields}
        return data


class ComponentRecord(_Model):
    """A component as the decoder must rebuild it."""

    plugin: Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS)]
    """The component's name."""
    provider: Name = ""
    """Entry-point name of the plugin that registered it ("" if unknown): ``plugin: provider:name`` picks it."""
    distribution: Name = ""
    """The distribution (pip package) that provided it, for "install X" messages."""
    version: Name = ""
    """That distribution's version."""
    format_version: Annotated[int, Field(strict=True, ge=1, le=1 << 31)] = 1
    """The component's own :attr:`~discover_core.interfaces.Component.format_version` that wrote the stream."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Decoder options only."""
    weights: Annotated[str, Field(pattern=r"^sha256:[0-9a-f]{64}$")] | None = None
    """Fingerprint of the weights the payloads depend on, or ``None``."""


class ChunkEntry(_Model):
    kind: Literal["side", "content"]
    name: Name
    length: Count
    crc32: Annotated[int, Field(strict=True, ge=0, lt=1 << 32)]
    labels: list[Count] = Field(default_factory=list, max_length=MAX_LABELS,
                                description="indices into StreamHeader.labels")
    boxes: list[IntBoxField] = Field(default_factory=list, max_length=MAX_BOXES_PER_CHUNK)
    tasks: list[Count] = Field(default_factory=list, max_length=MAX_TASKS,
                               description="indices into StreamHeader.tasks")


class StreamHeader(_Model):
    width: Annotated[int, Field(strict=True, ge=1, le=MAX_SIDE)]
    height: Annotated[int, Field(strict=True, ge=1, le=MAX_SIDE)]
    mode: Annotated[str, Field(max_length=16)] = "RGB"
    entropy_model: ComponentRecord
    params: dict[str, Any] = Field(default_factory=dict)
    composer: ComponentRecord
    tasks: list[Name] = Field(default_factory=list, max_length=MAX_TASKS)
    labels: list[Name] = Field(default_factory=list, max_length=MAX_LABELS)
    chunks: list[ChunkEntry] = Field(max_length=MAX_CHUNKS)
    content_chunks_encoded: Count = Field(description="content chunks in the full stream")

    @model_validator(mode="before")
    @classmethod
    def _check_counts(cls, data: Any) -> Any:
        """Refuse oversized tables before their items are validated one by one."""
        if isinstance(data, dict):
            for key, most in (("chunks", MAX_CHUNKS), ("labels", MAX_LABELS), ("tasks", MAX_TASKS)):
                if isinstance(data.get(key), list) and len(data[key]) > most:
                    raise ValueError(f"the header lists {len(data[key])} {key}, more than {most}")
            chunks = data.get("chunks")
            if isinstance(chunks, list):
                boxes = sum(len(c["boxes"]) for c in chunks if isinstance(c, dict) and isinstance(c.get("boxes"), list))
                if boxes > MAX_BOXES:
                    raise ValueError(f"the chunks carry {boxes} boxes, more than {MAX_BOXES}")
        return data

    @model_validator(mode="after")
    def _check_refs(self) -> "StreamHeader":
        w, h = self.width, self.height
        if w * h > MAX_PIXELS:
            raise ValueError(f"{w}x{h} is more than the {MAX_PIXELS} pixels discover decodes")
        for table, what in ((self.labels, "label"), (self.tasks, "task")):
            if len(set(table)) != len(table):
                raise ValueError(f"the {what} table lists a {what} twice")
        boxes = area = content = 0
        for i, c in enumerate(self.chunks):
            content += c.kind == "content"
            if any(not 0 <= j < len(self.labels) for j in c.labels):
                raise ValueError(f"chunk {i} refers to a label index outside the label table")
            if any(not 0 <= j < len(self.tasks) for j in c.tasks):
                raise ValueError(f"chunk {i} refers to a task index outside the task table")
            if len(set(c.labels)) != len(c.labels) or len(set(c.tasks)) != len(c.tasks):
                raise ValueError(f"chunk {i} lists a label or task twice")
            if len(set(c.boxes)) != len(c.boxes):
                raise ValueError(f"chunk {i} lists the same box twice")
            for x0, y0, x1, y1 in c.boxes:
                if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
                    raise ValueError(f"chunk {i} has box {(x0, y0, x1, y1)} outside the {w}x{h} image")
            if c.boxes:
                boxes += len(c.boxes)
                area += ((max(b[2] for b in c.boxes) - min(b[0] for b in c.boxes))
                         * (max(b[3] for b in c.boxes) - min(b[1] for b in c.boxes)))
        if boxes > MAX_BOXES:
            raise ValueError(f"the chunks carry {boxes} boxes, more than {MAX_BOXES}")
        if area > MAX_DECODED_AREA * w * h:
            raise ValueError(f"the chunks' boxes span {area} pixels, more than {MAX_DECODED_AREA} times "
                             f"the {w}x{h} image")
        if self.content_chunks_encoded < content:
            raise ValueError(f"content_chunks_encoded is {self.content_chunks_encoded}, but {content} content "
                             f"chunks are present")
        return self


@dataclass
class Stream:
    """An encoded image: header and chunks. Build with :meth:`from_bytes` or a pipeline's encode."""

    header: StreamHeader
    chunks: list[Chunk] = field(default_factory=list)
    version: tuple[int, int] = FORMAT_VERSION
    """The format version it is written with: that of the file it was read from (a later minor version as the
    latest of its major this code knows: 1.x files stay 1.x), else :data:`FORMAT_VERSION`."""

    # -- construction ----------------------------------------------------
    @classmethod
    def build(cls, *, size: tuple[int, int], mode: str, entropy_model: ComponentRecord,
              params: dict[str, Any], composer: ComponentRecord, chunks: Sequence[Chunk],
              tasks: Iterable[str] = ()) -> "Stream":
        """A stream of ``chunks``; ``tasks`` names the tasks it was encoded for, even those with no content."""
        tasks = sorted(set(tasks) | {t for c in chunks for t in c.tasks})
        labels = sorted({lab for c in chunks for lab in c.labels})
        entries = [_entry(c, labels, tasks) for c in chunks]
        try:
            encode_value(params, depth=2)  # what a reader accepts: bounded nesting, finite numbers, valid Unicode
        except ValueError as exc:
            raise ValueError(f"the entropy model's params cannot be written to a stream: {exc}") from None
        header = StreamHeader(
            width=size[0], height=size[1], mode=mode, entropy_model=entropy_model, params=params,
            composer=composer, tasks=tasks, labels=labels, chunks=entries,
            content_chunks_encoded=sum(c.kind == "content" for c in chunks),
        )
        try:  # names and options, which the model does not hold to the encoding's bounds
            binheader.encode_header(header.model_dump(mode="json"), FORMAT_VERSION)
        except ValueError as exc:
            raise ValueError(f"the stream header cannot be written: {exc}") from None
        return cls(header, list(chunks))

    # -- serialisation ---------------------------------------------------
    def to_bytes(self) -> bytes:
        """The stream in its format version (a stream read from a 1.x file is written back as 1.x)."""
        header = self.header.model_dump(mode="json", exclude_defaults=self.version[0] == 1)
        return frame(self.version, pack_header(self.version, header), (c.payload for c in self.chunks))

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "stream") -> "Stream":
        """Parse and check a stream; any defect raises :class:`StreamError` naming it."""
        data = bytes(data)
        version, raw, pos = unframe(data, source)
        header = _parse_header(version, raw, source)
        chunks: list[Chunk] = []
        for i, entry in enumerate(header.chunks):
            if pos + entry.length > len(data):
                raise StreamError(
                    f"{source} is truncated: chunk {i} ({entry.kind} '{entry.name}') needs {entry.length} "
                    f"bytes, {max(0, len(data) - pos)} remain", "the file was cut short; encode it again")
            payload = data[pos:pos + entry.length]
            if zlib.crc32(payload) != entry.crc32:
                raise StreamError(f"{source} is corrupt: chunk {i} ({entry.kind} '{entry.name}') fails its checksum",
                                  "the file is damaged; encode the image again")
            chunks.append(Chunk(
                kind=entry.kind, name=entry.name, payload=payload,
                labels=tuple(header.labels[j] for j in entry.labels),
                boxes=tuple(tuple(b) for b in entry.boxes),  # type: ignore[misc]
                tasks=tuple(header.tasks[j] for j in entry.tasks),
            ))
            pos += entry.length
        if pos != len(data):
            raise StreamError(f"{source} is corrupt: {len(data) - pos} unexpected bytes after the last chunk",
                              "the file is damaged or was concatenated with something else")
        return cls(header, chunks, (version[0], min(version[1], LATEST_MINOR[version[0]])))

    # -- inspection ------------------------------------------------------
    @property
    def size(self) -> tuple[int, int]:
        return (self.header.width, self.header.height)

    @property
    def is_partial(self) -> bool:
        return self.content_count < self.header.content_chunks_encoded

    @property
    def content_count(self) -> int:
        return sum(c.kind == "content" for c in self.chunks)

    def header_bytes(self) -> int:
        """Bytes of the container besides the payloads (prefix, header, header CRC)."""
        return len(self.to_bytes()) - sum(len(c.payload) for c in self.chunks)

    def __len__(self) -> int:
        return len(self.to_bytes())

    # -- partial streams -------------------------------------------------
    def extract(self, task: str | None = None, labels: Iterable[str] | None = None) -> "Stream":
        """A stream with the side chunks and only the content chunks of ``task`` or ``labels``.

        Nothing is re-encoded: payloads are copied as they are. The part's header lists only the labels and
        tasks of the chunks it holds (and the extracted task, even if none of its chunks is there);
        ``content_chunks_encoded`` stays that of the full stream, so a decoder knows the part is partial.
        Labels are compared with :func:`~discover_core.interfaces.normalize_label` (case and whitespace).
        """
        if (task is None) == (labels is None):
            raise StreamError("extract needs exactly one of a task name or a list of labels")
        named: set[str] = set()
        if task is not None:
            if task not in self.header.tasks:
                known = ", ".join(self.header.tasks) or "(none)"
                raise StreamError(f"the stream has no task '{task}'", f"tasks in this stream: {known}")
            named = {task}
            keep = lambda c: task in c.tasks  # noqa: E731
        else:
            given = list(labels or ())
            asked = {normalize_label(lab): lab.strip() for lab in given if normalize_label(lab)}
            if not asked:
                raise StreamError("extract was given an empty list of labels",
                                  f"labels in this stream: {', '.join(self.header.labels) or '(none)'}")
            unknown = set(asked) - {normalize_label(lab) for lab in self.header.labels}
            if unknown == set(asked):
                raise StreamError(
                    f"the stream has no content for label(s) {', '.join(sorted(asked[u] for u in unknown))}",
                    f"labels in this stream: {', '.join(self.header.labels) or '(none)'}")
            keep = lambda c: any(normalize_label(lab) in asked for lab in c.labels)  # noqa: E731
        chunks = [c for c in self.chunks if c.kind == "side" or keep(c)]
        tasks = sorted(named | {t for c in chunks for t in c.tasks})
        labels_ = sorted({lab for c in chunks for lab in c.labels})
        header = StreamHeader.model_validate({
            **self.header.model_dump(), "tasks": tasks, "labels": labels_,
            "chunks": [_entry(c, labels_, tasks).model_dump() for c in chunks],
        })
        return Stream(header, chunks, self.version)


def _entry(c: Chunk, labels: list[str], tasks: list[str]) -> ChunkEntry:
    label_at = {lab: i for i, lab in enumerate(labels)}
    task_at = {t: i for i, t in enumerate(tasks)}
    return ChunkEntry(
        kind=c.kind, name=c.name, length=len(c.payload), crc32=zlib.crc32(c.payload),
        labels=[label_at[lab] for lab in c.labels], boxes=[tuple(int(v) for v in b) for b in c.boxes],
        tasks=[task_at[t] for t in c.tasks],
    )


def pack_header(version: tuple[int, int], header: Any) -> bytes:
    """A header dict as the header bytes of ``version`` (2.x and 3.x binary; 1.x compressed JSON)."""
    return jsonheader.encode(header) if version[0] == 1 else binheader.encode_header(header, version)


def header_dict(version: tuple[int, int] | int, raw: bytes) -> Any:
    """The header bytes of a stream of ``version`` as plain data, not validated (a major version alone: its
    latest minor version this code reads)."""
    if isinstance(version, int):
        version = (version, LATEST_MINOR.get(version, 0))
    return jsonheader.decode(raw) if version[0] == 1 else binheader.decode_header(raw, version)


def frame(version: tuple[int, int], header: bytes, payloads: Iterable[bytes]) -> bytes:
    """A stream's bytes: prefix, ``header`` (already packed), its CRC-32 and the payloads."""
    major, minor = version
    if major == 1:
        head = PREFIX.pack(MAGIC, major, minor, len(header)) + header
        hcrc = zlib.crc32(header)
    else:
        head = MAGIC + bytes([major, minor]) + varint(len(header)) + header
        hcrc = zlib.crc32(head)
    return b"".join([head, CRC.pack(hcrc), *payloads])


def unframe(data: bytes, source: str = "stream") -> tuple[tuple[int, int], bytes, int]:
    """The version, header bytes and offset of the first payload of ``data``, after checking the magic, the
    version, the header length and the header's CRC-32; :class:`StreamError` naming what is wrong."""
    if len(data) < len(MAGIC) or not data.startswith(MAGIC):
        raise StreamError(f"{source} is not a discover stream ({_describe(data)})",
                          "pass a file written by `discover encode` or `discover extract`")
    cut, damaged = "the file was cut short; encode it again", "the file is damaged; encode the image again"
    if len(data) < VERSION_BYTES:
        raise StreamError(f"{source} is truncated: {len(data)} bytes, shorter than the fixed {VERSION_BYTES}-byte "
                          f"prefix", cut)
    major, minor = data[4], data[5]
    if major not in LATEST_MINOR:
        known = [f"{m}.x" for m in LATEST_MINOR]
        raise StreamError(f"{source} uses stream format {major}.{minor}; this discover reads formats "
                          f"{', '.join(known[:-1])} and {known[-1]}",
                          "upgrade discover-codec" if major > FORMAT_VERSION[0]
                          else "re-encode the image with this version")
    if major == 1:
        if len(data) < PREFIX.size:
            raise StreamError(f"{source} is truncated: {len(data)} bytes, shorter than the fixed "
                              f"{PREFIX.size}-byte prefix", cut)
        start, hlen = PREFIX.size, PREFIX.unpack_from(data)[3]
    else:
        r = Reader(data, VERSION_BYTES, what="the header length")
        try:
            hlen = r.varint("the header length")
        except ValueError as exc:
            if "cut short" in str(exc):
                raise StreamError(f"{source} is truncated inside the header length", cut) from None
            raise StreamError(f"{source} is corrupt: {exc}", damaged) from None
        start = r.pos
    if hlen > MAX_HEADER_BYTES:
        raise StreamError(f"{source} is corrupt: header length {hlen} is implausible", damaged)
    end = start + hlen
    if len(data) < end + CRC.size:
        raise StreamError(f"{source} is truncated inside the header ({len(data)} of at least "
                          f"{end + CRC.size} bytes)", cut)
    covered = data[start:end] if major == 1 else data[:end]
    if zlib.crc32(covered) != CRC.unpack_from(data, end)[0]:
        raise StreamError(f"{source} is corrupt: header checksum mismatch", damaged)
    return (major, minor), data[start:end], end + CRC.size


def _parse_header(version: tuple[int, int], raw: bytes, source: str) -> StreamHeader:
    """Parse strictly and validate; a header from a later minor version may hold unknown fields."""
    later_minor = version[1] > LATEST_MINOR[version[0]]
    try:
        obj = header_dict(version, raw)
        return StreamHeader.model_validate(obj, context={"later_minor": later_minor})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "header"
        raise StreamError(f"{source} has an invalid header: {where}: {first['msg']}",
                          "the file is damaged or was written by an incompatible tool") from None
    except NewerTableError as exc:  # before ValueError: it is one
        raise StreamError(f"{source} has an unreadable header: {exc}", "upgrade discover-codec") from None
    except RecursionError:  # json.loads on absurdly nested arrays/objects
        raise StreamError(f"{source} has an unreadable header: it is nested too deeply",
                          "the file is damaged or was crafted; encode the image again") from None
    except (ValueError, zlib.error, UnicodeDecodeError) as exc:
        raise StreamError(f"{source} has an unreadable header: {exc}",
                          "the file is damaged; encode the image again") from None


def _describe(data: bytes) -> str:
    if not data:
        return "it is empty"
    for magic, what in _KNOWN_MAGICS.items():
        if data.startswith(magic):
            return f"it looks like {what}"
    return f"it starts with {data[:8]!r}"
