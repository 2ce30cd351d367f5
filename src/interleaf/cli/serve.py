"""``interleaf serve``: run the gateway that restores the thinking client apps drop."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from interleaf.cli.exit_codes import BAD_INPUT


def serve(
    profile: Annotated[
        str,
        typer.Option(
            "--profile",
            "-p",
            help="Upstream backend profile: anthropic, minimax, deepseek, vllm, ... (required).",
        ),
    ],
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url", help="Upstream URL, e.g. http://127.0.0.1:8000/v1. Default: the profile's."
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
            help="A turn whose thinking cannot be restored: 'pass' forwards it as is (counted), 'error' "
            "refuses the request with a 400 naming it. Default: pass.",
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
) -> None:
    """Serve the gateway: Anthropic (/v1/messages) and OpenAI (/v1/chat/completions) clients in front
    of any upstream profile, with the thinking those clients drop restored on every request.

    Examples:

      interleaf serve --profile minimax --port 8765

      interleaf serve --profile vllm --base-url http://10.0.0.5:8000/v1 --store redis://10.0.0.2:6379/0
    """
    from interleaf.backends.errors import BackendConfigError
    from interleaf.gateway.config import GatewayConfigError
    from interleaf.gateway.flags import ServeFlags
    from interleaf.store.thinking import StoreError

    flags = ServeFlags(
        profile=profile,
        base_url=base_url,
        model_map=tuple(model_map or ()),
        host=host,
        port=port,
        store=store,
        keys=str(keys) if keys is not None else None,
        upstream_key_env=upstream_key_env,
        ttl=ttl,
        on_missing=on_missing,
        client_dialect=client_dialect,
        max_body=max_body,
        first_byte_timeout=first_byte_timeout,
        idle_timeout=idle_timeout,
        log_level=log_level,
        log_content=log_content,
    )
    try:
        flags.options()  # every flag checked here, before anything starts
    except (GatewayConfigError, BackendConfigError, StoreError) as exc:
        typer.echo(f"interleaf serve: error: {exc}", err=True)
        raise typer.Exit(BAD_INPUT) from None
    from interleaf.gateway.server import serve as serve_gateway

    raise typer.Exit(serve_gateway(flags))
