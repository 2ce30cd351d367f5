"""What every driver shares: its command line and the two tools the task uses (stdlib only)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def arguments(apis: tuple[str, ...]) -> argparse.Namespace:
    """``--api --base-url --model --key --prompt --workdir``, all required."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--api", choices=apis, required=True)
    parser.add_argument("--base-url", required=True, help="http://HOST:PORT without /v1")
    parser.add_argument("--model", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--prompt", required=True)
    parser.add_argument("--workdir", required=True, type=Path)
    args = parser.parse_args()
    os.chdir(args.workdir)
    return args


INSTRUCTIONS = "You are a careful assistant. Use the tools to look at files before you answer."


def read_file(path: str) -> str:
    """Read a text file and return its content.

    Args:
        path: the file's path, absolute or relative to the working directory.
    """
    return Path(path).read_text()


def list_directory(path: str) -> str:
    """List the names in a directory, one a line.

    Args:
        path: the directory's path, absolute or relative to the working directory.
    """
    return "\n".join(sorted(p.name for p in Path(path).iterdir()))
