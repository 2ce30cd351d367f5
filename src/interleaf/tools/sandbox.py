"""The operating-system sandbox the agent's ``shell`` and ``python`` run in: bubblewrap (``bwrap``).

One sandbox holds one whole process tree (the persistent bash, the Jupyter kernel), so everything
those start is confined too. Why bubblewrap, and what it guarantees, is in docs/agent.md ("Sandbox");
in short: it is the sandbox Flatpak uses, packaged by every major distribution, and it builds the
sandbox out of Linux namespaces, which can *hide* paths, give a private ``/tmp``, a private PID space
and no network, where a Landlock ruleset (the other maintained mechanism) can only refuse access to
paths that stay visible.

What a process in the sandbox sees (mode ``workdir``; ``readonly`` binds the workdir read-only too):

* ``/`` read-only; ``/dev`` minimal (null, zero, random, tty, shm); ``/proc`` of its own PID namespace,
  so it sees and signals only its own processes (``kill -9 -1`` ends the sandbox, nothing else);
* ``/tmp`` and ``/var/tmp`` private, empty and writable, gone when the sandbox ends; ``/run`` empty
  (no Docker, D-Bus, ssh-agent or gpg-agent sockets) apart from the resolver's files;
* homes (``$HOME``, ``/home``, ``/root``) and interleaf's own data and config directories empty and
  read-only, apart from what is bound back: the Python interpreter, the tool installations on
  ``PATH`` (the parent of a ``bin`` or ``shims`` directory, e.g. ``~/.pyenv``) and the homes their
  managers name (``RUSTUP_HOME``, ``PYENV_ROOT``, ``NVM_DIR``, ...; ``~/.rustup``), all read-only, the
  session's output folder (read-only) and the policy's ``read`` and ``write`` paths;
* credentials (``~/.ssh``, ``~/.aws``, ``~/.config/gcloud``, ``/etc/shadow``, ...), interleaf's sessions
  and the policy's ``hide`` paths hidden even inside a path bound back (a workdir holding the home);
  environment variables that look like secrets (``*KEY*``, ``*TOKEN*``, ...) unset;
* the workdir read-write; the network shared, or a private namespace with only loopback (``network``);
* no capabilities, no new privileges (setuid binaries do not elevate), no further user namespaces;
  at most ``max_processes`` processes (see :mod:`interleaf.tools.sandbox_limits`).

Callers start the sandboxed command without a controlling terminal (``start_new_session``), so the
sandbox shares none with the user's terminal.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import pwd
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from interleaf.config import SandboxConfig
from interleaf.paths import config_dir, data_dir
from interleaf.tools.sandbox_limits import LimitState, ProcessLimit, find_process_limit

__all__ = [
    "CREDENTIALS_IN_HOME",
    "DEFAULT_MAX_PROCESSES",
    "Confinement",
    "Sandbox",
    "SandboxMode",
    "SandboxPolicy",
]

SandboxMode = Literal["workdir", "readonly", "off"]
_Shows = Literal["nothing", "read", "write"]
DEFAULT_MAX_PROCESSES = 1024

CREDENTIALS_IN_HOME: tuple[str, ...] = (
    ".ssh",
    ".gnupg",
    ".aws",
    ".azure",
    ".config/gcloud",
    ".kube",
    ".docker",
    ".netrc",
    ".git-credentials",
    ".npmrc",
    ".yarnrc.yml",
    ".pypirc",
    ".cargo/credentials",
    ".cargo/credentials.toml",
    ".config/gh",
    ".config/hub",
    ".config/op",
    ".config/rclone",
    ".password-store",
    ".local/share/keyrings",
    ".terraform.d",
    ".vault-token",
    ".huggingface",
    ".cache/huggingface/token",
    ".gem/credentials",
    ".m2/settings.xml",
    ".gradle/gradle.properties",
    ".pgpass",
    ".my.cnf",
    ".s3cfg",
    ".boto",
)
"""Paths under a home directory that are hidden in the sandbox even when a ``read`` path covers them."""

_SYSTEM_SECRETS = ("/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/ssl/private")
_SECRET_ENV = re.compile(r"KEY|SECRET|TOKEN|PASSW|CREDENTIAL|AUTH", re.IGNORECASE)
_SOCKET_ENV = ("SSH_AUTH_SOCK", "GPG_AGENT_INFO", "DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR")
_PRIVATE_DIRS = ("/tmp", "/var/tmp")
_TOOL_DIRS = {"bin", "sbin", "shims"}
# Tool installations whose programs are on PATH but whose data lives elsewhere (rustup's toolchains).
_TOOL_HOME_VARIABLES = ("RUSTUP_HOME", "CARGO_HOME", "PYENV_ROOT", "NVM_DIR", "VOLTA_HOME", "ASDF_DATA_DIR")
_TOOL_HOME_DEFAULTS = (".rustup",)
_INSTALL_HINT = (
    "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap)"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SandboxPolicy:
    """What the sandbox allows, before it meets a machine. Paths may start with ``~``."""

    mode: SandboxMode = "workdir"
    network: bool = True
    read: tuple[str, ...] = ()
    """Paths readable inside the sandbox that it would hide (e.g. ``~/.cache/huggingface``)."""
    write: tuple[str, ...] = ()
    """Paths writable inside the sandbox besides the workdir (e.g. ``~/.cache/pip``)."""
    hide: tuple[str, ...] = ()
    """Paths hidden inside the sandbox besides homes and credentials (e.g. ``/srv/secrets``)."""
    env: tuple[str, ...] = ()
    """Environment variables passed in although their names look like secrets (e.g. ``GH_TOKEN``)."""
    max_processes: int = DEFAULT_MAX_PROCESSES
    """Processes (and threads) one sandbox may run at once; 0 turns the limit off."""

    @classmethod
    def from_config(cls, table: SandboxConfig, *, mode: SandboxMode, network: bool) -> SandboxPolicy:
        """The policy for ``mode`` and ``network`` with the allowances of the config's ``[sandbox]``."""
        return cls(
            mode=mode,
            network=network,
            read=tuple(table.read),
            write=tuple(table.write),
            hide=tuple(table.hide),
            env=tuple(table.env),
            max_processes=DEFAULT_MAX_PROCESSES if table.max_processes is None else table.max_processes,
        )


@dataclass
class Confinement:
    """One sandboxed process tree about to start: its command line, environment and process limit."""

    argv: list[str]
    env: dict[str, str]
    limit: LimitState

    def limit_reached(self, output: str = "") -> bool:
        """Whether the tree ran into the process limit since the last call (see ``LimitState``)."""
        return self.limit.reached(output=output)

    async def aclose(self) -> None:
        """Release what the sandbox held outside itself (its cgroup), after its processes are gone."""
        await asyncio.to_thread(self.limit.close)


class Sandbox:
    """A :class:`SandboxPolicy` for one workdir on this machine.

    ``problem`` says why commands cannot be confined (bubblewrap missing or refused by the kernel);
    it is ``None`` when they can. :attr:`confines` is what approval policies go by.
    """

    def __init__(
        self,
        policy: SandboxPolicy,
        *,
        workdir: Path,
        session_dir: Path | None = None,
        bwrap: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.policy = policy
        self.workdir = workdir.expanduser().resolve()
        self.session_dir = session_dir.resolve() if session_dir is not None else None
        self._environ = dict(os.environ if environ is None else environ)
        self.home = Path(self._environ.get("HOME") or Path.home()).expanduser().resolve()
        self.bwrap = bwrap or shutil.which("bwrap")
        self.problem: str | None = None
        self._disable_userns = False
        self.limit: ProcessLimit = ProcessLimit("no sandbox")
        if policy.mode == "off":
            return
        if self.bwrap is None:
            self.problem = f"bubblewrap (bwrap) is not installed; {_INSTALL_HINT}"
        elif self.workdir == Path("/"):
            self.problem = "the workdir is /, the whole file system, which no sandbox can confine to"
        else:
            self.problem, self._disable_userns = _probe(self.bwrap)
        if self.problem is None:
            self.limit = find_process_limit(policy.max_processes)

    @property
    def confines(self) -> bool:
        """Whether ``shell`` and ``python`` run confined (the mode is not ``off`` and the sandbox works)."""
        return self.policy.mode != "off" and self.problem is None

    def describe(self) -> str:
        """One line for the start of a session: what confines the tools, or why nothing does."""
        if self.policy.mode == "off":
            return "sandbox off (--sandbox off): shell and python run unconfined"
        if self.problem is not None:
            return f"no sandbox: {self.problem}"
        area = "workdir read-write" if self.policy.mode == "workdir" else "workdir read-only"
        network = "network on" if self.policy.network else "network off"
        return f"sandbox {self.policy.mode} (bubblewrap): {area}, {network}, {self.limit.describe()}"

    def environment(self, env: Mapping[str, str]) -> dict[str, str]:
        """``env`` as the sandbox gets it: secret-looking variables and agent sockets left out."""
        allowed = set(self.policy.env)
        out = {
            name: value
            for name, value in env.items()
            if name in allowed or not (name in _SOCKET_ENV or _SECRET_ENV.search(name))
        }
        out["TMPDIR"] = "/tmp"  # the private one; the host's may point into a hidden directory
        cache = Path(env.get("XDG_CACHE_HOME") or self.home / ".cache")
        allowed_caches = [_expand(p) for p in self.policy.write]
        if not any(_within(cache, w) or _within(w, cache) for w in allowed_caches):
            out["XDG_CACHE_HOME"] = "/tmp/.cache"  # tools that need a cache (uv) get a private one
        return out

    def confine(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        *,
        chdir: Path,
        read: Iterable[Path] = (),
        write: Iterable[Path] = (),
        unset: Iterable[str] = (),
    ) -> Confinement:
        """The command line and environment that run ``argv`` in this sandbox, starting in ``chdir``.

        ``read`` and ``write`` are extra paths bound in (a script directory, a kernel's sockets);
        ``unset`` names variables to remove inside. Raises ``OSError`` when the process limit cannot be
        set up (a cgroup that stopped being writable).
        """
        if not self.confines or self.bwrap is None:
            raise RuntimeError(f"the sandbox cannot confine commands: {self.problem or 'it is off'}")
        limit = self.limit.state()
        mounts = _Mounts()
        mounts.hide_all(self._hidden(), always=(self.home,))
        binds = [(path, False) for path in (*self._readable(), *read)]
        binds += [(_expand(p), True) for p in self.policy.write]
        binds.append((self.workdir, self.policy.mode == "workdir"))
        binds += [(Path(p), True) for p in write]
        mounts.bind_all(binds)
        # Secrets, and interleaf's own sessions and config, stay hidden even where a bind (a workdir
        # that holds the home directory, a `read` path) brought them back; the session's outputs return.
        hidden = [*self._credentials(), data_dir().resolve(), config_dir().resolve()]
        mounts.mask_all([*hidden, *(_expand(p) for p in self.policy.hide)], keep=self.workdir)
        if self.session_dir is not None:
            mounts.bind_all([(self.session_dir, False)])
        mounts.seal()
        command = [self.bwrap, *_namespaces(self.policy.network, self._disable_userns)]
        command += [*mounts.args, "--chdir", str(chdir)]
        for name in unset:
            command += ["--unsetenv", name]
        command += ["--", *limit.inner, *argv]
        return Confinement(argv=[*limit.outer, *command], env=self.environment(env), limit=limit)

    # ------------------------------------------------------------------------------------ layout

    def _hidden(self) -> list[Path]:
        """Directories replaced by an empty one: homes and interleaf's own files (sessions, config)."""
        candidates = [self.home, Path("/home"), Path("/root"), data_dir(), config_dir()]
        with contextlib.suppress(KeyError):
            candidates.append(Path(pwd.getpwuid(os.getuid()).pw_dir))
        return [p.resolve() for p in candidates if _kind(p) == "dir" and p.resolve() != Path("/")]

    def _readable(self) -> list[Path]:
        """What the tools need from hidden places: the interpreter, tools on PATH, the session's outputs."""
        found = [Path(p) for p in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}]
        hidden = [*self._hidden(), *(Path(d) for d in _PRIVATE_DIRS)]
        for entry in self._environ.get("PATH", "").split(os.pathsep):
            path = Path(entry)
            if not path.is_absolute():
                continue
            root = next((h for h in hidden if _within(path, h)), None)
            if root is None or path == root:
                continue  # visible anyway, or a whole home or /tmp (never brought back for a PATH entry)
            # A tool manager's bin or shims needs the rest of its install (pyenv's libexec and versions).
            install = path.parent if path.name in _TOOL_DIRS and path.parent != root else path
            found.append(install)
        found += [Path(self._environ[name]) for name in _TOOL_HOME_VARIABLES if self._environ.get(name)]
        found += [self.home / name for name in _TOOL_HOME_DEFAULTS]
        if self.session_dir is not None:
            found.append(self.session_dir)
        found += [_expand(p) for p in self.policy.read]
        resolver = Path("/etc/resolv.conf").resolve()
        if _within(resolver, Path("/run")):
            found.append(resolver.parent)
        return found

    def _credentials(self) -> list[Path]:
        homes = {self.home, *self._hidden()}
        paths = [home / name for home in homes for name in CREDENTIALS_IN_HOME]
        paths += [Path(p) for p in _SYSTEM_SECRETS]
        paths += sorted(Path("/etc/ssh").glob("ssh_host_*key"))
        return paths


class _Mounts:
    """bubblewrap's mount arguments, in order, and what each path shows afterwards.

    Every mount is remembered as (path, what it shows), and a new one forgets those it covers; the
    deepest mount left holding a path decides what the sandbox sees there, as in the kernel's tree.
    """

    def __init__(self) -> None:
        self.args = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
        self._mounts: list[tuple[Path, _Shows]] = [(Path("/"), "read")]
        self._empty: list[Path] = []
        for directory in (*_PRIVATE_DIRS, "/run"):
            if _kind(Path(directory)) == "dir":
                self._add(Path(directory), "nothing", "--tmpfs", str(directory))

    def hide_all(self, paths: Iterable[Path], *, always: Iterable[Path] = ()) -> None:
        """Put an empty directory over each path; those in ``always`` exist in the sandbox even under
        another hidden one (``$HOME`` must exist, empty, even when it lives under ``/home`` or ``/tmp``)."""
        keep = {path for path in always if path != Path("/")}
        for path in sorted(set(paths) | keep, key=lambda p: len(p.parts)):
            if path in keep or self.shows(path) != "nothing":
                self._add(path, "nothing", "--tmpfs", str(path))

    def bind_all(self, binds: Iterable[tuple[Path, bool]]) -> None:
        """Bind ``(path, writable)`` pairs, parents before children, so a deeper bind wins."""
        chosen: dict[Path, bool] = {}
        for path, writable in binds:
            real = path.resolve()
            if _kind(real) is not None and real != Path("/"):
                chosen[real] = chosen.get(real, False) or writable
        for path, writable in sorted(chosen.items(), key=lambda item: len(item[0].parts)):
            if not writable and self.shows(path) == "read":
                continue  # already readable, read-only, as it is
            self._add(
                path,
                "write" if writable else "read",
                "--bind" if writable else "--ro-bind",
                str(path),
                str(path),
            )

    def mask_all(self, paths: Iterable[Path], *, keep: Path) -> None:
        """Hide what would otherwise be visible; never a directory that holds ``keep`` (the workdir)."""
        for path in paths:
            kind = _kind(path)
            if kind is None or _within(keep, path) or self.shows(path) == "nothing":
                continue
            if kind == "dir":
                self._add(path, "nothing", "--tmpfs", str(path))
            else:
                self.args += ["--ro-bind", "/dev/null", str(path)]

    def seal(self) -> None:
        """Make the empty stand-ins read-only, except the private temporary directories (a bind at
        exactly such a path replaced its stand-in and keeps its own mode)."""
        for path in self._empty:
            if str(path) not in _PRIVATE_DIRS and self.shows(path) == "nothing":
                self.args += ["--remount-ro", str(path)]

    def shows(self, path: Path) -> _Shows:
        """What the sandbox shows at ``path`` now: ``nothing`` (hidden), ``read`` or ``write``."""
        deepest = max(
            (i for i, (mounted, _) in enumerate(self._mounts) if _within(path, mounted)),
            key=lambda i: (len(self._mounts[i][0].parts), i),
        )
        return self._mounts[deepest][1]

    def _add(self, path: Path, shows: _Shows, *args: str) -> None:
        self.args += args
        # A mount covers whatever was mounted under it before.
        self._mounts = [(mounted, was) for mounted, was in self._mounts if not _within(mounted, path)]
        self._mounts.append((path, shows))
        if shows == "nothing":
            self._empty.append(path)


def _namespaces(network: bool, disable_userns: bool) -> list[str]:
    args = ["--unshare-all", "--unshare-user", "--die-with-parent", "--cap-drop", "ALL"]
    if disable_userns:
        args.append("--disable-userns")
    if network:
        args.append("--share-net")
    return args


@functools.lru_cache(maxsize=4)
def _probe(bwrap: str) -> tuple[str | None, bool]:
    """(why bubblewrap cannot make a sandbox here or None, whether it has ``--disable-userns``)."""
    try:
        version = subprocess.run([bwrap, "--version"], capture_output=True, text=True, timeout=10).stdout
        numbers = tuple(int(n) for n in re.findall(r"\d+", version)[:2])
        disable_userns = numbers >= (0, 8)
        probe = [bwrap, *_namespaces(False, disable_userns), "--ro-bind", "/", "/"]
        probe += ["--proc", "/proc", "--dev", "/dev", "--", "true"]
        result = subprocess.run(probe, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"bubblewrap ({bwrap}) could not be run: {exc}", False
    if result.returncode != 0:
        reason = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "no message"
        return (
            f"bubblewrap cannot create a sandbox here ({reason}); user namespaces may be disabled "
            "(sysctl kernel.unprivileged_userns_clone, or a container that forbids them)",
            False,
        )
    return None, disable_userns


def _expand(raw: str) -> Path:
    return Path(raw).expanduser().resolve()


def _kind(path: Path) -> Literal["dir", "other"] | None:
    """``dir``, ``other`` or ``None`` when ``path`` does not exist or cannot be seen (another user's
    home: what this user cannot see, the sandbox need not hide)."""
    try:
        return "dir" if path.is_dir() else "other" if path.exists() else None
    except OSError:
        return None


def _within(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)
