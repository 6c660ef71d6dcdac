"""Opening input files safely: regular files only, bounded sizes, one readable error for every odd path.

A FIFO, socket, device or folder given where a file is expected is refused
before it is opened for reading (so nothing blocks); so are names longer than
the file system allows, symlink loops, paths that run through a file, and files
that cannot be read. Streams are checked for the magic bytes before the rest of
the file is read, and refused above a size limit.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

from .errors import InputError, StreamError

MAX_NAME_BYTES = 255
"""Longest file or folder name (each part of a path), in bytes: the limit of common file systems."""
MAX_STREAM_BYTES = 1 << 30
"""Largest stream file ``discover info``/``decode``/``extract`` read (1 GiB)."""

_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a folder"))


def _kind(mode: int) -> str:
    return next((what for test, what in _KINDS if test(mode)), "not a regular file")


def _os_error(path: Path, exc: OSError, what: str) -> InputError:
    code = exc.errno
    if code == errno.ENOENT:
        return InputError(f"{what} not found: {path}", "check the path")
    if code == errno.ELOOP:
        return InputError(f"cannot open {path}: a symbolic link loop", "point the link at a real file")
    if code == errno.ENOTDIR:
        return InputError(f"cannot open {path}: a part of the path is a file, not a folder", "check the path")
    if code in (errno.EACCES, errno.EPERM):
        return InputError(f"cannot read {path}: permission denied", "check the file's permissions")
    if code == errno.ENAMETOOLONG:
        return InputError(f"cannot open {path}: the name is too long", "use a shorter path")
    return InputError(f"cannot read {path}: {exc.strerror or exc}", "check that the file can be read")


def check_name(path: str | Path, what: str = "file") -> Path:
    """``path`` as a Path; an :class:`InputError` if a part of it is longer than :data:`MAX_NAME_BYTES`."""
    path = Path(path)
    for part in path.parts:
        if len(os.fsencode(part)) > MAX_NAME_BYTES:
            raise InputError(f"the {what} name {part[:40]}... is {len(os.fsencode(part))} bytes long, more than "
                             f"the {MAX_NAME_BYTES} a file system allows", "rename the file or use a shorter path")
    return path


def open_regular(path: str | Path, what: str = "file") -> BinaryIO:
    """Open a regular file for reading; anything else (missing, folder, FIFO, device, loop ...) is an InputError.

    The type is checked before opening, and again on the open file (opened non-blocking, so a FIFO
    swapped in between cannot block).
    """
    path = check_name(path, what)
    try:
        st = os.stat(path)
    except OSError as exc:
        raise _os_error(path, exc, what) from None
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{path} is {_kind(st.st_mode)}, not a {what} file", f"pass a {what} file")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise _os_error(path, exc, what) from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise InputError(f"{path} is {_kind(st.st_mode)}, not a {what} file", f"pass a {what} file")
    return os.fdopen(fd, "rb")


def read_stream_file(path: str | Path, max_bytes: int = MAX_STREAM_BYTES):
    """Read and parse a stream file (:class:`discover_core.bitstream.Stream`).

    The magic bytes are checked before the rest is read; files larger than ``max_bytes`` are refused.
    """
    from .bitstream import Stream

    path = Path(path)
    with open_regular(path, "stream") as f:
        try:
            size = os.fstat(f.fileno()).st_size
            head = f.read(16)
            if not head.startswith(b"DSCV"):
                Stream.from_bytes(head, source=str(path))  # raises: names what the file looks like
            if size > max_bytes:
                raise StreamError(f"{path} is {size} bytes, more than the {max_bytes} a stream may have",
                                  "this is not a stream discover wrote; check the file")
            # What the file holds (plus one byte, to notice a file that grew), never the maximum.
            data = head + f.read(max(0, min(size, max_bytes) + 1 - len(head)))
        except OSError as exc:
            raise _os_error(path, exc, "stream") from None
    if len(data) > max_bytes:
        raise StreamError(f"{path} holds more than the {max_bytes} bytes a stream may have",
                          "this is not a stream discover wrote; check the file")
    return Stream.from_bytes(data, source=str(path))
