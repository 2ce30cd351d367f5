"""How many processes one sandbox may run: the cap that turns a fork bomb into a tool error.

Two kernel mechanisms, whichever works for the user interleaf runs as:

* **RLIMIT_NPROC inside the sandbox's user namespace** (any user but root). Since Linux 5.14 the
  limit is counted per user namespace, so ``ulimit -u N`` run inside a fresh namespace caps the
  sandbox's own processes and threads, not all of the user's. Root is exempt from RLIMIT_NPROC
  everywhere (``copy_process`` skips the check for the initial user), so it needs:
* **a pids cgroup** (root, or a user with a delegated cgroup): a cgroup per sandbox with ``pids.max``,
  joined by a tiny ``sh`` before it execs bubblewrap, so everything the sandbox starts is in it.
  cgroup v2 where the controller is delegated, else the v1 ``pids`` hierarchy.

When neither works, :func:`find_process_limit` says why, and the session tells the user at start.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CgroupLimit", "LimitState", "ProcessLimit", "RlimitLimit", "find_process_limit"]

_PREFIX = "interleaf-sandbox-"


@dataclass
class LimitState:
    """One sandbox's share of a limit: what to run around it and how to tell it was reached."""

    outer: list[str] = field(default_factory=list)
    """Prepended to the bubblewrap command line (runs outside the sandbox)."""
    inner: list[str] = field(default_factory=list)
    """Prepended to the sandboxed command (runs inside it, before the command is exec'd)."""
    cgroup: Path | None = None
    maximum: int = 0
    _events_seen: int = 0

    def reached(self, *, output: str = "") -> bool:
        """Whether the sandbox ran into its limit since the last call.

        Exact with a cgroup: its ``pids.events`` counts refused forks. An rlimit counts nothing anyone
        can read, and by the time a command ends the processes it started may be gone, so the output
        decides: a failed fork says so (bash: ``fork: retry: Resource temporarily unavailable``; Python:
        ``os.fork()`` or ``_fork_exec`` raising ``BlockingIOError ... Resource temporarily
        unavailable``), where other EAGAIN errors (non-blocking I/O) do not mention a fork.
        """
        if self.cgroup is not None:
            count = _max_events(self.cgroup)
            hit, self._events_seen = count > self._events_seen, count
            return hit
        return (
            bool(self.maximum) and "Resource temporarily unavailable" in output and "fork" in output.lower()
        )

    def close(self) -> None:
        """Kill what is left in the cgroup and remove it; a no-op for an rlimit."""
        if self.cgroup is None:
            return
        for _ in range(50):
            pids = _cgroup_pids(self.cgroup)
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            try:
                self.cgroup.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.01)  # killed processes take a moment to leave the cgroup


class ProcessLimit:
    """No limit; the base of the real ones. ``problem`` says why there is none."""

    kind = "none"

    def __init__(self, problem: str = "") -> None:
        self.problem = problem
        self.maximum = 0

    def state(self) -> LimitState:
        return LimitState()

    def describe(self) -> str:
        return f"no process limit ({self.problem})"


class RlimitLimit(ProcessLimit):
    """``ulimit -u`` run inside the sandbox's own user namespace (not for root: see the module doc)."""

    kind = "rlimit"

    def __init__(self, maximum: int) -> None:
        super().__init__()
        self.maximum = maximum

    def state(self) -> LimitState:
        # bash is what the shell tool runs anyway; sh's ulimit flag for processes differs between shells.
        return LimitState(
            inner=["bash", "-c", f'ulimit -u {self.maximum} && exec "$@"', "bash"], maximum=self.maximum
        )

    def describe(self) -> str:
        return f"at most {self.maximum} processes (RLIMIT_NPROC)"


class CgroupLimit(ProcessLimit):
    """A pids cgroup per sandbox under ``parent``."""

    kind = "cgroup"

    def __init__(self, maximum: int, parent: Path) -> None:
        super().__init__()
        self.maximum = maximum
        self.parent = parent

    def state(self) -> LimitState:
        cgroup = self.parent / f"{_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
        try:
            cgroup.mkdir()
            (cgroup / "pids.max").write_text(f"{self.maximum}\n")
        except OSError as exc:
            with contextlib.suppress(OSError):
                cgroup.rmdir()
            raise OSError(f"cannot create the sandbox's pids cgroup {cgroup}: {exc.strerror or exc}") from exc
        join = 'echo $$ > "$0/cgroup.procs" && exec "$@"'
        return LimitState(outer=["/bin/sh", "-c", join, str(cgroup)], cgroup=cgroup, maximum=self.maximum)

    def describe(self) -> str:
        return f"at most {self.maximum} processes (pids cgroup)"


def find_process_limit(maximum: int) -> ProcessLimit:
    """The best process limit this process can impose on a sandbox, probed once per call."""
    if maximum <= 0:
        return ProcessLimit("turned off in the configuration")
    if os.geteuid() != 0:
        return RlimitLimit(maximum)
    for parent in _cgroup_parents():
        if _usable(parent, maximum):
            _remove_stale(parent)
            return CgroupLimit(maximum, parent)
    return ProcessLimit(
        "interleaf runs as root, which RLIMIT_NPROC does not limit, and no writable pids cgroup was "
        "found; run as an ordinary user, or give this process a delegated cgroup with the pids controller"
    )


# ----------------------------------------------------------------------------------------- cgroups


def _cgroup_parents() -> list[Path]:
    """Directories where a child pids cgroup might be made: v2 first, then the v1 pids hierarchy."""
    mounts = _cgroup_mounts()
    memberships = _memberships()
    found: list[Path] = []
    v2 = mounts.get("cgroup2")
    if v2 is not None and "" in memberships:
        own = v2 / memberships[""].lstrip("/")
        # Our own cgroup holds processes (us), so v2 lets it enable controllers for children only when it
        # is the root; its parent usually has pids enabled already, so a sibling works.
        for candidate in (own, own.parent):
            if candidate.is_relative_to(v2) and "pids" in _read(candidate / "cgroup.subtree_control").split():
                found.append(candidate)
    v1 = mounts.get("pids")
    if v1 is not None and "pids" in memberships:
        found.append(v1 / memberships["pids"].lstrip("/"))
    return found


def _cgroup_mounts() -> dict[str, Path]:
    """``cgroup2`` -> its mount point, and for v1 each controller name -> its hierarchy's mount point."""
    mounts: dict[str, Path] = {}
    for line in _read("/proc/self/mountinfo").splitlines():
        left, _, right = line.partition(" - ")
        fields, rest = left.split(), right.split()
        if len(fields) < 5 or len(rest) < 3:
            continue
        if rest[0] == "cgroup2":
            mounts.setdefault("cgroup2", Path(fields[4]))
        elif rest[0] == "cgroup":
            for option in rest[2].split(","):
                mounts.setdefault(option, Path(fields[4]))
    return mounts


def _memberships() -> dict[str, str]:
    """Controller -> this process's cgroup path (``""`` for v2), from /proc/self/cgroup."""
    found: dict[str, str] = {}
    for line in _read("/proc/self/cgroup").splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            for controller in parts[1].split(",") if parts[1] else [""]:
                found[controller] = parts[2]
    return found


def _usable(parent: Path, maximum: int) -> bool:
    """Whether a child cgroup with ``pids.max`` can be made in ``parent`` (made and removed to know)."""
    probe = parent / f"{_PREFIX}probe-{os.getpid()}-{secrets.token_hex(3)}"
    try:
        probe.mkdir()
    except OSError:
        return False
    try:
        (probe / "pids.max").write_text(f"{maximum}\n")
        return True
    except OSError:
        return False
    finally:
        with contextlib.suppress(OSError):
            probe.rmdir()


def _remove_stale(parent: Path) -> None:
    """Remove empty sandbox cgroups left by interleaf processes that were killed (``kill -9``).

    Only those whose maker is gone: another live interleaf may have just made its cgroup and not yet
    moved its shell in, and removing it then fails that sandbox's start."""
    with contextlib.suppress(OSError):
        for entry in parent.iterdir():
            if (
                entry.name.startswith(_PREFIX)
                and entry.is_dir()
                and not _maker_alive(entry.name)
                and not _cgroup_pids(entry)
            ):
                with contextlib.suppress(OSError):
                    entry.rmdir()


def _maker_alive(name: str) -> bool:
    """Whether the process that made the cgroup ``name`` (``<prefix><pid>-<hex>``) still runs."""
    pid = name[len(_PREFIX) :].partition("-")[0]
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def _cgroup_pids(cgroup: Path) -> list[int]:
    return [int(line) for line in _read(cgroup / "cgroup.procs").split() if line.isdigit()]


def _max_events(cgroup: Path) -> int:
    for line in _read(cgroup / "pids.events").splitlines():
        name, _, value = line.partition(" ")
        if name == "max" and value.strip().isdigit():
            return int(value)
    return 0


def _read(path: str | Path) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""
