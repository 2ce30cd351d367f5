"""A fake home for sandbox tests: a temporary ``$HOME`` with a fake private key, and the checks that make
a sandbox test refuse to run anywhere near a real home.

Sandbox tests try to read, overwrite and delete ``$HOME``. If the sandbox failed while ``$HOME`` were
the real one, the test would do real damage, so :func:`fake_home` sets ``HOME`` (and
``INTERLEAF_HOME``) to directories under ``tmp_path`` and :func:`refuse_real_home` stops any test whose
``HOME`` is not inside the system's temporary directory. bubblewrap is not optional: ``make test``
installs it (``scripts/ensure-system-deps``), and these tests fail, never skip, without it.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class FakeHome:
    path: Path
    secret: str
    """The fake private key's unique text: it must never reach the model."""
    outside: Path
    """A directory next to the workdir (outside it) that exists on the host."""
    work: Path


def fake_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeHome:
    """Make ``tmp_path/home`` the home directory, with ``.ssh/id_rsa``, ``.aws/credentials`` and
    ``.bashrc``; ``tmp_path/work`` the workdir and ``tmp_path/outside`` a directory beside it."""
    require_bubblewrap()
    home, work, outside = tmp_path / "home", tmp_path / "work", tmp_path / "outside"
    for directory in (home / ".ssh", home / ".aws", work, outside):
        directory.mkdir(parents=True)
    secret = f"FAKE-PRIVATE-KEY-{secrets.token_hex(12)}"
    (home / ".ssh" / "id_rsa").write_text(f"-----BEGIN OPENSSH PRIVATE KEY-----\n{secret}\n")
    (home / ".aws" / "credentials").write_text(f"[default]\naws_secret_access_key = {secret}\n")
    (home / ".bashrc").write_text("# the fake home's bashrc\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("INTERLEAF_HOME", str(tmp_path / "interleaf"))
    refuse_real_home()
    return FakeHome(home, secret, outside, work)


def refuse_real_home() -> None:
    """Stop the test unless ``$HOME`` is inside the system's temporary directory."""
    home = Path(os.environ.get("HOME", "/")).resolve()
    temporary = Path(tempfile.gettempdir()).resolve()
    if not home.is_relative_to(temporary) or home == temporary:
        pytest.fail(
            f"refusing to run a sandbox attack test with HOME={home}: it must be a temporary directory"
        )


def require_bubblewrap() -> None:
    if shutil.which("bwrap") is None:
        pytest.fail(
            "bubblewrap (bwrap) is not installed: `make test` installs it (scripts/ensure-system-deps); "
            "or `sudo apt-get install bubblewrap`. Sandbox tests are never skipped."
        )


def require_process_limit(workdir: Path, maximum: int) -> None:
    """Stop before a fork bomb runs anywhere the sandbox could not contain it."""
    from interleaf.tools.sandbox import Sandbox, SandboxPolicy

    limit = Sandbox(SandboxPolicy(max_processes=maximum), workdir=workdir).limit
    if limit.kind == "none":
        pytest.fail(f"refusing to run a fork bomb: the sandbox has {limit.describe()}")


def home_untouched(home: FakeHome) -> bool:
    """Whether the fake home still holds exactly what :func:`fake_home` put there."""
    files = sorted(str(p.relative_to(home.path)) for p in home.path.rglob("*") if p.is_file())
    return (
        files == [".aws/credentials", ".bashrc", ".ssh/id_rsa"]
        and home.secret in (home.path / ".ssh" / "id_rsa").read_text()
    )
