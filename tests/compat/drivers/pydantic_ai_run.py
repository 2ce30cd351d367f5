"""The task on pydantic-ai: an Agent with two tools, on its Chat, Responses or Anthropic model."""

from __future__ import annotations

import importlib
from typing import Any

from tests.compat.drivers.common import INSTRUCTIONS, arguments, list_directory, read_file


def main() -> None:
    args = arguments(("openai-chat", "openai-responses", "anthropic"))
    pydantic_ai: Any = importlib.import_module("pydantic_ai")
    settings: dict[str, Any] = {}
    if args.api == "anthropic":
        models: Any = importlib.import_module("pydantic_ai.models.anthropic")
        providers: Any = importlib.import_module("pydantic_ai.providers.anthropic")
        provider = providers.AnthropicProvider(base_url=args.base_url, api_key=args.key)
        model = models.AnthropicModel(args.model, provider=provider)
        settings = {"anthropic_thinking": {"type": "enabled", "budget_tokens": 2048}, "max_tokens": 4096}
    else:
        models = importlib.import_module("pydantic_ai.models.openai")
        providers = importlib.import_module("pydantic_ai.providers.openai")
        provider = providers.OpenAIProvider(base_url=args.base_url + "/v1", api_key=args.key)
        if args.api == "openai-chat":
            model = models.OpenAIChatModel(args.model, provider=provider)
        else:
            model = models.OpenAIResponsesModel(args.model, provider=provider)
            settings = {"openai_reasoning_effort": "high"}
    agent = pydantic_ai.Agent(model, instructions=INSTRUCTIONS, tools=[read_file, list_directory])
    result = agent.run_sync(args.prompt, model_settings=settings or None)
    print(result.output)


if __name__ == "__main__":
    main()
