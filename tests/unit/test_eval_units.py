"""The pieces of ``interleaf eval`` on their own: conditions, context policies, statistics, result files,
the needle generator and grader, and BFCL's adapters."""

from __future__ import annotations

import json
import random
from math import comb
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from interleaf.agent.events import Finished
from interleaf.eval.conditions import filter_thinking, parse_conditions
from interleaf.eval.context_policy import ContextPolicy, parse_context_policy, split_history
from interleaf.eval.results import ResultsError, ResultsFile, TrialMetrics, TrialRecord, write_run
from interleaf.eval.spec import SuiteError, TurnResult
from interleaf.eval.stats import bootstrap_mean, largest_differences, paired_delta, pass_hat_k, task_rates
from interleaf.eval.suites.bfcl import call_string, decode_turns
from interleaf.eval.suites.needle import NeedleSuite, build_puzzle, grade_needle, prompt_text
from interleaf.eval.trial import trial_seed
from interleaf.transcript import Conversation, Message, Text, Thinking, ToolCall, ToolResult


def assistant(thought: str, text: str = "", calls: tuple[ToolCall, ...] = ()) -> Message:
    blocks: list[Thinking | Text | ToolCall] = [Thinking(text=thought, signature="sig")]
    if text:
        blocks.append(Text(text=text))
    return Message(role="assistant", blocks=(*blocks, *calls))


def user(text: str) -> Message:
    return Message(role="user", blocks=(Text(text=text),))


def tool(call_id: str, text: str) -> Message:
    return Message(role="tool", blocks=(ToolResult(call_id=call_id, content=text),))


CALL = ToolCall(id="c1", name="read_page", arguments={"page": 1})
HISTORY = Conversation(
    messages=(
        user("task one"),
        assistant("first thought", calls=(CALL,)),
        tool("c1", "page"),
        assistant("second thought", "done"),
        user("task two"),
        assistant("third thought", calls=(ToolCall(id="c2", name="read_page", arguments={"page": 2}),)),
        tool("c2", "page two"),
    )
)


def thoughts(conversation: Conversation) -> list[str]:
    return [b.text for m in conversation.messages for b in m.thinking if isinstance(b, Thinking)]


def test_conditions_change_only_which_thinking_is_sent() -> None:
    assert filter_thinking(HISTORY, "keep") is HISTORY
    assert thoughts(filter_thinking(HISTORY, "drop")) == []
    assert thoughts(filter_thinking(HISTORY, "restored")) == []
    assert thoughts(filter_thinking(HISTORY, "current-loop")) == ["third thought"]
    dropped = filter_thinking(HISTORY, "drop")
    # Everything but thinking is untouched: same messages, same calls, same text, same order.
    assert [m.role for m in dropped.messages] == [m.role for m in HISTORY.messages]
    assert [c for m in dropped.messages for c in m.tool_calls] == [
        c for m in HISTORY.messages for c in m.tool_calls
    ]
    assert dropped.messages[3].text == "done"


def test_condition_names_are_checked() -> None:
    assert parse_conditions("keep, drop,keep,current-loop") == ["keep", "drop", "current-loop"]
    with pytest.raises(ValueError, match="unknown condition 'dropp'; choose from keep, drop, restored"):
        parse_conditions("keep,dropp")
    with pytest.raises(ValueError, match="no condition"):
        parse_conditions(" , ")


def test_context_policies_parse_with_clear_errors() -> None:
    assert parse_context_policy("full") == ContextPolicy()
    assert parse_context_policy("window:8k") == ContextPolicy("window", 8192)
    assert parse_context_policy("summary").kind == "summary"
    assert parse_context_policy("summary:3000") == ContextPolicy("summary", 3000)
    for bad, message in (
        ("window", "needs a size"),
        ("window:abc", "not a token count"),
        ("trim:5", "not a policy"),
    ):
        with pytest.raises(ValueError, match=message):
            parse_context_policy(bad)


@given(
    st.lists(st.integers(min_value=1, max_value=400), min_size=1, max_size=12),
    st.integers(min_value=50, max_value=2000),
)
def test_a_window_keeps_the_opening_and_never_orphans_tool_results(sizes: list[int], budget: int) -> None:
    messages: list[Message] = [user("task")]
    for index, size in enumerate(sizes):
        call = ToolCall(id=f"c{index}", name="read_page", arguments={"page": index})
        messages += [assistant("t" * size, calls=(call,)), tool(f"c{index}", "x" * size)]
    head, start = split_history(messages, budget)
    assert head == 1
    assert start >= head
    assert start == len(messages) or messages[start].role != "tool"
    if start > head:
        assert start <= len(messages) - 2  # the latest step is always sent


def test_pass_hat_k_is_tau_bench_estimator() -> None:
    assert pass_hat_k(4, 4, 4) == 1.0
    assert pass_hat_k(3, 4, 4) == 0.0
    assert pass_hat_k(3, 4, 2) == comb(3, 2) / comb(4, 2)
    assert pass_hat_k(5, 8, 1) == 5 / 8
    with pytest.raises(ValueError, match="needs at least 4 trials"):
        pass_hat_k(1, 2, 4)


def test_bootstrap_intervals_are_deterministic_and_contain_the_mean() -> None:
    values = [random.Random(1).random() for _ in range(40)]
    first, again = bootstrap_mean(values), bootstrap_mean(values)
    assert first == again
    assert first.low <= first.value <= first.high
    assert bootstrap_mean([1.0] * 5) == bootstrap_mean([1.0] * 5)
    assert bootstrap_mean([1.0] * 5).low == 1.0


def record(
    task: str, condition: str, passed: bool, trial: int = 0, outcome: str | None = None
) -> TrialRecord:
    return TrialRecord(
        key=f"s/{task}/{condition}/full/{trial}",
        suite="s",
        suite_version="1",
        task=task,
        condition=condition,
        context_policy="full",
        trial=trial,
        seed=1,
        model="m",
        profile="p",
        endpoint="e",
        interleaf_version="0",
        outcome=outcome or ("pass" if passed else "fail"),  # type: ignore[arg-type]
        detail="",
        metrics=TrialMetrics(steps=2),
        session_id=None,
    )


def test_paired_deltas_and_largest_differences() -> None:
    records = [record(f"t{i}", "keep", True) for i in range(4)]
    records += [record("t0", "drop", False), record("t1", "drop", False), record("t2", "drop", True)]
    records += [record("t3", "drop", False, outcome="error")]
    assert task_rates(records)["drop"] == {"t0": (0, 1), "t1": (0, 1), "t2": (1, 1)}
    delta = paired_delta(records, "drop", "keep")
    assert delta.tasks == 3
    assert delta.delta.value == pytest.approx(-2 / 3)
    assert [row["task"] for row in largest_differences(records, "keep")] == ["t0", "t1"]


def test_result_records_round_trip_and_cut_lines_are_skipped(tmp_path: Path) -> None:
    results = ResultsFile(tmp_path)
    first = record("t0", "keep", True)
    results.append(first)
    with results.path.open("a") as handle:
        handle.write('{"key": "cut in the mid')  # a crash mid-line
    assert list(results) == [first]
    assert json.loads(results.path.read_text().splitlines()[0])["outcome"] == "pass"


def test_a_run_directory_refuses_another_experiment(tmp_path: Path) -> None:
    run = {
        "suite": "needle",
        "suite_version": "1",
        "profile": "p",
        "model": "a",
        "endpoint": "e",
        "seed": 0,
        "mode": "lightning",
    }
    write_run(tmp_path, {**run, "conditions": ["keep"]})
    write_run(tmp_path, {**run, "conditions": ["drop"]})
    assert json.loads((tmp_path / "run.json").read_text())["conditions"] == ["keep", "drop"]
    with pytest.raises(ResultsError, match=r"holds another run \(model 'a' \(now 'b'\)\); pass a new --out"):
        write_run(tmp_path, {**run, "model": "b"})


def test_trial_seeds_pair_conditions_and_differ_between_trials() -> None:
    assert trial_seed(0, "t", 0) == trial_seed(0, "t", 0)
    assert len({trial_seed(0, "t", i) for i in range(50)}) == 50
    assert trial_seed(0, "t", 0) != trial_seed(1, "t", 0)


def test_needle_tasks_span_the_grid_and_options_are_checked() -> None:
    suite = NeedleSuite()
    tasks = suite.tasks({"lengths": "1k,8k", "hops": "1-2", "per_cell": "2"}, 7)
    assert len(tasks) == 8
    assert [t.info["context_tokens"] for t in tasks[:4]] == [1024, 8192, 1024, 8192]
    assert tasks == suite.tasks({"lengths": "1k,8k", "hops": "1-2", "per_cell": "2"}, 7)
    assert tasks != suite.tasks({"lengths": "1k,8k", "hops": "1-2", "per_cell": "2"}, 8)
    with pytest.raises(SuiteError, match="has no option colour"):
        suite.tasks({"colour": "red"}, 0)
    with pytest.raises(SuiteError, match="1 to 4"):
        suite.tasks({"hops": "5"}, 0)


@pytest.mark.parametrize(("hops", "tokens"), [(1, 1024), (4, 8192), (3, 131072)])
def test_needle_puzzles_are_sized_and_solvable(hops: int, tokens: int) -> None:
    puzzle = build_puzzle(42, hops, tokens)
    assert len(puzzle.pages) == hops
    for index, table in enumerate(puzzle.tables):
        assert sorted(table) == sorted(puzzle.alphabets[index])
        assert sorted(table.values()) == sorted(puzzle.alphabets[index + 1])
        assert f"Substitution table {index + 1} of {hops}: " in puzzle.pages[index]
    # The prompt plus the pages fill the requested context (about four characters a token).
    total = (sum(len(p) for p in puzzle.pages) + len(prompt_text(puzzle.alphabets, hops))) / 4
    assert 0.8 * tokens <= total <= tokens
    finals = {puzzle.chain(word) for word in puzzle.alphabets[0]}
    assert finals == set(puzzle.alphabets[-1])  # each secret leads to a different answer


def test_the_needle_grader_reads_the_secret_from_thinking_only() -> None:
    puzzle = build_puzzle(3, 1, 1024)
    secret = puzzle.alphabets[0][0]
    answer = puzzle.chain(secret)
    wrong = next(w for w in puzzle.alphabets[-1] if w != answer)

    def grade(messages: list[Message], text: str, status: str = "done") -> tuple[bool, str]:
        finished = Finished(status, text)  # type: ignore[arg-type]
        result = grade_needle(puzzle, [TurnResult(0, finished)], messages)
        return result.passed, result.detail

    thought = [assistant(f"SECRET: {secret}", calls=(CALL,))]
    assert grade(thought, f"The answer is {answer}.") == (True, "correct")
    assert grade(thought, wrong) == (False, "wrong_answer")
    assert grade(thought, f"{answer} or {wrong}") == (False, "ambiguous_answer")
    assert grade(thought, "no idea") == (False, "no_answer")
    assert grade(thought, answer, "max_steps") == (False, "agent_max_steps")
    assert grade([assistant("I pick one", calls=(CALL,))], answer) == (False, "no_secret")
    leaked = [assistant(f"SECRET: {secret}", f"I chose {secret}", calls=(CALL,))]
    assert grade(leaked, answer) == (False, "leaked")


def test_bfcl_calls_are_written_as_its_decoders_write_them() -> None:
    assert call_string("mv", {"source": "a.txt", "destination": "b"}) == "mv(source='a.txt',destination='b')"
    assert call_string("ls", {}) == "ls()"
    assert call_string("f", {"n": 1.5, "flags": [True, None]}) == "f(n=1.5,flags=[True, None])"
    messages = [
        user("one"),
        assistant("t", calls=(ToolCall(id="a", name="cd", arguments={"folder": "x"}),)),
        tool("a", "ok"),
        assistant("t", "done"),
        user("two"),
        assistant("t", "I cannot"),
        user("three"),
        assistant(
            "t",
            calls=(
                ToolCall(id="b", name="ls", arguments={}),
                ToolCall(id="c", name="x", raw_arguments="{bad"),
            ),
        ),
    ]
    assert decode_turns(messages) == [[["cd(folder='x')"]], [], [["ls()"]]]
