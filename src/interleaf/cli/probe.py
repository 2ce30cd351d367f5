"""``interleaf probe``: name where interleaved thinking is lost (an endpoint, a chat template)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from interleaf.cli.exit_codes import BAD_INPUT

if TYPE_CHECKING:
    from interleaf.probe.report import ProbeReport

_EXIT_CODES = """
Exit codes: 0 the thinking that matters is kept; 1 a leak was found; 2 could not probe (bad input,
server unreachable, model too weak to tell, or an invalid control).
"""

app = typer.Typer(
    help="Tell whether an endpoint, a chat template or a client app keeps interleaved thinking."
    + _EXIT_CODES,
    no_args_is_help=True,
)

_WAYS = ("anthropic", "reasoning_content", "reasoning", "reasoning_details", "think_tags")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the report as JSON on stdout.")]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="config.toml whose \\[profiles.NAME] tables -p can name. Default: $INTERLEAF_CONFIG or "
        "~/.config/interleaf/config.toml.",
    ),
]


def _fail(message: str) -> None:
    typer.echo(f"interleaf probe: error: {message}", err=True)
    raise typer.Exit(BAD_INPUT)


def _emit(report: ProbeReport, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        from rich.console import Console

        from interleaf.probe.render import render_report

        # Piped output is read in logs and CI: a fixed, roomy width instead of rich's 80 columns.
        render_report(report, Console(highlight=False, width=None if sys.stdout.isatty() else 120))
    raise typer.Exit(report.exit_code)


@app.command(no_args_is_help=True)
def endpoint(
    profile: Annotated[
        str,
        typer.Option(
            "--profile",
            "-p",
            help="Backend profile: anthropic, minimax, minimax-openai, deepseek, kimi, openrouter, vllm, sglang, "
            "llamacpp, ollama, local, openai. Its thinking_dialect is the way that decides the exit code.",
        ),
    ],
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="Server URL (default: the profile's).")
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model name (default: the profile's).")
    ] = None,
    trials: Annotated[int, typer.Option("--trials", "-n", min=1, help="Requests per way. Default: 3.")] = 3,
    way: Annotated[
        list[str] | None,
        typer.Option(
            "--way",
            help="Try only this way (repeatable): reasoning_content, reasoning, reasoning_details, think_tags "
            "(OpenAI-compatible servers) or anthropic. Default: every way the profile's API can carry.",
        ),
    ] = None,
    dialect: Annotated[
        str | None,
        typer.Option(
            "--dialect",
            help="The way your client sends thinking back, deciding the exit code (default: the profile's).",
        ),
    ] = None,
    temperature: Annotated[
        float | None, typer.Option("--temperature", help="Sampling temperature (default: the profile's).")
    ] = None,
    max_tokens: Annotated[
        int, typer.Option("--max-tokens", min=16, help="Output limit per reply. Default: 1024.")
    ] = 1024,
    no_controls: Annotated[
        bool,
        typer.Option("--no-controls", help="Skip the control and baseline trials (faster, less certain)."),
    ] = False,
    seed: Annotated[int | None, typer.Option("--seed", help="Make the random codes reproducible.")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Does a model server read earlier thinking back, and in which field?

    Sends fabricated tool loops whose earlier thinking holds a random code and counts the replies that
    repeat it, for every way of sending thinking back. Each way is tried --trials times and judged
    kept (two thirds of the replies repeat the code or more), dropped (none does) or inconclusive.

    A control (no reasoning sent) must never repeat a code; a baseline (the code in visible text) shows
    the model can repeat one at all. Also checks that tool calls and streaming parse. Anthropic (signed
    thinking) cannot take fabricated thinking: there each trial runs a real first turn in which the
    model invents its code while thinking. Progress goes to stderr; the API key comes from the
    profile's environment variable.

    Examples:

      interleaf probe endpoint -p vllm --base-url http://gpu:8000 -m MiniMaxAI/MiniMax-M2

      interleaf probe endpoint -p deepseek --way reasoning_content --trials 5 --json

    Exit codes: 0 the profile's way (--dialect) keeps thinking; 1 it is dropped; 2 could not probe
    (server unreachable, model too weak to tell, control repeated a code).
    """
    from interleaf.backends.errors import BackendConfigError
    from interleaf.backends.resolve import resolve_profile
    from interleaf.config import ConfigError, load_config
    from interleaf.probe.endpoint import EndpointOptions, probe_endpoint
    from interleaf.transcript import ReasoningDialect

    def parse_way(value: str, option: str) -> ReasoningDialect:
        if value not in _WAYS:
            _fail(f"{option} {value!r} is not a way; use one of {', '.join(_WAYS)}")
        return ReasoningDialect(value)

    try:
        chosen = resolve_profile(profile, load_config(config))
    except (BackendConfigError, ConfigError) as exc:
        _fail(str(exc))
        raise
    options = EndpointOptions(
        trials=trials,
        ways=tuple(parse_way(w, "--way") for w in way) if way else None,
        primary=parse_way(dialect, "--dialect") if dialect else None,
        temperature=temperature,
        max_tokens=max_tokens,
        controls=not no_controls,
        seed=seed,
    )

    def progress(line: str) -> None:
        print(f"  {line}", file=sys.stderr, flush=True)

    try:
        report = asyncio.run(
            probe_endpoint(chosen, base_url=base_url, model=model, options=options, progress=progress)
        )
    except BackendConfigError as exc:
        _fail(str(exc))
        raise
    _emit(report, as_json)


@app.command(no_args_is_help=True)
def template(
    file: Annotated[
        Path, typer.Argument(help="A .jinja chat template, or a tokenizer_config.json holding one.")
    ],
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            help="Which template of a tokenizer_config.json list (default: 'default', else the first).",
        ),
    ] = None,
    template_kwargs: Annotated[
        str | None,
        typer.Option(
            "--template-kwargs",
            help="Template options as a JSON object, passed to every render as servers pass "
            "chat_template_kwargs, e.g. '{\"clear_thinking\": false}'. Default: none.",
        ),
    ] = None,
    kwarg: Annotated[
        list[str] | None,
        typer.Option(
            "--kwarg",
            help="One template option, NAME=VALUE (repeatable); VALUE is read as JSON when it parses "
            '(false, 2, "x"), else as text. Overrides --template-kwargs.',
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Which earlier reasoning does a chat template render back into the prompt?

    Renders two multi-turn tool conversations with the template, as Hugging Face does: one as an
    agent sends it, one with a user message inside the tool loop. The reasoning goes every way a
    client can send it: reasoning_content, reasoning, thinking, <think> in content, and an analysis
    channel for harmony (gpt-oss) templates; tool-call arguments as a dict, then as a JSON string if
    the dict raises. Per assistant message it reports kept, dropped, verbatim (in the prompt as plain
    text, not parsed) or error, and per carrier the rule: keeps all, after the last user message,
    after the last final answer, drops all, or rendered verbatim. A second table shows what survives
    when the client's field goes through vLLM, SGLang, llama.cpp or transformers before and after
    5.21, which pass different fields to the template. The options the template reads are listed.

    Examples:

      interleaf probe template chat_template.jinja

      interleaf probe template ./GLM-4.7/tokenizer_config.json --kwarg clear_thinking=false

      interleaf probe template chat_template.jinja --template-kwargs '{"enable_thinking": true}' --json

    Exit codes: 0 some way of sending it keeps the current tool loop's reasoning in the template's
    format; 1 none does; 2 the template could not be loaded or parsed, nothing rendered, or an option
    was malformed.
    """
    from interleaf.probe.template import TemplateLoadError, load_template, probe_template
    from interleaf.probe.template_options import OptionError, merge_options

    try:
        options = merge_options(template_kwargs, kwarg or ())
        loaded = load_template(file, name=name)
    except (TemplateLoadError, OptionError) as exc:
        _fail(str(exc))
        raise
    _emit(probe_template(loaded, options=options), as_json)


@app.command(no_args_is_help=True)
def client(
    profile: Annotated[
        str, typer.Option("--profile", "-p", help="The upstream's profile (e.g. minimax, vllm).")
    ],
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="The upstream's URL (default: the profile's).")
    ] = None,
    port: Annotated[int, typer.Option("--port", help="Where the probe listens (0: any free port).")] = 8766,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    model_map: Annotated[
        list[str] | None, typer.Option("--model-map", help="CLIENT_MODEL=UPSTREAM_MODEL (repeatable).")
    ] = None,
    requests: Annotated[
        int | None, typer.Option("--requests", min=1, help="Stop after this many requests (default: Ctrl-C).")
    ] = None,
    duration: Annotated[
        float | None,
        typer.Option("--duration", min=1, help="Stop after this many seconds (default: Ctrl-C)."),
    ] = None,
    thinking_dialect: Annotated[
        str | None,
        typer.Option(
            "--thinking-dialect",
            help="How the upstream takes thinking back (as for interleaf serve). Default: the profile's.",
        ),
    ] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Does an app send its earlier thinking back? Watch it through a probing gateway.

    Starts a gateway in front of the upstream; point the app's base URL at it (Anthropic clients:
    http://HOST:PORT, OpenAI clients: http://HOST:PORT/v1) and use the app for a task of a few tool
    calls. For every request it prints whether the earlier assistant turns' thinking came back, was
    restored by the gateway (the app dropped it), or is missing. Stop with Ctrl-C, --requests or
    --duration for the verdict per app.

    Examples:

      interleaf probe client -p minimax --port 8766      # then ANTHROPIC_BASE_URL=http://127.0.0.1:8766

      interleaf probe client -p vllm --base-url http://gpu:8000/v1 --requests 10 --json

    Exit codes: 0 every app sent its thinking back; 1 an app dropped it; 2 no request carried an earlier
    turn (nothing to judge) or the probe could not start.
    """
    from interleaf.backends.errors import BackendConfigError
    from interleaf.backends.resolve import resolve_profile
    from interleaf.config import ConfigError, load_config
    from interleaf.gateway import ModelMap, ServeOptions
    from interleaf.gateway.config import GatewayConfigError
    from interleaf.probe.client import ClientProbe, describe

    try:
        options = ServeOptions(
            profile=resolve_profile(
                profile, load_config(config), base_url=base_url, thinking_dialect=thinking_dialect
            ),
            model_map=ModelMap.parse(model_map or ()),
            host=host,
            port=port,
        )
    except (BackendConfigError, GatewayConfigError, ConfigError) as exc:
        _fail(str(exc))
        raise

    async def watch() -> ProbeReport:
        done = asyncio.Event()
        seen = 0

        def on_request(report: object) -> None:
            nonlocal seen
            seen += 1
            print(f"  {describe(report, seen)}", file=sys.stderr, flush=True)  # type: ignore[arg-type]
            if requests is not None and seen >= requests:
                done.set()

        # Ctrl-C ends the watch and prints the verdict (it is how the user says "done").
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, done.set)
        async with ClientProbe(options, on_request=on_request) as probe:
            print(
                f"probing at {probe.base_url} (OpenAI clients: {probe.base_url}/v1) in front of "
                f"{options.profile.name} {options.base_url}; Ctrl-C for the verdict",
                file=sys.stderr,
                flush=True,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), duration)
            return probe.report()

    try:
        report = asyncio.run(watch())
    except OSError as exc:
        _fail(str(exc))
        raise
    _emit(report, as_json)
