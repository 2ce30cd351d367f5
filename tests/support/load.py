"""Many concurrent agent-like clients that drop thinking, for soak tests and load benchmarks.

Each client runs three-turn tool conversations against a gateway in a loop, the way apps that lose
thinking do: every assistant turn it sends back is rebuilt from its visible text and tool calls only.
Whatever thinking the upstream (tests/support/strict_echo.py) sees again was restored by the gateway;
a turn the gateway forwarded without it comes back as the upstream's 400 and is counted as *lost*.
A refusal by the gateway (503/429) must say when to retry (``Retry-After``); the client waits and
sends the same turn again, and the refusal is counted.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp

Format = Literal["anthropic", "openai-chat"]
TURNS = 3


@dataclass
class LoadResult:
    turns: int = 0
    conversations: int = 0
    lost: int = 0
    """Turns the upstream refused for missing thinking (the gateway forwarded them without it)."""
    refused: int = 0
    """Explicit refusals by the gateway (503/429 with Retry-After)."""
    unexplained: list[str] = field(default_factory=list)
    """Any other failure: status and body, or the exception."""
    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    def merge(self, other: LoadResult) -> None:
        self.turns += other.turns
        self.conversations += other.conversations
        self.lost += other.lost
        self.refused += other.refused
        self.unexplained += other.unexplained
        self.statuses.update(other.statuses)
        self.latencies += other.latencies


def _request(fmt: Format, messages: list[Any], stream: bool) -> tuple[str, dict[str, Any]]:
    if fmt == "anthropic":
        return "/v1/messages", {
            "model": "strict-model",
            "max_tokens": 512,
            "stream": stream,
            "messages": messages,
        }
    return "/v1/chat/completions", {"model": "strict-model", "stream": stream, "messages": messages}


def _parse_anthropic(raw: bytes, stream: bool) -> list[dict[str, Any]]:
    if not stream:
        content: list[dict[str, Any]] = json.loads(raw)["content"]
        return content
    blocks: dict[int, dict[str, Any]] = {}
    partial: dict[int, str] = {}
    for line in raw.decode().splitlines():
        if not line.startswith("data: "):
            continue
        event = json.loads(line[6:])
        kind = event.get("type")
        if kind == "content_block_start":
            blocks[event["index"]] = dict(event["content_block"])
        elif kind == "content_block_delta":
            delta = event["delta"]
            block = blocks[event["index"]]
            if delta["type"] == "text_delta":
                block["text"] = block.get("text", "") + delta["text"]
            elif delta["type"] == "input_json_delta":
                partial[event["index"]] = partial.get(event["index"], "") + delta["partial_json"]
        elif kind == "error":
            raise ValueError(f"error event: {event}")
    for index, text in partial.items():
        blocks[index]["input"] = json.loads(text)
    return [blocks[i] for i in sorted(blocks)]


def _parse_openai(raw: bytes, stream: bool) -> dict[str, Any]:
    if not stream:
        message: dict[str, Any] = json.loads(raw)["choices"][0]["message"]
        return message
    content = ""
    calls: dict[int, dict[str, Any]] = {}
    for line in raw.decode().splitlines():
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        chunk = json.loads(line[6:])
        if "error" in chunk:
            raise ValueError(f"error chunk: {chunk}")
        for choice in chunk.get("choices", []):
            delta = choice.get("delta") or {}
            content += delta.get("content") or ""
            for call in delta.get("tool_calls") or []:
                slot = calls.setdefault(
                    call["index"], {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
                )
                slot["id"] = call.get("id") or slot["id"]
                function = call.get("function") or {}
                slot["function"]["name"] += function.get("name") or ""
                slot["function"]["arguments"] += function.get("arguments") or ""
    out: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        out["tool_calls"] = [calls[i] for i in sorted(calls)]
    return out


def _next_messages(fmt: Format, messages: list[Any], raw: bytes, stream: bool) -> list[Any] | None:
    """The conversation with the reply appended the way apps that drop thinking append it, plus the tool
    results; ``None`` when the conversation is over."""
    if fmt == "anthropic":
        blocks = [b for b in _parse_anthropic(raw, stream) if b["type"] in ("text", "tool_use")]
        calls = [b for b in blocks if b["type"] == "tool_use"]
        if not calls:
            return None
        results = [{"type": "tool_result", "tool_use_id": c["id"], "content": "README.md src"} for c in calls]
        return [*messages, {"role": "assistant", "content": blocks}, {"role": "user", "content": results}]
    message = _parse_openai(raw, stream)
    calls = message.get("tool_calls") or []
    if not calls:
        return None
    visible = {"role": "assistant", "content": message.get("content") or "", "tool_calls": calls}
    tools = [{"role": "tool", "tool_call_id": c["id"], "content": "README.md src"} for c in calls]
    return [*messages, visible, *tools]


async def client(
    session: aiohttp.ClientSession,
    urls: list[str],
    fmt: Format,
    stream: bool,
    name: str,
    stop_at: float,
    key: str,
) -> LoadResult:
    """Run conversations until ``stop_at`` (monotonic); turn k of each goes to ``urls[k % len(urls)]``
    (replicas behind a load balancer)."""
    result = LoadResult()
    headers = {"content-type": "application/json"}
    headers |= (
        {"x-api-key": key, "anthropic-version": "2023-06-01"}
        if fmt == "anthropic"
        else {"authorization": f"Bearer {key}"}
    )
    number = 0
    while time.monotonic() < stop_at:
        number += 1
        messages: list[Any] | None = [
            {"role": "user", "content": f"Please look around, conversation {name}n{number}"}
        ]
        turn = 0
        while messages is not None:
            path, body = _request(fmt, messages, stream)
            started = time.perf_counter()
            try:
                async with session.post(
                    urls[turn % len(urls)] + path, json=body, headers=headers
                ) as response:
                    raw = await response.read()
                    status = response.status
                    retry_after = response.headers.get("retry-after")
            except (TimeoutError, aiohttp.ClientError) as exc:
                result.unexplained.append(f"{type(exc).__name__}: {exc}")
                break
            result.statuses[status] += 1
            if status in (429, 503) and retry_after is not None:
                result.refused += 1
                await asyncio.sleep(min(float(retry_after), 2.0))
                continue
            if status == 400 and (b"thinking" in raw or b"reasoning_content" in raw):
                result.lost += 1
                break
            if status != 200:
                result.unexplained.append(f"HTTP {status}: {raw[:300]!r}")
                break
            result.latencies.append(time.perf_counter() - started)
            result.turns += 1
            turn += 1
            try:
                messages = _next_messages(fmt, messages, raw, stream)
            except (ValueError, KeyError) as exc:
                result.unexplained.append(f"unreadable reply ({exc}): {raw[:300]!r}")
                break
        else:
            result.conversations += 1
    return result


async def run_load(
    urls: list[str], *, clients: int, seconds: float, fmt: Format, key_prefix: str = "tenant"
) -> LoadResult:
    """``clients`` streaming plus ``clients`` non-streaming clients for ``seconds``; ten tenants."""
    stop_at = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=120)
    total = LoadResult()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        tasks = [
            client(
                session,
                urls,
                fmt,
                stream,
                f"{'s' if stream else 'w'}{index}",
                stop_at,
                f"{key_prefix}-{index % 10}",
            )
            for stream in (True, False)
            for index in range(clients)
        ]
        for result in await asyncio.gather(*tasks):
            total.merge(result)
    return total
