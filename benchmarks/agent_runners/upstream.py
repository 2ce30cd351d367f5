"""The zero-delay scripted model server of ``bench_agent``, in a process of its own.

It is the test suite's :class:`~tests.support.scripted_server.ScriptedServer` (real OpenAI Chat wire
format over loopback HTTP) with two additions: the reply is chosen from the request, and every answer
is timed. A request carrying ``k`` tool results gets step ``k``: a short reasoning, a line of text and
one call running ``echo step-k`` in the agent's shell tool (``shell`` for interleaf, ``bash`` for
mini-swe-agent, read from the request's tools); after ``steps`` of them, the final reply. Streamed
when the request asks for it, unless the plan says ``format=json``.

``POST /_bench/plan?steps=N&format=auto|json`` sets the plan and clears the timings;
``GET /_bench/timings`` returns ``[[arrived, answered], ...]`` (``time.perf_counter`` seconds of this
process: from the handler's start to the last byte handed to the socket) for every model request since.

    python -m benchmarks.agent_runners.upstream    # prints the port, serves until stdin closes
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from aiohttp import web
from tests.support.payloads import openai_chunks, openai_completion, tool_call
from tests.support.scripted_server import ScriptedServer, Step

FINAL_MINI = "COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"
THOUGHT = (
    "The previous command worked and printed what I expected. Next I run the following step of the task "
    "in the shell; it is cheap, so no need to batch it with anything else. After that I check its output "
    "and decide whether more steps are needed or whether I can give the final answer."
)  # ~300 characters of reasoning, sent back by both agents on every later request


def reply_for(body: dict[str, Any], steps: int) -> dict[str, Any]:
    """The completion for a request: step ``k`` (k = tool results so far) or the final answer."""
    messages = body.get("messages") or []
    done = sum(1 for m in messages if isinstance(m, dict) and m.get("role") == "tool")
    names = {t.get("function", {}).get("name") for t in body.get("tools") or [] if isinstance(t, dict)}
    tool = "bash" if "bash" in names else "shell"
    model = str(body.get("model") or "scripted")
    if done < steps:
        call = tool_call(f"call_{done:05d}", tool, {"command": f"echo step-{done}"})
        return openai_completion(
            content=f"Running step {done}.",
            reasoning=THOUGHT,
            tool_calls=[call],
            id=f"chatcmpl-{done}",
            model=model,
        )
    if tool == "bash":  # mini-swe-agent ends when a command prints this first
        call = tool_call(f"call_{done:05d}", tool, {"command": f"echo {FINAL_MINI}"})
        return openai_completion(
            content="Done.", reasoning=THOUGHT, tool_calls=[call], id=f"chatcmpl-{done}", model=model
        )
    return openai_completion(
        content="Done: every step ran.", reasoning=THOUGHT, id=f"chatcmpl-{done}", model=model
    )


class BenchUpstream(ScriptedServer):
    def __init__(self) -> None:
        super().__init__()
        self.steps = 0
        self.force_json = False
        self.timings: list[tuple[float, float]] = []

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        arrived = time.perf_counter()
        if request.path == "/_bench/plan":
            self.steps = int(request.query.get("steps", "0"))
            self.force_json = request.query.get("format") == "json"
            self.timings.clear()
            return web.json_response({"ok": True})
        if request.path == "/_bench/timings":
            return web.json_response({"timings": self.timings})
        body = await request.json()  # cached: the scripted server reads the same bytes again
        completion = reply_for(body, self.steps)
        stream = bool(body.get("stream")) and not self.force_json
        self.enqueue(Step.sse(openai_chunks(completion)) if stream else Step.json(completion))
        response = await super()._handle(request)
        if not response.prepared:  # a whole JSON body: send it here, so the time covers it
            await response.prepare(request)
            await response.write_eof()
        self.requests.clear()
        self.replies.clear()
        self.timings.append((arrived, time.perf_counter()))
        return response


async def serve() -> None:
    server = await BenchUpstream().start()
    print(server.port, flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the benchmark closes our stdin
    await server.stop()


if __name__ == "__main__":
    asyncio.run(serve())
