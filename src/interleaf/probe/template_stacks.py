"""What each serving stack hands a chat template when a client sends reasoning in one field.

The same request reaches the template differently depending on the server in front of it, so a
template that keeps ``reasoning`` can still lose a client's ``reasoning_content``:

* **transformers** ``apply_chat_template`` passes the messages as given; from 5.21 it first copies
  the reasoning (``reasoning_content``, else ``thinking``, else ``reasoning``) into
  ``reasoning_content`` and, when absent, ``thinking`` (``_alias_reasoning_fields`` in
  ``transformers/utils/chat_template_utils.py``). ``reasoning`` is never filled.
* **vLLM** reads an assistant message's reasoning only from ``reasoning`` and hands it to the
  template as ``reasoning`` and ``reasoning_content``; a client's ``reasoning_content`` is dropped
  (vllm-project/vllm#38488). Tool-call arguments become dicts (``json.loads``), whatever the template
  can take (``vllm/entrypoints/chat_utils.py``). It renders through transformers, so the installed
  version's aliasing applies too.
* **SGLang** keeps ``reasoning_content`` (its request model has no other reasoning field) and also
  turns arguments into dicts (``python/sglang/srt/entrypoints/openai/protocol.py``,
  ``serving_chat.py``); it renders through transformers.
* **llama.cpp** reads only ``reasoning_content``, copies it into ``thinking`` for gpt-oss (harmony)
  templates, dropping the content of a tool-call message, and sends arguments as JSON strings unless
  the template needs objects (``common/chat.cpp``). It renders with its own Jinja engine, which can
  differ from Python's in corner cases.

Inline reasoning (``<think>`` or channels in ``content``) passes through every stack unchanged.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from interleaf.probe.template_conversations import ARGS_DICT, ARGS_JSON, CHANNEL_TOKEN

__all__ = ["REASONING_KEYS", "STACKS", "Stack", "alias_reasoning"]

REASONING_KEYS: Final = ("reasoning_content", "reasoning", "thinking")

Messages = list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Stack:
    """One server (and transformers version) between the client and the template."""

    name: str
    view: Callable[[Messages, str], Messages]
    """(client messages, template source) -> the messages the template receives."""
    argument_forms: tuple[str, ...]
    """Tool-call argument forms the stack hands the template, in the order it tries them."""


def _assistants(messages: Messages, change: Callable[[dict[str, Any]], dict[str, Any]]) -> Messages:
    return [change(copy.deepcopy(m)) if m.get("role") == "assistant" else copy.deepcopy(m) for m in messages]


def _as_sent(messages: Messages, source: str) -> Messages:
    return copy.deepcopy(messages)


def alias_reasoning(messages: Messages) -> Messages:
    """transformers >= 5.21: the first reasoning field found fills ``reasoning_content`` (always) and
    ``thinking`` (when absent)."""
    out = []
    for message in copy.deepcopy(messages):
        reasoning = next(
            (
                message[key]
                for key in ("reasoning_content", "thinking", "reasoning")
                if message.get(key) is not None
            ),
            None,
        )
        if reasoning is not None:
            message = {"thinking": reasoning, **message, "reasoning_content": reasoning}
        out.append(message)
    return out


def _transformers_aliasing(messages: Messages, source: str) -> Messages:
    return alias_reasoning(messages)


def _vllm_message(message: dict[str, Any]) -> dict[str, Any]:
    reasoning = message.get("reasoning")
    for key in REASONING_KEYS:
        message.pop(key, None)
    if reasoning is not None:
        message["reasoning"] = reasoning
        message["reasoning_content"] = reasoning
    return message


def _vllm(messages: Messages, source: str) -> Messages:
    return _assistants(messages, _vllm_message)


def _sglang_message(message: dict[str, Any]) -> dict[str, Any]:
    message.pop("reasoning", None)
    message.pop("thinking", None)
    if message.get("content") is None:
        message["content"] = ""
    return message


def _sglang(messages: Messages, source: str) -> Messages:
    return _assistants(messages, _sglang_message)


def _llama_cpp(messages: Messages, source: str) -> Messages:
    harmony = CHANNEL_TOKEN in source

    def change(message: dict[str, Any]) -> dict[str, Any]:
        message.pop("reasoning", None)
        message.pop("thinking", None)
        reasoning = message.get("reasoning_content")
        if harmony and isinstance(reasoning, str):
            message["thinking"] = reasoning
            if message.get("tool_calls"):
                message.pop("content", None)
        return message

    return _assistants(messages, change)


def _then_alias(view: Callable[[Messages, str], Messages]) -> Callable[[Messages, str], Messages]:
    return lambda messages, source: alias_reasoning(view(messages, source))


_EITHER = (ARGS_DICT, ARGS_JSON)
STACKS: Final = (
    Stack("transformers < 5.21", _as_sent, _EITHER),
    Stack("transformers ≥ 5.21", _transformers_aliasing, _EITHER),
    Stack("vLLM (transformers < 5.21)", _vllm, (ARGS_DICT,)),
    Stack("vLLM (transformers ≥ 5.21)", _then_alias(_vllm), (ARGS_DICT,)),
    Stack("SGLang (transformers < 5.21)", _sglang, (ARGS_DICT,)),
    Stack("SGLang (transformers ≥ 5.21)", _then_alias(_sglang), (ARGS_DICT,)),
    Stack("llama.cpp", _llama_cpp, (ARGS_JSON, ARGS_DICT)),
)
"""The stacks the probe reports, transformers alone first."""
