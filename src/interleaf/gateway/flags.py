"""``interleaf serve``'s flags as given, and the :class:`ServeOptions` they make.

Kept as plain JSON-safe values so the serving process can be started fresh from them
(:func:`interleaf.gateway.server.serve`), and so the CLI and that process build options in one place.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from interleaf.backends.http import Timeouts
from interleaf.backends.profiles import get_profile
from interleaf.gateway.config import (
    OPENAI_CLIENT_DIALECTS,
    GatewayConfigError,
    ModelMap,
    ServeOptions,
    parse_duration,
    parse_size,
)
from interleaf.transcript import ReasoningDialect

LEVELS = ("debug", "info", "warning", "error")


@dataclass(frozen=True, slots=True, kw_only=True)
class ServeFlags:
    profile: str
    base_url: str | None = None
    model_map: tuple[str, ...] = ()
    host: str = "127.0.0.1"
    port: int = 8765
    store: str | None = None
    keys: str | None = None
    upstream_key_env: str | None = None
    ttl: str = "24h"
    on_missing: str = "pass"
    client_dialect: str = "reasoning_content"
    max_body: str = "32m"
    first_byte_timeout: float = 300.0
    idle_timeout: float = 120.0
    log_level: str = "info"
    log_content: bool = False

    def options(self) -> ServeOptions:
        """The options; a bad value raises GatewayConfigError (or BackendConfigError for the profile)
        naming the flag."""
        if self.client_dialect not in {d.value for d in OPENAI_CLIENT_DIALECTS}:
            names = ", ".join(d.value for d in OPENAI_CLIENT_DIALECTS)
            raise GatewayConfigError(
                f"--client-dialect {self.client_dialect!r} is not a dialect; use one of {names}"
            )
        if self.on_missing not in ("pass", "error"):
            raise GatewayConfigError(f"--on-missing {self.on_missing!r} must be 'pass' or 'error'")
        for flag, seconds in (
            ("--first-byte-timeout", self.first_byte_timeout),
            ("--idle-timeout", self.idle_timeout),
        ):
            if seconds <= 0:
                raise GatewayConfigError(f"{flag} must be a positive number of seconds, got {seconds:g}")
        self.level()
        return ServeOptions(
            profile=get_profile(self.profile, base_url=self.base_url),
            model_map=ModelMap.parse(self.model_map),
            host=self.host,
            port=self.port,
            store_url=self.store,
            keys_file=Path(self.keys) if self.keys is not None else None,
            upstream_key_env=self.upstream_key_env,
            ttl=parse_duration(self.ttl),
            on_missing="error" if self.on_missing == "error" else "pass",
            client_dialect=ReasoningDialect(self.client_dialect),
            max_body=parse_size(self.max_body),
            log_content=self.log_content,
            timeouts=Timeouts(
                connect=10.0, first_byte=self.first_byte_timeout, idle=self.idle_timeout, total=None
            ),
        )

    def level(self) -> int:
        if self.log_level.lower() not in LEVELS:
            raise GatewayConfigError(
                f"--log-level {self.log_level!r} is not a level; use {', '.join(LEVELS)}"
            )
        level: int = getattr(logging, self.log_level.upper())
        return level

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeFlags:
        data = json.loads(text)
        data["model_map"] = tuple(data.get("model_map") or ())
        return cls(**data)
