"""The cleaning rules on hand-written trajectories: every rule catches its bad case, clean ones pass untouched."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from interleaf.data import text as tx
from interleaf.data.errors import RulesConfigError
from interleaf.data.rules import BUILTIN, RuleSet, load_rules_config
from interleaf.data.rules.secrets import Scrubber
from interleaf.transcript import (
    Conversation,
    Message,
    ReasoningDialect,
    Text,
    Thinking,
    conversation_from_json,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "data"


def _cases(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (FIXTURES / name).read_text(encoding="utf-8").splitlines()]


BAD = _cases("bad_cases.jsonl")
CLEAN = _cases("clean_cases.jsonl")


def test_every_builtin_rule_has_a_bad_case() -> None:
    assert {case["rule"] for case in BAD} == set(BUILTIN)


@pytest.mark.parametrize("case", BAD, ids=[f"{c['rule']}: {c['why']}" for c in BAD])
def test_each_rule_catches_its_bad_case(case: dict[str, Any]) -> None:
    checked = RuleSet().apply(conversation_from_json(case["transcript"]))
    fired = {hit.rule for hit in checked.hits}
    assert case["rule"] in fired, checked.hits
    assert fired <= {case["rule"], *case.get("also", [])}, checked.hits
    expected_action = BUILTIN[case["rule"]].action
    assert all(hit.action == expected_action for hit in checked.hits if hit.rule == case["rule"])


@pytest.mark.parametrize("case", CLEAN, ids=[c["name"] for c in CLEAN])
def test_clean_trajectories_pass_untouched(case: dict[str, Any]) -> None:
    conversation = conversation_from_json(case["transcript"])
    checked = RuleSet().apply(conversation)
    assert checked.hits == []
    assert checked.scrubbed == 0
    assert checked.conversation == conversation


def test_secrets_are_scrubbed_everywhere_and_the_edited_block_loses_its_signature() -> None:
    case = next(c for c in BAD if c["rule"] == "secrets")
    checked = RuleSet().apply(conversation_from_json(case["transcript"]))
    everything = "\n".join(tx.iter_texts(checked.conversation))
    assert "sk-ant-api03" not in everything
    assert "alice.smith@corp-mail.com" not in everything
    assert "[REDACTED:api_key]" in everything
    assert "[REDACTED:email]" in everything
    assert checked.scrubbed == 3
    assert checked.dropped_by == []
    first, second = (m for m in checked.conversation.messages if m.role == "assistant")
    edited = first.blocks[0]
    untouched = second.blocks[0]
    assert isinstance(edited, Thinking)
    assert edited.signature is None, (
        "a scrubbed thinking block must not keep a signature that no longer matches"
    )
    assert isinstance(untouched, Thinking)
    assert untouched.text == "grep found exactly one api_key line in config.toml."


def test_a_reasoning_details_item_is_scrubbed_too() -> None:
    item = {
        "type": "reasoning.text",
        "text": "token=hunter2hunter2 is in .env",
        "format": "MiniMax-response-v1",
    }
    block = Thinking(text=item["text"], dialect=ReasoningDialect.REASONING_DETAILS, item=item)
    conversation = Conversation(messages=(Message(role="assistant", blocks=(block,)),))
    scrubbed = Scrubber().conversation(conversation).messages[0].blocks[0]
    assert isinstance(scrubbed, Thinking)
    assert scrubbed.text == "token=[REDACTED:password] is in .env"
    assert scrubbed.item == {**item, "text": "token=[REDACTED:password] is in .env"}


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("key AKIAIOSFODNN7EXAMPLE here", {"api_key": 1}),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", {"private_key": 1}),
        ("Authorization: Bearer abcdefghijklmnopqrstuvwxyz012345", {"bearer": 1}),
        ("call me on +44 20 7946 0958 or (212) 555-0175", {"phone": 2}),
        ("card 4111 1111 1111 1111", {"credit_card": 1}),
        ("the server 8.8.8.8 answered", {"ip": 1}),
        ("write to bob@example.com or 127.0.0.1:8080 or 192.168.1.20", {}),
        ("build 4111 1111 1111 1112 and timestamp 1733328000000", {}),
        ("max_tokens=4096 and version 2.4.1", {}),
    ],
)
def test_scrubber_finds_personal_data_and_leaves_look_alikes(text: str, found: dict[str, int]) -> None:
    assert dict(Scrubber().find(text)) == found


def test_a_flag_action_keeps_the_row_and_records_the_hit(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text('[rules.thinking-absent]\naction = "flag"\n', encoding="utf-8")
    case = next(c for c in BAD if c["rule"] == "thinking-absent")
    checked = RuleSet.from_file(rules).apply(conversation_from_json(case["transcript"]))
    assert [(h.rule, h.action) for h in checked.hits] == [("thinking-absent", "flag")]
    assert checked.dropped_by == []


def test_parameters_change_what_a_rule_accepts(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text("[rules.length-out-of-range]\nmin_tokens = 2\n", encoding="utf-8")
    case = next(c for c in BAD if c["rule"] == "length-out-of-range")
    assert RuleSet.from_file(rules).apply(conversation_from_json(case["transcript"])).hits == []


def test_custom_pattern_rules(tmp_path: Path) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text(
        json.dumps(
            {"custom": [{"name": "no-wc", "pattern": r"wc -l", "where": "thinking", "action": "drop"}]}
        ),
        encoding="utf-8",
    )
    rule_set = RuleSet.from_file(rules)
    csv = conversation_from_json(next(c for c in CLEAN if c["name"] == "csv-rows")["transcript"])
    product = conversation_from_json(next(c for c in CLEAN if c["name"] == "python-product")["transcript"])
    assert rule_set.apply(csv).dropped_by == ["no-wc"]
    assert rule_set.apply(product).hits == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[rules.no-such-rule]\naction = 'drop'\n", "[rules.no-such-rule]: no such rule"),
        ("[rules.secrets]\naction = 'explode'\n", "[rules.secrets].action: 'explode'"),
        ("[rules.redundant-thinking]\nratio = 0.3\n", "[rules.redundant-thinking].ratio: no such parameter"),
        ("[rules.redundant-thinking]\nmax_ratio = 'high'\n", "max_ratio: expected float"),
        ("[[custom]]\nname = 'x'\npattern = '('\n", "pattern: not a valid regular expression"),
        ("[rules\n", "not valid TOML"),
    ],
)
def test_a_bad_rules_file_names_the_file_and_the_key(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(RulesConfigError) as error:
        load_rules_config(path, BUILTIN)
    assert str(path) in str(error.value)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_redundancy_ratio_counts_only_restated_output() -> None:
    restating = next(c for c in BAD if c["rule"] == "redundant-thinking")
    conversation = conversation_from_json(restating["transcript"])
    # The same trajectory with thinking that interprets the output instead of copying it passes.
    messages = list(conversation.messages)
    last = messages[-1]
    messages[-1] = last.with_blocks(
        (
            Thinking(text="All replicas are ready and nothing is rolling out, so the deployment is healthy."),
            Text(text="ok"),
        )
    )
    assert RuleSet().apply(conversation.with_messages(messages)).hits == []
