"""The OS sandbox with real processes: bubblewrap around the shell tool's bash and the python tool's kernel.

Every test runs with a fake ``$HOME`` under ``tmp_path`` (tests/support/sandbox_home.py) holding a fake
private key. Each attempt to get out is made for real and checked on the host afterwards.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from interleaf.tools.base import ToolContext, Toolset
from interleaf.tools.files import ReadFileTool, WriteFileTool
from interleaf.tools.python import PythonTool
from interleaf.tools.sandbox import Sandbox, SandboxPolicy
from interleaf.tools.shell import ShellTool
from tests.support.sandbox_home import FakeHome, fake_home, home_untouched, require_process_limit


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeHome:
    return fake_home(tmp_path, monkeypatch)


def context(home: FakeHome, **changes: object) -> ToolContext:
    return ToolContext(workdir=home.work, session_dir=home.path.parent / "session", **changes)  # type: ignore[arg-type]


def sandbox(home: FakeHome, **policy: object) -> Sandbox:
    made = Sandbox(SandboxPolicy(**policy), workdir=home.work, session_dir=home.path.parent / "session")  # type: ignore[arg-type]
    assert made.confines, made.problem
    return made


@pytest.fixture
async def shell(home: FakeHome) -> AsyncIterator[Toolset]:
    async with Toolset([ShellTool(sandbox=sandbox(home, max_processes=64), max_timeout=20)]) as tools:
        yield tools


async def sh(tools: Toolset, ctx: ToolContext, command: str, timeout: float = 10) -> tuple[str, bool]:
    outcome = await tools.call("shell", {"command": command, "timeout": timeout}, ctx)
    return outcome.text, outcome.is_error


async def test_the_home_is_empty_read_only_and_the_key_unreadable(shell: Toolset, home: FakeHome) -> None:
    ctx = context(home)
    assert await sh(shell, ctx, "ls -A ~ | wc -l; echo $HOME") == (f"0\n{home.path}", False)
    text, is_error = await sh(shell, ctx, "cat ~/.ssh/id_rsa")
    assert is_error
    assert "No such file or directory" in text
    for attack in ("echo evil >> ~/.bashrc", "mkdir ~/.ssh", "rm ~/.bashrc", "cd ~ && rm -r -f ."):
        text, is_error = await sh(shell, ctx, attack)
        assert is_error, attack
    assert home_untouched(home)
    assert home.secret not in text


async def test_writes_outside_the_workdir_fail_and_tmp_is_private(shell: Toolset, home: FakeHome) -> None:
    ctx = context(home)
    text, is_error = await sh(shell, ctx, f"echo owned > {home.outside}/owned.txt")
    assert is_error
    assert "No such file or directory" in text  # the host's /tmp is not there at all
    for target in ("/etc/interleaf-owned", "/usr/local/interleaf-owned", "/var/interleaf-owned"):
        text, is_error = await sh(shell, ctx, f"echo owned > {target}")
        assert (is_error, "Read-only file system" in text) == (True, True), target
        assert not _exists(target)
    assert not (home.outside / "owned.txt").exists()
    private = f"/tmp/interleaf-private-{os.getpid()}"
    made = f"echo fine > made.txt && echo temp > {private} && cat {private}"
    assert await sh(shell, ctx, made) == ("temp", False)
    assert (home.work / "made.txt").read_text() == "fine\n"
    assert not _exists(private)  # the sandbox's /tmp is its own


async def test_credentials_stay_hidden_even_under_an_allowed_path(home: FakeHome) -> None:
    ctx = context(home)
    (home.work / "private").mkdir()
    (home.work / "private" / "token.txt").write_text(home.secret)
    allowed = sandbox(home, read=("~",), write=(str(home.outside),), hide=(str(home.work / "private"),))
    async with Toolset([ShellTool(sandbox=allowed)]) as tools:
        text, _ = await sh(
            tools, ctx, "ls -A ~; cat ~/.bashrc; cat ~/.ssh/id_rsa ~/.aws/credentials; ls -A ~/.ssh"
        )
        assert "the fake home's bashrc" in text  # the allowed home is readable ...
        assert home.secret not in text  # ... its credentials are not
        text, is_error = await sh(tools, ctx, "cat private/token.txt")
        assert is_error  # hidden by the policy, though inside the workdir
        assert home.secret not in text
        assert await sh(tools, ctx, f"echo ok > {home.outside}/allowed.txt") == ("(no output)", False)
        assert (home.outside / "allowed.txt").read_text() == "ok\n"
        text, is_error = await sh(tools, ctx, "echo evil >> ~/.bashrc")
        assert is_error
        assert "Read-only file system" in text
    assert home_untouched(home)


async def test_secret_environment_variables_are_not_passed_in(
    home: FakeHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", home.secret)
    monkeypatch.setenv("GH_TOKEN", "gh-allowed")
    monkeypatch.setenv("HARMLESS_SETTING", "kept")
    async with Toolset([ShellTool(sandbox=sandbox(home, env=("GH_TOKEN",)))]) as tools:
        text, _ = await sh(tools, context(home), "env")
    assert home.secret not in text
    assert "GH_TOKEN=gh-allowed" in text
    assert "HARMLESS_SETTING=kept" in text


async def test_the_sandbox_sees_only_its_own_processes(shell: Toolset, home: FakeHome) -> None:
    canary = await asyncio.create_subprocess_exec("sleep", "60")
    try:
        ctx = context(home)
        text, _ = await sh(shell, ctx, "ls /proc | grep -c '^[0-9]'")
        assert int(text) < 10
        # The deny list refuses `kill -9 -1`; a variable hides the -1 from it, so the sandbox must hold.
        await sh(shell, ctx, "n=-1; kill -9 $n; echo done")
        await asyncio.sleep(0.1)
        assert canary.returncode is None
        assert await sh(shell, ctx, "echo still here") == ("still here", False)
    finally:
        canary.kill()
        await canary.wait()


async def test_no_network_when_it_is_off(home: FakeHome) -> None:
    hits: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hits.append(await reader.readline())
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    fetch = f"curl -sS -m 5 http://127.0.0.1:{port}/canary"
    ctx = context(home)
    try:
        async with Toolset([ShellTool(sandbox=sandbox(home, network=False))]) as tools:
            text, is_error = await sh(tools, ctx, fetch)
            assert is_error
            assert "Couldn't connect" in text or "Failed to connect" in text
        assert hits == []
        async with Toolset([ShellTool(sandbox=sandbox(home, network=True))]) as tools:
            assert await sh(tools, ctx, fetch) == (
                "ok",
                False,
            )  # the same command reaches it with the network on
        assert hits == [b"GET /canary HTTP/1.1\r\n"]
    finally:
        server.close()
        await server.wait_closed()


async def test_a_fork_bomb_hits_the_process_limit_and_the_shell_comes_back(
    shell: Toolset, home: FakeHome
) -> None:
    require_process_limit(home.work, 64)
    ctx = context(home)
    # A file, so the deny list (which reads command lines, not files) cannot see the bomb.
    (home.work / "bomb.py").write_text("import os\nwhile True:\n    os.fork()\n")
    text, is_error = await sh(shell, ctx, "cd /tmp && export MARK=gone && python3 $OLDPWD/bomb.py", timeout=8)
    assert is_error
    assert "the sandbox's limit of 64 processes" in text
    assert "a new shell was started" in text
    text, is_error = await sh(shell, ctx, "pwd; echo mark=$MARK; ls /proc | grep -c '^[0-9]'")
    assert not is_error
    lines = text.splitlines()
    assert lines[:2] == [str(home.work), "mark="]
    assert int(lines[2]) < 10


async def test_too_many_processes_end_the_command_with_a_clear_error(shell: Toolset, home: FakeHome) -> None:
    require_process_limit(home.work, 64)
    ctx = context(home)
    spawn = "import subprocess\nfor _ in range(200):\n    subprocess.Popen(['sleep', '30'])\n"
    (home.work / "spawn.py").write_text(spawn)
    text, is_error = await sh(shell, ctx, "python3 spawn.py")
    assert is_error
    assert "Resource temporarily unavailable" in text
    assert "limit of 64 processes" in text
    assert await sh(shell, ctx, "echo ok") == ("ok", False)


async def test_readonly_mode_keeps_the_workdir_unchanged(home: FakeHome) -> None:
    (home.work / "notes.txt").write_text("keep\n")
    ctx = context(home, workdir_writable=False)
    readonly = sandbox(home, mode="readonly")
    async with Toolset([ShellTool(sandbox=readonly), WriteFileTool(), ReadFileTool()]) as tools:
        assert await sh(tools, ctx, "cat notes.txt") == ("keep", False)
        text, is_error = await sh(tools, ctx, "echo changed > notes.txt")
        assert is_error
        assert "Read-only file system" in text
        written = await tools.call("write_file", {"path": "notes.txt", "content": "changed"}, ctx)
        assert written.is_error
        assert "read-only" in written.text
    assert (home.work / "notes.txt").read_text() == "keep\n"


async def test_the_file_tools_refuse_credentials_even_outside_the_workdir_allowed(home: FakeHome) -> None:
    ctx = context(home, allow_outside_workdir=True)
    async with Toolset([ReadFileTool()]) as tools:
        outcome = await tools.call("read_file", {"path": "~/.ssh/id_rsa"}, ctx)
        assert outcome.is_error
        assert "holds credentials" in outcome.text
        assert home.secret not in outcome.text
        bashrc = await tools.call("read_file", {"path": "~/.bashrc"}, ctx)
        assert "the fake home's bashrc" in bashrc.text


async def test_the_kernel_runs_in_the_sandbox_and_interrupts_still_work(home: FakeHome) -> None:
    ctx = context(home)
    async with Toolset([PythonTool(sandbox=sandbox(home, max_processes=64), max_timeout=20)]) as tools:
        read = await tools.call("python", {"code": "open(os.path.expanduser('~/.ssh/id_rsa')).read()"}, ctx)
        assert read.is_error  # `os` is not imported yet: NameError, still an error
        read = await tools.call(
            "python", {"code": "import os\nprint(open(os.path.expanduser('~/.ssh/id_rsa')).read())"}, ctx
        )
        assert read.is_error
        assert "FileNotFoundError" in read.text
        written = await tools.call("python", {"code": f"open('{home.outside}/py.txt', 'w').write('x')"}, ctx)
        assert written.is_error
        slow = await tools.call("python", {"code": "x = 41\nimport time\ntime.sleep(30)", "timeout": 1}, ctx)
        assert slow.is_error
        assert "interrupted (KeyboardInterrupt)" in slow.text
        assert (await tools.call("python", {"code": "x + 1"}, ctx)).text == "42"
        pids = await tools.call(
            "python", {"code": "print(len([p for p in os.listdir('/proc') if p.isdigit()]))"}, ctx
        )
        assert int(pids.text) < 10
    assert not (home.outside / "py.txt").exists()
    assert home.secret not in read.text
    assert home_untouched(home)


async def test_without_bubblewrap_the_sandbox_says_so_and_confines_nothing(home: FakeHome) -> None:
    missing = Sandbox(SandboxPolicy(), workdir=home.work, bwrap=str(home.path / "no-bwrap"))
    assert not missing.confines
    assert missing.problem is not None
    assert "could not be run" in missing.problem
    assert missing.describe().startswith("no sandbox: ")
    assert ShellTool(sandbox=missing).reach({"command": "ls"}) == "outside"
    off = Sandbox(SandboxPolicy(mode="off"), workdir=home.work)
    assert not off.confines
    assert off.describe() == "sandbox off (--sandbox off): shell and python run unconfined"


def test_killing_the_parent_kills_the_sandbox(home: FakeHome, tmp_path: Path) -> None:
    """bubblewrap's --die-with-parent: a `kill -9` of interleaf leaves nothing running in the sandbox."""
    confined = sandbox(home).confine(["sleep", "61.5"], os.environ, chdir=home.work)
    parent = subprocess.Popen(
        [
            "python3",
            "-c",
            "import subprocess, sys, time; subprocess.Popen(sys.argv[1:]); time.sleep(60)",
            *confined.argv,
        ],
        env=confined.env,
    )
    try:
        for _ in range(100):
            if _sleepers("61.5"):
                break
            subprocess.run(["sleep", "0.05"], check=True)
        assert _sleepers("61.5")
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        for _ in range(100):
            if not _sleepers("61.5"):
                break
            subprocess.run(["sleep", "0.05"], check=True)
        assert not _sleepers("61.5")
    finally:
        parent.kill()
        confined.limit.close()


def _sleepers(duration: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv[:2] == [b"sleep", duration.encode()]:
                found.append(int(entry.name))
    return found


def _exists(path: str) -> bool:
    return Path(path).exists()


async def test_a_workdir_holding_the_home_still_hides_credentials_and_sessions(
    home: FakeHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = home.path / ".local" / "share" / "interleaf"
    monkeypatch.setenv("INTERLEAF_HOME", str(data))
    (data / "sessions" / "s1" / "outputs").mkdir(parents=True)
    (data / "sessions.db").write_text(f"every session, and {home.secret}\n")
    (data / "sessions" / "s1" / "outputs" / "shell.log").write_text("a saved output\n")
    ctx = ToolContext(workdir=home.path, session_dir=data / "sessions" / "s1")
    whole = Sandbox(SandboxPolicy(), workdir=home.path, session_dir=data / "sessions" / "s1")
    async with Toolset([ShellTool(sandbox=whole)]) as tools:
        text, _ = await sh(
            tools, ctx, "cat .bashrc; cat .ssh/id_rsa .aws/credentials .local/share/interleaf/sessions.db"
        )
        assert "the fake home's bashrc" in text
        assert home.secret not in text
        assert await sh(tools, ctx, "cat .local/share/interleaf/sessions/s1/outputs/shell.log") == (
            "a saved output",
            False,
        )
        text, is_error = await sh(
            tools, ctx, "echo x > .local/share/interleaf/sessions/s1/outputs/forged.log"
        )
        assert is_error
        assert "Read-only file system" in text
        assert await sh(tools, ctx, "echo project > project.txt && cat project.txt") == ("project", False)
    assert (home.path / ".ssh" / "id_rsa").read_text().count(home.secret) == 1
