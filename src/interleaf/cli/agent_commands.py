"""``interleaf run`` and ``interleaf chat``: the agent on the command line."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from interleaf.cli.exit_codes import BAD_INPUT, INTERRUPTED

if TYPE_CHECKING:
    from interleaf.agent.approval import Answer
    from interleaf.agent.events import Finished
    from interleaf.agent.session import RunOptions
    from interleaf.cli.render import JsonLinesView, TerminalView
    from interleaf.transcript import ToolCall

WorkdirOpt = Annotated[
    Path, typer.Option("--workdir", "-w", help="Directory the agent works in (default: the current one).")
]
ProfileOpt = Annotated[
    str | None,
    typer.Option(
        "--profile",
        "-p",
        help="Backend profile: anthropic, minimax, minimax-openai, openai, deepseek, kimi, openrouter, vllm, "
        "sglang, llamacpp, ollama, local, or one from your config. Default: the config's, else the embedded "
        "local model.",
    ),
]
BaseUrlOpt = Annotated[str | None, typer.Option("--base-url", help="Server URL (overrides the profile's).")]
ModelOpt = Annotated[str | None, typer.Option("--model", "-m", help="Model name (overrides the profile's).")]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", help="Config file (default: $INTERLEAF_CONFIG or ~/.config/interleaf/config.toml)."
    ),
]
ModeOpt = Annotated[
    str | None,
    typer.Option(
        "--mode",
        help="lightning: fast, small budget. pro: plans, delegates to sub-agents and runs the tests before "
        "finishing. Default: lightning.",
    ),
]
ApproveOpt = Annotated[
    str | None,
    typer.Option(
        "--approve",
        help="ask: confirm each command or edit (default on a terminal). auto: run what the sandbox "
        "confines; what would leave it is asked on a terminal and refused without one (default without a "
        "terminal). never: read-only tools only. all: run everything, unconfined too, without asking "
        "(throwaway machines only). A deny list of destructive commands applies to all of them.",
    ),
]
SandboxOpt = Annotated[
    str | None,
    typer.Option(
        "--sandbox",
        help="workdir: shell and python run in an OS sandbox (bubblewrap) that may write only the workdir "
        "and a private /tmp, with your home and credentials hidden (default). readonly: the workdir is "
        "read-only too. off: no sandbox (auto then asks before each shell and python call).",
    ),
]
NetworkOpt = Annotated[
    str | None,
    typer.Option("--network", help="on|off: whether the sandbox has the network (default: on)."),
]
ThinkingDialectOpt = Annotated[
    str | None,
    typer.Option(
        "--thinking-dialect",
        help="Where every earlier thinking block goes back, overriding the way it arrived: "
        "reasoning_content, reasoning, reasoning_details, think_tags (inline <think> in content), anthropic, "
        "or none. Default: each block the way it arrived from the server; the profile's way for the rest.",
    ),
]
MaxStepsOpt = Annotated[
    int | None, typer.Option("--max-steps", min=1, help="Step budget (default by mode: 25 / 100).")
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print one JSON event a line; the final answer event last.")
]
ThinkingOpt = Annotated[
    str, typer.Option("--thinking", help="How to show thinking: fold (one line a block), full, hide.")
]
OutsideOpt = Annotated[
    bool, typer.Option("--allow-outside-workdir", help="Let file tools read and write outside the workdir.")
]
NoBrowserOpt = Annotated[
    bool,
    typer.Option(
        "--no-browser",
        help="Do not offer the browser tool (headless Chromium; on when Chromium is installed).",
    ),
]
McpJsonOpt = Annotated[
    Path | None,
    typer.Option(
        "--mcp-json",
        help='MCP servers from a JSON file ({"mcpServers": {...}}, as Claude Desktop and Cursor use), '
        "besides the mcpServers table of the config.",
    ),
]


def _fail(message: str) -> None:
    typer.echo(f"interleaf: error: {message}", err=True)
    raise typer.Exit(BAD_INPUT)


def _options(
    *,
    workdir: Path,
    profile: str | None,
    base_url: str | None,
    model: str | None,
    config: Path | None,
    mode: str | None,
    approve: str | None,
    max_steps: int | None,
    allow_outside: bool,
    resume: str | None,
    interactive: bool,
    browser: bool = True,
    mcp_json: Path | None = None,
    sandbox: str | None = None,
    network: str | None = None,
    thinking_dialect: str | None = None,
) -> RunOptions:
    from interleaf.agent.session import RunOptions
    from interleaf.config import ConfigError, load_config

    try:
        cfg = load_config(config)
    except ConfigError as exc:
        _fail(str(exc))
        raise
    mode = mode or cfg.defaults.mode or "lightning"
    if mode not in ("lightning", "pro"):
        _fail(f"--mode {mode!r} is not a mode; use lightning or pro")
    # Without a terminal the default is auto: sandboxed calls run and anything leaving the sandbox is
    # refused; never the unconfined auto of old.
    approve = approve or cfg.defaults.approve or ("ask" if interactive else "auto")
    if approve not in ("ask", "auto", "never", "all"):
        _fail(f"--approve {approve!r} is not a policy; use ask, auto, never or all")
    if approve == "ask" and not interactive:
        _fail("--approve ask needs a terminal to ask on; use --approve auto or never")
    if sandbox is not None and sandbox not in ("workdir", "readonly", "off"):
        _fail(f"--sandbox {sandbox!r} is not a sandbox mode; use workdir, readonly or off")
    if network is not None and network not in ("on", "off"):
        _fail(f"--network {network!r}: use on or off")
    return RunOptions(
        workdir=workdir,
        mode=mode,
        approve=approve,  # type: ignore[arg-type]
        profile=profile,
        base_url=base_url,
        model=model,
        max_steps=max_steps,
        allow_outside_workdir=allow_outside,
        resume=resume,
        config=cfg,
        browser=browser,
        mcp_json=mcp_json,
        sandbox=sandbox,  # type: ignore[arg-type]
        network=None if network is None else network == "on",
        thinking_dialect=thinking_dialect,
    )


def _view(json_output: bool, thinking: str) -> TerminalView | JsonLinesView:
    from interleaf.cli.render import JsonLinesView, TerminalView

    if thinking not in ("fold", "full", "hide"):
        _fail(f"--thinking {thinking!r}: use fold, full or hide")
    return JsonLinesView() if json_output else TerminalView(thinking=thinking)  # type: ignore[arg-type]


def _asker(view: TerminalView | JsonLinesView) -> object:
    async def ask(call: ToolCall, summary: str) -> Answer:
        view.pause()
        prompt = f"\n  {call.name}: {summary}\n  run it? [y]es / [n]o / [a]lways for {call.name}: "
        while True:
            answer = (await asyncio.to_thread(input, prompt)).strip().lower()
            if answer in ("y", "yes"):
                return "yes"
            if answer in ("n", "no", ""):
                return "no"
            if answer in ("a", "always"):
                return "always"

    return ask


def _banner(view: TerminalView | JsonLinesView, text: str) -> None:
    from interleaf.cli.render import TerminalView

    if isinstance(view, TerminalView):
        view.console.print(f"[dim]{text}[/]")


async def _run_once(
    options: RunOptions, task: str, view: TerminalView | JsonLinesView, *, interactive: bool
) -> Finished:
    from interleaf.agent.session import AgentSession

    # ask and auto both ask on a terminal (auto: only for calls that would leave the sandbox).
    ask = _asker(view) if interactive and options.approve in ("ask", "auto") else None
    async with AgentSession(options, observer=view, ask=ask) as session:  # type: ignore[arg-type]
        _banner(view, f"session {session.session_id} · {session.profile.name} · {options.mode}")
        return await session.run(task)


def _exit_code(finished: Finished) -> int:
    return 0 if finished.status == "done" else 1


def run(
    task: Annotated[str, typer.Argument(help="What the agent should do.")],
    workdir: WorkdirOpt = Path("."),
    profile: ProfileOpt = None,
    base_url: BaseUrlOpt = None,
    model: ModelOpt = None,
    config: ConfigOpt = None,
    mode: ModeOpt = None,
    approve: ApproveOpt = None,
    max_steps: MaxStepsOpt = None,
    json_output: JsonOpt = False,
    thinking: ThinkingOpt = "fold",
    allow_outside_workdir: OutsideOpt = False,
    resume: Annotated[
        str | None, typer.Option("--resume", help="Continue a session (an id, a unique prefix, or 'last').")
    ] = None,
    no_browser: NoBrowserOpt = False,
    mcp_json: McpJsonOpt = None,
    sandbox: SandboxOpt = None,
    network: NetworkOpt = None,
    thinking_dialect: ThinkingDialectOpt = None,
) -> None:
    """Run the agent on TASK until it is done or a budget ends.

    Every earlier thinking block of the task goes back to the model exactly, in the dialect the backend
    expects. The session is saved as it goes; `--resume ID` continues it with a follow-up.

    Examples:

      interleaf run "create fizzbuzz.py, run it and fix it until the output is right"

      interleaf run -p minimax --mode pro "add tests for utils.py and make them pass"

      interleaf run --resume last "now add type hints"
    """
    from interleaf.agent.session import SetupError
    from interleaf.backends.errors import BackendError
    from interleaf.store.sessions import SessionNotFoundError

    interactive = sys.stdin.isatty() and sys.stdout.isatty() and not json_output
    options = _options(
        workdir=workdir,
        profile=profile,
        base_url=base_url,
        model=model,
        config=config,
        mode=mode,
        approve=approve,
        max_steps=max_steps,
        allow_outside=allow_outside_workdir,
        resume=resume,
        interactive=interactive,
        browser=not no_browser,
        mcp_json=mcp_json,
        sandbox=sandbox,
        network=network,
        thinking_dialect=thinking_dialect,
    )
    view = _view(json_output, thinking)
    try:
        finished = asyncio.run(_run_once(options, task, view, interactive=interactive))
    except KeyboardInterrupt:
        view.close()
        typer.echo(
            'interrupted; the session is saved: `interleaf run --resume last "..."` continues it', err=True
        )
        raise typer.Exit(INTERRUPTED) from None
    except (SetupError, SessionNotFoundError, BackendError, ValueError) as exc:
        view.close()
        _fail(str(exc))
        return
    view.close()
    raise typer.Exit(_exit_code(finished))


def chat(
    workdir: WorkdirOpt = Path("."),
    profile: ProfileOpt = None,
    base_url: BaseUrlOpt = None,
    model: ModelOpt = None,
    config: ConfigOpt = None,
    mode: ModeOpt = None,
    approve: ApproveOpt = None,
    max_steps: MaxStepsOpt = None,
    json_output: JsonOpt = False,
    thinking: ThinkingOpt = "fold",
    allow_outside_workdir: OutsideOpt = False,
    resume: Annotated[
        str | None, typer.Option("--resume", help="Continue a session (id, prefix or 'last').")
    ] = None,
    no_browser: NoBrowserOpt = False,
    mcp_json: McpJsonOpt = None,
    sandbox: SandboxOpt = None,
    network: NetworkOpt = None,
    thinking_dialect: ThinkingDialectOpt = None,
) -> None:
    """Talk to the agent turn by turn in one session (type /exit or Ctrl-D to leave).

    Ctrl-C stops the current step and returns to the prompt; the session stays resumable.
    """
    from interleaf.agent.session import AgentSession, SetupError
    from interleaf.backends.errors import BackendError
    from interleaf.store.sessions import SessionNotFoundError

    interactive = sys.stdin.isatty() and not json_output
    options = _options(
        workdir=workdir,
        profile=profile,
        base_url=base_url,
        model=model,
        config=config,
        mode=mode,
        approve=approve,
        max_steps=max_steps,
        allow_outside=allow_outside_workdir,
        resume=resume,
        interactive=interactive,
        browser=not no_browser,
        mcp_json=mcp_json,
        sandbox=sandbox,
        network=network,
        thinking_dialect=thinking_dialect,
    )
    view = _view(json_output, thinking)

    async def loop() -> None:
        ask = _asker(view) if interactive and options.approve in ("ask", "auto") else None
        main = asyncio.current_task()
        current: asyncio.Task[Finished] | None = None

        def on_interrupt() -> None:
            # Ctrl-C stops the step in flight and returns to the prompt; at the prompt it leaves.
            if current is not None and not current.done():
                current.cancel()
            elif main is not None:
                main.cancel()

        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, on_interrupt)
        async with AgentSession(options, observer=view, ask=ask) as session:  # type: ignore[arg-type]
            _banner(
                view,
                f"session {session.session_id} · {session.profile.name} · {options.mode} · /exit to leave",
            )
            while True:
                try:
                    line = await asyncio.to_thread(input, "\n› " if interactive else "")
                except EOFError:
                    return
                text = line.strip()
                if not text:
                    continue
                if text in ("/exit", "/quit"):
                    return
                current = asyncio.ensure_future(session.run(text))
                try:
                    await current
                except asyncio.CancelledError:
                    if not current.cancelled():
                        raise
                    view.close()
                    _banner(view, "stopped; the session is saved")
                finally:
                    current = None

    try:
        asyncio.run(loop())
    except (KeyboardInterrupt, asyncio.CancelledError):
        view.close()
        typer.echo("\nbye; the session is saved (`interleaf chat --resume last` continues it)", err=True)
    except (SetupError, SessionNotFoundError, BackendError, ValueError) as exc:
        view.close()
        _fail(str(exc))
    view.close()


__all__ = ["chat", "run"]
