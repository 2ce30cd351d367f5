"""Who decides whether a tool call runs: ``ask`` the user, ``auto``, ``never`` or ``all``.

Each call is judged by how far it reaches (:data:`~interleaf.tools.base.Reach`), which its tool
says through an optional ``reach(arguments, ctx)`` method: ``read`` changes nothing; ``confined``
stays inside what the sandbox (or the file tools' own path check) confines it to, the workdir;
``outside`` may touch anything the user can: an unconfined shell or kernel (``--sandbox off``, or no
sandbox on this machine), a shell command that asks to leave the sandbox, a path outside the workdir.
A tool without ``reach`` is judged by ``read_only`` and its ``approval_needed(arguments)``; when it
changes something it is ``confined`` with the network on and ``outside`` with it off (such a tool,
the browser or an MCP server, is not confined by the sandbox and may reach the network).

* ``ask``: ``read`` runs; everything else is asked (yes / no / always for that tool).
* ``auto``: ``read`` and ``confined`` run; ``outside`` is asked on a terminal and refused without one.
* ``never``: only ``read`` runs.
* ``all``: everything runs, unconfined calls included; for throwaway machines only.

In every mode a tool's own ``denial(arguments)`` (the shell's and Python's deny list,
:mod:`interleaf.tools.denylist`) refuses first. Every decision is logged through ``log`` (the session
store records it).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from interleaf.tools.base import Reach, ToolContext
from interleaf.tools.sandbox import Sandbox
from interleaf.transcript import ToolCall

ApprovalMode = Literal["ask", "auto", "never", "all"]
APPROVAL_MODES: tuple[ApprovalMode, ...] = ("ask", "auto", "never", "all")
Answer = Literal["yes", "no", "always"]
AskFn = Callable[[ToolCall, str], Awaitable[Answer]]
LogFn = Callable[[ToolCall, "Decision"], None]
ToolLookup = Callable[[str], object | None]

_LEAVING = (
    "this call would run outside the sandbox (an unconfined command, a path outside the workdir, or "
    "the network while it is off), which needs the user's approval"
)


def describe_call(call: ToolCall) -> str:
    """What the user is asked to approve: the command, code or file edit."""
    args = call.arguments
    if call.name == "shell":
        command = str(args.get("command", ""))
        if args.get("outside_sandbox") is True:
            why = str(args.get("justification") or "no reason given")
            return f"(outside the sandbox) {command}\n  why: {why}"
        return command
    if call.name == "python":
        return str(args.get("code", ""))
    if call.name in ("write_file", "edit_file", "read_file"):
        detail = str(args.get("path", ""))
        if call.name == "edit_file":
            old, new = str(args.get("old_string", "")), str(args.get("new_string", ""))
            detail += f"\n- {old[:400]}\n+ {new[:400]}"
        elif call.name == "write_file":
            content = str(args.get("content", ""))
            detail += f" ({len(content.splitlines())} lines)"
        return detail
    return json.dumps(args, ensure_ascii=False)[:1000]


def tool_needs_approval(tool: object, arguments: dict[str, Any]) -> bool | None:
    """The tool's own judgement of one call (its ``approval_needed(arguments)``), or None without one.

    A tool whose judgement fails gets None, so its ``read_only`` decides as for any other tool.
    """
    judge = getattr(tool, "approval_needed", None)
    if not callable(judge):
        return None
    try:
        answer = judge(arguments)
    except Exception:
        return None
    return answer if isinstance(answer, bool) else None


def tool_reach(tool: object, arguments: dict[str, Any], ctx: ToolContext | None, *, network: bool) -> Reach:
    """How far one call of ``tool`` reaches (see the module doc). A tool whose ``reach`` fails, or an
    unknown tool, is ``outside``: what cannot be judged is not waved through."""
    judge = getattr(tool, "reach", None)
    if callable(judge):
        try:
            answer = judge(arguments, ctx)
        except Exception:
            return "outside"
        return answer if answer in ("read", "confined", "outside") else "outside"
    if tool is None:
        return "outside"
    needs = tool_needs_approval(tool, arguments)
    if needs is False or (needs is None and bool(getattr(tool, "read_only", False))):
        return "read"
    return "confined" if network else "outside"


def tool_denial(tool: object, arguments: dict[str, Any]) -> str | None:
    """Why the tool's deny list refuses this call (its ``denial(arguments)``), or None."""
    judge = getattr(tool, "denial", None)
    if not callable(judge):
        return None
    try:
        answer = judge(arguments)
    except Exception:
        return None
    return answer if isinstance(answer, str) else None


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    note: str | None = None
    """Shown to the user and, for a refusal, to the model: why, and what to do instead."""
    reach: Reach | None = None


@dataclass
class Approver:
    """Decides calls by ``mode``. ``tools`` finds a call's tool by name and ``context`` is where calls
    run, so each call's reach can be judged; without them every call that changes something counts
    as ``outside`` (nothing says it is confined)."""

    mode: ApprovalMode
    ask: AskFn | None = None
    log: LogFn | None = None
    tools: ToolLookup | None = None
    context: ToolContext | None = None
    network: bool = True
    _always: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.mode not in APPROVAL_MODES:
            raise ValueError(f"unknown approval mode {self.mode!r}; use ask, auto, never or all")
        if self.mode == "ask" and self.ask is None:
            raise ValueError("approval mode 'ask' needs a terminal to ask on; use --approve auto or never")

    async def decide(
        self, call: ToolCall, *, read_only: bool, summary: str, needs_approval: bool | None = None
    ) -> Decision:
        """Whether ``call`` may run. ``read_only`` and ``needs_approval`` (the tool's judgement of this
        very call, see :func:`tool_needs_approval`) decide for a tool that does not judge its reach."""
        tool = self.tools(call.name) if self.tools is not None else None
        if tool is not None:
            reach = tool_reach(tool, dict(call.arguments), self.context, network=self.network)
        elif needs_approval is False or (needs_approval is None and read_only):
            reach = "read"
        else:
            reach = "outside"
        decision = await self._decide(call, tool, reach, summary)
        if self.log is not None:
            self.log(call, decision)
        return decision

    async def _decide(self, call: ToolCall, tool: object, reach: Reach, summary: str) -> Decision:
        if reach == "read":
            return Decision(True, "read-only", reach)
        denial = tool_denial(tool, dict(call.arguments))
        if denial is not None:
            return Decision(False, f"refused by the deny list: {denial}; do this another way", reach)
        if self.mode == "never":
            return Decision(
                False,
                f"{call.name} changes things and approvals are 'never'; only read-only tools may run",
                reach,
            )
        if self.mode == "all":
            return Decision(True, "all", reach)
        if call.name in self._always:
            return Decision(True, "always", reach)
        if self.mode == "auto" and reach == "confined":
            return Decision(True, "auto (confined)", reach)
        if self.ask is None:
            return Decision(
                False,
                f"{_LEAVING}, and this run has no terminal to ask on. Find a way that works inside the "
                "sandbox and the workdir; if it cannot be done there, say what the user would have to allow.",
                reach,
            )
        answer = await self.ask(call, summary)
        if answer == "always":
            self._always.add(call.name)
            return Decision(True, "always", reach)
        if answer == "yes":
            return Decision(True, "yes", reach)
        return Decision(
            False, "the user declined this call; ask what they want instead or try another approach", reach
        )


def sandbox_notice(sandbox: Sandbox, mode: ApprovalMode, *, can_ask: bool) -> str:
    """What confines the tools, said when a session starts; when nothing does, what happens to shell and
    python calls under ``mode`` (never a silent fall back to running them unconfined)."""
    described = sandbox.describe()
    if sandbox.confines:
        return described
    if mode == "all":
        return f"{described}; --approve all runs them without asking"
    if mode == "never":
        return f"{described}; --approve never refuses them"
    if mode == "auto" and not can_ask:
        return f"{described}; they need approval and there is no terminal to ask on, so they are refused"
    return f"{described}; each shell and python call is asked about first"
