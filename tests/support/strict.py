"""Strict upstreams: validators that fail a request the way real servers do when thinking is lost.

Each validator remembers what the scripted server *issued* (thinking blocks and their signatures,
reasoning text per tool call) and rejects a later request that does not send it back intact, with the
vendor's own error text (shared/reference/wire-formats.md §1.5, §2.3-2.5)::

    server = ScriptedServer(steps)
    server.validators.append(StrictAnthropic(server))
    server.validators.append(StrictOpenAIReasoning(server, "reasoning_content"))

They read the raw wire, independently of interleaf's codecs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from .scripted_server import RecordedRequest, ScriptedServer, Step

JSON = dict[str, Any]


def _payloads(step: Step) -> Iterable[JSON]:
    for item in step.events or ():
        if isinstance(item, dict):
            yield item
        elif isinstance(item, tuple):
            try:
                data = json.loads(item[1])
            except ValueError:
                continue
            if isinstance(data, dict):
                yield data


def _last_user_index(messages: list[Any]) -> int:
    """Index of the last user message that is not only tool results (Anthropic and OpenAI shapes)."""
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if not isinstance(message, Mapping) or message.get("role") != "user":
            continue
        content = message.get("content")
        if (
            isinstance(content, list)
            and content
            and all(isinstance(b, Mapping) and b.get("type") == "tool_result" for b in content)
        ):
            continue
        return index
    return -1


class StrictAnthropic:
    """Anthropic's rules for thinking with tools, checked against the blocks this server issued.

    In the current tool loop (after the last real user message) every assistant message that calls
    a tool must start with a thinking block, and every thinking block must be one this server issued,
    unchanged (text and signature). ``require_signature``: reject unsigned thinking too.
    """

    def __init__(self, server: ScriptedServer, *, require_signature: bool = True) -> None:
        self.issued: set[tuple[str, str | None]] = set()
        self.issued_redacted: set[str] = set()
        self.require_signature = require_signature
        server.on_reply.append(self._record)

    def _record(self, request: RecordedRequest, step: Step) -> None:
        blocks: list[JSON] = []
        if isinstance(step.body, Mapping) and isinstance(step.body.get("content"), list):
            blocks.extend(b for b in step.body["content"] if isinstance(b, dict))
        current: dict[int, JSON] = {}
        for payload in _payloads(step):
            kind = payload.get("type")
            if kind == "content_block_start":
                current[payload["index"]] = dict(payload["content_block"])
            elif kind == "content_block_delta":
                block, delta = current[payload["index"]], payload["delta"]
                if delta.get("type") == "thinking_delta":
                    block["thinking"] = block.get("thinking", "") + delta["thinking"]
                elif delta.get("type") == "signature_delta":
                    block["signature"] = (block.get("signature") or "") + delta["signature"]
            elif kind == "content_block_stop":
                blocks.append(current.pop(payload["index"]))
        for block in blocks:
            if block.get("type") == "thinking":
                self.issued.add((block.get("thinking", ""), block.get("signature") or None))
            elif block.get("type") == "redacted_thinking":
                self.issued_redacted.add(block.get("data", ""))

    def __call__(self, request: RecordedRequest) -> str | None:
        body = request.body if isinstance(request.body, dict) else {}
        messages = body.get("messages") or []
        for i in range(_last_user_index(messages) + 1, len(messages)):
            message = messages[i]
            if message.get("role") != "assistant" or not isinstance(message.get("content"), list):
                continue
            content = message["content"]
            calls_tool = any(b.get("type") == "tool_use" for b in content)
            first = content[0].get("type") if content else None
            if calls_tool and first not in ("thinking", "redacted_thinking"):
                return (
                    f"messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, but found "
                    f"`{first}`. When `thinking` is enabled, a final `assistant` message must start with a "
                    "thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks). "
                    "We recommend you include thinking blocks from previous turns. To avoid this "
                    "requirement, disable `thinking`."
                )
            for j, block in enumerate(content):
                if block.get("type") == "thinking":
                    signature = block.get("signature")
                    if signature is None and self.require_signature:
                        return f"messages.{i}.content.{j}.thinking.signature: Field required"
                    if (block.get("thinking", ""), signature or None) not in self.issued:
                        return f"messages.{i}.content.{j}: Invalid `signature` in `thinking` block"
                elif (
                    block.get("type") == "redacted_thinking" and block.get("data") not in self.issued_redacted
                ):
                    return f"messages.{i}.content.{j}: Invalid `data` in `redacted_thinking` block"
        return None


class StrictOpenAIReasoning:
    """DeepSeek/Kimi/MiniMax-style rule: an assistant message with tool calls this server issued must
    carry the reasoning issued with them, unchanged, in ``field`` (``reasoning_content``,
    ``reasoning`` or ``reasoning_details``; for the last only the concatenated item texts are compared).
    """

    def __init__(self, server: ScriptedServer, field: str = "reasoning_content") -> None:
        self.field = field
        self.issued: dict[str, str] = {}
        server.on_reply.append(self._record)

    def _record(self, request: RecordedRequest, step: Step) -> None:
        reasoning: list[str] = []
        call_ids: list[str] = []
        if isinstance(step.body, Mapping) and step.body.get("choices"):
            message = step.body["choices"][0].get("message") or {}
            reasoning.append(self._text(message.get(self.field)))
            call_ids.extend(c["id"] for c in message.get("tool_calls") or [])
        for payload in _payloads(step):
            for choice in payload.get("choices") or []:
                delta = choice.get("delta") or {}
                if delta.get(self.field) is not None:
                    reasoning.append(self._text(delta[self.field]))
                call_ids.extend(c["id"] for c in delta.get("tool_calls") or [] if c.get("id"))
        for call_id in call_ids:
            self.issued[call_id] = "".join(reasoning)

    def _text(self, value: Any) -> str:
        if isinstance(value, list):
            return "".join(str(item.get("text", "")) for item in value if isinstance(item, Mapping))
        return "" if value is None else str(value)

    def __call__(self, request: RecordedRequest) -> str | None:
        body = request.body if isinstance(request.body, dict) else {}
        for i, message in enumerate(body.get("messages") or []):
            if message.get("role") != "assistant":
                continue
            ids = [c.get("id") for c in message.get("tool_calls") or []]
            expected = {self.issued[c] for c in ids if c in self.issued}
            if not expected:
                continue
            if self.field not in message:
                return f"Missing `{self.field}` field in the assistant message at message index {i}"
            if self._text(message[self.field]) not in expected:
                return f"The `{self.field}` in the assistant message at message index {i} was modified"
        return None
