"""interleaf's side of ``bench_agent``, in a fresh process: what ``interleaf run`` assembles, timed.

Every run is a real :class:`~interleaf.agent.session.AgentSession` (SQLite session store writing each
message, persistent bash behind the ``shell`` tool, its default tools offered, auto approval) with no
observer, i.e. without the terminal UI. Variants:

* ``http-sse``: over HTTP to the scripted server, which streams (what users run);
* ``http-json``: the same, but the server answers with whole JSON bodies (mini-swe-agent's wire);
* ``bare-json`` / ``bare-sse``: no agent, a bare aiohttp client posting the same growing conversation
  and reading the reply (JSON-decoded / raw bytes), running no tool: the HTTP floor;
* ``inproc``: no HTTP, a scripted in-process :class:`~interleaf.agent.loop.Model` replaying the same
  replies as stream events.

Each variant records ``marks``: ``[perf_counter, process_time]`` when the agent asks the model for a
reply (the bare client: when it sends a request), and for the bare client ``rtt``, each request's round
trip; HTTP variants also get ``server``: the scripted server's ``[arrived, answered]`` per request.
Writes one JSON object ``{variant: {...}}`` to ``--out``.

    python -m benchmarks.agent_runners.interleaf_runner --url http://127.0.0.1:PORT --steps 50 --out r.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.agent_runners.upstream import reply_for
from interleaf.agent.loop import Model
from interleaf.agent.session import AgentSession, RunOptions
from interleaf.backends.client import ModelClient
from interleaf.transcript import Conversation, Response
from interleaf.wire import openai_chat
from interleaf.wire.events import StreamEvent, events_from_response

PROFILE = "sglang"  # OpenAI Chat, reasoning_content sent back, no key needed
TASK = "Run each step of the benchmark task in the shell, one command a step, then say you are done."
Marks = list[tuple[float, float]]


def _mark(marks: Marks) -> None:
    marks.append((time.perf_counter(), time.process_time()))


class TimedClient(ModelClient):
    """The client ``AgentSession`` would build for the profile, noting when each request starts."""

    def __init__(self, url: str) -> None:
        super().__init__(PROFILE, base_url=url, model="scripted", api_key="unused")
        self.marks: Marks = []

    def stream(self, conversation: Conversation) -> AsyncIterator[StreamEvent]:
        _mark(self.marks)
        return super().stream(conversation)


class ScriptedModel:
    """The in-process model: the scripted server's replies, decoded once, replayed as stream events."""

    def __init__(self, steps: int) -> None:
        self.steps = steps
        self.marks: Marks = []
        shell = {"tools": [{"function": {"name": "shell"}}]}
        self._replies = [
            openai_chat.decode_response(reply_for({**shell, "messages": [{"role": "tool"}] * k}, steps))
            for k in range(steps + 1)
        ]

    def _reply(self, conversation: Conversation) -> Response:
        _mark(self.marks)
        done = (len(conversation.messages) - 1) // 2  # the task, then (reply, results) per step
        return self._replies[min(done, self.steps)]

    async def stream(self, conversation: Conversation) -> AsyncIterator[StreamEvent]:
        for event in events_from_response(self._reply(conversation)):
            yield event

    async def complete(self, conversation: Conversation, *, stream: bool = False) -> Response:
        return self._reply(conversation)


async def _control(http: aiohttp.ClientSession, url: str, path: str, **query: str) -> Any:
    method = "POST" if path == "/_bench/plan" else "GET"
    async with http.request(method, url + path, params=query) as response:
        response.raise_for_status()
        return await response.json()


async def agent_run(root: Path, steps: int, model: Model) -> None:
    """One task of ``steps`` shell calls and a final answer, in a new session and a new workdir."""
    options = RunOptions(
        workdir=Path(tempfile.mkdtemp(dir=root, prefix="work-")),
        profile=PROFILE,
        model="scripted",
        approve="auto",
        max_steps=steps + 5,
        store_path=root / "sessions.db",
    )
    async with AgentSession(options, model=model) as session:
        finished = await session.run(TASK)
    if finished.status != "done" or finished.steps != steps + 1:
        raise SystemExit(
            f"interleaf run ended with {finished.status} after {finished.steps} steps: {finished}"
        )


async def bare_run(
    http: aiohttp.ClientSession, url: str, steps: int, *, stream: bool, marks: Marks, rtt: list[float]
) -> None:
    """The HTTP floor: post the growing conversation, read the reply, add a canned tool result."""
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "system"},
        {"role": "user", "content": TASK},
    ]
    tools = [{"type": "function", "function": {"name": "shell", "parameters": {"type": "object"}}}]
    for k in range(steps + 1):
        body = {"model": "scripted", "messages": messages, "tools": tools, "stream": stream}
        _mark(marks)
        started = time.perf_counter()
        async with http.post(url + "/v1/chat/completions", json=body) as response:
            if stream:
                await response.read()
                message: dict[str, Any] = reply_for({"messages": messages}, steps)["choices"][0]["message"]
            else:
                message = (await response.json())["choices"][0]["message"]
        rtt.append(time.perf_counter() - started)
        messages.append(message)
        for call in message.get("tool_calls") or []:
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": f"step-{k}"})
    if len(messages) != 2 * steps + 3:
        raise SystemExit(f"bare client: {len(messages)} messages after {steps} steps")


async def main(url: str, steps: int, warmup: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="interleaf-bench-") as tmp:
        root = Path(tmp)
        async with aiohttp.ClientSession() as http:

            async def timings() -> list[list[float]]:
                timed: list[list[float]] = (await _control(http, url, "/_bench/timings"))["timings"]
                return timed

            # Warm up imports and lazily built things, as a long-running process would have them.
            await _control(http, url, "/_bench/plan", steps=str(warmup))
            async with TimedClient(url) as client:
                await agent_run(root, warmup, client)
            await agent_run(root, warmup, ScriptedModel(warmup))
            await bare_run(http, url, warmup, stream=False, marks=[], rtt=[])
            for variant, fmt in (("http-sse", "auto"), ("http-json", "json")):
                await _control(http, url, "/_bench/plan", steps=str(steps), format=fmt)
                client = TimedClient(url)
                async with client:
                    await agent_run(root, steps, client)
                results[variant] = {"server": await timings(), "marks": client.marks}
            for variant, stream in (("bare-json", False), ("bare-sse", True)):
                await _control(http, url, "/_bench/plan", steps=str(steps))
                marks: Marks = []
                rtt: list[float] = []
                await bare_run(http, url, steps, stream=stream, marks=marks, rtt=rtt)
                results[variant] = {"server": await timings(), "marks": marks, "rtt": rtt}
        model = ScriptedModel(steps)
        await agent_run(root, steps, model)
        results["inproc"] = {"marks": model.marks}
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="interleaf's runner for benchmarks.bench_agent")
    parser.add_argument("--url", required=True, help="the scripted server, http://127.0.0.1:PORT")
    parser.add_argument("--steps", type=int, default=50, help="tool steps a run (default 50)")
    parser.add_argument("--warmup", type=int, default=5, help="steps of each warm-up run (default 5)")
    parser.add_argument("--out", type=Path, required=True, help="where to write the JSON results")
    args = parser.parse_args()
    args.out.write_text(json.dumps(asyncio.run(main(args.url, args.steps, args.warmup))))
