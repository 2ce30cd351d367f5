"""A fresh venv with plugin packages installed for real, next to this environment's interleaf.

Each :class:`Plugin` is written as a package in a temp directory and pip-installed offline (no index, no
build isolation: the build backend of this environment) into a new venv that sees this environment's
packages, interleaf included even when it is an editable install. Tests then run ``interleaf`` or Python
in that venv (:meth:`PluginVenv.run`, :meth:`PluginVenv.arun`), exactly as a user who ran
``pip install interleaf-acme`` would.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import site
import subprocess
import venv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

INTERLEAF = "from interleaf.cli import main; main()"
"""``python -c INTERLEAF ARGS``: the ``interleaf`` command of the venv."""


@dataclass(frozen=True)
class Plugin:
    name: str
    """The distribution name (``interleaf-acme``); its one module is the name with ``_``."""
    source: str
    """The module's source."""
    entry_points: str
    """``[project.entry-points."interleaf.profiles"]`` ... tables, as in a pyproject.toml."""


@dataclass(frozen=True)
class PluginVenv:
    python: Path
    env: dict[str, str]
    root: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.python), *args],
            env=self.env,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=120,
        )

    async def arun(self, *args: str, timeout: float = 120) -> tuple[int, str, str]:
        """Like :meth:`run`, without blocking the event loop a test's servers answer on."""
        process = await asyncio.create_subprocess_exec(
            str(self.python),
            *args,
            env=self.env,
            cwd=self.root,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=timeout)
        assert process.returncode is not None
        return process.returncode, out.decode(), err.decode()

    async def start(self, *args: str) -> asyncio.subprocess.Process:
        """A long-running process of the venv (a server); the caller stops it."""
        return await asyncio.create_subprocess_exec(
            str(self.python),
            *args,
            env=self.env,
            cwd=self.root,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )


def _pyproject(name: str, entry_points: str, build: tuple[str, str]) -> str:
    requires, backend = build
    text = (
        f'[build-system]\nrequires = ["{requires}"]\nbuild-backend = "{backend}"\n\n'
        f'[project]\nname = "{name}"\nversion = "0.1.0"\n{entry_points}'
    )
    if backend.startswith("hatchling"):
        text += f'\n[tool.hatch.build.targets.wheel]\npackages = ["{name.replace("-", "_")}"]\n'
    return text


def _build_backend() -> tuple[str, str]:
    """The build backend this environment has (pip may not fetch one: the install is offline)."""
    if importlib.util.find_spec("hatchling") is not None:
        return "hatchling", "hatchling.build"
    try:
        from importlib.metadata import version

        major, minor = (int(part) for part in version("setuptools").split(".")[:2])
    except Exception:
        major, minor = 0, 0
    if (major, minor) >= (70, 1):  # from 70.1 setuptools builds wheels without the `wheel` package
        return "setuptools>=70.1", "setuptools.build_meta"
    pytest.fail("building the test plugins needs hatchling (in the dev extras): pip install -e '.[dev]'")


def make_plugin_venv(root: Path, plugins: Sequence[Plugin]) -> PluginVenv:
    """A new venv under ``root`` with ``plugins`` installed and this environment's packages visible."""
    build = _build_backend()
    packages: list[str] = []
    for plugin in plugins:
        module = plugin.name.replace("-", "_")
        project = root / plugin.name
        (project / module).mkdir(parents=True)
        (project / module / "__init__.py").write_text(plugin.source.lstrip())
        (project / "pyproject.toml").write_text(_pyproject(plugin.name, plugin.entry_points, build))
        packages.append(str(project))

    # --system-site-packages would show the *base* interpreter's packages, not this venv's (nor an
    # editable interleaf in it): a .pth that adds this environment's site directories does, the way
    # `site` itself adds them, so their own .pth files (the editable install's path) work there too.
    target = root / "venv"
    venv.EnvBuilder(with_pip=False).create(target)
    python = target / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    parents = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (Path(purelib) / "_parent_environment.pth").write_text(
        "".join(f"import site; site.addsitedir({p!r})\n" for p in parents)
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "VIRTUAL_ENV"))}
    env |= {
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_NO_INPUT": "1",
        "INTERLEAF_HOME": str(root / "home"),
        "INTERLEAF_CONFIG": str(root / "empty-config.toml"),
        "NO_COLOR": "1",
    }
    (root / "empty-config.toml").write_text("")
    plugin_env = PluginVenv(python, env, root)
    installed = plugin_env.run(
        "-m",
        "pip",
        "install",
        "--no-index",
        "--no-deps",
        "--no-build-isolation",
        "--disable-pip-version-check",
        "--quiet",
        *packages,
    )
    assert installed.returncode == 0, installed.stderr
    return plugin_env
