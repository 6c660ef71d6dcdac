"""compressai imported with one dependency's import-time warning silenced.

compressai imports torch_geometric, whose modules call ``torch.jit.script`` at import time; torch 2.9 warns
that it is deprecated (a FutureWarning about their code, not ours or the user's), once per process, in the
middle of ``discover train`` or ``discover encode`` output. Only that message is filtered, only during the
import."""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning)
    import compressai.entropy_models  # noqa: F401
    import compressai.layers  # noqa: F401
