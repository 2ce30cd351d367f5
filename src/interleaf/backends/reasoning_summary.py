"""Reasoning summaries from OpenAI's Responses API: asked for, and no longer once an organization is refused.

OpenAI's reasoning models (GPT-5, the o-series) return the text of their thinking only as a summary,
and only when the request asks for one (``reasoning.summary``); without it a reasoning item's summary is
empty (docs/architecture.md §4.3). An Anthropic or Chat app routed through the gateway to such a model
then shows no thinking at all, and the agent records none. So a request interleaf builds for a profile
with ``reasoning_summary`` (``openai-responses``: ``"auto"``) asks for one where it asks for reasoning.

OpenAI gives summaries only to verified organizations: any other gets a 400 with ``param``
``"reasoning.summary"`` ("Your organization must be verified to generate reasoning summaries"). That
request is sent again at once without the summary, and :class:`SummaryRefusals` remembers the
credential, so that organization's later requests never ask: one extra round trip per key and process,
and the app never sees the refusal. Requests an app sends in the Responses format itself are not
touched: Codex asks for summaries itself, and gets what it would get without the gateway.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Final

from interleaf.backends.errors import BackendHTTPError

SUMMARY_PARAM: Final = "reasoning.summary"

_REMEMBERED = 4096
"""Refused credentials kept per adapter: past it the memory starts again (each key then costs one more
refused request), so a gateway serving many keys holds a bounded set."""


def refuses_summary(error: BackendHTTPError) -> bool:
    """Whether ``error`` is OpenAI refusing ``reasoning.summary`` (an unverified organization, or a
    server that does not take the field)."""
    if error.status != 400:
        return False
    param = _error_param(error.body)
    if param is not None:
        return param == SUMMARY_PARAM
    return "reasoning summar" in error.server_message.lower()


def _error_param(body: bytes | None) -> str | None:
    if not body:
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    error = data.get("error") if isinstance(data, Mapping) else None
    param = error.get("param") if isinstance(error, Mapping) else None
    return param if isinstance(param, str) else None


def without_summary(body: bytes) -> bytes | None:
    """``body`` (a Responses request) without ``reasoning.summary``; None when it has none."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    reasoning = data.get("reasoning") if isinstance(data, dict) else None
    if not isinstance(reasoning, dict) or "summary" not in reasoning:
        return None
    del reasoning["summary"]
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def asks_reasoning(params: Mapping[str, Any]) -> bool:
    """Whether a request's settings (transcript ``params``) ask the model to reason: Anthropic's
    ``thinking`` on (``enabled``, ``adaptive``), or an effort other than ``none``."""
    thinking = params.get("thinking")
    if isinstance(thinking, Mapping):
        return thinking.get("type") in ("enabled", "adaptive")
    effort = params.get("reasoning_effort")
    return isinstance(effort, str) and effort != "none"


def ask_summary(body: dict[str, Any], setting: str) -> bool:
    """Ask for a summary in ``body`` (a Responses request, changed in place) where it asks for
    reasoning and says nothing of a summary; whether it now asks."""
    reasoning = body.get("reasoning")
    if not isinstance(reasoning, dict) or "summary" in reasoning:
        return False
    reasoning["summary"] = setting
    return True


_CREDENTIAL_HEADERS = frozenset(["authorization", "x-api-key", "openai-organization", "openai-project"])


def credential_of(headers: Mapping[str, str]) -> str:
    """Who a request goes upstream as: its key (``Authorization`` or ``x-api-key``) and the organization
    and project it names, if any (a key may act for several). Empty when it has none."""
    return "\n".join(
        f"{name.lower()}={value}" for name, value in headers.items() if name.lower() in _CREDENTIAL_HEADERS
    )


class SummaryRefusals:
    """Credentials whose organization was refused summaries (digests, never the keys themselves)."""

    def __init__(self) -> None:
        self._refused: set[bytes] = set()

    def refused(self, credential: str) -> bool:
        return bool(self._refused) and _digest(credential) in self._refused

    def remember(self, credential: str) -> None:
        if len(self._refused) >= _REMEMBERED:
            self._refused.clear()
        self._refused.add(_digest(credential))


def _digest(credential: str) -> bytes:
    return hashlib.blake2b(credential.encode(), digest_size=16).digest()
