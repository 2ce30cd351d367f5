"""Strict upstreams: validators that fail a request the way real servers do when thinking is lost, or
when a setting is one the server refuses.

Each validator remembers what the scripted server *issued* (thinking blocks and their signatures,
reasoning text per tool call) and rejects a later request that does not send it back intact, with the
vendor's own error text (docs/architecture.md §4.1-4.3)::

    server = ScriptedServer(steps)
    server.validators.append(StrictAnthropic(server))
    server.validators.append(StrictOpenAIReasoning(server, "reasoning_content"))
    server.validators.append(StrictThinkTags(server))      # inline <think> in content
    server.validators.append(StrictResponses(server))      # Responses reasoning items
    server.validators.append(StrictThinkingSetting())      # Anthropic's `thinking` per model
    server.validators.append(StrictOpenAIParams())         # OpenAI's own API's request settings
    server.validators.append(StrictAnthropicFields())      # Anthropic's documented request fields

They read the raw wire, independently of interleaf's codecs.
"""

from __future__ import annotations

import json
import re
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


def _content_text(content: Any) -> str:
    """A Chat message's ``content`` as one string (a string, or the text of a list of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text", "")) for part in content if isinstance(part, Mapping) and "text" in part
        )
    return ""


_THINK = re.compile(r"<think>.*?</think>", re.DOTALL)


class StrictThinkTags:
    """Inline ``<think>`` servers (MiniMax's default, vLLM/SGLang append-think parsers): an assistant
    message with tool calls this server issued must carry the ``<think>…</think>`` section issued with
    them, byte-exact, in its ``content``.

    The real servers do not refuse such a request, they silently reason worse: the 400 here is this
    server's own, worded like vLLM's validation errors, so that the loss shows up in a test.
    """

    def __init__(self, server: ScriptedServer) -> None:
        self.issued: dict[str, str] = {}
        server.on_reply.append(self._record)

    def _record(self, request: RecordedRequest, step: Step) -> None:
        content: list[str] = []
        call_ids: list[str] = []
        if isinstance(step.body, Mapping) and step.body.get("choices"):
            message = step.body["choices"][0].get("message") or {}
            content.append(_content_text(message.get("content")))
            call_ids.extend(c["id"] for c in message.get("tool_calls") or [])
        for payload in _payloads(step):
            for choice in payload.get("choices") or []:
                delta = choice.get("delta") or {}
                if isinstance(delta.get("content"), str):
                    content.append(delta["content"])
                call_ids.extend(c["id"] for c in delta.get("tool_calls") or [] if c.get("id"))
        section = _THINK.search("".join(content))
        if section is not None:
            for call_id in call_ids:
                self.issued[call_id] = section[0]

    def __call__(self, request: RecordedRequest) -> str | None:
        body = request.body if isinstance(request.body, dict) else {}
        for i, message in enumerate(body.get("messages") or []):
            if not isinstance(message, Mapping) or message.get("role") != "assistant":
                continue
            ids = [c.get("id") for c in message.get("tool_calls") or [] if isinstance(c, Mapping)]
            expected = {self.issued[c] for c in ids if c in self.issued}
            if expected and not any(section in _content_text(message.get("content")) for section in expected):
                return (
                    f"messages.{i}.content: the assistant message with tool calls must keep the "
                    "<think>...</think> section it was generated with (reasoning missing or modified)"
                )
        return None


class StrictResponses:
    """OpenAI Responses rules for reasoning items (stateless use, ``store: false``): every
    ``function_call`` this server issued must come back preceded by the reasoning item(s) issued before
    it, with ``encrypted_content`` byte-exact, using OpenAI's error texts (docs/architecture.md §4.3).
    """

    def __init__(self, server: ScriptedServer) -> None:
        self.issued: dict[str, list[JSON]] = {}
        """call_id -> the reasoning items that preceded that call in the output."""
        server.on_reply.append(self._record)

    def _record(self, request: RecordedRequest, step: Step) -> None:
        items: list[JSON] = []
        if isinstance(step.body, Mapping) and isinstance(step.body.get("output"), list):
            items.extend(i for i in step.body["output"] if isinstance(i, dict))
        else:
            for payload in _payloads(step):
                if payload.get("type") == "response.output_item.done" and isinstance(
                    payload.get("item"), dict
                ):
                    items.append(payload["item"])
        reasoning: list[JSON] = []
        for item in items:
            if item.get("type") == "reasoning":
                reasoning.append(item)
            elif item.get("type") == "function_call" and reasoning:
                self.issued[str(item.get("call_id"))] = list(reasoning)

    def __call__(self, request: RecordedRequest) -> str | None:
        body = request.body if isinstance(request.body, dict) else {}
        items = body.get("input")
        if not isinstance(items, list):
            return None
        seen: list[Mapping[str, Any]] = []
        for item in items:
            if not isinstance(item, Mapping):
                continue
            if item.get("type") == "function_call" and str(item.get("call_id")) in self.issued:
                wanted = self.issued[str(item.get("call_id"))]
                sent = {str(r.get("encrypted_content")) for r in seen if r.get("type") == "reasoning"}
                for original in wanted:
                    blob = str(original.get("encrypted_content"))
                    if blob in sent:
                        continue
                    changed = [
                        r for r in seen if r.get("type") == "reasoning" and r.get("id") == original.get("id")
                    ]
                    if changed:
                        return f"The encrypted content {str(changed[0].get('encrypted_content'))[:12]}... could not be verified."
                    return (
                        f"Item '{item.get('id', item.get('call_id'))}' of type 'function_call' was provided "
                        f"without its required 'reasoning' item: '{original.get('id')}'."
                    )
                continue
            if item.get("type") == "function_call_output" or item.get("role") == "user":
                seen = []  # a new turn begins: earlier reasoning items belong to earlier calls
                continue
            seen.append(item)
        return None


# Anthropic's documented split (late 2026): from Opus 4.7 on only adaptive thinking, `enabled` is a 400;
# Claude 4.5 and earlier only a budget. Listed by name here, not parsed, so a test's model is one the
# docs name.
ADAPTIVE_ONLY_MODELS = ("claude-opus-4-7", "claude-opus-5", "claude-sonnet-5", "claude-mythos-preview")
BUDGET_ONLY_MODELS = ("claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1", "claude-3-7-sonnet")
# "xhigh" too: Claude Code 2.1.332 sends it to Opus 4.7.
EFFORTS = ("low", "medium", "high", "xhigh", "max")


class StrictThinkingSetting:
    """Anthropic's rules for the request's ``thinking`` setting, for the models listed above: the form
    the model takes, ``budget_tokens`` of at least 1,024, ``output_config.effort`` a known word and only
    with adaptive thinking, and no ``temperature`` other than 1 or ``top_k`` while thinking is on. The
    adaptive-only models (Opus 4.7 on) also refuse any sampling setting, and the
    interleaved-thinking beta, as Bedrock does ("invalid beta flag")."""

    def __call__(self, request: RecordedRequest) -> str | None:
        body = request.body if isinstance(request.body, dict) else {}
        model = str(body.get("model", ""))
        if model.startswith(ADAPTIVE_ONLY_MODELS):
            for name in ("temperature", "top_p", "top_k"):
                if name in body:
                    return f"`{name}` is deprecated for this model."
            if "interleaved-thinking-2025-05-14" in request.headers.get("anthropic-beta", ""):
                return "invalid beta flag"
        setting = body.get("thinking")
        kind = setting.get("type") if isinstance(setting, Mapping) else None
        display = setting.get("display") if isinstance(setting, Mapping) else None
        if display is not None and display not in ("summarized", "omitted"):
            return "thinking.display: Input should be 'summarized' or 'omitted'"
        if kind == "enabled" and model.startswith(ADAPTIVE_ONLY_MODELS):
            return (
                f'thinking.type.enabled is not supported for this model ({model}). Use thinking.type: "adaptive" '
                "and output_config.effort to control thinking."
            )
        if kind == "adaptive" and model.startswith(BUDGET_ONLY_MODELS):
            return f"thinking.type: adaptive thinking is not supported for this model ({model})"
        if kind == "enabled":
            budget = setting.get("budget_tokens") if isinstance(setting, Mapping) else None
            if not isinstance(budget, int) or budget < 1024:
                return "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
        output_config = body.get("output_config")
        if isinstance(output_config, Mapping) and "effort" in output_config:
            if output_config["effort"] not in EFFORTS:
                return f"output_config.effort: Input should be {', '.join(map(repr, EFFORTS))}"
            if kind != "adaptive":
                return "output_config.effort: effort needs adaptive thinking on this model"
        if kind in ("enabled", "adaptive"):
            if body.get("temperature", 1) != 1:
                return "`temperature` may only be set to 1 when thinking is enabled."
            if "top_k" in body:
                return "`top_k` is not supported when thinking is enabled."
        return None


# OpenAI's own API (platform.openai.com API reference): the request fields each endpoint documents. An
# OpenAI-compatible server ignores a field it does not know; OpenAI answers 400.
OPENAI_CHAT_FIELDS = frozenset(
    [
        "messages",
        "model",
        "audio",
        "frequency_penalty",
        "function_call",
        "functions",
        "logit_bias",
        "logprobs",
        "max_completion_tokens",
        "max_tokens",
        "metadata",
        "modalities",
        "n",
        "parallel_tool_calls",
        "prediction",
        "presence_penalty",
        "prompt_cache_key",
        "prompt_cache_retention",
        "reasoning_effort",
        "response_format",
        "safety_identifier",
        "seed",
        "service_tier",
        "stop",
        "store",
        "stream",
        "stream_options",
        "temperature",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "user",
        "verbosity",
        "web_search_options",
    ]
)
OPENAI_RESPONSES_FIELDS = frozenset(
    [
        "input",
        "model",
        "background",
        "conversation",
        "include",
        "instructions",
        "max_output_tokens",
        "max_tool_calls",
        "metadata",
        "parallel_tool_calls",
        "previous_response_id",
        "prompt",
        "prompt_cache_key",
        "prompt_cache_retention",
        "reasoning",
        "safety_identifier",
        "service_tier",
        "store",
        "stream",
        "stream_options",
        "temperature",
        "text",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "truncation",
        "user",
    ]
)
OPENAI_REASONING_MODELS = ("gpt-5", "gpt-5-mini", "o3", "o4-mini")
OPENAI_OTHER_MODELS = ("gpt-4.1", "gpt-4o")


class StrictOpenAIParams:
    """OpenAI's own refusals of request settings, with its error texts, for the models listed above:
    an undocumented field, ``metadata`` without ``store`` (Chat), ``reasoning_effort`` (or
    ``reasoning.effort``) on a model that does not reason, and on one that does ``max_tokens``,
    ``stop``, ``top_p`` or a ``temperature`` other than 1."""

    def __call__(self, request: RecordedRequest) -> str | None:
        body = request.body if isinstance(request.body, dict) else {}
        responses = request.path.endswith("/responses")
        known = OPENAI_RESPONSES_FIELDS if responses else OPENAI_CHAT_FIELDS
        unknown = sorted(set(body) - known)
        if unknown:
            return f"Unrecognized request argument supplied: {unknown[0]}"
        if not responses and "metadata" in body and body.get("store") is not True:
            return "The 'metadata' parameter is only allowed when 'store' is enabled."
        model = str(body.get("model", ""))
        reasoning = body.get("reasoning")
        effort = reasoning.get("effort") if responses and isinstance(reasoning, Mapping) else None
        if model in OPENAI_OTHER_MODELS and effort:
            return "Unsupported parameter: 'reasoning.effort' is not supported with this model."
        summary = reasoning.get("summary") if responses and isinstance(reasoning, Mapping) else None
        if summary is not None and summary not in ("auto", "concise", "detailed"):
            return f"Invalid value: '{summary}'. Supported values are: 'auto', 'concise', and 'detailed'."
        if model in OPENAI_OTHER_MODELS and "reasoning_effort" in body:
            return "Unrecognized request argument supplied: reasoning_effort"
        if model in OPENAI_REASONING_MODELS:
            if "max_tokens" in body:
                return (
                    "Unsupported parameter: 'max_tokens' is not supported with this model. "
                    "Use 'max_completion_tokens' instead."
                )
            for name in ("stop", "top_p"):
                if name in body:
                    return f"Unsupported parameter: '{name}' is not supported with this model."
            if body.get("temperature", 1) != 1:
                return (
                    f"Unsupported value: 'temperature' does not support {body['temperature']} with this "
                    "model. Only the default (1) value is supported."
                )
        return None


# Anthropic's Messages API (platform.claude.com API reference): the request fields it documents. It
# answers 400 to any other ("<field>: Extra inputs are not permitted").
ANTHROPIC_FIELDS = frozenset(
    [
        "model",
        "messages",
        "max_tokens",
        "system",
        "temperature",
        "top_p",
        "top_k",
        "stop_sequences",
        "stream",
        "tools",
        "tool_choice",
        "metadata",
        "thinking",
        "service_tier",
        "container",
        "mcp_servers",
        "context_management",
        "output_config",
        "output_format",
    ]
)


class StrictAnthropicFields:
    """Anthropic's refusal of a request field it does not document, and of ``metadata`` keys other
    than ``user_id``, with its error text."""

    def __call__(self, request: RecordedRequest) -> str | None:
        body = request.body if isinstance(request.body, dict) else {}
        if not request.path.endswith("/messages"):
            return None
        for name in sorted(set(body) - ANTHROPIC_FIELDS):
            return f"{name}: Extra inputs are not permitted"
        metadata = body.get("metadata")
        if isinstance(metadata, Mapping):
            for key in sorted(set(metadata) - {"user_id"}):
                return f"metadata.{key}: Extra inputs are not permitted"
        return None
