"""The gateway's settings: :class:`ServeOptions`, built by ``interleaf serve`` or by tests directly.

Everything here is plain data checked when it is built, so a bad flag fails at start-up with a message
naming the flag, never on the first request.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from interleaf.backends.http import DEFAULT_IDLE_CONNECTIONS, DEFAULT_KEEPALIVE, Timeouts
from interleaf.backends.openai_strict import reasons
from interleaf.backends.profiles import Profile
from interleaf.gateway.limits import Limits
from interleaf.transcript import ReasoningDialect

OnMissing = Literal["pass", "error"]
ClientFormat = Literal["anthropic", "openai-chat", "openai-responses"]

DEFAULT_PORT = 8765
DEFAULT_TTL_SECONDS = 24 * 3600.0
DEFAULT_MAX_BODY = 32 * 1024 * 1024
DEFAULT_CAPTURE_BACKLOG_BYTES = 64 * 1024 * 1024
"""Anthropic's own request limit for the Messages API; a long coding session with images fits."""

OPENAI_CLIENT_DIALECTS = (
    ReasoningDialect.REASONING_CONTENT,
    ReasoningDialect.REASONING,
    ReasoningDialect.REASONING_DETAILS,
    ReasoningDialect.THINK_TAGS,
)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SIZE = re.compile(r"^\s*(\d+)\s*([kmg]i?b?|b)?\s*$", re.I)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


class GatewayConfigError(ValueError):
    """A gateway setting is wrong; the message names the flag and what to write instead."""


def parse_duration(text: str, *, flag: str = "--ttl") -> float:
    """``90``, ``90s``, ``30m``, ``24h``, ``7d`` -> seconds."""
    match = _DURATION.match(text)
    if not match or float(match[1]) <= 0:
        raise GatewayConfigError(
            f"{flag} {text!r} is not a duration; write seconds or a number with s, m, h or d (e.g. 24h)"
        )
    return float(match[1]) * _UNITS[match[2]]


def parse_size(text: str, *, flag: str = "--max-body") -> int:
    """``1048576``, ``512k``, ``32m``, ``1GiB`` -> bytes."""
    match = _SIZE.match(text)
    if not match or int(match[1]) <= 0:
        raise GatewayConfigError(f"{flag} {text!r} is not a size; write bytes or a number with k, m or g")
    unit = (match[2] or "").lower()[:1]
    return int(match[1]) * _SIZE_UNITS[unit]


@dataclass(frozen=True, slots=True)
class ModelMap:
    """Client model names -> upstream model names; ``*`` is the default for every other name."""

    names: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def parse(cls, items: Iterable[str]) -> ModelMap:
        names: dict[str, str] = {}
        for item in items:
            source, sep, target = item.partition("=")
            if not sep or not source.strip() or not target.strip():
                raise GatewayConfigError(
                    f"--model-map {item!r} must be CLIENT_MODEL=UPSTREAM_MODEL (or *=UPSTREAM_MODEL)"
                )
            names[source.strip()] = target.strip()
        return cls(MappingProxyType(names))

    def upstream(self, model: str | None, default: str | None = None) -> str | None:
        """The upstream name of ``model``: its mapping, else the ``*`` mapping, else itself (or
        ``default`` when the client named no model)."""
        if model is not None and model in self.names:
            return self.names[model]
        if "*" in self.names:
            return self.names["*"]
        return model if model is not None else default

    @property
    def aliases(self) -> list[str]:
        """Client-side names to list in ``GET /v1/models``."""
        return [name for name in self.names if name != "*"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ServeOptions:
    """Everything ``interleaf serve`` is told.

    * ``profile``: the upstream's profile, ``base_url`` already applied (where thinking goes back,
      which API it speaks, how it authenticates).
    * ``store_url``: ``sqlite:///PATH`` or ``redis://HOST:PORT/DB``; ``None`` is SQLite in the data dir.
    * ``keys_file``: managed mode — gateway keys map to tenants, the upstream key comes from
      ``upstream_key_env`` (default: the profile's ``key_env``). ``None``: the client's key goes upstream.
    * ``on_missing``: ``pass`` forwards a turn whose thinking cannot be restored, ``error`` refuses
      the request with a 400 naming the message.
    * ``client_dialect``: where OpenAI-format clients get thinking from a translated upstream.
    * ``max_body``: request bodies larger than this get 413.
    * ``log_content``: allow request and response bodies (thinking included) in DEBUG logs.
    """

    profile: Profile
    model_map: ModelMap = field(default_factory=ModelMap)
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    store_url: str | None = None
    keys_file: Path | None = None
    upstream_key_env: str | None = None
    ttl: float = DEFAULT_TTL_SECONDS
    on_missing: OnMissing = "pass"
    client_dialect: ReasoningDialect = ReasoningDialect.REASONING_CONTENT
    max_body: int = DEFAULT_MAX_BODY
    log_content: bool = False
    timeouts: Timeouts = field(
        default_factory=lambda: Timeouts(connect=10.0, first_byte=300.0, idle=120.0, total=None)
    )
    """Upstream limits; no total: a long generation is fine while bytes keep coming (idle)."""
    upstream_connections: int = 4096
    upstream_keepalive: float = DEFAULT_KEEPALIVE
    """Seconds an idle upstream connection is kept for the next request. Below the upstream server's own
    idle timeout (5 s for vLLM, SGLang and llama.cpp's server), or a request can go out on a connection
    the server is closing, and the client gets a 502 (backends/http.py, ``DEFAULT_KEEPALIVE``)."""
    upstream_idle_connections: int = DEFAULT_IDLE_CONNECTIONS
    """Idle upstream connections the pool keeps; one released beyond that is closed at once
    (backends/http.py, ``DEFAULT_IDLE_CONNECTIONS``)."""
    capture_backlog: int = 8192
    """Replies held in memory waiting to be stored. Past half of it on a healthy store, new requests are
    refused with 503 until writes catch up; past all of it (the store failing) the oldest are dropped."""
    capture_backlog_bytes: int = DEFAULT_CAPTURE_BACKLOG_BYTES
    """The same bound in bytes (about the text those replies hold: gateway/capture.py, ``held_bytes``);
    whichever of the two is reached first applies."""
    max_concurrency: int = 4096
    """Requests in flight (streams included) beyond which new ones are refused with 503."""
    durable: bool = False
    """Each reply is written (SQLite: fsync'd) before its last byte is sent."""
    metrics_token: str | None = None
    """When set, ``GET /metrics`` needs ``Authorization: Bearer <token>``."""
    limits: Limits = field(default_factory=Limits)
    """Bounds on one request's size (gateway/limits.py)."""
    header_timeout: float = 30.0
    """Seconds a client may take to send a request's headers, and between two reads of its body."""
    max_header_bytes: int = 64 * 1024
    """Largest request head (request line and headers)."""
    text_match: bool = True
    """Also find a long text-only turn by its text when the conversation around it was rebuilt (apps
    such as aider; store/fingerprint.py, "Text turns")."""
    record: bool = False
    """Keep each generation request (client body, upstream body, what was restored) on this machine for
    ``interleaf view`` (store/traffic.py: private, bounded)."""
    record_path: Path | None = None
    """Where recorded traffic goes (``None``: ``traffic.db`` in the data dir)."""

    def __post_init__(self) -> None:
        if self.on_missing not in ("pass", "error"):
            raise GatewayConfigError(f"--on-missing {self.on_missing!r} must be 'pass' or 'error'")
        if self.client_dialect not in OPENAI_CLIENT_DIALECTS:
            names = ", ".join(d.value for d in OPENAI_CLIENT_DIALECTS)
            raise GatewayConfigError(f"--client-dialect {self.client_dialect.value!r} must be one of {names}")
        if self.profile.base_url is None:
            raise GatewayConfigError(
                f"profile {self.profile.name!r} has no fixed address; pass --base-url URL of the upstream"
            )
        if self.ttl <= 0 or self.max_body <= 0:
            raise GatewayConfigError("--ttl and --max-body must be positive")
        if self.max_concurrency < 1 or self.capture_backlog < 2 or self.capture_backlog_bytes < 2:
            raise GatewayConfigError(
                "--max-concurrency, --capture-backlog and --capture-backlog-bytes must be positive"
            )
        if self.header_timeout <= 0:
            raise GatewayConfigError("--header-timeout must be a positive number of seconds")
        if self.upstream_idle_connections < 0:
            raise GatewayConfigError(
                f"--upstream-idle-connections must be 0 or more, got {self.upstream_idle_connections}"
            )
        if self.upstream_keepalive < 0:
            raise GatewayConfigError(
                "--upstream-keepalive must be 0 (a new connection per request) or a number of seconds, "
                f"got {self.upstream_keepalive:g}"
            )

    @property
    def base_url(self) -> str:
        assert self.profile.base_url is not None  # checked in __post_init__
        return self.profile.base_url

    def advice(self) -> list[str]:
        """What a user starting the gateway this way should know (logged as warnings at start)."""
        profile = self.profile
        if profile.api != "openai-chat" or not profile.openai_strict:
            return []
        # OpenAI's Chat Completions API returns none of a reasoning model's reasoning and takes none
        # back (docs/architecture.md §4.2): the thinking this gateway exists to keep is lost there.
        reasoning = sorted({model for model in self.model_map.names.values() if reasons(model)})
        if not reasoning:
            return []
        return [
            f"{', '.join(reasoning)} on OpenAI's Chat Completions API: OpenAI returns none of a reasoning "
            "model's reasoning there and takes none back, so it starts afresh after every tool call; "
            "`interleaf serve -p openai-responses` keeps its reasoning between calls (and shows its summary)"
        ]
