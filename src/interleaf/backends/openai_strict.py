"""What OpenAI's own API refuses in a request built from another format, and what it takes instead.

Servers that only speak an OpenAI format (vLLM, SGLang, llama.cpp, DeepSeek, Kimi) ignore request
fields they do not know. OpenAI's own API answers 400 instead (docs/architecture.md §4.2, "OpenAI's
own API"), so an Anthropic app such as Claude Code, routed through the gateway to a profile with
``openai_strict`` (``openai``, ``openai-responses``), failed on every request:

* a field OpenAI does not document: ``Unrecognized request argument supplied: thinking`` (``top_k``);
* ``metadata`` without ``store: true`` (Claude Code sends ``metadata.user_id`` every time): "The
  'metadata' parameter is only allowed when 'store' is enabled.";
* on reasoning models (the o-series, GPT-5): ``max_tokens`` (Chat takes ``max_completion_tokens``),
  ``stop``, ``top_p`` and a ``temperature`` other than 1;
* on other models: ``reasoning_effort``.

:func:`fit_params` makes a translated request's settings ones OpenAI takes: Anthropic's ``thinking``
(and ``output_config.effort``) becomes ``reasoning_effort`` on a reasoning model, and what OpenAI
refuses is left out, each recorded as a loss. Requests an OpenAI-format app sends in OpenAI's own
format are not touched: they go as the app sent them, as they would without the gateway.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from interleaf.backends.effort import effort_word
from interleaf.wire.errors import Losses

# "o3", "o4-mini", "gpt-5", "gpt-5.4-mini", "gpt-oss-120b", "codex-mini-latest", a fine-tune of one of
# them ("ft:o4-mini:acme::id"), a routed name ("openai/gpt-5"). The "-chat" variants
# ("gpt-5-chat-latest") are ChatGPT's non-reasoning models.
_REASONING = re.compile(r"^(?:ft:)?(?:o\d|gpt-5|gpt-oss|codex)")


def reasons(model: str) -> bool:
    """Whether ``model`` is one of OpenAI's reasoning models (takes ``reasoning_effort``, refuses
    sampling settings)."""
    name = model.lower().rsplit("/", 1)[-1]
    return bool(_REASONING.match(name)) and "-chat" not in name


def fit_params(params: dict[str, Any], extra: Mapping[str, Any], *, chat: bool, losses: Losses) -> None:
    """Make ``params`` (a translated request's, changed in place) ones OpenAI's API takes for their
    model; ``extra`` holds the source format's other fields (Anthropic's ``output_config``); ``chat``:
    the request goes to Chat Completions (else Responses)."""
    model = str(params.get("model") or "")
    reasoning = reasons(model)
    thinking = params.pop("thinking", None)
    if thinking is not None:
        effort = None if "reasoning_effort" in params else effort_word(thinking, extra.get("output_config"))
        if effort is not None and reasoning:
            params["reasoning_effort"] = effort
        else:
            if "reasoning_effort" in params:
                why = "the request's reasoning_effort says how hard to think"
            elif reasoning:
                why = f"it names no effort, so {model} reasons at its default"
            else:
                why = f"{model or 'this model'} is not one of OpenAI's reasoning models"
            # Logged under reasoning_effort by the gateway: why an app asking for thinking gets none.
            losses.add("reasoning_effort", f"the thinking setting {thinking!r} is left out: {why}")
    if "reasoning_effort" in params and not reasoning:
        losses.add(
            "reasoning_effort",
            f"left out: {model or 'this model'} is not one of OpenAI's reasoning models, which alone take it",
        )
        params.pop("reasoning_effort")
    # Why each is refused. A translated request never sets `store` (an OpenAI field), which Chat needs
    # with metadata, and setting it would keep the conversation on OpenAI's servers.
    refused = {"top_k": "OpenAI's API has no such field"}
    if chat:
        refused["metadata"] = "OpenAI Chat takes it only with `store`, which this request does not set"
    if reasoning:
        for name in ("stop", "top_p", "temperature"):
            refused[name] = f"{model} is a reasoning model, which refuses it"
        if params.get("temperature") == 1:
            del refused["temperature"]  # the one value reasoning models take
    for name, why in refused.items():
        if name in params:
            losses.add(name, f"left out: {why}")
            del params[name]
