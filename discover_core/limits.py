"""What a stream header may declare: the bounds every reader (format 1.x JSON, 2.x and 3.x binary) holds it to.

:mod:`discover_core.bitstream` re-exports them; they are checked before anything of that size is allocated.
"""

from __future__ import annotations

MAX_PIXELS = 1 << 28
"""Most pixels of an image discover encodes or a stream may declare (268 Mpx); :mod:`discover_core.images`
enforces it on input images."""
MAX_HEADER_BYTES = 1 << 22
"""Largest header, compressed or decompressed (4 MiB; a header of the most chunks and boxes allowed below
takes well under 1 MiB)."""
MAX_SIDE = 1 << 16
"""Largest width or height a header may declare."""
MAX_HEADER_DEPTH = 32
"""Deepest nesting of objects and arrays in a header (the header's own structure uses 5 levels)."""
MAX_CHUNKS = 4096
"""Most chunks (side and content) a header may list."""
MAX_BOXES_PER_CHUNK = 1024
"""Most boxes one chunk may carry; the same box twice in a chunk is an error."""
MAX_BOXES = 16384
"""Most boxes all chunks together may carry."""
MAX_LABELS = 4096
"""Most labels in the label table (a part lists only the labels of its chunks)."""
MAX_TASKS = 256
"""Most tasks in the task table."""
MAX_NAME_CHARS = 1024
"""Longest label, task, chunk or component name."""
MAX_DECODED_AREA = 8
"""Chunk areas a decoder may have to decode, as a multiple of the canvas: the areas of the rectangles
bounding each chunk's boxes may add up to at most this many times ``width * height``. (The canvas itself is
bounded by :data:`MAX_PIXELS`, the cap enforced on input images.)"""
