"""``interleaf serve``: run the gateway that restores the thinking client apps drop.

The flags become one :class:`~interleaf.gateway.config.ServeOptions` (:func:`serve_options`), checked
before anything starts; the gateway then runs in this process.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from interleaf.cli.exit_codes import BAD_INPUT

if TYPE_CHECKING:
    from interleaf.gateway.config import ServeOptions

LOG_LEVELS = ("debug", "info", "warning", "error")
METRICS_TOKEN_ENV = "INTERLEAF_METRICS_TOKEN"


def serve(
    profile: Annotated[
        str,
        typer.Option(
            "--profile",
            "-p",
            help="Upstream backend profile: a built-in (anthropic, minimax, deepseek, vllm, ...) or one "
            "defined in config.toml under \\[profiles.NAME] (required).",
        ),
    ],
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url", help="Upstream URL, e.g. http://127.0.0.1:8000/v1. Default: the profile's."
        ),
    ] = None,
    thinking_dialect: Annotated[
        str | None,
        typer.Option(
            "--thinking-dialect",
            help="How the upstream takes thinking back: reasoning_content, reasoning, reasoning_details, "
            "think_tags (inline <think> in content: MiniMax's default, vLLM/SGLang append-think parsers), "
            "anthropic, or none. Default: the profile's.",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="config.toml to read profiles from. Default: $INTERLEAF_CONFIG or ~/.config/interleaf.",
        ),
    ] = None,
    model_map: Annotated[
        list[str] | None,
        typer.Option(
            "--model-map",
            help="CLIENT_MODEL=UPSTREAM_MODEL, repeatable; *=MODEL maps every other name. Default: none.",
        ),
    ] = None,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on. Default: 127.0.0.1.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on. Default: 8765.")] = 8765,
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            help="Thinking store: sqlite:///PATH or redis://HOST:PORT/DB. Default: SQLite in the data dir.",
        ),
    ] = None,
    durable: Annotated[
        bool,
        typer.Option(
            "--durable",
            help="Write each reply to the store (SQLite: fsync'd) before its last byte is sent, so it "
            "survives a crash right after. Costs a store write on every response. Default: off.",
        ),
    ] = False,
    keys: Annotated[
        Path | None,
        typer.Option(
            "--keys",
            help="Managed mode: a file of 'GATEWAY_KEY TENANT' lines; the upstream key comes from "
            "--upstream-key-env. Default: passthrough (the client's key goes upstream).",
        ),
    ] = None,
    upstream_key_env: Annotated[
        str | None,
        typer.Option(
            "--upstream-key-env", help="Managed mode: env var with the upstream key. Default: the profile's."
        ),
    ] = None,
    ttl: Annotated[
        str, typer.Option("--ttl", help="How long stored turns live (90s, 30m, 24h, 7d). Default: 24h.")
    ] = "24h",
    on_missing: Annotated[
        str,
        typer.Option(
            "--on-missing",
            help="A turn this gateway served whose thinking is gone: 'pass' forwards it as is (counted), "
            "'error' refuses the request with a 400 naming it. Turns it never served are always "
            "forwarded. Default: pass.",
        ),
    ] = "pass",
    client_dialect: Annotated[
        str,
        typer.Option(
            "--client-dialect",
            help="Where OpenAI-format clients get thinking from an upstream of the other format: "
            "reasoning_content, reasoning, reasoning_details or think_tags. Default: reasoning_content.",
        ),
    ] = "reasoning_content",
    max_body: Annotated[
        str, typer.Option("--max-body", help="Largest request body (bytes, or 512k, 32m). Default: 32m.")
    ] = "32m",
    max_concurrency: Annotated[
        int,
        typer.Option(
            "--max-concurrency",
            help="Requests in flight (streams included) beyond which new ones get 503 + Retry-After. "
            "Default: 4096.",
        ),
    ] = 4096,
    capture_backlog: Annotated[
        int,
        typer.Option(
            "--capture-backlog",
            help="Replies held in memory until written; past half of it new requests wait up to 1 s for "
            "the store to catch up, then get 503. Default: 8192.",
        ),
    ] = 8192,
    capture_backlog_bytes: Annotated[
        str,
        typer.Option(
            "--capture-backlog-bytes",
            help="The same bound in bytes (512k, 64m, 1g): what those replies hold, about their text. "
            "Whichever bound is reached first applies. Default: 64m.",
        ),
    ] = "64m",
    first_byte_timeout: Annotated[
        float,
        typer.Option(
            "--first-byte-timeout", help="Seconds to wait for the upstream's first byte. Default: 300."
        ),
    ] = 300.0,
    idle_timeout: Annotated[
        float,
        typer.Option(
            "--idle-timeout", help="Seconds of upstream silence mid-stream before giving up. Default: 120."
        ),
    ] = 120.0,
    upstream_keepalive: Annotated[
        float,
        typer.Option(
            "--upstream-keepalive",
            help="Seconds an idle upstream connection is kept for the next request; 0 opens one per "
            "request. Keep it below the upstream server's idle timeout (5 s for vLLM, SGLang and "
            "llama.cpp), or some requests meet a connection the server is closing and fail. Raise it "
            "for a hosted API that keeps connections longer, to save TLS handshakes. Default: 4.",
        ),
    ] = 4.0,
    upstream_idle_connections: Annotated[
        int,
        typer.Option(
            "--upstream-idle-connections",
            help="Idle upstream connections kept for the next requests; one coming back beyond that is "
            "closed at once, so a burst of streams does not leave its sockets (and their memory) open "
            "until the keep-alive ends. Default: 64.",
            min=0,
        ),
    ] = 64,
    header_timeout: Annotated[
        float,
        typer.Option(
            "--header-timeout",
            help="Seconds a client may take to send a request's headers, or to send more of its body. "
            "Default: 30.",
        ),
    ] = 30.0,
    metrics_token: Annotated[
        str | None,
        typer.Option(
            "--metrics-token",
            envvar=METRICS_TOKEN_ENV,
            help=f"Require 'Authorization: Bearer TOKEN' on GET /metrics (also ${METRICS_TOKEN_ENV}). "
            "Default: /metrics is open on loopback, refused elsewhere.",
        ),
    ] = None,
    log_level: Annotated[
        str, typer.Option("--log-level", help="debug, info, warning or error. Default: info.")
    ] = "info",
    log_content: Annotated[
        bool,
        typer.Option(
            "--log-content",
            help="Allow request and response bodies (thinking included) in debug logs. Default: off.",
        ),
    ] = False,
    text_match: Annotated[
        bool,
        typer.Option(
            "--text-match/--no-text-match",
            help="Also find an earlier reply without tool calls by its text (120+ characters) when the app "
            "rebuilt the conversation around it, as aider does. Off: such turns are found only in the exact "
            "conversation they were made in. Default: on.",
        ),
    ] = True,
    record: Annotated[
        bool,
        typer.Option(
            "--record",
            help="Keep each request (what the client sent, what went upstream, what was restored) on this "
            "machine for `interleaf view`: a private file in the data dir, oldest dropped past 20,000 "
            "requests or 512 MB. Default: off.",
        ),
    ] = False,
    record_path: Annotated[
        Path | None,
        typer.Option("--record-path", help="Where --record writes. Default: traffic.db in the data dir."),
    ] = None,
) -> None:
    """Serve the gateway: Anthropic (/v1/messages) and OpenAI (/v1/chat/completions) clients in front
    of any upstream profile, with the thinking those clients drop restored on every request.

    Examples:

      interleaf serve --profile minimax --port 8765

      interleaf serve --profile vllm --base-url http://10.0.0.5:8000/v1 --thinking-dialect think_tags

      interleaf serve --profile gpu-box --config ~/interleaf.toml --store redis://10.0.0.2:6379/0
    """
    from interleaf.backends.errors import BackendConfigError
    from interleaf.config import ConfigError
    from interleaf.gateway.config import GatewayConfigError
    from interleaf.store.thinking import StoreError

    try:
        options = serve_options(
            profile=profile,
            base_url=base_url,
            thinking_dialect=thinking_dialect,
            config=config,
            model_map=model_map or [],
            host=host,
            port=port,
            store=store,
            durable=durable,
            keys=keys,
            upstream_key_env=upstream_key_env,
            ttl=ttl,
            on_missing=on_missing,
            client_dialect=client_dialect,
            max_body=max_body,
            max_concurrency=max_concurrency,
            capture_backlog=capture_backlog,
            capture_backlog_bytes=capture_backlog_bytes,
            first_byte_timeout=first_byte_timeout,
            idle_timeout=idle_timeout,
            upstream_keepalive=upstream_keepalive,
            upstream_idle_connections=upstream_idle_connections,
            header_timeout=header_timeout,
            metrics_token=metrics_token,
            log_content=log_content,
            record=record or record_path is not None,
            record_path=record_path,
            text_match=text_match,
        )
        level = log_level_number(log_level)
    except (GatewayConfigError, BackendConfigError, ConfigError) as exc:
        typer.echo(f"interleaf serve: error: {exc}", err=True)
        raise typer.Exit(BAD_INPUT) from None
    from interleaf.gateway.server import serve as serve_gateway

    try:
        serve_gateway(options, log_level=level)
    except (GatewayConfigError, BackendConfigError, StoreError) as exc:
        typer.echo(f"interleaf serve: error: {exc}", err=True)
        raise typer.Exit(BAD_INPUT) from None


def serve_options(
    *,
    profile: str,
    base_url: str | None = None,
    thinking_dialect: str | None = None,
    config: Path | None = None,
    model_map: list[str] | None = None,
    host: str = "127.0.0.1",
    port: int = 8765,
    store: str | None = None,
    durable: bool = False,
    keys: Path | None = None,
    upstream_key_env: str | None = None,
    ttl: str = "24h",
    on_missing: str = "pass",
    client_dialect: str = "reasoning_content",
    max_body: str = "32m",
    max_concurrency: int = 4096,
    capture_backlog: int = 8192,
    capture_backlog_bytes: str = "64m",
    first_byte_timeout: float = 300.0,
    idle_timeout: float = 120.0,
    upstream_keepalive: float = 4.0,
    upstream_idle_connections: int = 64,
    header_timeout: float = 30.0,
    metrics_token: str | None = None,
    log_content: bool = False,
    record: bool = False,
    record_path: Path | None = None,
    text_match: bool = True,
) -> ServeOptions:
    """The gateway's options from ``interleaf serve``'s flags; a bad value raises an error naming the flag
    (GatewayConfigError, or BackendConfigError / ConfigError for the profile and config file)."""
    from interleaf.backends.http import Timeouts
    from interleaf.backends.resolve import resolve_profile
    from interleaf.config import load_config
    from interleaf.gateway.config import (
        OPENAI_CLIENT_DIALECTS,
        GatewayConfigError,
        ModelMap,
        ServeOptions,
        parse_duration,
        parse_size,
    )
    from interleaf.transcript import ReasoningDialect

    if client_dialect not in {d.value for d in OPENAI_CLIENT_DIALECTS}:
        names = ", ".join(d.value for d in OPENAI_CLIENT_DIALECTS)
        raise GatewayConfigError(f"--client-dialect {client_dialect!r} is not a dialect; use one of {names}")
    if on_missing not in ("pass", "error"):
        raise GatewayConfigError(f"--on-missing {on_missing!r} must be 'pass' or 'error'")
    for flag, seconds in (
        ("--first-byte-timeout", first_byte_timeout),
        ("--idle-timeout", idle_timeout),
        ("--header-timeout", header_timeout),
    ):
        if seconds <= 0:
            raise GatewayConfigError(f"{flag} must be a positive number of seconds, got {seconds:g}")
    if metrics_token is not None and not metrics_token.strip():
        raise GatewayConfigError(f"--metrics-token (or ${METRICS_TOKEN_ENV}) is empty")
    chosen = resolve_profile(
        profile,
        load_config(config),
        base_url=base_url,
        key_env=None,
        thinking_dialect=thinking_dialect,
    )
    return ServeOptions(
        profile=chosen,
        model_map=ModelMap.parse(model_map or []),
        host=host,
        port=port,
        store_url=store,
        durable=durable,
        keys_file=keys,
        upstream_key_env=upstream_key_env,
        ttl=parse_duration(ttl),
        on_missing="error" if on_missing == "error" else "pass",
        client_dialect=ReasoningDialect(client_dialect),
        max_body=parse_size(max_body),
        max_concurrency=max_concurrency,
        capture_backlog=capture_backlog,
        capture_backlog_bytes=parse_size(capture_backlog_bytes, flag="--capture-backlog-bytes"),
        log_content=log_content,
        metrics_token=metrics_token,
        header_timeout=header_timeout,
        upstream_keepalive=upstream_keepalive,
        upstream_idle_connections=upstream_idle_connections,
        timeouts=Timeouts(connect=10.0, first_byte=first_byte_timeout, idle=idle_timeout, total=None),
        record=record,
        record_path=record_path,
        text_match=text_match,
    )


def log_level_number(name: str) -> int:
    """``--log-level`` as a logging level."""
    import logging

    from interleaf.gateway.config import GatewayConfigError

    if name.lower() not in LOG_LEVELS:
        raise GatewayConfigError(f"--log-level {name!r} is not a level; use {', '.join(LOG_LEVELS)}")
    level: int = getattr(logging, name.upper())
    return level
