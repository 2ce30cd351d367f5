"""Suite-wide fixtures. The scripted model server lives in tests/support/scripted_server.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.scripted_server import ScriptedServer


@pytest.fixture
async def scripted_server() -> AsyncIterator[ScriptedServer]:
    """A started scripted model server with an empty script: ``scripted_server.enqueue(Step...)``."""
    async with ScriptedServer() as server:
        yield server
