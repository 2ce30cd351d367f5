"""Suite-wide fixtures. The scripted model server lives in tests/support/scripted_server.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.support.redis_server import RedisServer
from tests.support.scripted_server import ScriptedServer


@pytest.fixture
async def scripted_server() -> AsyncIterator[ScriptedServer]:
    """A started scripted model server with an empty script: ``scripted_server.enqueue(Step...)``."""
    async with ScriptedServer() as server:
        yield server


@pytest.fixture
def upstream(scripted_server: ScriptedServer) -> ScriptedServer:
    """The scripted server in its gateway role: the model server behind the gateway under test."""
    return scripted_server


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A real redis-server on a free loopback port, stopped after the test (tests/support/redis_server.py)."""
    with RedisServer(tmp_path / "redis") as server:
        yield server
