"""How an app is started: its command line, environment and directory, and where installs live.

Adapters (:mod:`tests.compat.apps_node`, :mod:`tests.compat.apps_python`) configure an app only through
env vars and files in the run's temp HOME, and return a :class:`Launch`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.compat.sandbox import CACHE


@dataclass(frozen=True)
class Launch:
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    stdin: str = ""


def npm_bin(app: str, command: str) -> Path:
    """An npm app's executable in its own prefix under .cache/compat."""
    return CACHE / app / "node_modules" / ".bin" / command


def venv_bin(app: str, command: str) -> Path:
    """A Python app's executable in its own venv under .cache/compat/venvs."""
    return CACHE / "venvs" / app / "bin" / command


def write(path: Path, text: str) -> None:
    """Write a config file, creating its directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
