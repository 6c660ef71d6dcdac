"""The structured bitstream container.

Layout (all integers big-endian)::

    magic      4 bytes   b"DSCV"
    version    2 bytes   major, minor
    hlen       4 bytes   length of the compressed header
    header     hlen      zlib-compressed UTF-8 JSON (see StreamHeader)
    hcrc       4 bytes   CRC-32 of the compressed header
    payloads             chunk payloads, in the order of header.chunks

The header records what the decoder needs (image size, the entropy model and
composer with their versions and options, the entropy model's parameters) and
the chunk table: for each chunk its kind, length, CRC-32 and, for content
chunks, the boxes, labels and tasks it carries. Nothing in a stream is
executed or unpickled: the header is JSON validated by a pydantic model and
payloads are handed to the entropy model as bytes.

A partial stream (see :meth:`Stream.extract`) is a stream with fewer content
chunks; it is a complete, valid stream in its own right.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any, Iterable, Literal, Sequence

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import StreamError
from .interfaces import Chunk

MAGIC = b"DSCV"
FORMAT_VERSION = (1, 0)
PREFIX = struct.Struct(">4sBBI")
CRC = struct.Struct(">I")
MAX_HEADER_BYTES = 1 << 24
MAX_SIDE = 1 << 16

_KNOWN_MAGICS = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"RIFF": "a RIFF file (WebP?)",
    b"GIF8": "a GIF image",
    b"PK\x03\x04": "a zip archive",
    b"\x80": "a Python pickle",
    b"\x1f\x8b": "a gzip file",
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ComponentRecord(_Model):
    """A component as the decoder must rebuild it."""

    plugin: str
    version: str = ""
    options: dict[str, Any] = Field(default_factory=dict)


class ChunkEntry(_Model):
    kind: Literal["side", "content"]
    name: str
    length: int = Field(ge=0)
    crc32: int = Field(ge=0, lt=1 << 32)
    labels: list[int] = Field(default_factory=list, description="indices into StreamHeader.labels")
    boxes: list[tuple[int, int, int, int]] = Field(default_factory=list)
    tasks: list[int] = Field(default_factory=list, description="indices into StreamHeader.tasks")


class StreamHeader(_Model):
    width: int = Field(ge=1, le=MAX_SIDE)
    height: int = Field(ge=1, le=MAX_SIDE)
    mode: str = "RGB"
    entropy_model: ComponentRecord
    params: dict[str, Any] = Field(default_factory=dict)
    composer: ComponentRecord
    tasks: list[str] = Field(default_factory=list)
    labels: list[str] = Field(default_factory=list)
    chunks: list[ChunkEntry]
    content_chunks_encoded: int = Field(ge=0, description="content chunks in the full stream")

    @model_validator(mode="after")
    def _check_refs(self) -> "StreamHeader":
        for i, c in enumerate(self.chunks):
            if any(not 0 <= j < len(self.labels) for j in c.labels):
                raise ValueError(f"chunk {i} refers to a label index outside the label table")
            if any(not 0 <= j < len(self.tasks) for j in c.tasks):
                raise ValueError(f"chunk {i} refers to a task index outside the task table")
            for x0, y0, x1, y1 in c.boxes:
                if not (0 <= x0 < x1 <= self.width and 0 <= y0 < y1 <= self.height):
                    raise ValueError(f"chunk {i} has box {(x0, y0, x1, y1)} outside the "
                                     f"{self.width}x{self.height} image")
        return self


@dataclass
class Stream:
    """An encoded image: header and chunks. Build with :meth:`from_bytes` or a pipeline's encode."""

    header: StreamHeader
    chunks: list[Chunk] = field(default_factory=list)

    # -- construction ----------------------------------------------------
    @classmethod
    def build(cls, *, size: tuple[int, int], mode: str, entropy_model: ComponentRecord,
              params: dict[str, Any], composer: ComponentRecord, chunks: Sequence[Chunk],
              tasks: Iterable[str] = ()) -> "Stream":
        """A stream of ``chunks``; ``tasks`` names the tasks it was encoded for, even those with no content."""
        tasks = sorted(set(tasks) | {t for c in chunks for t in c.tasks})
        labels = sorted({lab for c in chunks for lab in c.labels})
        entries = [_entry(c, labels, tasks) for c in chunks]
        header = StreamHeader(
            width=size[0], height=size[1], mode=mode, entropy_model=entropy_model, params=params,
            composer=composer, tasks=tasks, labels=labels, chunks=entries,
            content_chunks_encoded=sum(c.kind == "content" for c in chunks),
        )
        return cls(header, list(chunks))

    # -- serialisation ---------------------------------------------------
    def to_bytes(self) -> bytes:
        raw = json.dumps(self.header.model_dump(mode="json", exclude_defaults=True), separators=(",", ":"),
                         sort_keys=True, ensure_ascii=False).encode("utf-8")
        packed = zlib.compress(raw, 9)
        parts = [PREFIX.pack(MAGIC, *FORMAT_VERSION, len(packed)), packed, CRC.pack(zlib.crc32(packed))]
        parts += [c.payload for c in self.chunks]
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "stream") -> "Stream":
        """Parse and check a stream; any defect raises :class:`StreamError` naming it."""
        data = bytes(data)
        if len(data) < len(MAGIC) or not data.startswith(MAGIC):
            raise StreamError(f"{source} is not a discover stream ({_describe(data)})",
                              "pass a file written by `discover encode` or `discover extract`")
        if len(data) < PREFIX.size:
            raise StreamError(f"{source} is truncated: {len(data)} bytes, shorter than the fixed "
                              f"{PREFIX.size}-byte prefix", "the file was cut short; encode it again")
        _, major, minor, hlen = PREFIX.unpack_from(data)
        if major != FORMAT_VERSION[0]:
            raise StreamError(
                f"{source} uses stream format {major}.{minor}; this discover reads {FORMAT_VERSION[0]}.x",
                "upgrade discover-codec" if major > FORMAT_VERSION[0] else "re-encode the image with this version",
            )
        if hlen > MAX_HEADER_BYTES:
            raise StreamError(f"{source} is corrupt: header length {hlen} is implausible",
                              "the file is damaged; encode the image again")
        end = PREFIX.size + hlen
        if len(data) < end + CRC.size:
            raise StreamError(f"{source} is truncated inside the header ({len(data)} of at least "
                              f"{end + CRC.size} bytes)", "the file was cut short; encode it again")
        packed = data[PREFIX.size:end]
        (hcrc,) = CRC.unpack_from(data, end)
        if zlib.crc32(packed) != hcrc:
            raise StreamError(f"{source} is corrupt: header checksum mismatch",
                              "the file is damaged; encode the image again")
        header = _parse_header(packed, source)
        pos = end + CRC.size
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
        return cls(header, chunks)

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

        Nothing is re-encoded: payloads are copied as they are.
        """
        if (task is None) == (labels is None):
            raise StreamError("extract needs exactly one of a task name or a list of labels")
        if task is not None:
            if task not in self.header.tasks:
                known = ", ".join(self.header.tasks) or "(none)"
                raise StreamError(f"the stream has no task '{task}'", f"tasks in this stream: {known}")
            keep = lambda c: task in c.tasks  # noqa: E731
        else:
            wanted = {lab.strip() for lab in labels if lab.strip()}  # type: ignore[union-attr]
            if not wanted:
                raise StreamError("extract was given an empty list of labels",
                                  f"labels in this stream: {', '.join(self.header.labels) or '(none)'}")
            unknown = wanted - set(self.header.labels)
            if unknown and unknown == wanted:
                raise StreamError(
                    f"the stream has no content for label(s) {', '.join(sorted(unknown))}",
                    f"labels in this stream: {', '.join(self.header.labels) or '(none)'}")
            keep = lambda c: bool(wanted.intersection(c.labels))  # noqa: E731
        chunks = [c for c in self.chunks if c.kind == "side" or keep(c)]
        tasks, labels_ = self.header.tasks, self.header.labels
        header = self.header.model_copy(update={
            "chunks": [_entry(c, labels_, tasks) for c in chunks],
        })
        return Stream(StreamHeader.model_validate(header.model_dump()), chunks)


def _entry(c: Chunk, labels: list[str], tasks: list[str]) -> ChunkEntry:
    return ChunkEntry(
        kind=c.kind, name=c.name, length=len(c.payload), crc32=zlib.crc32(c.payload),
        labels=[labels.index(lab) for lab in c.labels], boxes=[tuple(b) for b in c.boxes],
        tasks=[tasks.index(t) for t in c.tasks],
    )


def _parse_header(packed: bytes, source: str) -> StreamHeader:
    try:
        d = zlib.decompressobj()
        raw = d.decompress(packed, MAX_HEADER_BYTES)
        if d.unconsumed_tail or not d.eof:
            raise ValueError("header does not decompress to a complete, bounded document")
        obj = json.loads(raw.decode("utf-8"))
        return StreamHeader.model_validate(obj)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "header"
        raise StreamError(f"{source} has an invalid header: {where}: {first['msg']}",
                          "the file is damaged or was written by an incompatible tool") from None
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
