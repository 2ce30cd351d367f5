"""Export: SFT files that keep every thinking block where it was, split by task, answers diversified.

The round trip is the one a user would do: collect -> clean -> export -> `interleaf convert` back to
the transcript, and not one byte of thinking may differ.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from interleaf.data.clean import clean
from interleaf.data.clean_settings import CleanSettings
from interleaf.data.collect import collect
from interleaf.data.dataset import open_dataset
from interleaf.data.export import ExportSettings, export, split_of
from interleaf.data.export.diversify import INSTRUCTIONS, diversify, to_json, to_markdown, to_plain
from interleaf.data.export.formats import thinking_texts
from interleaf.data.export.sharegpt import decode_sharegpt
from interleaf.data.rows import conversation_of
from interleaf.transcript import Conversation, Message, Text, Thinking, ToolCall, conversation_from_json

INTERLEAF = str(Path(sys.executable).with_name("interleaf"))
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "data"


def _convert_back(source_format: str, text: str, tmp_path: Path) -> Conversation:
    path = tmp_path / "record.txt"
    path.write_text(text, encoding="utf-8")
    done = subprocess.run(
        [INTERLEAF, "convert", "--from", source_format, "--to", "transcript", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return conversation_from_json(json.loads(done.stdout))


@pytest.fixture(scope="module")
def cleaned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("export")
    lines = [
        json.loads(line)["transcript"] for line in (FIXTURES / "clean_cases.jsonl").read_text().splitlines()
    ]
    source = root / "clean.jsonl"
    source.write_text(
        "\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n", encoding="utf-8"
    )
    collect("jsonl", [source], root / "ds")
    result = clean(root / "ds", root / "ds-clean", CleanSettings())
    assert result.kept == len(lines), result.report["rejected_by"]
    return root / "ds-clean"


def _rows(dataset: Path) -> dict[str, dict[str, Any]]:
    return {row["id"]: row for row in open_dataset(dataset).read_all().to_pylist()}


def _lines(out: Path) -> list[tuple[str, str]]:
    manifest = json.loads((out / "manifest.json").read_text())
    pairs: list[tuple[str, str]] = []
    for split in ("train", "validation"):
        texts = (out / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
        pairs.extend(zip(manifest["ids"][split], texts, strict=True))
    return pairs


@pytest.mark.parametrize("fmt", ["openai-chat", "anthropic"])
def test_round_trip_through_interleaf_convert_loses_no_thinking_byte(
    fmt: str, cleaned: Path, tmp_path: Path
) -> None:
    rows = _rows(cleaned)
    export(cleaned, tmp_path / "out", ExportSettings(fmt=fmt, validation=0.5))
    pairs = _lines(tmp_path / "out")
    assert sorted(i for i, _ in pairs) == sorted(rows)
    for row_id, line in pairs:
        back = _convert_back(fmt, line, tmp_path)
        assert thinking_texts(back) == thinking_texts(conversation_of(rows[row_id])), row_id


def test_m2_records_render_each_turns_thinking_and_convert_back(cleaned: Path, tmp_path: Path) -> None:
    rows = _rows(cleaned)
    export(cleaned, tmp_path / "out", ExportSettings(fmt="minimax-m2", validation=0.0))
    recovered: dict[str, list[str]] = {}
    for row_id, line in _lines(tmp_path / "out"):
        text = json.loads(line)["text"]
        assert text.startswith("]~!b[]~b]system\n")
        recovered.setdefault(row_id, []).extend(thinking_texts(_convert_back("minimax-m2", text, tmp_path)))
    for row_id, row in rows.items():
        # Each user turn is its own record, so every block is rendered once, after its user message.
        assert recovered[row_id] == thinking_texts(conversation_of(row)), row_id
    two_turns = next(r for r in rows.values() if r["task"] == "List the files in the project directory.")
    assert (
        json.loads((tmp_path / "out" / "manifest.json").read_text())["ids"]["train"].count(two_turns["id"])
        == 2
    )


def test_sharegpt_keeps_thinking_inline_and_reads_back(cleaned: Path, tmp_path: Path) -> None:
    rows = _rows(cleaned)
    export(cleaned, tmp_path / "out", ExportSettings(fmt="sharegpt", validation=0.0))
    for row_id, line in _lines(tmp_path / "out"):
        record = json.loads(line)
        assert {turn["from"] for turn in record["conversations"]} <= {
            "human",
            "gpt",
            "function_call",
            "observation",
        }
        original = conversation_of(rows[row_id])
        back = decode_sharegpt(record)
        assert thinking_texts(back) == thinking_texts(original)
        assert [c.name for m in back.messages for c in m.tool_calls] == [
            c.name for m in original.messages for c in m.tool_calls
        ]
    # And `collect` reads the file back in.
    summary = collect("jsonl", [tmp_path / "out" / "train.jsonl"], tmp_path / "again")
    assert summary.rows == len(rows) and dict(summary.formats) == {"sharegpt": len(rows)}


def test_splits_follow_task_groups_never_rows(tmp_path: Path) -> None:
    tasks = [
        f"Task number {n}: rename the file report-{n}.txt to archive-{n}.txt and confirm it"
        for n in range(30)
    ]
    lines = []
    for n, task in enumerate(tasks):
        for attempt in range(2):  # two trajectories per task: they must land on the same side
            conversation = Conversation(
                messages=(
                    Message(role="user", blocks=(Text(text=task),)),
                    Message(
                        role="assistant",
                        blocks=(
                            Thinking(
                                text=f"Attempt {attempt} for task {n}: mv does the rename, then ls confirms."
                            ),
                            ToolCall(
                                id="c1",
                                name="shell",
                                arguments={"command": f"mv report-{n}.txt archive-{n}.txt"},
                            ),
                        ),
                    ),
                )
            )
            lines.append(json.dumps({"interleaf_transcript": 1, **_json(conversation)}))
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    collect("jsonl", [tmp_path / "in.jsonl"], tmp_path / "ds")
    summary = export(
        tmp_path / "ds", tmp_path / "out", ExportSettings(fmt="openai-chat", validation=0.3, seed=7)
    )
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    rows = _rows(tmp_path / "ds")
    sides: dict[str, set[str]] = {}
    for split, ids in manifest["ids"].items():
        for row_id in ids:
            sides.setdefault(rows[row_id]["task"], set()).add(split)
    assert all(len(side) == 1 for side in sides.values()), "a task straddles the split"
    assert summary.rows["validation"] > 0 and summary.rows["train"] > summary.rows["validation"]
    assert summary.groups["train"] + summary.groups["validation"] == 30
    assert split_of("g", 7, 0.3) == split_of("g", 7, 0.3)


def _json(conversation: Conversation) -> dict[str, Any]:
    from interleaf.transcript import conversation_to_json

    data = conversation_to_json(conversation)
    data.pop("interleaf_transcript")
    return data


def test_diversify_changes_only_the_answer_and_asks_for_the_format() -> None:
    case = json.loads((FIXTURES / "clean_cases.jsonl").read_text().splitlines()[0])["transcript"]
    original = conversation_from_json(case)
    styles: dict[str, Conversation] = {}
    for number in range(40):
        changed, style = diversify(original, f"row-{number}", seed=1)
        styles.setdefault(style, changed)
    assert set(styles) == {"original", "plain", "markdown", "json"}
    for style, changed in styles.items():
        assert thinking_texts(changed) == thinking_texts(original)
        assert [m.tool_calls for m in changed.messages] == [m.tool_calls for m in original.messages]
        assert [m.tool_results for m in changed.messages] == [m.tool_results for m in original.messages]
        if style == "original":
            assert changed == original
            continue
        assert changed.messages[0].text.endswith(INSTRUCTIONS[style])
    # The answer was plain already; Markdown and JSON rewrite it.
    assert styles["plain"].messages[-1].text == original.messages[-1].text
    assert styles["markdown"].messages[-1].text == f"**{original.messages[-1].text}**"
    assert json.loads(styles["json"].messages[-1].text) == {"answer": original.messages[-1].text}


def test_diversify_leaves_answers_whose_format_the_task_fixes() -> None:
    conversation = Conversation(
        messages=(
            Message(role="user", blocks=(Text(text="Reply with exactly one word: the capital of France."),)),
            Message(role="assistant", blocks=(Thinking(text="Paris."), Text(text="Paris"))),
        )
    )
    for number in range(12):
        changed, style = diversify(conversation, f"r{number}", seed=0)
        assert changed == conversation
        assert style in ("original", "kept: the task fixes the format")


def test_format_transforms() -> None:
    assert to_plain("## Result\n- **42** is the `answer`, see [docs](https://x.y)") == (
        "Result\n42 is the answer, see docs (https://x.y)"
    )
    assert to_markdown("It worked. The file is saved.") == "**It worked.**\n\n- The file is saved."
    assert json.loads(to_json("**done**")) == {"answer": "done"}
