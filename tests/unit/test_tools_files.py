"""The file tools against real files, and the Toolset seam every tool is called through."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field

from interleaf.tools.base import Params, ToolContext, ToolError, ToolOutcome, Toolset, tool_spec
from interleaf.tools.files import EditFileTool, ReadFileTool, WriteFileTool, file_tools
from interleaf.tools.output import cut_middle
from interleaf.transcript import ToolResult, ToolSpec


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
def ctx(workdir: Path, tmp_path: Path) -> ToolContext:
    return ToolContext(workdir=workdir, session_dir=tmp_path / "session")


@pytest.fixture
def tools() -> Toolset:
    return Toolset(file_tools())


# ------------------------------------------------------------------------------------------- read_file


async def test_read_numbers_lines_like_cat_n(tools: Toolset, ctx: ToolContext, workdir: Path) -> None:
    (workdir / "a.txt").write_text("alpha\nbeta\n\tgamma\n")
    outcome = await tools.call("read_file", {"path": "a.txt"}, ctx)
    assert not outcome.is_error
    assert outcome.content == "     1\talpha\n     2\tbeta\n     3\t\tgamma"
    assert outcome.brief == "read a.txt: lines 1-3 of 3"


async def test_read_window_with_offset_and_limit(tools: Toolset, ctx: ToolContext, workdir: Path) -> None:
    (workdir / "n.txt").write_text("".join(f"line {i}\n" for i in range(1, 11)))
    outcome = await tools.call("read_file", {"path": "n.txt", "offset": 3, "limit": 2}, ctx)
    assert outcome.text.splitlines() == [
        "     3\tline 3",
        "     4\tline 4",
        "[showing lines 3-4 of 10; continue with offset=5]",
    ]


async def test_read_last_line_without_newline_is_counted(
    tools: Toolset, ctx: ToolContext, workdir: Path
) -> None:
    (workdir / "n.txt").write_text("one\ntwo\nthree")
    outcome = await tools.call("read_file", {"path": "n.txt", "limit": 1}, ctx)
    assert outcome.text.splitlines()[-1] == "[showing lines 1-1 of 3; continue with offset=2]"
    outcome = await tools.call("read_file", {"path": "n.txt", "offset": 3}, ctx)
    assert outcome.text == "     3\tthree"


async def test_read_offset_past_end_is_an_error(tools: Toolset, ctx: ToolContext, workdir: Path) -> None:
    (workdir / "short.txt").write_text("only\n")
    outcome = await tools.call("read_file", {"path": "short.txt", "offset": 5}, ctx)
    assert outcome.is_error
    assert outcome.text == "offset 5 is past the end of short.txt, which has 1 lines"


async def test_read_empty_file(tools: Toolset, ctx: ToolContext, workdir: Path) -> None:
    (workdir / "empty.txt").write_text("")
    outcome = await tools.call("read_file", {"path": "empty.txt"}, ctx)
    assert not outcome.is_error
    assert outcome.text == "(empty.txt is empty)"


async def test_read_cuts_long_lines(tools: Toolset, workdir: Path, tmp_path: Path) -> None:
    ctx = ToolContext(workdir=workdir, session_dir=tmp_path / "s", max_line_chars=10)
    (workdir / "long.txt").write_text("x" * 25 + "\nshort\n")
    outcome = await tools.call("read_file", {"path": "long.txt"}, ctx)
    assert outcome.text.splitlines() == ["     1\txxxxxxxxxx… [line cut: 25 characters]", "     2\tshort"]


async def test_read_stops_at_the_output_cap(tools: Toolset, workdir: Path, tmp_path: Path) -> None:
    ctx = ToolContext(workdir=workdir, session_dir=tmp_path / "s", max_output_chars=100)
    (workdir / "many.txt").write_text("".join(f"{i:08d}\n" for i in range(1000)))
    outcome = await tools.call("read_file", {"path": "many.txt"}, ctx)
    lines = outcome.text.splitlines()
    assert len(lines) == 7  # six numbered lines of 16 characters fit in 100, then the note
    assert (
        lines[-1]
        == "[stopped after line 6 to stay within 100 characters; 1,000 lines in all; continue with offset=7]"
    )


async def test_read_refuses_binary_files(tools: Toolset, ctx: ToolContext, workdir: Path) -> None:
    (workdir / "pic.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    outcome = await tools.call("read_file", {"path": "pic.png"}, ctx)
    assert outcome.is_error
    assert outcome.text.startswith("pic.png is a binary file (image/png, 272 bytes)")


async def test_read_marks_invalid_utf8(tools: Toolset, ctx: ToolContext, workdir: Path) -> None:
    (workdir / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    outcome = await tools.call("read_file", {"path": "latin1.txt"}, ctx)
    assert outcome.text.splitlines() == [
        "     1\tcaf\ufffd",
        "[the file is not valid UTF-8; undecodable bytes are shown as \ufffd]",
    ]


async def test_read_missing_file_suggests_near_names(tools: Toolset, ctx: ToolContext, workdir: Path) -> None:
    (workdir / "config.yaml").write_text("a: 1\n")
    (workdir / "src" / "pkg").mkdir(parents=True)
    (workdir / "src" / "pkg" / "util.py").write_text("")
    outcome = await tools.call("read_file", {"path": "config.yml"}, ctx)
    assert outcome.is_error
    assert outcome.text == "file not found: config.yml. Did you mean: config.yaml?"
    outcome = await tools.call("read_file", {"path": "lib/util.py"}, ctx)
    assert outcome.text == (
        "file not found: lib/util.py (the directory lib does not exist). Did you mean: src/pkg/util.py?"
    )


async def test_read_directory_lists_it(tools: Toolset, ctx: ToolContext, workdir: Path) -> None:
    (workdir / "d" / "sub").mkdir(parents=True)
    (workdir / "d" / "f.txt").write_text("")
    outcome = await tools.call("read_file", {"path": "d"}, ctx)
    assert outcome.is_error
    assert outcome.text == "d is a directory, not a file; it contains: f.txt, sub/"


# ------------------------------------------------------------------------------------------ write_file


async def test_write_creates_parents_then_overwrites(tools: Toolset, ctx: ToolContext, workdir: Path) -> None:
    outcome = await tools.call("write_file", {"path": "new/dir/f.txt", "content": "héllo\nworld"}, ctx)
    assert not outcome.is_error
    assert outcome.text == "created new/dir/f.txt (12 bytes, 2 lines)"
    assert (workdir / "new/dir/f.txt").read_text() == "héllo\nworld"
    outcome = await tools.call("write_file", {"path": "new/dir/f.txt", "content": "x\n"}, ctx)
    assert outcome.text == "overwrote new/dir/f.txt (2 bytes, 1 lines; it had 12 bytes before)"
    assert (workdir / "new/dir/f.txt").read_bytes() == b"x\n"


async def test_write_refuses_a_directory(tools: Toolset, ctx: ToolContext, workdir: Path) -> None:
    (workdir / "d").mkdir()
    outcome = await tools.call("write_file", {"path": "d", "content": "x"}, ctx)
    assert outcome.is_error
    assert "d is a directory" in outcome.text


# ------------------------------------------------------------------------------------------- edit_file

SOURCE = """\
def greet(name):
    return "hello " + name


def part(name):
    return "bye " + name


def main():
    return greet("a") + part("b")
"""


async def test_edit_replaces_once_and_reports_lines(tools: Toolset, ctx: ToolContext, workdir: Path) -> None:
    (workdir / "m.py").write_text(SOURCE)
    outcome = await tools.call(
        "edit_file",
        {
            "path": "m.py",
            "old_string": '    return "bye " + name\n',
            "new_string": "    x = 1\n    return x\n",
        },
        ctx,
    )
    assert not outcome.is_error, outcome.text
    lines = outcome.text.splitlines()
    assert lines[0] == "edited m.py: replaced 1 occurrence; the new text is at lines 6-7:"
    assert lines[1:] == [
        "     3\t",
        "     4\t",
        "     5\tdef part(name):",
        "     6\t    x = 1",
        "     7\t    return x",
        "     8\t",
        "     9\t",
        "    10\tdef main():",
    ]
    assert (workdir / "m.py").read_text() == SOURCE.replace(
        '    return "bye " + name\n', "    x = 1\n    return x\n"
    )


async def test_edit_refuses_ambiguous_match_with_line_numbers(
    tools: Toolset, ctx: ToolContext, workdir: Path
) -> None:
    (workdir / "m.py").write_text(SOURCE)
    outcome = await tools.call(
        "edit_file", {"path": "m.py", "old_string": "(name):", "new_string": "(who):"}, ctx
    )
    assert outcome.is_error
    assert outcome.text == (
        "old_string occurs 2 times in m.py (starting at lines 1, 5); include more surrounding lines to make "
        "it unique, or set replace_all=true to replace every occurrence"
    )
    assert (workdir / "m.py").read_text() == SOURCE


async def test_edit_replace_all(tools: Toolset, ctx: ToolContext, workdir: Path) -> None:
    (workdir / "m.py").write_text(SOURCE)
    outcome = await tools.call(
        "edit_file", {"path": "m.py", "old_string": "name", "new_string": "who", "replace_all": True}, ctx
    )
    assert outcome.text == "edited m.py: replaced 4 occurrences; the new text is at lines 1, 2, 5, 6"
    assert (workdir / "m.py").read_text() == SOURCE.replace("name", "who")


async def test_edit_zero_matches_shows_closest_lines(tools: Toolset, ctx: ToolContext, workdir: Path) -> None:
    (workdir / "m.py").write_text(SOURCE)
    outcome = await tools.call(
        "edit_file", {"path": "m.py", "old_string": 'return "hallo " + name', "new_string": "pass"}, ctx
    )
    assert outcome.is_error
    assert outcome.text.startswith("old_string was not found in m.py; it must match the file exactly")
    assert '     2\t    return "hello " + name' in outcome.text.splitlines()
    assert (workdir / "m.py").read_text() == SOURCE


async def test_edit_zero_matches_points_at_indentation(
    tools: Toolset, ctx: ToolContext, workdir: Path
) -> None:
    (workdir / "m.py").write_text(SOURCE)
    outcome = await tools.call(
        "edit_file", {"path": "m.py", "old_string": '\treturn "bye " + name', "new_string": "pass"}, ctx
    )
    assert outcome.is_error
    assert "Its first line appears at line 6 when indentation is ignored" in outcome.text


async def test_edit_refuses_identical_and_empty_strings(
    tools: Toolset, ctx: ToolContext, workdir: Path
) -> None:
    (workdir / "m.py").write_text(SOURCE)
    same = await tools.call("edit_file", {"path": "m.py", "old_string": "main", "new_string": "main"}, ctx)
    assert same.is_error
    assert same.text == "old_string and new_string are identical, so the edit would change nothing"
    empty = await tools.call("edit_file", {"path": "m.py", "old_string": "", "new_string": "x"}, ctx)
    assert empty.is_error
    assert "use write_file" in empty.text


async def test_edit_keeps_windows_line_endings(tools: Toolset, ctx: ToolContext, workdir: Path) -> None:
    (workdir / "w.txt").write_bytes(b"one\r\ntwo\r\nthree\r\n")
    outcome = await tools.call(
        "edit_file", {"path": "w.txt", "old_string": "two\nthree", "new_string": "2\n3"}, ctx
    )
    assert not outcome.is_error, outcome.text
    assert (workdir / "w.txt").read_bytes() == b"one\r\n2\r\n3\r\n"


async def test_edit_missing_file_says_to_write_it(tools: Toolset, ctx: ToolContext) -> None:
    outcome = await tools.call("edit_file", {"path": "nope.py", "old_string": "a", "new_string": "b"}, ctx)
    assert outcome.is_error
    assert outcome.text == "file not found: nope.py To create a file, use write_file."


# ----------------------------------------------------------------------------------- workdir boundary


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    path = tmp_path / "outside.txt"
    path.write_text("secret\n")
    return path


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink"])
async def test_paths_outside_workdir_are_refused(
    how: str, tools: Toolset, ctx: ToolContext, workdir: Path, tmp_path: Path, outside: Path
) -> None:
    if how == "symlink":
        (workdir / "link.txt").symlink_to(outside)
    path = {"dotdot": "../outside.txt", "absolute": str(outside), "symlink": "link.txt"}[how]
    for name, arguments in [
        ("read_file", {"path": path}),
        ("write_file", {"path": path, "content": "pwned\n"}),
        ("edit_file", {"path": path, "old_string": "secret", "new_string": "pwned"}),
    ]:
        outcome = await tools.call(name, arguments, ctx)
        assert outcome.is_error, name
        assert f"is outside the workdir {workdir}" in outcome.text
        assert "allow_outside_workdir" in outcome.text
    assert (tmp_path / "outside.txt").read_text() == "secret\n"


async def test_symlinked_directory_escape_is_refused_for_new_files(
    tools: Toolset, ctx: ToolContext, workdir: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (workdir / "out").symlink_to(elsewhere, target_is_directory=True)
    outcome = await tools.call("write_file", {"path": "out/new.txt", "content": "x"}, ctx)
    assert outcome.is_error
    assert not (elsewhere / "new.txt").exists()


async def test_paths_outside_workdir_allowed_with_the_flag(
    tools: Toolset, workdir: Path, tmp_path: Path, outside: Path
) -> None:
    ctx = ToolContext(workdir=workdir, session_dir=tmp_path / "s", allow_outside_workdir=True)
    (workdir / "link.txt").symlink_to(outside)
    read = await tools.call("read_file", {"path": "../outside.txt"}, ctx)
    assert read.text == "     1\tsecret"
    edit = await tools.call(
        "edit_file", {"path": "link.txt", "old_string": "secret", "new_string": "open"}, ctx
    )
    assert not edit.is_error
    write = await tools.call("write_file", {"path": str(tmp_path / "made.txt"), "content": "x"}, ctx)
    assert write.text == f"created {tmp_path / 'made.txt'} (1 bytes, 1 lines)"
    assert (tmp_path / "outside.txt").read_text() == "open\n"


async def test_saved_outputs_in_the_session_dir_are_readable(tools: Toolset, ctx: ToolContext) -> None:
    saved = ctx.output_path("shell", ".log")
    saved.write_text("full output\n")
    read = await tools.call("read_file", {"path": str(saved)}, ctx)
    assert read.text == "     1\tfull output"
    write = await tools.call("write_file", {"path": str(saved), "content": "x"}, ctx)
    assert write.is_error


# ---------------------------------------------------------------------------------------- tool specs


def test_specs_come_from_params_models() -> None:
    read, write, edit = file_tools()
    assert (read.read_only, write.read_only, edit.read_only) == (True, False, False)
    assert read.spec.parameters == {
        "additionalProperties": False,
        "properties": {
            "path": {"description": "Path of the file, relative to the workdir.", "type": "string"},
            "offset": {
                "description": "First line to show, 1-based (default 1).",
                "minimum": 1,
                "type": "integer",
            },
            "limit": {
                "description": "How many lines to show at most (default 2000).",
                "minimum": 1,
                "type": "integer",
            },
        },
        "required": ["path"],
        "type": "object",
    }
    assert edit.spec.parameters is not None
    assert edit.spec.parameters["required"] == ["path", "old_string", "new_string"]
    assert edit.spec.parameters["properties"]["replace_all"]["default"] is False


# ------------------------------------------------------------------------------------------- Toolset


class _EchoParams(Params):
    text: str = Field(description="What to echo.")
    times: int = Field(default=1, description="How often.")


class _FakeTool:
    """A tool whose run does whatever the test asks of it."""

    params: type[BaseModel] = _EchoParams
    read_only = True

    def __init__(self, name: str, behaviour: str = "echo") -> None:
        self.name = name
        self.spec: ToolSpec = tool_spec(name, "Echo text.", _EchoParams)
        self.behaviour = behaviour
        self.started = asyncio.Event()
        self.closed = False

    async def run(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolOutcome:
        params = _EchoParams.model_validate(arguments)
        self.started.set()
        if self.behaviour == "crash":
            raise RuntimeError("disk on fire")
        if self.behaviour == "refuse":
            raise ToolError("cannot echo that", brief="refused")
        if self.behaviour == "cancelled":
            raise asyncio.CancelledError
        if self.behaviour == "hang":
            await asyncio.sleep(60)
        return ToolOutcome(content=params.text * params.times, brief="echoed")

    async def aclose(self) -> None:
        self.closed = True
        if self.behaviour == "crash":
            raise RuntimeError("cannot close")


async def test_toolset_validates_arguments(ctx: ToolContext) -> None:
    tools = Toolset([_FakeTool("echo")])
    ok = await tools.call("echo", {"text": "ab", "times": "2"}, ctx)
    assert ok.content == "abab"
    bad = await tools.call("echo", {"text": 5, "times": "many"}, ctx)
    assert bad.is_error
    assert bad.brief == "echo: invalid arguments"
    assert bad.text.splitlines() == [
        "invalid arguments for tool `echo`:",
        "- `text`: Input should be a valid string (got 5); expected string",
        "- `times`: Input should be a valid integer, unable to parse string as an integer (got 'many'); "
        "expected integer",
        "`echo` takes: text (string, required), times (integer).",
    ]
    missing = await tools.call("echo", {"txt": "a"}, ctx)
    assert missing.text.splitlines()[1:3] == [
        "- `text`: Field required; expected string",
        "- `txt`: Extra inputs are not permitted (got 'a')",
    ]
    not_object = await tools.call("echo", ["a"], ctx)
    assert not_object.text == "arguments for tool `echo` must be a JSON object, got list"


async def test_toolset_unknown_tool_lists_the_available_ones(ctx: ToolContext) -> None:
    outcome = await Toolset([_FakeTool("echo"), *file_tools()]).call("ecko", {}, ctx)
    assert outcome.is_error
    assert outcome.text == (
        "unknown tool `ecko`; the available tools are: `echo`, `read_file`, `write_file`, `edit_file`"
    )


async def test_toolset_turns_exceptions_into_error_outcomes(ctx: ToolContext) -> None:
    tools = Toolset([_FakeTool("crash", "crash"), _FakeTool("refuse", "refuse")])
    crashed = await tools.call("crash", {"text": "a"}, ctx)
    assert crashed.is_error
    assert crashed.text == "tool `crash` failed: RuntimeError: disk on fire"
    assert crashed.brief == "crash failed: RuntimeError"
    refused = await tools.call("refuse", {"text": "a"}, ctx)
    assert (refused.is_error, refused.text, refused.brief) == (True, "cannot echo that", "refused")
    await tools.aclose()  # a tool failing to close does not stop the others
    assert all(tool.closed for tool in tools if isinstance(tool, _FakeTool))


async def test_toolset_lets_cancellation_through(ctx: ToolContext) -> None:
    tools = Toolset([_FakeTool("cancelled", "cancelled"), _FakeTool("hang", "hang")])
    with pytest.raises(asyncio.CancelledError):
        await tools.call("cancelled", {"text": "a"}, ctx)
    hang = tools.get("hang")
    assert isinstance(hang, _FakeTool)
    task = asyncio.ensure_future(tools.call("hang", {"text": "a"}, ctx))
    await hang.started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_toolset_refuses_duplicate_names() -> None:
    with pytest.raises(ValueError, match="already in the toolset"):
        Toolset([ReadFileTool(), ReadFileTool()])
    tools = Toolset([ReadFileTool(), WriteFileTool(), EditFileTool()])
    assert tools.names == ("read_file", "write_file", "edit_file")
    assert [spec.name for spec in tools.specs] == list(tools.names)
    assert "read_file" in tools
    assert len(tools) == 3


def test_outcome_becomes_a_tool_result() -> None:
    outcome = ToolOutcome.error("it broke\nbadly")
    assert outcome.brief == "it broke"
    assert outcome.to_result("call_1", "shell") == ToolResult(
        call_id="call_1", content="it broke\nbadly", is_error=True, name="shell"
    )


def test_cut_middle_keeps_head_and_tail(tmp_path: Path) -> None:
    text = "".join(f"line {i}\n" for i in range(1000))
    cut = cut_middle(text, 1000, saved=tmp_path / "full.txt")
    assert len(cut) <= 1000
    assert cut.startswith("line 0\nline 1\n")
    assert cut.endswith("line 998\nline 999\n")
    assert f"cut from the middle; the full output is saved in {tmp_path / 'full.txt'}" in cut
    assert cut_middle("short", 1000) == "short"
