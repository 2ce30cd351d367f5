"""The gateway as deployed: replicas sharing one Redis, and the real ``interleaf serve`` command.

The replicas test runs two gateways on one real ``redis-server``: turn 1 of a conversation goes
through replica A, turn 2 through replica B (a load balancer's choice), and B restores what A stored.
The CLI test starts ``interleaf serve`` as a subprocess, exactly as a user would.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from redis.asyncio import Redis

from interleaf.store.thinking_redis import KEY_PREFIX
from tests.support.gateway_scenario import (
    MODEL,
    PROMPT,
    THOUGHTS,
    anthropic_async,
    assert_upstream_saw_all_thinking,
    openai_async,
    upstream_steps,
)
from tests.support.gateway_server import GatewayServer, gateway_options
from tests.support.redis_server import RedisServer, free_port
from tests.support.scripted_server import ScriptedServer
from tests.support.strict import StrictAnthropic, StrictOpenAIReasoning

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("stream", [False, True])
async def test_two_replicas_on_one_redis_restore_each_others_turns(
    stream: bool, upstream: ScriptedServer, redis_server: RedisServer
) -> None:
    upstream.enqueue(*upstream_steps("anthropic", "thinking", stream=stream))
    upstream.validators.append(StrictAnthropic(upstream))
    options = gateway_options("anthropic", upstream.base_url, redis_server.url)
    async with GatewayServer(options) as replica_a, GatewayServer(options) as replica_b:
        replicas = [replica_a, replica_b, replica_a]

        async def stored(turn: int) -> None:
            await replicas[turn].settle()  # the write has reached Redis before the next turn

        run = await anthropic_async([r.base_url for r in replicas], "key-a", stream=stream, between=stored)
        assert replica_b.gateway.metrics.restored.total() == 1  # turn 2: turn 1 from replica A
        assert replica_a.gateway.metrics.restored.total() == 2  # turn 3: turn 2 from replica B
    assert not upstream.rejections, upstream.rejections
    assert_upstream_saw_all_thinking("anthropic", "thinking", upstream.requests)
    assert run.restored == [0, 1, 2]


@pytest.mark.parametrize("stream", [False, True])
async def test_a_turn_sent_at_once_to_another_replica_waits_for_the_write(
    stream: bool, upstream: ScriptedServer, redis_server: RedisServer
) -> None:
    # A fast agent loop behind a round-robin balancer: turn 2 reaches replica B while replica A's
    # capture of turn 1 is still on its way to Redis. B must find it, not count it missing.
    upstream.enqueue(*upstream_steps("anthropic", "thinking", stream=stream))
    upstream.validators.append(StrictAnthropic(upstream))
    options = gateway_options("anthropic", upstream.base_url, redis_server.url)
    async with GatewayServer(options) as replica_a, GatewayServer(options) as replica_b:
        run = await anthropic_async(
            [replica_a.base_url, replica_b.base_url, replica_a.base_url], "key-a", stream=stream
        )
        assert replica_b.gateway.metrics.missing.total() == 0
        assert replica_a.gateway.metrics.missing.total() == 0
    assert not upstream.rejections, upstream.rejections
    assert_upstream_saw_all_thinking("anthropic", "thinking", upstream.requests)
    assert run.restored == [0, 1, 2]


async def _stored_turns(redis: Redis) -> int:
    return len([key async for key in redis.scan_iter(match=KEY_PREFIX + "t1*")])


@pytest.mark.parametrize("client", ["anthropic", "openai-chat"])
@pytest.mark.parametrize("stream", [False, True])
async def test_on_redis_a_reply_is_stored_before_the_client_has_its_end(
    client: str, stream: bool, upstream: ScriptedServer, redis_server: RedisServer
) -> None:
    # What makes the replica test above hold at any speed: the moment the client can see that the turn
    # is over (the whole body; message_stop; the finish_reason chunk), its capture is already in Redis.
    upstream.enqueue(*upstream_steps("anthropic", "thinking", stream=stream, turns=1))
    options = gateway_options("anthropic", upstream.base_url, redis_server.url)
    user = [{"role": "user", "content": PROMPT}]
    if client == "anthropic":
        path, end_marker = "/v1/messages", b"message_stop"
        body: dict[str, object] = {"model": MODEL, "max_tokens": 1024, "messages": user, "stream": stream}
    else:
        path, end_marker = "/v1/chat/completions", b'"finish_reason":"'
        body = {"model": MODEL, "messages": user, "stream": stream}
    redis = Redis.from_url(redis_server.url)
    stored_at_end: list[int] = []
    try:
        async with GatewayServer(options) as gateway, aiohttp.ClientSession() as session:
            headers = {"x-api-key": "key-a", "authorization": "Bearer key-a"}
            # Redis holds writes for 150 ms (reads go on): a reply sent before its write would show here.
            await redis.client_pause(150, all=False)  # all=False: writes only
            async with session.post(gateway.base_url + path, json=body, headers=headers) as response:
                assert response.status == 200, await response.text()
                seen = b""
                async for chunk in response.content.iter_any():
                    seen += chunk
                    if not stream or (end_marker in seen and not stored_at_end):
                        stored_at_end.append(await _stored_turns(redis))
            if not stream:
                stored_at_end.append(await _stored_turns(redis))
    finally:
        await redis.aclose()
    assert stored_at_end and stored_at_end[0] == 1, stored_at_end


def _serve(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-c", "from interleaf.cli import main; main()", "serve", *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)


async def _wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    async with aiohttp.ClientSession() as session:
        while True:
            assert process.poll() is None, (process.stdout.read() if process.stdout else b"").decode()
            try:
                async with session.get(url + "/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            assert time.monotonic() < deadline, "interleaf serve did not become healthy"
            await asyncio.sleep(0.05)


async def test_the_interleaf_serve_command(upstream: ScriptedServer, tmp_path: Path) -> None:
    """The real CLI: a DeepSeek-style strict upstream, an OpenAI SDK app that drops reasoning_content."""
    upstream.enqueue(*upstream_steps("openai-chat", "reasoning_content", stream=True))
    upstream.validators.append(StrictOpenAIReasoning(upstream, "reasoning_content"))
    port = free_port()
    env = {**os.environ, "INTERLEAF_HOME": str(tmp_path / "home")}
    env.pop("INTERLEAF_TENANT_SECRET", None)
    args = ["--profile", "deepseek", "--base-url", upstream.base_url, "--port", str(port)]
    args += ["--store", f"sqlite:///{tmp_path}/thinking.db", "--ttl", "1h", "--log-level", "info"]
    process = _serve(args, env)
    try:
        base_url = f"http://127.0.0.1:{port}"
        await _wait_healthy(base_url, process)
        # The same process (its PID), now an interpreter that imported the gateway and not the CLI's
        # typer and pydantic; its command line still says what was started.
        assert not _has_pydantic(process.pid)
        command = _command_line(process.pid)
        assert command[1:3] == [b"-m", b"interleaf.gateway"]
        assert b"serve" in command and b"--profile" in command
        run = await openai_async(base_url, "sk-client-key-123", stream=True)
    finally:
        process.send_signal(signal.SIGTERM)
        output = await asyncio.to_thread(process.communicate, timeout=20)
    log = output[0].decode()
    assert process.returncode == 0, log
    assert not upstream.rejections, upstream.rejections
    assert_upstream_saw_all_thinking("openai-chat", "reasoning_content", upstream.requests)
    assert run.restored == [0, 1, 2]
    # One line per request, no key and no thinking in the log.
    assert log.count("POST /v1/chat/completions 200 ") == 3, log
    assert "restored=2 missing=0" in log
    assert "sk-client-key-123" not in log
    assert all(thought[:20] not in log for thought in THOUGHTS)
    assert (tmp_path / "thinking.db").exists()


def test_interleaf_serve_rejects_bad_flags(tmp_path: Path) -> None:
    env = {**os.environ, "INTERLEAF_HOME": str(tmp_path)}
    process = _serve(["--profile", "anthropic", "--ttl", "soon"], env)
    output, _ = process.communicate(timeout=20)
    assert process.returncode == 2
    assert "--ttl 'soon' is not a duration" in output.decode()


def _has_pydantic(pid: int) -> bool:
    return "pydantic_core" in Path(f"/proc/{pid}/maps").read_text()


def _command_line(pid: int) -> list[bytes]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")


async def test_interleaf_serve_here_keeps_the_clis_modules(tmp_path: Path) -> None:
    """The control for the check above: served in the CLI's own process, pydantic is there."""
    port = free_port()
    env = {**os.environ, "INTERLEAF_HOME": str(tmp_path / "home"), "INTERLEAF_SERVE_HERE": "1"}
    args = ["--profile", "deepseek", "--base-url", "http://127.0.0.1:9", "--port", str(port)]
    process = _serve([*args, "--store", f"sqlite:///{tmp_path}/thinking.db"], env)
    try:
        await _wait_healthy(f"http://127.0.0.1:{port}", process)
        assert _has_pydantic(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(process.communicate, timeout=20)
    assert process.returncode == 0


def test_interleaf_serve_reports_a_store_it_cannot_open(tmp_path: Path) -> None:
    """A failure after the hand-over reads as one before it did: one line, the CLI's exit status."""
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    env = {**os.environ, "INTERLEAF_HOME": str(tmp_path / "home")}
    args = ["--profile", "deepseek", "--base-url", "http://127.0.0.1:9", "--port", str(free_port())]
    process = _serve([*args, "--store", f"sqlite:///{blocked}/thinking.db"], env)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 2, output.decode()
    assert "interleaf serve: error: cannot open the thinking store" in output.decode()
    assert "Traceback" not in output.decode()


def test_the_gateway_module_is_not_started_by_hand() -> None:
    process = subprocess.run(
        [sys.executable, "-m", "interleaf.gateway"], capture_output=True, text=True, timeout=30
    )
    assert process.returncode == 2
    assert "started by `interleaf serve`" in process.stderr
