"""The task on the OpenAI Agents SDK: an Agent with two function tools, Chat or Responses model."""

from __future__ import annotations

import importlib
import os
from typing import Any

from tests.compat.drivers.common import INSTRUCTIONS, arguments, list_directory, read_file


def main() -> None:
    args = arguments(("openai-chat", "openai-responses"))
    os.environ["OPENAI_AGENTS_DISABLE_TRACING"] = "1"
    agents: Any = importlib.import_module("agents")
    openai: Any = importlib.import_module("openai")
    agents.set_tracing_disabled(True)  # traces would be uploaded to OpenAI
    client = openai.AsyncOpenAI(base_url=args.base_url + "/v1", api_key=args.key, max_retries=0)
    if args.api == "openai-chat":
        model = agents.OpenAIChatCompletionsModel(model=args.model, openai_client=client)
    else:
        model = agents.OpenAIResponsesModel(model=args.model, openai_client=client)
    agent = agents.Agent(
        name="compat",
        instructions=INSTRUCTIONS,
        model=model,
        tools=[agents.function_tool(read_file), agents.function_tool(list_directory)],
    )
    result = agents.Runner.run_sync(agent, args.prompt, max_turns=6)
    print(result.final_output)


if __name__ == "__main__":
    main()
