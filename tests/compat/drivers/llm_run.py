"""The task on Simon Willison's ``llm``: a tool chain on its OpenAI Chat or Responses model, or
llm-anthropic's Claude model, each pointed at the base URL (LLM_USER_PATH is a temp dir)."""

from __future__ import annotations

import importlib
from typing import Any

from tests.compat.drivers.common import arguments, list_directory, read_file


def main() -> None:
    args = arguments(("openai-chat", "openai-responses", "anthropic"))
    llm: Any = importlib.import_module("llm")
    options: dict[str, Any] = {}
    if args.api == "anthropic":
        plugin: Any = importlib.import_module("llm_anthropic")
        model = plugin.ClaudeMessages(
            args.model, supports_thinking=True, base_url=args.base_url, default_max_tokens=4096
        )
        options = {"thinking": True}
    else:
        openai_models: Any = importlib.import_module("llm.default_plugins.openai_models")
        klass = openai_models.Chat if args.api == "openai-chat" else openai_models.Responses
        model = klass(
            model_id="compat",
            model_name=args.model,
            api_base=args.base_url + "/v1",
            reasoning=True,
            supports_tools=True,
        )
    chain = model.conversation().chain(
        args.prompt,
        tools=[llm.Tool.function(read_file), llm.Tool.function(list_directory)],
        key=args.key,
        chain_limit=6,
        options=options or None,
    )
    print(chain.text())


if __name__ == "__main__":
    main()
