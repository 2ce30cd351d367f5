"""The apps the suite drives: one :class:`App` per app with its pinned version, the wire APIs it can
speak to a model, where scripts/compat installs it, and its adapter (how to run the task once,
non-interactively, against a base URL; :mod:`tests.compat.apps_node`, :mod:`tests.compat.apps_python`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.compat.apps_node import claude_code, cline, codex, opencode, pi, qwen_code
from tests.compat.apps_python import aider, driver, kimi_cli
from tests.compat.dialects import WireApi
from tests.compat.launch import Launch, npm_bin, venv_bin
from tests.compat.sandbox import Sandbox, Target


@dataclass(frozen=True)
class App:
    """An app the suite drives. ``apis``: the wire APIs it can speak to a model (first: its own)."""

    name: str
    version: str
    registry: str
    """``npm``, ``pypi`` or ``driver`` (a tiny script of ours around a Python SDK, in its own venv)."""
    package: str
    apis: tuple[WireApi, ...]
    executable: Path
    configure: Callable[[Sandbox, Target], Launch]
    timeout: float = 120.0
    notes: str = ""
    extras: tuple[str, ...] = field(default_factory=tuple)
    """More packages installed with it (PyPI apps)."""
    acts_in_text: bool = False
    """The app sends no tools and edits through its reply's text (aider): the scripted model runs
    the task in text mode (:mod:`tests.compat.textedits`)."""

    def installed(self) -> bool:
        return self.executable.exists()


APPS: dict[str, App] = {
    app.name: app
    for app in (
        App(
            "claude-code",
            "2.1.332",
            "npm",
            "@anthropic-ai/claude-code",
            ("anthropic",),
            npm_bin("claude-code", "claude"),
            claude_code,
        ),
        App(
            "opencode",
            "1.18.33",
            "npm",
            "opencode-ai",
            ("openai-chat", "anthropic", "openai-responses"),
            npm_bin("opencode", "opencode"),
            opencode,
        ),
        App(
            "qwen-code",
            "0.24.4",
            "npm",
            "@qwen-code/qwen-code",
            ("openai-chat", "anthropic", "openai-responses"),
            npm_bin("qwen-code", "qwen"),
            qwen_code,
        ),
        App(
            "codex",
            "0.171.0",
            "npm",
            "@openai/codex",
            ("openai-responses",),
            npm_bin("codex", "codex"),
            codex,
        ),
        App(
            "pi",
            "0.73.1",
            "npm",
            "@mariozechner/pi-coding-agent",
            ("openai-chat", "anthropic", "openai-responses"),
            npm_bin("pi", "pi"),
            pi,
        ),
        App(
            "cline",
            "3.0.65",
            "npm",
            "cline",
            ("openai-chat", "anthropic", "openai-responses"),
            npm_bin("cline", "cline"),
            cline,
        ),
        App(
            "kimi-cli",
            "1.52.0",
            "pypi",
            "kimi-cli",
            ("anthropic", "openai-chat", "openai-responses"),
            venv_bin("kimi-cli", "kimi"),
            kimi_cli,
            notes="Python >= 3.13",
            extras=("anthropic<2",),
        ),
        App(
            "openai-agents",
            "0.24.0",
            "driver",
            "openai-agents",
            ("openai-responses", "openai-chat"),
            venv_bin("openai-agents", "python"),
            driver("openai-agents", "openai_agents_run"),
        ),
        App(
            "pydantic-ai",
            "2.78.0",
            "driver",
            "pydantic-ai-slim[openai,anthropic]",
            ("openai-chat", "anthropic", "openai-responses"),
            venv_bin("pydantic-ai", "python"),
            driver("pydantic-ai", "pydantic_ai_run"),
        ),
        App(
            "llm",
            "0.36",
            "driver",
            "llm",
            ("openai-chat", "anthropic", "openai-responses"),
            venv_bin("llm", "python"),
            driver("llm", "llm_run"),
            extras=("llm-anthropic==0.30",),
        ),
        App(
            "aider",
            "0.86.2",
            "pypi",
            "aider-chat",
            # LiteLLM inside: OpenAI Chat and Anthropic with a custom base URL. Its Responses bridge
            # ("openai/responses/<model>") is LiteLLM's, not an aider option: not driven.
            ("openai-chat", "anthropic"),
            venv_bin("aider", "aider"),
            aider,
            notes="Python 3.10 to 3.12",
            acts_in_text=True,
        ),
    )
}
