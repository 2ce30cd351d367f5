"""Adapters for the npm apps: Claude Code, OpenCode, Qwen Code, Codex, pi and Cline.

Each writes its app's own configuration (documented env vars, a settings file in the temp HOME) for a
base URL, model and key, and returns the command line of one non-interactive run of the task.
"""

from __future__ import annotations

import json

from tests.compat.launch import Launch, npm_bin, write
from tests.compat.sandbox import Sandbox, Target

# ------------------------------------------------------------------------------------ Claude Code


def claude_code(box: Sandbox, target: Target) -> Launch:
    """``claude -p`` with ANTHROPIC_BASE_URL; the root user may not skip permissions unless IS_SANDBOX
    is set (documented for containers), so read-only tools are allowed explicitly instead."""
    env = box.base_env()
    env.update(
        {
            "ANTHROPIC_BASE_URL": target.url,
            "ANTHROPIC_API_KEY": target.key,
            "ANTHROPIC_MODEL": target.model,
            "ANTHROPIC_DEFAULT_HAIKU_MODEL": target.model,
            "ANTHROPIC_DEFAULT_SONNET_MODEL": target.model,
            "ANTHROPIC_DEFAULT_OPUS_MODEL": target.model,
            "ANTHROPIC_SMALL_FAST_MODEL": target.model,
            "CLAUDE_CONFIG_DIR": str(box.home / ".claude"),
            "MAX_THINKING_TOKENS": "4000",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_AUTOUPDATER": "1",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_ERROR_REPORTING": "1",
            "DISABLE_BUG_COMMAND": "1",
            "CLAUDE_CODE_IDE_SKIP_AUTO_INSTALL": "1",
            "IS_SANDBOX": "1",
        }
    )
    argv = [
        str(npm_bin("claude-code", "claude")),
        "-p",
        box.prompt,
        "--output-format",
        "json",
        "--max-turns",
        "6",
        "--dangerously-skip-permissions",
    ]
    return Launch(argv, env, box.workdir)


# --------------------------------------------------------------------------------------- OpenCode

_OPENCODE_NPM = {
    "openai-chat": "@ai-sdk/openai-compatible",
    "anthropic": "@ai-sdk/anthropic",
    "openai-responses": "@ai-sdk/openai",
}


def opencode(box: Sandbox, target: Target) -> Launch:
    """``opencode run`` with a custom provider (docs/gateway.md's recipe) given in OPENCODE_CONFIG_CONTENT;
    the AI SDK providers it needs are bundled in the binary, so nothing is installed at run time."""
    config = {
        "$schema": "https://opencode.ai/config.json",
        "autoupdate": False,
        "share": "disabled",
        "permission": {"edit": "allow", "bash": "allow", "webfetch": "deny", "external_directory": "allow"},
        "provider": {
            "compat": {
                "npm": _OPENCODE_NPM[target.api],
                "name": "compat",
                "options": {"baseURL": target.v1, "apiKey": target.key},
                "models": {target.model: {"name": "compat model", "reasoning": True, "tool_call": True}},
            }
        },
        "model": f"compat/{target.model}",
        "small_model": f"compat/{target.model}",
    }
    env = box.base_env()
    env.update(
        {
            "OPENCODE_CONFIG_CONTENT": json.dumps(config),
            "OPENCODE_DISABLE_AUTOUPDATE": "1",
            "OPENCODE_DISABLE_MODELS_FETCH": "1",
            "OPENCODE_DISABLE_LSP_DOWNLOAD": "1",
            "OPENCODE_DISABLE_DEFAULT_PLUGINS": "1",
            "OPENCODE_DISABLE_SHARE": "1",
            "OPENCODE_DISABLE_CLAUDE_CODE": "1",
            "OPENCODE_DISABLE_EXTERNAL_SKILLS": "1",
        }
    )
    argv = [str(npm_bin("opencode", "opencode")), "run", "--model", f"compat/{target.model}", box.prompt]
    return Launch(argv, env, box.workdir)


# -------------------------------------------------------------------------------------- Qwen Code


def qwen_code(box: Sandbox, target: Target) -> Launch:
    """``qwen -p … --yolo`` with a ``modelProviders`` route in ~/.qwen/settings.json (its documented
    one-file setup); Responses is the ``openai`` protocol with ``wireApi: responses``. Needs Node 22."""
    protocol = "anthropic" if target.api == "anthropic" else "openai"
    route: dict[str, object] = {
        "id": target.model,
        "name": "compat model",
        "baseUrl": target.url if protocol == "anthropic" else target.v1,
        "envKey": "COMPAT_API_KEY",
    }
    if target.api == "openai-responses":
        route["wireApi"] = "responses"
    settings = {
        "modelProviders": {protocol: [route]},
        "security": {"auth": {"selectedType": protocol}},
        "model": {"name": target.model},
        "privacy": {"usageStatisticsEnabled": False},
        "telemetry": {"enabled": False},
        "general": {"disableAutoUpdate": True, "disableUpdateNag": True},
    }
    write(box.home / ".qwen" / "settings.json", json.dumps(settings, indent=2))
    env = box.base_env(node=True)
    env.update(
        {"COMPAT_API_KEY": target.key, "QWEN_CODE_NO_RELAUNCH": "1", "QWEN_CODE_SUPPRESS_YOLO_WARNING": "1"}
    )
    argv = [str(npm_bin("qwen-code", "qwen")), "-p", box.prompt, "--yolo", "--output-format", "text"]
    return Launch(argv, env, box.workdir)


# ------------------------------------------------------------------------------------------ Codex


def codex_config(model: str, base_url: str, *, name: str = "compat", knobs: str = "") -> str:
    """Codex's config.toml: a custom provider at ``base_url`` (its ``/v1``), key from $COMPAT_API_KEY,
    no retries (a failure shows at once), no analytics. ``name = "OpenAI"`` makes Codex treat it as its
    built-in OpenAI provider (server-side compaction); ``knobs`` are more top-level lines."""
    return f"""
model = "{model}"
model_provider = "compat"
model_reasoning_summary = "auto"
check_for_update_on_startup = false
{knobs}
[model_providers.compat]
name = "{name}"
base_url = "{base_url}"
env_key = "COMPAT_API_KEY"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0

[analytics]
enabled = false

[otel]
exporter = "none"
"""


def codex(box: Sandbox, target: Target) -> Launch:
    """``codex exec`` with a custom ``model_providers`` entry in $CODEX_HOME/config.toml. Codex speaks
    only the Responses API (``wire_api = "chat"`` is refused); its OS sandbox cannot start in this
    container, so the run bypasses it (the workdir is a temp dir and the model only reads files)."""
    write(box.home / ".codex" / "config.toml", codex_config(target.model, target.v1))
    env = box.base_env()
    env.update({"CODEX_HOME": str(box.home / ".codex"), "COMPAT_API_KEY": target.key})
    argv = [
        str(npm_bin("codex", "codex")),
        "exec",
        "--skip-git-repo-check",
        "--dangerously-bypass-approvals-and-sandbox",
        "--color",
        "never",
        box.prompt,
    ]
    return Launch(argv, env, box.workdir)


# --------------------------------------------------------------------------------------------- pi

_PI_API = {
    "openai-chat": "openai-completions",
    "anthropic": "anthropic-messages",
    "openai-responses": "openai-responses",
}


def pi(box: Sandbox, target: Target) -> Launch:
    """``pi -p`` with a custom provider in $PI_CODING_AGENT_DIR/models.json, ``--offline`` (no update
    check or telemetry), no saved session."""
    agent_dir = box.home / ".pi" / "agent"
    provider = {
        "baseUrl": target.url if target.api == "anthropic" else target.v1,
        "api": _PI_API[target.api],
        "apiKey": target.key,
        "models": [{"id": target.model, "name": "compat model", "reasoning": True}],
    }
    write(agent_dir / "models.json", json.dumps({"providers": {"compat": provider}}, indent=2))
    env = box.base_env()
    env.update({"PI_CODING_AGENT_DIR": str(agent_dir), "PI_OFFLINE": "1", "PI_TELEMETRY": "0"})
    argv = [
        str(npm_bin("pi", "pi")),
        "--offline",
        "--no-session",
        "--model",
        f"compat/{target.model}",
        "--thinking",
        "high",
        "-p",
        box.prompt,
    ]
    return Launch(argv, env, box.workdir)


# ------------------------------------------------------------------------------------------ Cline

_CLINE_PROVIDER = {
    "openai-chat": "openai-compatible",
    "anthropic": "anthropic",
    "openai-responses": "openai-native",
}


def cline(box: Sandbox, target: Target) -> Launch:
    """``cline "prompt"`` (act mode, tools auto-approved) with the provider that ``cline auth -p … -b``
    would write, in a config directory of the run's own."""
    provider = _CLINE_PROVIDER[target.api]
    config_dir = box.home / ".cline"
    settings = {
        "version": 1,
        "lastUsedProvider": provider,
        "modes": {},
        "providers": {
            provider: {
                "settings": {
                    "provider": provider,
                    "apiKey": target.key,
                    "model": target.model,
                    # Its Anthropic client appends /messages to the base URL itself: /v1 goes in too.
                    "baseUrl": target.v1,
                },
                "updatedAt": "2026-01-01T00:00:00.000Z",
                "tokenSource": "manual",
            }
        },
    }
    write(config_dir / "data" / "settings" / "providers.json", json.dumps(settings, indent=2))
    env = box.base_env()
    env.update({"CLINE_TELEMETRY_DISABLED": "1", "CLINE_DISABLE_AUTO_UPDATE": "1"})
    argv = [
        str(npm_bin("cline", "cline")),
        "--config",
        str(config_dir),
        "--cwd",
        str(box.workdir),
        "--thinking",
        "high",
        "--compaction",
        "off",
        box.prompt,
    ]
    return Launch(argv, env, box.workdir)
