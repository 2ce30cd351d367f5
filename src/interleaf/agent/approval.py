"""Who decides whether a tool call runs: ``ask`` the user, ``auto`` with a deny list, or ``never``.

Read-only tools always run. A tool may also judge each call itself with an ``approval_needed(arguments)
-> bool`` method (the browser: reading a page, or opening one on this machine, needs no approval);
:func:`tool_needs_approval` asks it. Every decision is logged through ``log`` (the session store records it).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from interleaf.transcript import ToolCall

ApprovalMode = Literal["ask", "auto", "never"]
Answer = Literal["yes", "no", "always"]
AskFn = Callable[[ToolCall, str], Awaitable[Answer]]
LogFn = Callable[[ToolCall, "Decision"], None]

# Commands that `auto` never runs: destructive to the machine rather than to the task's workdir.
DEFAULT_DENY: tuple[str, ...] = (
    r"\brm\s+(-[a-zA-Z]*[rf][a-zA-Z]*\s+)+(/|~|\$HOME|/\*|\.\./?)(\s|$)",
    r"\bmkfs(\.\w+)?\b",
    r"\bdd\b[^|;&]*\bof=/dev/",
    r">\s*/dev/(sd|nvme|vd|hd)",
    r"\b(shutdown|reboot|halt|poweroff)\b",
    r":\(\)\s*\{\s*:\|:&\s*\};:",
    r"\bchmod\s+(-R\s+)?[0-7]*777\s+/(\s|$)",
    r"\bchown\s+-R\s+\S+\s+/(\s|$)",
    r"\bgit\s+push\b[^;&|]*--force\b",
)


def describe_call(call: ToolCall) -> str:
    """What the user is asked to approve, and what the deny list is matched against."""
    args = call.arguments
    if call.name == "shell":
        return str(args.get("command", ""))
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
    import json

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


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    note: str | None = None
    """Shown to the user and, for a refusal, to the model: why, and what to do instead."""


@dataclass
class Approver:
    mode: ApprovalMode
    ask: AskFn | None = None
    log: LogFn | None = None
    deny: tuple[str, ...] = DEFAULT_DENY
    _always: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._deny = [re.compile(p) for p in self.deny]
        if self.mode == "ask" and self.ask is None:
            raise ValueError("approval mode 'ask' needs a terminal to ask on; use --approve auto or never")

    async def decide(
        self, call: ToolCall, *, read_only: bool, summary: str, needs_approval: bool | None = None
    ) -> Decision:
        """Whether ``call`` may run. ``needs_approval``, the tool's judgement of this very call (see
        :func:`tool_needs_approval`), overrides ``read_only`` when given: False lets it run like a
        read-only call, True makes it ask like any other."""
        if needs_approval is not None:
            read_only = not needs_approval
        decision = await self._decide(call, read_only=read_only, summary=summary)
        if self.log is not None:
            self.log(call, decision)
        return decision

    def denied_pattern(self, text: str) -> str | None:
        for pattern in self._deny:
            if pattern.search(text):
                return pattern.pattern
        return None

    async def _decide(self, call: ToolCall, *, read_only: bool, summary: str) -> Decision:
        if read_only:
            return Decision(True, "read-only")
        denied = self.denied_pattern(summary)
        if denied is not None:
            return Decision(False, f"refused by the deny list (pattern {denied!r}); do this another way")
        if self.mode == "never":
            return Decision(
                False, f"{call.name} is not read-only and approvals are 'never'; only read-only tools may run"
            )
        if self.mode == "auto" or call.name in self._always:
            return Decision(True, "auto" if self.mode == "auto" else "always")
        assert self.ask is not None
        answer = await self.ask(call, summary)
        if answer == "always":
            self._always.add(call.name)
            return Decision(True, "always")
        if answer == "yes":
            return Decision(True, "yes")
        return Decision(
            False, "the user declined this call; ask what they want instead or try another approach"
        )
