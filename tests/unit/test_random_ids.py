"""Which tool-call ids count as randomly minted (store/fingerprint.py, ``looks_random``).

A turn whose ids are random is keyed on its calls alone, so an app that rebuilds the text around a call
(Qwen Code after compacting) still gets its thinking back; any other turn is bound to the conversation
before it. The two mistakes cost differently: calling a random id numbered loses a restore after a
rebuild; calling a numbered id random could restore another conversation's thinking. So ids are drawn
here the way each server mints them, and numbered ids the way servers and apps number them.
"""

from __future__ import annotations

import random
import string
import uuid
from collections.abc import Callable

import pytest

from interleaf.store.fingerprint import has_distinctive_ids, looked_random_before, looks_random
from interleaf.transcript import Message, ToolCall

BASE62 = string.ascii_letters + string.digits
BASE36 = string.ascii_lowercase + string.digits


def _draw(rng: random.Random, alphabet: str, size: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(size))


# How each server mints ids (shapes seen in their replies).
MINTERS: dict[str, Callable[[random.Random], str]] = {
    "anthropic": lambda rng: "toolu_01" + _draw(rng, BASE62, 22),
    "openai": lambda rng: "call_" + _draw(rng, BASE62, 24),
    "minimax": lambda rng: f"call_function_{_draw(rng, BASE36, 12)}_1",
    "glm": lambda rng: f"call_-{rng.randrange(10**18, 2**63)}",
    "vllm": lambda rng: f"chatcmpl-tool-{uuid.UUID(int=rng.getrandbits(128), version=4).hex}",
    "sglang": lambda rng: "call_" + uuid.UUID(int=rng.getrandbits(128), version=4).hex[:24],
}

SAMPLES = 20_000


@pytest.mark.parametrize("server", sorted(MINTERS))
def test_every_id_a_server_mints_at_random_counts_as_random(server: str) -> None:
    rng = random.Random(f"ids-{server}")
    ids = [MINTERS[server](rng) for _ in range(SAMPLES)]
    missed = [call_id for call_id in ids if not looks_random(call_id, "list_files")]
    assert missed == []


def test_the_rule_before_missed_ids_without_digits_or_letters() -> None:
    """What the widened rule fixes, measured on the same draws: before it, every GLM id and some
    OpenAI and MiniMax ids were taken for numbered ones."""
    missed_before: dict[str, float] = {}
    for server in ("openai", "minimax", "glm"):
        rng = random.Random(f"ids-{server}")
        turns = [_turn(MINTERS[server](rng)) for _ in range(SAMPLES)]
        missed_before[server] = sum(not looked_random_before(t) for t in turns) / SAMPLES
    assert missed_before["glm"] == 1.0
    assert 0.005 < missed_before["openai"] < 0.03  # (52/62)^24: 1.5%
    assert 0.01 < missed_before["minimax"] < 0.04  # (26/36)^12: 2.0%


@pytest.mark.parametrize(
    ("call_id", "name"),
    [
        ("call_function_xydyovpivyrn_1", "glob"),  # MiniMax, no digit
        ("call_-7947991322826442284", "explore"),  # GLM
        ("call_DdmOpDxaXTPNJzghcAbQwErT", "read"),  # OpenAI, no digit
        ("call_8euvktt1r7y4", "bash"),
        ("chatcmpl-tool-3f2a9c1e5b7d4e0f8a6b", "bash"),
    ],
)
def test_ids_seen_from_servers_are_random(call_id: str, name: str) -> None:
    assert looks_random(call_id, name)
    assert has_distinctive_ids(_turn(call_id, name))


@pytest.mark.parametrize(
    ("call_id", "name"),
    [
        ("call_0", "bash"),
        ("functions.bash:0", "bash"),
        # Kimi numbers calls after the tool's name, which can be a long word of its own.
        ("functions.getCurrentWeatherData:0", "getCurrentWeatherData"),
        ("functions.get_current_weather_forecast:3", "get_current_weather_forecast"),
        ("tool_GetCurrentWeatherData_0", "get_current_weather_data"),
        ("functioncalltoolinvocation_1", "bash"),  # made of the words ids are made of
        ("function-call-1718000000", "bash"),  # Unix time in seconds
        ("call_1718000000123", "bash"),  # and in milliseconds
        ("call_0000000000000001", "bash"),  # a zero-padded counter
        ("call_aaaaaaaaaaaaaaaaaaab", "bash"),
        ("call_function_3679004591_1", "bash"),  # 10 digits: not told from a Unix time
        ("", "bash"),
    ],
)
def test_numbered_ids_are_not_random(call_id: str, name: str) -> None:
    assert not looks_random(call_id, name)
    assert not has_distinctive_ids(_turn(call_id, name))


def test_every_call_of_a_turn_needs_a_random_id() -> None:
    calls = (
        ToolCall(id="call_-7947991322826442284", name="read", arguments={}),
        ToolCall(id="functions.read:1", name="read", arguments={}),
    )
    assert not has_distinctive_ids(Message(role="assistant", blocks=calls))


def _turn(call_id: str, name: str = "list_files") -> Message:
    return Message(role="assistant", blocks=(ToolCall(id=call_id, name=name, arguments={"path": "."}),))
