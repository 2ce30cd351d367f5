"""Where interleaf keeps its files (XDG base directories, overridable for tests and deployments)."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """``$INTERLEAF_HOME``, else ``$XDG_DATA_HOME/interleaf``, else ``~/.local/share/interleaf``."""
    if home := os.environ.get("INTERLEAF_HOME"):
        return Path(home)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "interleaf"


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/interleaf``, else ``~/.config/interleaf``."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "interleaf"


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/interleaf``, else ``~/.cache/interleaf``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "interleaf"
