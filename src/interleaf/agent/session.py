"""Assembling a working agent from options: backend, tools for the mode, approval, session store.

``AgentSession`` is what ``interleaf run`` and ``interleaf chat`` use; library users can too::

    async with AgentSession(RunOptions(workdir=Path("."), profile="minimax", approve="auto")) as s:
        finished = await s.run("create fizzbuzz.py and run it")
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from interleaf.agent.actions import JsonActions
from interleaf.agent.approval import ApprovalMode, Approver, AskFn, sandbox_notice, tool_needs_approval
from interleaf.agent.budget import Budget, Prices
from interleaf.agent.context import SUMMARY_HEADING, ContextWindow
from interleaf.agent.events import Finished, Notice, NullObserver, Observer
from interleaf.agent.finish import FinishTool
from interleaf.agent.loop import Agent, AgentSettings
from interleaf.agent.modes import (
    Mode,
    compact_system_prompt,
    effort_params,
    effort_wire_fields,
    get_mode,
    system_prompt,
)
from interleaf.agent.seams import Model, WholeReplies
from interleaf.agent.subagent import SubagentTool
from interleaf.backends import resolve
from interleaf.backends.errors import BackendConfigError
from interleaf.backends.profiles import Profile, get_profile
from interleaf.config import Config, ProfileConfig, load_mcp_json
from interleaf.store.sessions import SessionStore
from interleaf.tools.base import Tool, ToolContext, ToolOutcome, Toolset
from interleaf.tools.interrupted import interrupted_results
from interleaf.tools.plan import PlanTool
from interleaf.tools.registry import ToolSetup, build_tools, plugin_tool_names
from interleaf.tools.sandbox import Sandbox, SandboxMode, SandboxPolicy
from interleaf.transcript import Block, Message, Opaque, RedactedThinking, Thinking, ToolCall, ToolSpec
from interleaf.wire.openai_messages import OPENAI_DIALECTS, REASONING_FIELDS

# The embedded model: bounded replies and low temperature make a small model's JSON actions steadier.
LOCAL_PARAMS: dict[str, object] = {"max_tokens": 1024, "temperature": 0.2}
# The sandbox's network when neither a flag nor the config says: on in both modes (installing packages
# and fetching documentation are part of coding tasks); `--network off` closes it.
NETWORK_BY_MODE: dict[str, bool] = {"lightning": True, "pro": True}


class SetupError(ValueError):
    """The options do not describe a runnable agent; the message says which option to change."""


@dataclass
class RunOptions:
    workdir: Path
    mode: str = "lightning"
    approve: ApprovalMode = "auto"
    profile: str | None = None
    base_url: str | None = None
    model: str | None = None
    api_key: str | None = None
    max_steps: int | None = None
    max_tokens: int | None = None
    max_seconds: float | None = None
    max_cost: float | None = None
    allow_outside_workdir: bool = False
    resume: str | None = None
    config: Config = field(default_factory=Config)
    stream: bool = True
    store_path: Path | None = None
    extra_tools: list[Tool] = field(default_factory=list)
    """Tools beyond the built-ins; added to every agent of the session, closed with the session."""
    browser: bool = True
    """Offer the ``browser`` tool (the system's headless Chromium) when Chromium is installed."""
    mcp_json: Path | None = None
    """MCP servers from a Claude Desktop / Cursor style JSON file, besides ``config.mcpServers``."""
    sandbox: SandboxMode | None = None
    """The OS sandbox of ``shell`` and ``python``: ``workdir`` (default), ``readonly`` or ``off``."""
    network: bool | None = None
    """The sandbox's network; default: the config's, else on (``NETWORK_BY_MODE``)."""
    tools: Sequence[Tool] | None = None
    """Tools that replace the built-in ones (shell, files, python, plugins; also the embedded model's
    three): an evaluation suite's own API, for example. ``extra_tools``, the browser and MCP still add."""
    system_prompt: str | None = None
    """A system prompt that replaces the mode's persona (an evaluation suite describing its tools)."""
    thinking_dialect: str | None = None
    """``--thinking-dialect``: where *every* earlier thinking block goes back, overriding the way it
    arrived (``None``: as it arrived, the profile's way for thinking from elsewhere)."""


def profile_from_config(name: str, config: Config) -> Profile:
    """A built-in profile, adjusted by ``[profiles.NAME]`` in the config (which may add new names);
    the one resolution every command uses (:mod:`interleaf.backends.resolve`)."""
    try:
        return resolve.profile_from_config(name, config)
    except BackendConfigError as exc:
        raise SetupError(str(exc)) from None


def _prices(profile: Profile, model: str | None, override: ProfileConfig | None) -> Prices | None:
    if override is not None and override.price_input is not None and override.price_output is not None:
        return Prices(override.price_input, override.price_output)
    documented = profile.price(model)
    return None if documented is None else Prices(documented.input, documented.output)


def _for_another_backend(message: Message, *, same_api: bool) -> Message:
    """A recorded message made fit for a different backend.

    No signatures, in the block or in its ``reasoning_details`` item: they are bound to the backend,
    model and account that made them (rule 4 of docs/agent.md). No OpenAI Chat arrival dialect:
    thinking goes back the way it arrived only to the backend it came from, and for another one the
    profile decides (rule 6, applied in ``backends.client``), so the copies of that thinking the old
    backend sent in its other reasoning fields are left out too. Across APIs, no vendor fields of the
    old one.
    """
    blocks: list[Block] = []
    for block in message.blocks:
        if isinstance(block, Thinking) and block.signature is not None:
            block = replace(block, signature=None)
        if isinstance(block, Thinking) and block.item is not None and "signature" in block.item:
            block = replace(block, item={k: v for k, v in block.item.items() if k != "signature"})
        if isinstance(block, Thinking | RedactedThinking) and block.dialect in OPENAI_DIALECTS:
            block = replace(block, dialect=None)
        if not same_api and not isinstance(block, Opaque) and block.extra:
            block = replace(block, extra={})
        blocks.append(block)
    extra = {k: v for k, v in message.extra.items() if k not in REASONING_FIELDS.values()} if same_api else {}
    return replace(message, blocks=tuple(blocks), extra=extra)


def _profile_api(name: str, config: Config) -> str | None:
    try:
        return profile_from_config(name, config).api
    except SetupError:
        return None


class AgentSession:
    """An agent session as an async context manager: starts what it needs, closes all of it."""

    def __init__(
        self,
        options: RunOptions,
        *,
        observer: Observer | None = None,
        ask: AskFn | None = None,
        model: Model | None = None,
    ) -> None:
        self.options = options
        self.observer = observer or NullObserver()
        self.ask = ask
        self._model_override = model
        self._stack = AsyncExitStack()
        self._shared: list[Tool] = []
        self._local = False
        self.agent: Agent
        self.session_id: str
        self.store: SessionStore
        self.profile: Profile
        self.mode: Mode
        self.sandbox: Sandbox

    # ------------------------------------------------------------------------------------ setup

    async def __aenter__(self) -> AgentSession:
        try:
            await self._setup()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stack.aclose()

    async def _setup(self) -> None:
        options = self.options
        config = options.config
        self.mode = get_mode(options.mode)
        workdir = options.workdir.expanduser().resolve()
        if not workdir.is_dir():
            raise SetupError(f"workdir {workdir} does not exist; create it or pass --workdir")
        model, local, model_name = await self._open_model(config)

        self.store = SessionStore(options.store_path)
        self._stack.callback(self.store.close)
        history: list[Any] = []
        summary: str | None = None
        if options.resume:
            self.session_id = self.store.resolve(options.resume)
            live = self.store.live_context(self.session_id)
            history, summary = live.messages, live.summary
            recorded = self.store.info(self.session_id)
            if (recorded.profile, recorded.model) != (self.profile.name, model_name or ""):
                # Signatures are bound to the backend, model and account that made them (rule 4).
                same_api = _profile_api(recorded.profile, config) == self.profile.api
                history = [_for_another_backend(m, same_api=same_api) for m in history]
                self.observer.agent_event(
                    Notice(
                        f"this session was recorded with {recorded.profile} {recorded.model}; its thinking "
                        "goes to the new backend without signatures"
                    )
                )
        else:
            self.session_id = self.store.create(
                title="",
                workdir=str(workdir),
                profile=self.profile.name,
                model=model_name or "",
                mode=self.mode.name,
            )
        recorder = self.store.recorder(self.session_id)
        session_dir = self.store.artifacts_dir(self.session_id)
        policy = self._sandbox_policy(config)
        # Probing bubblewrap starts a process (once per interpreter): not on the event loop.
        self.sandbox = await asyncio.to_thread(Sandbox, policy, workdir=workdir, session_dir=session_dir)
        self.observer.agent_event(
            Notice(sandbox_notice(self.sandbox, options.approve, can_ask=self.ask is not None))
        )
        context = ToolContext(
            workdir=workdir,
            session_dir=session_dir,
            allow_outside_workdir=options.allow_outside_workdir
            or bool(config.defaults.allow_outside_workdir),
            workdir_writable=policy.mode != "readonly",
        )
        if history and history[-1].role == "assistant" and (calls := history[-1].tool_calls):
            # A crash cut the last step off: answer its calls from what was recorded, never by guessing.
            history.append(await asyncio.to_thread(self._answer_cut_off_step, calls, workdir))
            recorder.append(history[-1])

        def log_decision(call: ToolCall, decision: Any) -> None:
            recorder.note(
                "approval",
                {
                    "tool": call.name,
                    "call_id": call.id,
                    "allowed": decision.allowed,
                    "note": decision.note,
                    "reach": decision.reach,
                },
            )

        approver = Approver(
            options.approve,
            ask=self.ask,
            log=log_decision,
            tools=self._tool_named,
            context=context,
            network=policy.network,
        )
        self._local = local
        self._shared = [] if local else await self._open_shared_tools(config, context.session_dir)
        extra_names = [*plugin_tool_names(), *(t.name for t in self._shared)]
        if self.mode.planning and not local:
            extra_names = ["plan", "subagent", "finish", *extra_names]
        if options.system_prompt is not None:
            system = options.system_prompt
        elif local:
            system = compact_system_prompt(workdir)
        else:
            system = system_prompt(self.mode, workdir, extra_names)
        if not options.resume:
            recorder.note("system", {"prompt": system})
        if summary:
            system = f"{system}\n\n{SUMMARY_HEADING}\n{summary}"
        budget = Budget(
            max_steps=options.max_steps or config.defaults.max_steps or self.mode.max_steps,
            max_tokens=options.max_tokens or config.defaults.max_tokens,
            max_seconds=options.max_seconds or config.defaults.max_seconds,
            max_cost=options.max_cost or config.defaults.max_cost,
            repeat_limit=self.mode.repeat_limit,
        )
        params: dict[str, object] = dict(effort_params(self.mode, self.profile.name))
        if local:
            params.update(LOCAL_PARAMS)
        settings = AgentSettings(
            system=system,
            budget=budget,
            prices=_prices(self.profile, model_name, config.profiles.get(self.profile.name)),
            params=params,
            wire_extra=effort_wire_fields(self.mode, self.profile.name),
            # The messages come from this backend, so its format is their origin (their vendor fields are
            # re-sent to it, their thinking in the dialect it arrived in), and any wire_extra is a field
            # of that format.
            wire_format=self.profile.api,
        )
        tools = self._toolset()
        self._stack.push_async_callback(tools.aclose)
        window = ContextWindow(
            limit=self.profile.context_window or 32_768,
            reserve=min(8192, (self.profile.context_window or 32_768) // 4),
        )
        self.agent = Agent(
            model=self._spoken_to(model, local=local),
            tools=tools,
            context=context,
            settings=settings,
            approver=approver,
            observer=self.observer,
            recorder=recorder,
            history=history,
            window=window,
        )
        self.agent.system = system

    async def _open_model(self, config: Config) -> tuple[Model, bool, str | None]:
        """The model to talk to: flags, then config, then the embedded local model."""
        options = self.options
        name = options.profile or config.profile_name
        if name is None and options.base_url is not None:
            raise SetupError(
                "--base-url needs --profile to say which API the server speaks (e.g. vllm, anthropic)"
            )
        if self._model_override is not None:
            self.profile = profile_from_config(name or "local", config)
            return self._model_override, self.profile.name == "local", options.model or self.profile.model
        from interleaf.backends.client import ModelClient

        if name is None or name == "local":
            self.profile = get_profile("local")
            from interleaf.backends.local import start_default_server

            self.observer.agent_event(Notice("starting the embedded local model (no backend configured)"))
            server = await start_default_server(progress=None)
            self._stack.push_async_callback(server.aclose)
            client = ModelClient(
                self.profile, base_url=server.base_url, model=options.model or self.profile.model
            )
            self._stack.push_async_callback(client.aclose)
            return client, True, client.model
        self.profile = profile_from_config(name, config)
        if options.thinking_dialect is not None:
            try:
                dialect = resolve.parse_dialect(options.thinking_dialect, self.profile)
            except BackendConfigError as exc:
                raise SetupError(str(exc)) from None
            self.profile = self.profile.with_overrides(thinking_dialect=dialect)
        client = ModelClient(
            self.profile,
            base_url=options.base_url,
            model=options.model,
            api_key=options.api_key,
            fast=self.mode.use_fast_model and options.model is None,
            # An explicit choice is the user's knowledge of their server: it decides for every block.
            replay="profile" if options.thinking_dialect is not None else "as-arrived",
        )
        self._stack.push_async_callback(client.aclose)
        return client, False, client.model

    def _spoken_to(self, model: Model, *, local: bool) -> Model:
        """``model`` as the agent asks it: whole replies unless streaming; the embedded model, which
        cannot make native tool calls, through the JSON action protocol (grammar-constrained)."""
        if not self.options.stream:
            model = WholeReplies(model)
        if local:
            model = JsonActions(model, notice=lambda message: self.observer.agent_event(Notice(message)))
        return model

    # ------------------------------------------------------------------------- sandbox and resume

    def _sandbox_policy(self, config: Config) -> SandboxPolicy:
        """Flags over ``[defaults]``, the ``[sandbox]`` table for the allowances, the mode's network."""
        mode = self.options.sandbox or config.defaults.sandbox or "workdir"
        network = self.options.network
        if network is None and config.defaults.network is not None:
            network = config.defaults.network == "on"
        if network is None:
            network = NETWORK_BY_MODE.get(self.mode.name, True)
        return SandboxPolicy.from_config(config.sandbox, mode=mode, network=network)

    def _tool_named(self, name: str) -> object | None:
        """The tool approval judges a call by: a shared tool itself, not its wrapper (see ``_Shared``)."""
        tool = self.agent.tools.get(name)
        return tool.tool if isinstance(tool, _Shared) else tool

    def _answer_cut_off_step(self, calls: tuple[ToolCall, ...], workdir: Path) -> Message:
        """Results for calls a crash left unanswered (a thread: it walks the workdir for changes)."""
        info = self.store.info(self.session_id)
        records = self.store.call_records(self.session_id, [c.id for c in calls], since=info.messages)
        ran_in = Path(info.workdir or workdir)
        return interrupted_results(calls, records, ran_in if ran_in.is_dir() else workdir)

    def add_tools(self, tools: Sequence[Tool]) -> None:
        """Offer more tools from the next request on (a suite's held-out functions); names already
        offered are left as they are."""
        for tool in tools:
            if tool.name not in self.agent.tools:
                self.agent.tools.add(tool)

    def _toolset(self) -> Toolset:
        if self.options.tools is not None:
            return Toolset([*self.options.tools, *(_Shared(tool) for tool in self._shared)])
        if self._local:
            # A 1.5B model on a CPU: every tool's description costs prompt time; three cover the basics.
            from interleaf.tools.files import ReadFileTool, WriteFileTool
            from interleaf.tools.shell import ShellTool

            shell = ShellTool(sandbox=self.sandbox, explain_sandbox=False)
            return Toolset([shell, WriteFileTool(), ReadFileTool()])
        tools = self._base_tools()
        if self.mode.planning:
            tools.add(PlanTool())
            tools.add(SubagentTool(lambda: self.agent, self._base_tools))
            tools.add(FinishTool(sandbox=self.sandbox))
        return tools

    def _base_tools(self) -> Toolset:
        """Built-in and plugin tools (one registry, tools/registry.py), fresh for each toolset."""
        shared = [_Shared(tool) for tool in self._shared]
        tools = build_tools(ToolSetup(sandbox=self.sandbox), taken={tool.name for tool in shared})
        return Toolset([*tools, *shared])

    # ------------------------------------------------------- shared tools: extra, browser, MCP

    async def _open_shared_tools(self, config: Config, session_dir: Path) -> list[Tool]:
        """The tools one instance of which serves the session and all its sub-agents: the caller's
        ``extra_tools``, the browser (launched on its first call) and the tools of the MCP servers.

        MCP servers start here, because the model must be offered their tools from the first request;
        one that fails to start is reported as a notice and its tools are left out. The session closes
        all of these when it ends; toolsets hold them through :class:`_Shared`, so a sub-agent's
        toolset closing leaves them open.
        """
        tools: list[Tool] = list(self.options.extra_tools)
        for tool in tools:
            self._stack.push_async_callback(tool.aclose)
        if self.options.browser:
            from interleaf.tools.browser import BrowserTool

            browser = BrowserTool()
            if browser.problem is None:
                self._stack.push_async_callback(browser.aclose)
                tools.append(browser)
            else:
                self.observer.agent_event(Notice(f"the browser tool is off: {browser.problem}"))
        servers = dict(config.mcpServers)
        if self.options.mcp_json is not None:
            servers.update(load_mcp_json(self.options.mcp_json))
        if any(not server.disabled for server in servers.values()):
            try:
                from interleaf.tools.mcp import McpManager
            except ImportError as exc:
                raise SetupError(
                    f"MCP servers are configured but the MCP SDK is missing ({exc}): "
                    "pip install 'interleaf[mcp]'"
                ) from None
            manager = McpManager(servers, log_dir=session_dir / "mcp")
            self._stack.push_async_callback(manager.aclose)
            for problem in await manager.start():
                self.observer.agent_event(Notice(problem))
            tools.extend(manager.tools())
        return tools

    # ------------------------------------------------------------------------------------- run

    async def run(self, task: str) -> Finished:
        if not self.store.info(self.session_id).title:
            self.store.update(
                self.session_id, title=task.strip().splitlines()[0][:120] if task.strip() else ""
            )
        finished: Finished | None = None
        try:
            finished = await self.agent.run(task)
            return finished
        finally:
            info = self.store.info(self.session_id)
            usage = finished.usage if finished else None
            self.store.update(
                self.session_id,
                status=finished.status if finished else "interrupted",
                steps=info.steps + (finished.steps if finished else 0),
                input_tokens=info.input_tokens + ((usage.input_tokens or 0) if usage else 0),
                output_tokens=info.output_tokens + ((usage.output_tokens or 0) if usage else 0),
            )


class _Shared:
    """A tool held by a toolset that does not own it: the toolset's ``aclose`` leaves it open."""

    def __init__(self, tool: Tool) -> None:
        self.tool = tool

    @property
    def name(self) -> str:
        return self.tool.name

    @property
    def spec(self) -> ToolSpec:
        return self.tool.spec

    @property
    def params(self) -> type[BaseModel]:
        return self.tool.params

    @property
    def read_only(self) -> bool:
        return self.tool.read_only

    def approval_needed(self, arguments: dict[str, Any]) -> bool | None:
        return tool_needs_approval(self.tool, arguments)

    async def run(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolOutcome:
        return await self.tool.run(arguments, ctx)

    async def aclose(self) -> None:
        pass  # the session closes the tool itself
