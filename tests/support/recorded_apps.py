"""The real apps' recorded requests (tests/fixtures/apps/<app>/<api>--<dialect>.json), read for replay.

The compatibility suite wrote each file (tests/compat/fixtures.py): every request an app sent the
scripted model, in order, as ``{"method", "path", "query", "headers", "body"}``, with the app's texts
replaced by ``[app text]`` and credentials by ``REDACTED``. The scripted model's own texts stay, so the
thinking it wrote is recognisable by :data:`MARKER` wherever an app sent it back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

APPS = Path(__file__).parents[1] / "fixtures" / "apps"
MARKER = "Compat thinking for step"
"""How every thinking text of the compatibility suite's model starts (tests/compat/model.py)."""

# Not the app's to send through: connection-level headers, the length (recomputed), credentials.
NOT_REPLAYED = frozenset(
    {
        "host",
        "content-length",
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "authorization",
        "x-api-key",
        "proxy-authorization",
    }
)


@dataclass(frozen=True)
class Recording:
    """One fixture file: the app, the API it spoke, the dialect of the model behind it, its requests."""

    path: Path
    app: str
    api: str
    dialect: str
    requests: list[dict[str, Any]]

    @property
    def name(self) -> str:
        """``app:api--dialect``, e.g. ``claude-code:anthropic--anthropic``."""
        return f"{self.app}:{self.path.stem}"

    @property
    def sends_thinking_back(self) -> bool:
        """Some request carries thinking the recorded model wrote (kept by the app, in any form)."""
        return any(MARKER in json.dumps(request["body"]) for request in self.requests)


def recordings() -> list[Recording]:
    """Every fixture file on disk, sorted by app and name."""
    return [load(path) for path in sorted(APPS.glob("*/*.json"))]


def load(path: Path) -> Recording:
    document = json.loads(path.read_text())
    return Recording(path, document["app"], document["api"], document["dialect"], document["requests"])


def replayed_headers(recorded: Mapping[str, str], key: str) -> dict[str, str]:
    """The app's headers as it sent them, with ``key`` in the app's own auth style in place of the
    redacted one."""
    headers = {name: value for name, value in recorded.items() if name.lower() not in NOT_REPLAYED}
    if "x-api-key" in recorded:
        headers["x-api-key"] = key
    else:
        headers["authorization"] = f"Bearer {key}"
    return headers


def earlier_turns(api: str, body: Mapping[str, Any]) -> list[str]:
    """A request's earlier assistant turns, each as JSON text (a trailing one is a prefill, not a
    turn). In Responses a turn is a run of model-side items between the client's own items."""
    if api != "openai-responses":
        raw = body.get("messages")
        messages = [m for m in raw if isinstance(m, dict)] if isinstance(raw, list) else []
        turns = [json.dumps(m) for m in messages if m.get("role") == "assistant"]
        trailing = bool(messages) and messages[-1].get("role") == "assistant"
        return turns[:-1] if trailing else turns
    raw = body.get("input")
    items = [i for i in raw if isinstance(i, dict)] if isinstance(raw, list) else []
    runs: list[list[Any]] = []
    in_run = False
    for item in items:
        kind = str(item.get("type", "message"))
        if (kind == "message" and item.get("role") != "assistant") or kind.endswith("_output"):
            in_run = False
            continue
        if not in_run:
            runs.append([])
            in_run = True
        runs[-1].append(item)
    return [json.dumps(run) for run in (runs[:-1] if in_run else runs)]


def bare_turns(api: str, body: Mapping[str, Any]) -> int:
    """Earlier assistant turns without any of the recorded model's thinking: dropped by the app, or
    the app's own (aider's example turns)."""
    return sum(MARKER not in turn for turn in earlier_turns(api, body))
