"""The python tool against a real Jupyter kernel.

One kernel is shared by the module's tests where sharing weakens nothing (starting one takes about a
second); the tests that kill or close a kernel get their own.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
import sys
import time
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from interleaf.tools.base import ToolContext, ToolOutcome, Toolset
from interleaf.tools.python import PythonTool
from interleaf.transcript import Image, Text

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> ToolContext:
    root = tmp_path_factory.mktemp("python")
    (root / "work").mkdir()
    return ToolContext(workdir=root / "work", session_dir=root / "session", max_output_chars=4000)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def tools() -> AsyncIterator[Toolset]:
    async with Toolset([PythonTool(max_timeout=30)]) as toolset:
        yield toolset


async def py(tools: Toolset, ctx: ToolContext, code: str, timeout: float | None = None) -> ToolOutcome:
    arguments: dict[str, object] = {"code": code}
    if timeout is not None:
        arguments["timeout"] = timeout
    return await tools.call("python", arguments, ctx)


async def test_state_persists_and_output_comes_back(tools: Toolset, ctx: ToolContext) -> None:
    first = await py(
        tools, ctx, "import os, sys\nx = 41\nprint('hello')\nprint('warn', file=sys.stderr)\nx + 1"
    )
    assert (first.text, first.is_error) == ("hello\nwarn\n42", False)
    second = await py(tools, ctx, "x")
    assert (second.text, second.is_error) == ("41", False)
    silent = await py(tools, ctx, "y = 1")
    assert silent.text == "(no output)"


async def test_kernel_runs_this_interpreter_in_the_workdir(tools: Toolset, ctx: ToolContext) -> None:
    outcome = await py(tools, ctx, "import os, sys\nprint(sys.executable)\nprint(os.getcwd())")
    assert outcome.text == f"{sys.executable}\n{ctx.workdir}"


async def test_exception_gives_a_clean_traceback(tools: Toolset, ctx: ToolContext) -> None:
    outcome = await py(tools, ctx, "def check(v):\n    raise ValueError(f'bad value {v}')\ncheck(7)")
    assert outcome.is_error
    assert outcome.brief.endswith("error: ValueError")
    assert "\x1b" not in outcome.text
    assert "----> 3 check(7)" in outcome.text
    assert outcome.text.endswith("ValueError: bad value 7")


async def test_input_fails_instead_of_hanging(tools: Toolset, ctx: ToolContext) -> None:
    outcome = await py(tools, ctx, "input('name? ')", timeout=10)
    assert outcome.is_error
    assert "StdinNotImplementedError" in outcome.text


async def test_timeout_interrupts_and_state_survives(tools: Toolset, ctx: ToolContext) -> None:
    await py(tools, ctx, "kept = 'still here'")
    started = time.monotonic()
    outcome = await py(tools, ctx, "import time\nprint('started', flush=True)\ntime.sleep(60)", timeout=1)
    assert time.monotonic() - started < 10
    assert outcome.is_error
    assert outcome.text.startswith("started\n")
    assert "KeyboardInterrupt" in outcome.text
    assert outcome.text.endswith(
        "[execution timed out after 1 s and was interrupted (KeyboardInterrupt); the kernel is still "
        "running and keeps its state (variables, imports)]"
    )
    after = await py(tools, ctx, "kept")
    assert (after.text, after.is_error) == ("'still here'", False)


async def test_cancellation_interrupts_and_state_survives(tools: Toolset, ctx: ToolContext) -> None:
    await py(tools, ctx, "before_cancel = 1")
    task = asyncio.ensure_future(py(tools, ctx, "import time\ntime.sleep(60)"))
    await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    after = await py(tools, ctx, "print('next'); before_cancel", timeout=10)
    assert (after.text, after.is_error) == ("next\n1", False)


def tiny_png() -> bytes:
    """A valid 2x1 RGB PNG, built by hand."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 2, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00\x00\x00\xff")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def png_chunks(data: bytes) -> list[bytes]:
    """The chunk types of a PNG, checking the signature and every CRC on the way."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    kinds, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert crc == zlib.crc32(kind + body)
        kinds.append(kind)
        at += 12 + length
    return kinds


async def test_images_are_saved_and_returned(tools: Toolset, ctx: ToolContext) -> None:
    png = tiny_png()
    outcome = await py(
        tools,
        ctx,
        f"from IPython.display import Image, display\nprint('plot:')\ndisplay(Image(data={png!r}))\n'done'",
    )
    assert not outcome.is_error
    assert isinstance(outcome.content, tuple)
    text, image = outcome.content
    (saved,) = outcome.saved
    assert isinstance(text, Text)
    assert text.text == f"plot:\n[image 1: image/png saved to {saved}]\n'done'"
    assert isinstance(image, Image)
    assert image.media_type == "image/png"
    assert image.data is not None
    assert base64.b64decode(image.data) == png
    assert saved.is_relative_to(ctx.session_dir)
    assert saved.read_bytes() == png
    assert png_chunks(saved.read_bytes()) == [b"IHDR", b"IDAT", b"IEND"]


async def test_long_output_is_capped_and_saved(tools: Toolset, ctx: ToolContext) -> None:
    outcome = await py(tools, ctx, "for i in range(200_000): print(f'row {i}')")
    assert not outcome.is_error
    (saved,) = outcome.saved
    assert len(outcome.text) <= ctx.max_output_chars
    assert outcome.text.startswith("row 0\nrow 1\n")
    assert outcome.text.endswith("row 199998\nrow 199999")
    assert f"the full output is saved in {saved}" in outcome.text
    assert saved.read_text().splitlines()[-1] == "row 199999"


async def test_kernel_death_is_reported_and_the_next_call_restarts(ctx: ToolContext) -> None:
    async with Toolset([PythonTool()]) as tools:
        await py(tools, ctx, "doomed = 1")
        died = await py(tools, ctx, "import os\nprint('bye', flush=True)\nos._exit(1)", timeout=20)
        assert died.is_error
        assert died.text.endswith(
            "[the Python kernel died while running this code (exit code 1); all its state is lost. "
            "A new kernel starts with the next call.]"
        )
        after = await py(tools, ctx, "print(1 + 1)\n'doomed' in globals()")
        assert not after.is_error
        assert after.text == (
            "[the Python kernel died while running the previous call; this code ran in a new kernel, so "
            "variables, imports and functions defined earlier are gone]\n2\nFalse"
        )


async def test_aclose_shuts_the_kernel_down(ctx: ToolContext) -> None:
    tool = PythonTool()
    outcome = await tool.run({"code": "import os; os.getpid()"}, ctx)
    pid = int(outcome.text)
    await tool.aclose()
    assert not running(pid)


def running(pid: int) -> bool:
    """Whether ``pid`` runs; a killed process nobody has reaped yet (a zombie) does not."""
    if Path("/proc").is_dir():
        try:
            stat = Path(f"/proc/{pid}/stat").read_bytes()
        except FileNotFoundError:
            return False
        return stat.rpartition(b")")[2][1:2] != b"Z"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
