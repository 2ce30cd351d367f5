"""Secrets and personal data: found by pattern, scrubbed in place (or the row dropped or flagged).

Kinds: ``private_key`` (PEM blocks), ``api_key`` (OpenAI/Anthropic ``sk-``, AWS ``AKIA``, GitHub
``ghp_``/``github_pat_``, Slack ``xox?-``, Google ``AIza``, Hugging Face ``hf_``, GitLab ``glpat-``,
JWTs), ``bearer`` (``Authorization: Bearer …``), ``password`` (the value of ``password=``,
``secret:``, ``api_key=``, ``token=`` …), ``email`` (``example.com``/``.org``/``.net`` kept),
``phone`` (international ``+CC …`` or North American forms), ``credit_card`` (13-19 digits passing
the Luhn check) and ``ip`` (public IPv4 addresses; loopback, private and documentation ranges kept).

Scrubbing replaces each match with ``[REDACTED:kind]`` everywhere text can hide: system, messages,
thinking (including a ``reasoning_details`` item kept whole), tool-call arguments, tool results,
vendor ``extra`` fields. A scrubbed thinking block loses its signature, which no longer matches its
text; encrypted (redacted) thinking cannot be read and is left as it is.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from interleaf.transcript import (
    Block,
    Conversation,
    Message,
    Opaque,
    Text,
    Thinking,
    ToolCall,
    ToolResult,
    ToolSpec,
    dumps_compact,
)

KINDS = ("private_key", "api_key", "bearer", "password", "email", "phone", "credit_card", "ip")

_PATTERNS: dict[str, re.Pattern[str]] = {
    "private_key": re.compile(
        r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----.*?-----END (?:[A-Z]+ )*PRIVATE KEY-----", re.DOTALL
    ),
    "api_key": re.compile(
        r"\b(?:sk-(?:ant-|proj-)?[A-Za-z0-9_\-]{20,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36,}|"
        r"github_pat_[A-Za-z0-9_]{40,}|xox[abprs]-[A-Za-z0-9\-]{10,}|AIza[0-9A-Za-z_\-]{35}|"
        r"hf_[A-Za-z0-9]{30,}|glpat-[A-Za-z0-9_\-]{20,}|"
        r"eyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,})"
    ),
    "bearer": re.compile(r"(?i)(?<=bearer )[A-Za-z0-9._~+/\-]{20,}=*"),
    "password": re.compile(
        r"(?i)(?<![\w-])(?:password|passwd|pwd|secret|api[_-]?key|access[_-]?token|auth[_-]?token|token)"
        r"[\"']?\s*[:=]\s*[\"']?(?P<value>(?!\[REDACTED)[^\s\"',;]{6,})"
    ),
    "email": re.compile(
        r"(?<![\w.+-])[A-Za-z0-9._%+-]+@(?P<domain>[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})\b"
    ),
    "phone": re.compile(
        r"(?<![\w+])(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}[ .-]?\d{3,4}[ .-]?\d{3,4}|"
        r"\(\d{3}\) ?\d{3}-\d{4}|\d{3}-\d{3}-\d{4})(?![\w-])"
    ),
    "credit_card": re.compile(r"(?<![\d-])[3-6](?:[ -]?\d){12,18}(?![\d-])"),
    "ip": re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])"),
}
_DIGIT = re.compile(r"\d")
# Cheap tests that rule a kind out before its regular expression runs (most text holds no secret).
_HINTS: dict[str, Callable[[str], bool]] = {
    "private_key": lambda text: "PRIVATE KEY" in text,
    "api_key": lambda text: any(
        marker in text
        for marker in ("sk-", "AKIA", "gh", "github_pat_", "xox", "AIza", "hf_", "glpat-", "eyJ")
    ),
    "bearer": lambda text: "earer" in text,
    "password": lambda text: "=" in text or ":" in text,
    "email": lambda text: "@" in text,
    "phone": lambda text: _DIGIT.search(text) is not None,
    "credit_card": lambda text: _DIGIT.search(text) is not None,
    "ip": lambda text: "." in text and _DIGIT.search(text) is not None,
}
_KEPT_EMAIL_DOMAINS = re.compile(
    r"(?:^|\.)example\.(?:com|org|net)$|(?:^|\.)users\.noreply\.github\.com$", re.I
)


def _luhn(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for position, ch in enumerate(digits):
        value = int(ch)
        if position % 2 == parity:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _keep(kind: str, match: re.Match[str]) -> bool:
    """Matches that look like the kind but are not personal (documentation addresses, versions)."""
    text = match.group(0)
    if kind == "email":
        return bool(_KEPT_EMAIL_DOMAINS.search(match.group("domain")))
    if kind == "credit_card":
        digits = re.sub(r"\D", "", text)
        return not (13 <= len(digits) <= 19 and _luhn(digits))
    if kind == "ip":
        try:
            address = ipaddress.IPv4Address(text)
        except ValueError:
            return True
        before = match.string[max(0, match.start() - 8) : match.start()].lower()
        return not address.is_global or "version" in before or before.rstrip().endswith("v")
    return False


class Scrubber:
    """Finds and replaces the configured kinds in text; counts what it replaced."""

    def __init__(self, kinds: Iterable[str] = KINDS) -> None:
        self.kinds = [kind for kind in KINDS if kind in set(kinds)]
        self.counts: Counter[str] = Counter()

    def scrub(self, text: str) -> str:
        for kind in self.kinds:
            if _HINTS[kind](text):
                text = _PATTERNS[kind].sub(functools.partial(self._replace, kind), text)
        return text

    def find(self, text: str) -> Counter[str]:
        found: Counter[str] = Counter()
        for kind in self.kinds:
            if _HINTS[kind](text):
                found[kind] += sum(1 for m in _PATTERNS[kind].finditer(text) if not _keep(kind, m))
        return +found

    def _replace(self, kind: str, match: re.Match[str]) -> str:
        if _keep(kind, match):
            return match.group(0)
        self.counts[kind] += 1
        if kind == "password":
            start, end = match.span("value")
            whole = match.group(0)
            offset = match.start()
            return whole[: start - offset] + f"[REDACTED:{kind}]" + whole[end - offset :]
        return f"[REDACTED:{kind}]"

    # -------------------------------------------------------------------- whole conversations

    def conversation(self, conversation: Conversation) -> Conversation:
        system = None if conversation.system is None else tuple(self._text(t) for t in conversation.system)
        messages = tuple(self._message(m) for m in conversation.messages)
        tools = tuple(self._tool(t) for t in conversation.tools)
        return replace(conversation, system=system, messages=messages, tools=tools)

    def _message(self, message: Message) -> Message:
        blocks = tuple(self._block(b) for b in message.blocks)
        return replace(message, blocks=blocks, extra=self._json(message.extra))

    def _block(self, block: Block) -> Block:
        if isinstance(block, Thinking):
            text = self.scrub(block.text)
            item = None if block.item is None else self._json(block.item)
            changed = text != block.text or item != block.item
            return replace(
                block,
                text=text,
                item=item,
                signature=None if changed else block.signature,
                extra=self._json(block.extra),
            )
        if isinstance(block, Text):
            return self._text(block)
        if isinstance(block, ToolCall):
            arguments = self._json(block.arguments)
            raw = None if block.raw_arguments is None else self.scrub(block.raw_arguments)
            if raw is not None and arguments != block.arguments and raw == block.raw_arguments:
                raw = dumps_compact(arguments)
            return replace(block, arguments=arguments, raw_arguments=raw, extra=self._json(block.extra))
        if isinstance(block, ToolResult):
            content: Any = block.content
            if isinstance(content, str):
                content = self.scrub(content)
            elif isinstance(content, tuple):
                content = tuple(self._text(p) if isinstance(p, Text) else p for p in content)
            return replace(block, content=content, extra=self._json(block.extra))
        if isinstance(block, Opaque):
            return replace(block, data=self._json(block.data))
        return block  # redacted thinking is encrypted; images are not text

    def _text(self, block: Text) -> Text:
        return replace(block, text=self.scrub(block.text), extra=self._json(block.extra))

    def _tool(self, tool: ToolSpec) -> ToolSpec:
        return replace(tool, description=None if tool.description is None else self.scrub(tool.description))

    def _json(self, value: Any) -> Any:
        return _map_strings(value, self.scrub)


def _map_strings(value: Any, fn: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, dict):
        return {key: _map_strings(item, fn) for key, item in value.items()}
    if isinstance(value, list):
        return [_map_strings(item, fn) for item in value]
    return value
