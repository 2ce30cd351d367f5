"""Writes one benchmark's section into docs/benchmarks.md, leaving the other sections alone.

Each section ends with a stamp saying when, on what machine and at which commit it was measured (and
whether ``src/`` had uncommitted changes then): :func:`stamps` reads them back, so ``make bench`` can tell
which sections the run did not regenerate.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
HEADER = """# Benchmarks

Every figure here is measured by a script in `benchmarks/`, in one run, side by side with its
baseline or peer (the machine is shared and noisy, so ratios measured together are what to compare).
`make bench` (`.venv/bin/python -m benchmarks`) re-runs every script and fails if a section was not
regenerated; one script alone is `.venv/bin/python -m benchmarks.<name>`. Each section ends with the
date and commit it was measured at; "How long `make bench` takes" gives the time of each script.
"""
SECTION = re.compile(r"<!-- bench:(?P<name>[\w-]+) -->.*?<!-- /bench:(?P=name) -->", re.S)
STAMP = re.compile(r"_Measured (?P<when>[\d-]+ [\d:]+) UTC on .*?, commit (?P<commit>[0-9a-f]+|unknown)")


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}"


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, check=True, cwd=ROOT)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def commit() -> str:
    """The short hash of HEAD, or ``unknown`` outside a git checkout."""
    return _git("rev-parse", "--short", "HEAD") or "unknown"


def source_changed() -> bool:
    """Whether ``src/`` differs from HEAD (the measured code is then not exactly the commit's)."""
    return bool(_git("status", "--porcelain", "--", "src"))


def stamp() -> str:
    changed = " with uncommitted changes in src/" if source_changed() else ""
    return f"_Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}, commit {commit()}{changed}._"


def write_section(name: str, body: str) -> None:
    """Replace (or append) the section delimited by ``<!-- bench:name -->`` markers."""
    section = f"<!-- bench:{name} -->\n{body.rstrip()}\n\n{stamp()}\n<!-- /bench:{name} -->"
    text = DOC.read_text() if DOC.exists() else HEADER
    pattern = re.compile(rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->", re.S)
    text = (
        pattern.sub(lambda _: section, text)
        if pattern.search(text)
        else text.rstrip() + "\n\n" + section + "\n"
    )
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text)


def stamps() -> dict[str, tuple[str, str]]:
    """Every section of docs/benchmarks.md: name -> (when measured, commit), ``("", "")`` if unstamped."""
    text = DOC.read_text() if DOC.exists() else ""
    found: dict[str, tuple[str, str]] = {}
    for section in SECTION.finditer(text):
        match = STAMP.search(section.group(0))
        found[section.group("name")] = (match.group("when"), match.group("commit")) if match else ("", "")
    return found
