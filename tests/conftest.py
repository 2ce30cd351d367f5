"""Suite-wide fixtures. The scripted model server lives in tests/support/scripted_server.py."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.support.redis_server import RedisServer
from tests.support.scripted_server import ScriptedServer


def pytest_configure(config: pytest.Config) -> None:
    # Tests send Ctrl-C to the CLIs they start. A suite started in the background (`make test &`)
    # inherits SIGINT ignored, and so would every process it starts; give them the default action.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


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
def store_url(tmp_path: Path) -> str:
    """A SQLite thinking store of the test's own, for a gateway under test."""
    return f"sqlite:///{tmp_path}/thinking.db"


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A real redis-server on a free loopback port, stopped after the test (tests/support/redis_server.py)."""
    with RedisServer(tmp_path / "redis") as server:
        yield server
