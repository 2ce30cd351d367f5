"""User configuration: ``~/.config/interleaf/config.toml`` (or ``--config``, or ``$INTERLEAF_CONFIG``).

Example::

    default_profile = "minimax"

    [defaults]
    mode = "pro"
    approve = "auto"
    sandbox = "workdir"           # workdir | readonly | off
    network = "on"                # on | off: the sandbox's network

    [sandbox]                     # what the sandbox lets the shell and Python see besides the workdir
    read = ["~/.cache/huggingface"]
    write = ["~/.cache/pip"]
    hide = ["/srv/secrets"]       # hidden too, besides homes and credentials
    env = ["GH_TOKEN"]            # variables passed in although they look like secrets

    [profiles.minimax]            # a built-in profile, adjusted
    model = "MiniMax-M2.7"

    [profiles.gpu-box]            # a new profile built on a built-in one
    base = "vllm"
    base_url = "http://10.0.0.5:8000/v1"
    model = "MiniMaxAI/MiniMax-M2"
    thinking_dialect = "think_tags"   # the server runs the append-think reasoning parser

    [mcpServers.fetch]            # same shape as Claude Desktop / Cursor
    command = "uvx"
    args = ["mcp-server-fetch"]

Flags override the file; the file overrides built-in defaults. Validation errors name the key.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from interleaf.paths import config_dir
from interleaf.transcript import ReasoningDialect


class ConfigError(ValueError):
    """The configuration file is missing, unreadable or invalid; the message names the file and key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProfileConfig(_Strict):
    base: str | None = Field(None, description="Built-in profile this one starts from (default: same name).")
    api: Literal["anthropic", "openai-chat", "openai-responses"] | None = None
    base_url: str | None = None
    model: str | None = None
    fast_model: str | None = None
    key_env: str | None = None
    thinking_dialect: ReasoningDialect | None = None
    openai_strict: bool | None = Field(
        None, description="The server refuses what OpenAI's own API refuses (Azure OpenAI: true)."
    )
    reads_effort: bool | None = Field(
        None, description="The server reads reasoning_effort (low, medium, high) for models with levels."
    )
    reasoning_summary: Literal["auto", "concise", "detailed", "off"] | None = Field(
        None, description="Ask a Responses server for a summary of its reasoning (off: never ask)."
    )
    headers: dict[str, str] | None = None
    extra_body: dict[str, Any] | None = None
    sampling: dict[str, Any] | None = None
    max_tokens: int | None = None
    context_window: int | None = None
    price_input: float | None = Field(None, description="Dollars per million input tokens.")
    price_output: float | None = Field(None, description="Dollars per million output tokens.")


class SandboxConfig(_Strict):
    """``[sandbox]``: what the OS sandbox of ``shell`` and ``python`` allows besides the workdir."""

    read: list[str] = Field(default_factory=list, description="Extra paths readable in the sandbox.")
    write: list[str] = Field(default_factory=list, description="Extra paths writable in the sandbox.")
    hide: list[str] = Field(
        default_factory=list, description="Paths hidden in the sandbox besides the built-in ones."
    )
    env: list[str] = Field(
        default_factory=list, description="Environment variables passed in although they look like secrets."
    )
    max_processes: int | None = Field(
        None, ge=0, description="Processes one sandbox may run (default 1024); 0: no limit."
    )


class Defaults(_Strict):
    profile: str | None = None
    mode: Literal["lightning", "pro"] | None = None
    approve: Literal["ask", "auto", "never", "all"] | None = None
    sandbox: Literal["workdir", "readonly", "off"] | None = None
    network: Literal["on", "off"] | None = None
    max_steps: int | None = Field(None, ge=1)
    max_tokens: int | None = Field(None, ge=1, description="Token budget for a run.")
    max_seconds: float | None = Field(None, gt=0)
    max_cost: float | None = Field(None, gt=0)
    allow_outside_workdir: bool | None = None


class McpServerConfig(BaseModel):
    """One MCP server: ``command``/``args``/``env`` (stdio) or ``url``/``headers`` (streamable HTTP)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: float = Field(60.0, gt=0, description="Seconds a tool call may take.")
    startup_timeout: float = Field(30.0, gt=0)
    disabled: bool = False


class Config(_Strict):
    default_profile: str | None = None
    defaults: Defaults = Field(default_factory=Defaults)
    profiles: dict[str, ProfileConfig] = Field(default_factory=dict)
    sandbox: SandboxConfig = Field(default_factory=SandboxConfig)
    mcpServers: dict[str, McpServerConfig] = Field(
        default_factory=dict
    )  # the key Claude Desktop and Cursor use
    source: str | None = None

    @property
    def profile_name(self) -> str | None:
        return self.defaults.profile or self.default_profile


def config_path(explicit: str | Path | None = None) -> Path:
    if explicit is not None:
        return Path(explicit).expanduser()
    if env := os.environ.get("INTERLEAF_CONFIG"):
        return Path(env).expanduser()
    return config_dir() / "config.toml"


def load_config(explicit: str | Path | None = None) -> Config:
    """Read the config file. A missing default file is an empty config; a missing explicit one is an error."""
    path = config_path(explicit)
    if not path.exists():
        if explicit is not None or os.environ.get("INTERLEAF_CONFIG"):
            raise ConfigError(f"config file {path} does not exist")
        return Config()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_config(data, source=str(path))


def parse_config(data: dict[str, Any], *, source: str = "config") -> Config:
    try:
        return Config.model_validate({**data, "source": source})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ConfigError(f"{source}: {where}: {first['msg']}{more}") from None


def load_mcp_json(path: str | Path) -> dict[str, McpServerConfig]:
    """Servers from a Claude Desktop / Cursor style JSON file (``{"mcpServers": {...}}``)."""
    import json

    file = Path(path).expanduser()
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{file}: cannot read MCP servers: {exc}") from None
    servers = data.get("mcpServers") if isinstance(data, dict) else None
    if not isinstance(servers, dict):
        raise ConfigError(f"{file}: expected an object with an 'mcpServers' object")
    try:
        return {name: McpServerConfig.model_validate(spec) for name, spec in servers.items()}
    except ValidationError as exc:
        raise ConfigError(f"{file}: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from None
