"""Adapters for the Python apps: kimi-cli, aider, and tiny drivers around SDK-level agents
(openai-agents, pydantic-ai, llm), each run in a venv of its own."""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.compat.launch import Launch, venv_bin, write
from tests.compat.sandbox import FILE_NAME, PROJECT, Sandbox, Target

# --------------------------------------------------------------------------------------- kimi-cli

_KIMI_PROVIDER = {
    "openai-chat": "openai_legacy",
    "anthropic": "anthropic",
    "openai-responses": "openai_responses",
}
# kimi-cli 1.52.0's `kimi` entry point is a deprecation gate (with no arguments it downloads and runs
# the successor's installer): the package keeps its original Typer CLI, reached here directly.
_KIMI_ORIGINAL_CLI = (
    "import sys; from kimi_cli.__main__ import run_original_cli; sys.exit(run_original_cli(sys.argv[1:]))"
)


def kimi_cli(box: Sandbox, target: Target) -> Launch:
    """kimi-cli's original CLI in ``--print --yolo`` mode with a provider and model in a config file
    of the run's own (KIMI_SHARE_DIR in the temp HOME); thinking on."""
    config = {
        "default_model": "compat",
        "default_thinking": True,
        "models": {
            "compat": {
                "provider": "compat",
                "model": target.model,
                "max_context_size": 200_000,
                "capabilities": ["thinking"],
            }
        },
        "providers": {
            "compat": {
                "type": _KIMI_PROVIDER[target.api],
                "base_url": target.url if target.api == "anthropic" else target.v1,
                "api_key": target.key,
            }
        },
    }
    config_file = box.home / "kimi-config.json"
    write(config_file, json.dumps(config, indent=2))
    env = box.base_env()
    env.update({"KIMI_SHARE_DIR": str(box.home / ".kimi"), "KIMI_CLI_NO_AUTO_UPDATE": "1"})
    argv = [
        str(venv_bin("kimi-cli", "python")),
        "-c",
        _KIMI_ORIGINAL_CLI,
        "--work-dir",
        str(box.workdir),
        "--config-file",
        str(config_file),
        "--thinking",
        "--print",
        "--yolo",
        "--prompt",
        box.prompt,
    ]
    return Launch(argv, env, box.workdir)


# ------------------------------------------------------------------------------------------ aider

# aider passes --thinking-tokens through LiteLLM, which drops `thinking` for a model it has no
# metadata for; the LiteLLM that aider 0.86.2 pins knows Claude up to Sonnet 4.5, so that name stands
# in for the dialect's newer one (the scripted model answers any name).
_AIDER_CLAUDE = "claude-sonnet-4-5"


def aider(box: Sandbox, target: Target) -> Launch:
    """aider answering one ``--message`` with the task's file in the chat, the ``diff`` edit format
    and every question answered yes; LiteLLM inside: ``openai/<model>`` with ``--openai-api-base``
    (Chat), ``anthropic/<model>`` with ANTHROPIC_API_BASE and ``--thinking-tokens`` (Anthropic).

    One run makes all three requests: the scripted model's first two replies are edits aider cannot
    apply, so aider reflects the failure back in the same run (tests/compat/textedits.py)."""
    env = box.base_env()
    if target.api == "anthropic":
        model = f"anthropic/{_AIDER_CLAUDE}"
        env["ANTHROPIC_API_BASE"] = target.url
        provider = [f"--anthropic-api-key={target.key}", "--thinking-tokens=1024"]
    else:
        model = f"openai/{target.model}"
        provider = [f"--openai-api-base={target.v1}", f"--openai-api-key={target.key}"]
    # Metadata of our own for the model: without it aider downloads LiteLLM's model list at start.
    metadata = box.home / "aider-model-metadata.json"
    info = {"max_input_tokens": 200_000, "max_output_tokens": 8_192, "mode": "chat"}
    info["litellm_provider"] = model.split("/", 1)[0]
    write(metadata, json.dumps({model: info}, indent=2))
    argv = [
        str(venv_bin("aider", "aider")),
        f"--model={model}",
        *provider,
        f"--model-metadata-file={metadata}",
        "--edit-format=diff",
        "--map-tokens=0",
        "--yes-always",
        "--no-git",
        "--no-auto-commits",
        "--no-pretty",
        "--no-fancy-input",
        "--no-detect-urls",
        "--no-show-model-warnings",
        "--no-check-update",
        "--no-show-release-notes",
        "--analytics-disable",
        f"--message={box.prompt}",
        FILE_NAME,
    ]
    return Launch(argv, env, box.workdir)


# ------------------------------------------------------------------------- Python SDK-level agents


def driver(venv: str, module: str) -> Callable[[Sandbox, Target], Launch]:
    """A driver of tests/compat/drivers run with its SDK's venv (the repo on PYTHONPATH for its
    stdlib-only helpers)."""

    def configure(box: Sandbox, target: Target) -> Launch:
        env = box.base_env()
        env.update(
            {
                "PYTHONPATH": str(PROJECT),
                "LLM_USER_PATH": str(box.home / "llm"),
                "OPENAI_AGENTS_DISABLE_TRACING": "1",
                "LOGFIRE_IGNORE_NO_CONFIG": "1",
            }
        )
        argv = [
            str(venv_bin(venv, "python")),
            "-m",
            f"tests.compat.drivers.{module}",
            "--api",
            target.api,
            "--base-url",
            target.url,
            "--model",
            target.model,
            "--key",
            target.key,
            "--prompt",
            box.prompt,
            "--workdir",
            str(box.workdir),
        ]
        return Launch(argv, env, box.workdir)

    return configure
