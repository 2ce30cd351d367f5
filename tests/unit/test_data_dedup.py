"""Near-duplicates (MinHash LSH), task groups, difficulty, domains and trace ranking."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from interleaf.data import difficulty
from interleaf.data.collect import collect
from interleaf.data.dedup import DedupConfig, near_duplicates, over_cap, signatures, similarity, task_groups
from interleaf.data.domains import tag
from interleaf.data.trace import BadCase, read_badcase, trace
from interleaf.transcript import Conversation, Message, Text, Thinking, conversation_to_json

BASE = (
    "The user wants the average order value for March. I will load orders.csv with pandas, filter the rows "
    "whose date falls in March, then divide the revenue column sum by the number of orders and round it to "
    "two decimals before answering."
)


def _variants() -> list[str]:
    return [
        BASE,
        BASE.replace("two decimals", "2 decimals"),  # one word changed: a near-duplicate
        BASE.replace("The user wants", "The request is for"),
        "Completely different reasoning about deploying the web service with docker compose and checking "
        "that the health endpoint answers before reporting success to the user in one sentence.",
    ]


def test_near_duplicate_thinking_keeps_the_first_and_names_it() -> None:
    config = DedupConfig()
    found = near_duplicates(["a", "b", "c", "d"], signatures(_variants(), config), config)
    assert found == {"b": "a", "c": "a"}


def test_threshold_decides_what_counts_as_near() -> None:
    strict = DedupConfig(thinking_threshold=1.0)
    assert near_duplicates(["a", "b"], signatures(_variants()[:2], strict), strict) == {}
    texts = [BASE, BASE]
    assert near_duplicates(["a", "b"], signatures(texts, strict), strict) == {"b": "a"}


def test_signatures_do_not_depend_on_the_batch_they_were_made_in() -> None:
    config = DedupConfig()
    together = signatures(_variants(), config)
    apart = [signatures([text], config)[0] for text in _variants()]
    assert together == apart
    assert signatures(["", "   "], config) == [None, None]
    first, second = together[0], together[1]
    assert first is not None and second is not None
    assert 0.6 < similarity(first, second) < 1.0


def test_task_groups_join_similar_tasks_and_shared_eval_task_ids() -> None:
    config = DedupConfig()
    tasks = [
        "Fix the failing test in test_math.py by correcting add() in mathlib.py please",
        "Fix the failing test in test_math.py by correcting add() in mathlib.py, please",
        "Write a haiku about autumn leaves falling on a quiet pond at dawn",
        "totally unrelated wording but the same eval task",
    ]
    groups = task_groups(
        ["a", "b", "c", "d"], signatures(tasks, config), [None, None, "needle|7", "needle|7"], config
    )
    assert groups == {"a": "a", "b": "a", "c": "c", "d": "c"}
    assert over_cap(["a", "b", "c", "d"], groups, 1) == {"b", "d"}
    assert over_cap(["a", "b", "c", "d"], groups, None) == set()


def test_difficulty_weights_the_components_it_has() -> None:
    easy = difficulty.components(steps=1, tools=0, tokens=100, judge_difficulty=1, pass_rate=1.0)
    hard = difficulty.components(steps=40, tools=8, tokens=50_000, judge_difficulty=5, pass_rate=0.0)
    assert difficulty.score(easy) == 0.0
    assert difficulty.score(hard) == 1.0
    partial = difficulty.components(steps=40, tools=8, tokens=50_000, judge_difficulty=None, pass_rate=None)
    assert set(partial) == {"steps", "tools", "tokens"}
    assert difficulty.score(partial) == 1.0


def _chat(task: str, thinking: str) -> Conversation:
    return Conversation(
        messages=(
            Message(role="user", blocks=(Text(text=task),)),
            Message(role="assistant", blocks=(Thinking(text=thinking), Text(text="done"))),
        )
    )


@pytest.mark.parametrize(
    ("task", "tools", "domain"),
    [
        ("Fix the bug in parser.py so the unit tests pass", ["shell", "write_file"], "coding"),
        ("Search the web for the latest Python release and give me the link", ["browser"], "browsing"),
        ("Compute the median of the price column in sales.csv", ["python"], "data"),
        ("Solve the equation 3x + 7 = 22 and prove the answer", [], "math"),
        ("Write an email to my landlord about the broken heating, polite tone", [], "writing"),
        ("Restart the nginx server and check the logs for errors on port 443", ["shell"], "ops"),
        ("hello there", [], "general"),
    ],
)
def test_domain_tags(task: str, tools: list[str], domain: str) -> None:
    assert tag(_chat(task, "Thinking about it."), tools)[0] == domain


def test_trace_ranks_the_dirty_row_first_and_says_why(tmp_path: Path) -> None:
    rows = [
        _chat(
            "Summarise the quarterly report", "The report file is missing but I will say sales grew steadily."
        ),
        _chat("List the files", "ls shows what is in the directory."),
        _chat("Compute 6 times 7", "Python prints 42 for 6 * 7."),
    ]
    source = tmp_path / "rows.jsonl"
    source.write_text("\n".join(json.dumps(conversation_to_json(c)) for c in rows) + "\n", encoding="utf-8")
    collect("jsonl", [source], tmp_path / "ds")
    bad = read_badcase("I could not read the report, but sales grew steadily this quarter.")
    assert bad == BadCase(answer="I could not read the report, but sales grew steadily this quarter.")
    matches, problems = trace(bad, tmp_path / "ds", top=2)
    assert problems == []
    assert len(matches) == 2
    assert matches[0].task == "Summarise the quarterly report"
    assert matches[0].score > matches[1].score
    assert any("sales grew steadily" in reason for reason in matches[0].why)
    assert any(reason.startswith("shares ") for reason in matches[0].why)
    # A whole trajectory as the bad case compares task with task and thinking with thinking.
    case = tmp_path / "bad.json"
    case.write_text(json.dumps(conversation_to_json(rows[2])), encoding="utf-8")
    matches, _ = trace(read_badcase(str(case)), tmp_path / "ds", top=1)
    assert matches[0].minhash == {"task": 1.0, "thinking": 1.0, "answer": 1.0}
