"""The gateway's pieces on their own: settings, keys, restoration rules, SSE framing, metrics, errors.

No servers here; these pin down the rules the end-to-end tests rely on.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from interleaf.backends.errors import (
    BackendConnectionError,
    BackendHTTPError,
    BackendProtocolError,
    BackendStreamError,
    BackendTimeout,
    StreamCutError,
)
from interleaf.backends.profiles import BUILTIN_PROFILES, get_profile
from interleaf.gateway.auth import ANONYMOUS, Authenticator, client_key, load_keys
from interleaf.gateway.config import GatewayConfigError, ModelMap, ServeOptions, parse_duration, parse_size
from interleaf.gateway.errors import GatewayError, error_body, error_bytes, from_backend, stream_error_event
from interleaf.gateway.formats import decode_request, wire_index
from interleaf.gateway.metrics import MAX_SERIES, Metrics, user_agent_label
from interleaf.gateway.relay import complete_events
from interleaf.gateway.restore import candidates, carries_thinking, raw_needs_check, restore_turn
from interleaf.transcript import (
    Message,
    ReasoningDialect,
    RedactedThinking,
    Text,
    Thinking,
    ToolCall,
)

# ------------------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("30m", 1800), ("24h", 86400), ("7d", 604800), ("1.5h", 5400)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "-1h", "0", "5w"])
def test_bad_durations_name_the_flag(text: str) -> None:
    with pytest.raises(GatewayConfigError, match="--ttl"):
        parse_duration(text)


def test_sizes() -> None:
    assert parse_size("1048576") == 1048576
    assert parse_size("512k") == 512 * 1024
    assert parse_size("32m") == parse_size("32MiB") == 32 * 1024**2
    with pytest.raises(GatewayConfigError, match="--max-body"):
        parse_size("lots")


def test_model_map() -> None:
    mapping = ModelMap.parse(["claude-sonnet=MiniMax-M2", "*=fallback"])
    assert mapping.upstream("claude-sonnet") == "MiniMax-M2"
    assert mapping.upstream("anything") == "fallback"
    assert mapping.aliases == ["claude-sonnet"]
    assert ModelMap().upstream(None, "profile-default") == "profile-default"
    assert ModelMap().upstream("asked", "profile-default") == "asked"
    with pytest.raises(GatewayConfigError, match="CLIENT_MODEL=UPSTREAM_MODEL"):
        ModelMap.parse(["no-equals"])


def test_options_are_checked_at_start() -> None:
    profile = get_profile("anthropic")
    with pytest.raises(GatewayConfigError, match="--on-missing"):
        ServeOptions(profile=profile, on_missing="drop")  # type: ignore[arg-type]
    with pytest.raises(GatewayConfigError, match="--client-dialect"):
        ServeOptions(profile=profile, client_dialect=ReasoningDialect.ANTHROPIC)
    with pytest.raises(GatewayConfigError, match="--base-url"):
        ServeOptions(profile=get_profile("local"))


# ------------------------------------------------------------------------------------------ auth


def test_client_key_from_either_header() -> None:
    assert client_key({"x-api-key": " sk-a "}) == "sk-a"
    assert client_key({"authorization": "Bearer sk-b"}) == "sk-b"
    assert client_key({"authorization": "Basic abc"}) is None
    assert client_key({}) is None


def test_passthrough_identity() -> None:
    auth = Authenticator()
    assert auth.identify({"x-api-key": "sk-a"}).upstream_key == "sk-a"
    assert auth.identify({}).credential == ANONYMOUS


def test_keys_file(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text("gw-1 alice  # rotation\ngw-2 alice\n\ngw-3\n")
    assert load_keys(path) == {"gw-1": "alice", "gw-2": "alice", "gw-3": "key-4"}
    path.write_text("gw-1 alice\ngw-1 bob\n")
    with pytest.raises(GatewayConfigError, match="another tenant"):
        load_keys(path)
    path.write_text("# nothing\n")
    with pytest.raises(GatewayConfigError, match="no keys"):
        load_keys(path)
    with pytest.raises(GatewayConfigError, match="cannot read"):
        load_keys(tmp_path / "missing")


def test_managed_mode_needs_the_upstream_key(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text("gw-1 alice\n")
    with pytest.raises(GatewayConfigError, match="set DEEPSEEK_API_KEY"):
        Authenticator.from_options(path, "DEEPSEEK_API_KEY", True, env={})
    auth = Authenticator.from_options(path, "DEEPSEEK_API_KEY", True, env={"DEEPSEEK_API_KEY": "up"})
    identity = auth.identify({"authorization": "Bearer gw-1"})
    assert (identity.credential, identity.upstream_key) == ("managed:alice", "up")
    with pytest.raises(GatewayError) as refused:
        auth.identify({"x-api-key": "up"})
    assert refused.value.status == 401


# ---------------------------------------------------------------------------------- restoration

SIGNED = Thinking(text="plan", signature="sig", dialect=ReasoningDialect.ANTHROPIC)
CALL = ToolCall(id="call_1", name="ls", arguments={}, raw_arguments="{}")


def test_restore_turn_puts_each_block_back_where_it_was() -> None:
    second = Thinking(text="more", signature="sig2", dialect=ReasoningDialect.ANTHROPIC)
    stored = Message(role="assistant", blocks=(SIGNED, Text(text="I'll look."), second, CALL))
    incoming = Message(
        role="assistant",
        blocks=(Thinking(text="", dialect=ReasoningDialect.REASONING_CONTENT), Text(text="I'll look."), CALL),
        plain=True,
    )
    restored = restore_turn(incoming, stored)
    assert restored.blocks == stored.blocks
    assert restored.plain  # an OpenAI string content stays a string
    trailing = Message(role="assistant", blocks=(Text(text="a"), SIGNED))
    assert (
        restore_turn(Message(role="assistant", blocks=(Text(text="a"),)), trailing).blocks == trailing.blocks
    )


@pytest.mark.parametrize(
    ("blocks", "dialect", "carried"),
    [
        ((), ReasoningDialect.ANTHROPIC, False),
        ((SIGNED,), ReasoningDialect.ANTHROPIC, True),
        ((Thinking(text="plan"),), ReasoningDialect.ANTHROPIC, False),
        ((Thinking(text="plan", signature=""),), ReasoningDialect.ANTHROPIC, False),
        ((RedactedThinking(data="x"),), ReasoningDialect.ANTHROPIC, True),
        ((Thinking(text="plan"),), ReasoningDialect.REASONING_CONTENT, True),
        ((Thinking(text=" "),), ReasoningDialect.REASONING_CONTENT, False),
        ((Thinking(text="plan"),), ReasoningDialect.REASONING_DETAILS, False),
        (
            (Thinking(text="plan", item={"type": "reasoning.text", "text": "plan"}),),
            ReasoningDialect.REASONING_DETAILS,
            True,
        ),
    ],
)
def test_carries_thinking(blocks: tuple[Any, ...], dialect: ReasoningDialect, carried: bool) -> None:
    assert carries_thinking(Message(role="assistant", blocks=(*blocks, Text(text="x"))), dialect) is carried


ANTHROPIC_TURNS: list[Any] = [
    "plain text",
    [{"type": "text", "text": "x"}],
    [{"type": "thinking", "thinking": "t", "signature": "s"}, {"type": "text", "text": "x"}],
    [{"type": "thinking", "thinking": "t"}, {"type": "text", "text": "x"}],
    [{"type": "thinking", "thinking": "t", "signature": ""}],
    [{"type": "redacted_thinking", "data": "d"}, {"type": "tool_use", "id": "t1", "name": "n", "input": {}}],
]
OPENAI_TURNS: list[dict[str, Any]] = [
    {"content": "x"},
    {"content": "x", "reasoning_content": "r"},
    {"content": "x", "reasoning_content": ""},
    {"content": "x", "reasoning": "r"},
    {"content": "<think>r</think>x"},
    {"content": "<think> </think>x"},
    {"content": "x", "reasoning_details": [{"type": "reasoning.text", "text": "r"}]},
    {"content": "<think>r</think>x", "reasoning_details": [{"type": "reasoning.text", "text": "r"}]},
    {"content": "x", "reasoning_details": [{"type": "reasoning.encrypted", "data": "e"}], "reasoning": "r"},
]


@pytest.mark.parametrize("dialect", [None, *ReasoningDialect])
def test_the_raw_prefilter_never_skips_a_turn_that_needs_a_lookup(dialect: ReasoningDialect | None) -> None:
    """When the wire-level scan says 'all carry their thinking', decoding finds no candidate."""
    cases: list[tuple[str, dict[str, Any]]] = []
    for content in ANTHROPIC_TURNS:
        messages = [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": content},
            {"role": "user", "content": "q"},
        ]
        cases.append(("anthropic", {"model": "m", "messages": messages}))
    for turn in OPENAI_TURNS:
        messages = [
            {"role": "user", "content": "q"},
            {"role": "assistant", **turn},
            {"role": "user", "content": "q"},
        ]
        cases.append(("openai-chat", {"model": "m", "messages": messages}))
    for fmt, body in cases:
        if fmt == "anthropic" and dialect not in (None, ReasoningDialect.ANTHROPIC):
            continue  # a same-format check: Anthropic clients meet Anthropic upstreams here
        if fmt == "openai-chat" and dialect is ReasoningDialect.ANTHROPIC:
            continue
        if not raw_needs_check(fmt, body, dialect):  # type: ignore[arg-type]
            assert candidates(decode_request(fmt, body), dialect) == [], (fmt, body)  # type: ignore[arg-type]


def test_no_candidates_when_thinking_is_off_or_the_turn_is_a_prefill() -> None:
    body = {
        "model": "m",
        "thinking": {"type": "disabled"},
        "messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "a"},
            {"role": "user", "content": "q"},
        ],
    }
    assert candidates(decode_request("anthropic", body), ReasoningDialect.ANTHROPIC) == []
    assert not raw_needs_check("anthropic", body, ReasoningDialect.ANTHROPIC)
    prefill = {
        "model": "m",
        "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "{"}],
    }
    assert candidates(decode_request("anthropic", prefill), ReasoningDialect.ANTHROPIC) == []


def test_wire_index_follows_folded_tool_messages_and_item_runs() -> None:
    raw = {
        "messages": [
            {"role": "system"},
            {"role": "user"},
            {"role": "assistant"},
            {"role": "tool"},
            {"role": "tool"},
            {"role": "assistant"},
        ]
    }
    assert [wire_index("openai-chat", raw, i) for i in range(5)] == [
        f"messages[{p}]" for p in (0, 1, 2, 3, 5)
    ]
    assert wire_index("anthropic", raw, 4) == "messages[4]"
    items = {
        "input": [
            {"role": "developer", "content": "d"},
            {"role": "user", "content": "u"},
            {"type": "reasoning", "summary": []},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"type": "function_call", "call_id": "c2", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "x"},
            {"type": "function_call_output", "call_id": "c2", "output": "y"},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "t"}]},
        ]
    }
    assert [wire_index("openai-responses", items, i) for i in range(5)] == [
        f"input[{p}]" for p in (0, 1, 2, 5, 7)
    ]


# ------------------------------------------------------------------------------------------- SSE


@pytest.mark.parametrize(
    ("data", "end"),
    [
        (b"", 0),
        (b"data: {}", 0),
        (b"data: {}\n\n", 10),
        (b"data: 1\n\ndata: 2", 9),
        (b"data: 1\r\n\r\ndata: 2\r\n", 11),
        (b"data: 1\r\rdata", 9),
    ],
)
def test_complete_events(data: bytes, end: int) -> None:
    assert complete_events(data) == end


# --------------------------------------------------------------------------------------- metrics


def test_exposition_and_bounded_labels() -> None:
    metrics = Metrics()
    metrics.requests.inc("/v1/messages", "200")
    metrics.restored.inc("abc", 'we"ird\\agent', amount=2)
    metrics.duration.observe("/v1/messages", 0.003)
    text = metrics.expose()
    assert 'interleaf_requests_total{endpoint="/v1/messages",status="200"} 1' in text
    assert 'interleaf_turns_restored_total{tenant="abc",user_agent="we\\"ird\\\\agent"} 2' in text
    assert 'interleaf_request_duration_seconds_bucket{endpoint="/v1/messages",le="0.0025"} 0' in text
    assert 'interleaf_request_duration_seconds_bucket{endpoint="/v1/messages",le="0.005"} 1' in text
    assert 'interleaf_request_duration_seconds_count{endpoint="/v1/messages"} 1' in text
    assert "# TYPE interleaf_active_streams gauge" in text
    for i in range(MAX_SERIES + 5):
        metrics.missing.inc(f"t{i}", "ua")
    assert len(metrics.missing.values) == MAX_SERIES + 1
    assert metrics.missing.value("other", "other") == 5


@pytest.mark.parametrize(
    ("agent", "label"),
    [
        ("Anthropic/Python 0.40.0", "Anthropic/Python"),
        ("AsyncOpenAI/Python 1.50", "AsyncOpenAI/Python"),
        ("claude-cli/2.0.1 (external, cli)", "claude-cli"),
        (None, "unknown"),
        ("   ", "other"),
    ],
)
def test_user_agent_label(agent: str | None, label: str) -> None:
    assert user_agent_label(agent) == label


# ---------------------------------------------------------------------------------------- errors


def test_error_bodies_in_each_format() -> None:
    error = GatewayError(413, "too big", code="request_too_large")
    assert error_body("anthropic", error) == {
        "type": "error",
        "error": {"type": "request_too_large", "message": "too big"},
    }
    assert error_body("openai-chat", error) == {
        "error": {
            "message": "too big",
            "type": "invalid_request_error",
            "param": None,
            "code": "request_too_large",
        }
    }
    event = stream_error_event("anthropic", error).decode()
    assert event.startswith("event: error\ndata: ") and event.endswith("\n\n")
    assert stream_error_event("openai-chat", error).startswith(b'data: {"error"')
    passthrough = GatewayError(500, "x", body=b'{"raw": 1}', body_format="anthropic")
    assert error_bytes("anthropic", passthrough) == b'{"raw": 1}'
    assert json.loads(error_bytes("openai-chat", passthrough))["error"]["message"] == "x"


@pytest.mark.parametrize(
    ("exc", "status", "kind"),
    [
        (BackendHTTPError(429, "slow down", url="http://u", headers={"retry-after": "2"}), 429, "http"),
        (BackendStreamError("overloaded_error", "busy", url="http://u"), 502, "stream"),
        (BackendTimeout("http://u", "first_byte", 1.0), 504, "timeout"),
        (StreamCutError("http://u", "closed"), 502, "cut"),
        (BackendConnectionError("http://u", "refused"), 502, "connection"),
        (BackendProtocolError("http://u", "not JSON"), 502, "protocol"),
    ],
)
def test_backend_errors_map_to_statuses(exc: Any, status: int, kind: str) -> None:
    error = from_backend(exc, "anthropic")
    assert (error.status, error.kind) == (status, kind)
    if kind == "http":
        assert error.headers == {"retry-after": "2"}


def test_serve_flags_become_one_options_object_and_bad_ones_name_the_flag(tmp_path: Path) -> None:
    from interleaf.backends.errors import BackendConfigError
    from interleaf.cli.serve import log_level_number, serve_options

    config = tmp_path / "config.toml"
    config.write_text(
        '[profiles.gpu-box]\nbase = "vllm"\nbase_url = "http://10.0.0.5:8000/v1"\nthinking_dialect = "think_tags"\n'
        '[profiles.azure]\nbase = "vllm"\nbase_url = "https://acme.openai.azure.com/openai/v1"\nopenai_strict = true\n'
        '[profiles.quiet]\nbase = "openai-responses"\nreasoning_summary = "off"\n'
        '[profiles.detailed]\nbase = "openai-responses"\nreasoning_summary = "detailed"\n'
    )
    options = serve_options(
        profile="deepseek", model_map=["a=b"], ttl="1h", store="redis://:pw@h:6379/0", config=config
    )
    assert (options.ttl, options.model_map.upstream("a")) == (3600.0, "b")
    assert options.profile.thinking_dialect is ReasoningDialect.REASONING_CONTENT
    # A profile defined in the config file, and the flag that says how the upstream takes thinking back.
    box = serve_options(profile="gpu-box", config=config)
    assert (box.profile.name, box.profile.base_url) == ("gpu-box", "http://10.0.0.5:8000/v1")
    assert box.profile.thinking_dialect is ReasoningDialect.THINK_TAGS
    # A server as strict as OpenAI's own API, said in the file.
    assert serve_options(profile="azure", config=config).profile.openai_strict is True
    assert box.profile.openai_strict is False
    # A reasoning model on OpenAI's Chat API loses its reasoning there: said at start, with the way out.
    (advice,) = serve_options(profile="openai", model_map=["*=gpt-5", "fast=gpt-4.1"]).advice()
    assert advice.startswith("gpt-5 on OpenAI's Chat Completions API") and "-p openai-responses" in advice
    assert serve_options(profile="openai", model_map=["*=gpt-4.1"]).advice() == []
    assert serve_options(profile="openai-responses", model_map=["*=gpt-5"]).advice() == []
    assert serve_options(profile="vllm", model_map=["*=gpt-oss-120b"]).advice() == []  # vLLM keeps it
    # Reasoning summaries: asked for by default on the Responses profile; off, or another kind, in the file.
    assert serve_options(profile="openai-responses").profile.reasoning_summary == "auto"
    assert serve_options(profile="quiet", config=config).profile.reasoning_summary is None
    assert serve_options(profile="detailed", config=config).profile.reasoning_summary == "detailed"
    assert serve_options(profile="deepseek", capture_backlog_bytes="8m").capture_backlog_bytes == 8 * 2**20
    assert serve_options(profile="deepseek", upstream_keepalive=30).upstream_keepalive == 30
    assert serve_options(profile="deepseek", upstream_idle_connections=8).upstream_idle_connections == 8
    vllm = serve_options(profile="vllm", thinking_dialect="think_tags", config=config)
    assert vllm.profile.thinking_dialect is ReasoningDialect.THINK_TAGS
    for bad, flag in (
        ({"client_dialect": "anthropic"}, "--client-dialect"),
        ({"on_missing": "drop"}, "--on-missing"),
        ({"idle_timeout": 0.0}, "--idle-timeout"),
        ({"header_timeout": -1.0}, "--header-timeout"),
        ({"upstream_keepalive": -1.0}, "--upstream-keepalive"),
        ({"upstream_idle_connections": -1}, "--upstream-idle-connections"),
        ({"max_body": "huge"}, "--max-body"),
        ({"capture_backlog_bytes": "0"}, "--capture-backlog-bytes"),
        ({"thinking_dialect": "anthropic"}, "--thinking-dialect"),
    ):
        with pytest.raises((GatewayConfigError, BackendConfigError), match=flag):
            serve_options(profile="deepseek", config=config, **bad)
    with pytest.raises(BackendConfigError, match="gpu-box"):
        serve_options(profile="gpu-boks", config=config)
    with pytest.raises(GatewayConfigError, match="--log-level"):
        log_level_number("loud")


@pytest.mark.parametrize("name", sorted(BUILTIN_PROFILES))
def test_serve_hands_over_options_of_every_built_in_profile(name: str, tmp_path: Path) -> None:
    """``interleaf serve`` hands its resolved options to a fresh interpreter (gateway/server.py,
    ``serve``): every built-in profile, its read-only mappings and its reply-error function included,
    must come back equal."""
    import pickle

    from interleaf.cli.serve import serve_options
    from interleaf.gateway.server import handover_payload

    options = serve_options(
        profile=name, base_url="http://127.0.0.1:9/v1", store=f"sqlite:///{tmp_path}/t.db", model_map=["a=b"]
    )
    payload = handover_payload(options, logging.DEBUG)
    assert payload is not None
    assert pickle.loads(payload) == (options, logging.DEBUG)


def test_options_that_do_not_pickle_are_served_in_place() -> None:
    from dataclasses import replace

    from interleaf.cli.serve import serve_options
    from interleaf.gateway.server import handover_payload

    options = serve_options(profile="deepseek")
    odd = replace(options, profile=replace(options.profile, reply_error=lambda data: None))
    assert handover_payload(odd, logging.INFO) is None
