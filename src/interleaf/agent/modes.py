"""The two ways the agent works: *lightning* (fast, small budget) and *pro* (plan, delegate, verify).

A mode is data: budgets, whether to use the profile's fast model, how much to ask the model to think
where the backend has a knob for it, which extra tools it gets, and its system prompt.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

ModeName = Literal["lightning", "pro"]


@dataclass(frozen=True, slots=True)
class Mode:
    name: ModeName
    max_steps: int
    repeat_limit: int
    use_fast_model: bool
    low_effort: bool
    planning: bool
    """plan, subagent and finish (with verification)."""
    guidance: str


_COMMON = """You are interleaf, an autonomous coding and research agent working in the directory {workdir}.
You act through tools: run commands with `shell` (a persistent bash session: cwd and environment persist),
read and change files with `read_file`, `write_file` and `edit_file` (paths relative to the workdir), and
run Python in a persistent kernel with `python`{extra_tools}.
Think before each action and reflect on each result. Work step by step until the task is complete; check
your work by running it. Prefer small, verifiable steps; read before you edit; never guess file contents.
Tool results are the only observations you get: if a call fails, read the error and fix the cause."""

_LIGHTNING = """
Be quick and direct: do the task with as few steps as needed. When the task is done, reply with a short
final answer and no tool call."""

_PRO = """
Work thoroughly. For a task with several steps, first write a plan with `plan` and keep it updated. Hand
self-contained sub-tasks to `subagent` when that keeps your context focused. When everything is done,
call `finish` with your final answer: the workdir's tests run first, and if they fail you get the
failures back to fix."""

MODES: dict[ModeName, Mode] = {
    "lightning": Mode(
        "lightning",
        max_steps=25,
        repeat_limit=3,
        use_fast_model=True,
        low_effort=True,
        planning=False,
        guidance=_LIGHTNING,
    ),
    "pro": Mode(
        "pro",
        max_steps=100,
        repeat_limit=4,
        use_fast_model=False,
        low_effort=False,
        planning=True,
        guidance=_PRO,
    ),
}

# Where a backend has a knob for how much to think, lightning turns it down. Profiles missing here
# (self-hosted servers vary) get nothing extra. Portable params go to any format: an Anthropic-API
# backend turns `reasoning_effort` into the `thinking` its model takes (adaptive, or a budget;
# interleaf.backends.effort), and MiniMax M2.x, which thinks always, gets nothing; OpenRouter's
# `reasoning` is an OpenAI Chat field.
_LOW_EFFORT: dict[str, dict[str, Any]] = {
    "anthropic": {"reasoning_effort": "low"},
    "minimax": {"reasoning_effort": "low"},
    "openai": {"reasoning_effort": "low"},
    "deepseek": {"reasoning_effort": "low"},
    "ollama": {"reasoning_effort": "low"},
}
_LOW_EFFORT_WIRE: dict[str, dict[str, Any]] = {"openrouter": {"reasoning": {"effort": "low"}}}
# Thinking on, and deep, where it must be asked for.
_PRO_EFFORT: dict[str, dict[str, Any]] = {
    "anthropic": {"reasoning_effort": "high"},
    "minimax": {"reasoning_effort": "high"},
}


def effort_params(mode: Mode, profile_name: str) -> dict[str, Any]:
    """Portable generation params for the mode's thinking effort on this backend."""
    table = _LOW_EFFORT if mode.low_effort else _PRO_EFFORT
    return dict(table.get(profile_name, {}))


def effort_wire_fields(mode: Mode, profile_name: str) -> dict[str, Any]:
    """OpenAI Chat request fields for the mode's thinking effort (no portable name exists for them)."""
    return dict(_LOW_EFFORT_WIRE.get(profile_name, {})) if mode.low_effort else {}


def system_prompt(mode: Mode, workdir: Path, extra_tool_names: list[str]) -> str:
    extra = ""
    if extra_tool_names:
        extra = "; other tools: " + ", ".join(f"`{n}`" for n in extra_tool_names)
    return _COMMON.format(workdir=workdir, extra_tools=extra) + mode.guidance


_COMPACT = """You are a coding agent working in {workdir}. Work in steps, one tool call a reply: write code
with write_file, run it with shell, and read the output it prints. If the output is wrong, fix the file
and run it again. Give the final answer only after you have run the code and seen the right output."""


def compact_system_prompt(workdir: Path) -> str:
    """A short prompt for small local models, where every prompt token costs CPU time."""
    return _COMPACT.format(workdir=workdir)


def get_mode(name: str) -> Mode:
    try:
        return MODES[name]  # type: ignore[index]
    except KeyError:
        raise ValueError(f"unknown mode {name!r}; use lightning or pro") from None
