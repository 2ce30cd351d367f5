"""`interleaf data` throughput: rows per second per stage for 10,000 synthetic trajectories, in-process
(a pool of worker processes on this machine's cores) and on a local Ray runtime; and MinHash LSH
deduplication of 100,000 rows.

The trajectories are generated from a seed: 2-8 tool steps each, 150-700 characters of thinking a
step, tool results, a final answer; one in ten is a near-duplicate of another (a few words changed)
and one in twenty breaks a rule. Every stage is timed inside the same run; Ray's start-up is reported
apart from its stages.

    .venv/bin/python -m benchmarks.bench_data [--rows 10000] [--dedup-rows 100000] [--no-ray]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.report import write_section
from interleaf.data.clean import clean
from interleaf.data.clean_settings import CleanSettings
from interleaf.data.collect import collect
from interleaf.data.dedup import DedupConfig, near_duplicates, signatures
from interleaf.data.engine import LocalEngine, batches, default_workers
from interleaf.data.export import ExportSettings, export
from interleaf.data.stats import compute

WORDS = [
    "file",
    "directory",
    "config",
    "test",
    "module",
    "function",
    "error",
    "value",
    "column",
    "table",
    "request",
    "server",
    "port",
    "log",
    "user",
    "output",
    "input",
    "result",
    "list",
    "count",
    "check",
    "build",
    "deploy",
    "parse",
    "format",
    "record",
    "index",
    "cache",
    "query",
    "token",
    "model",
    "version",
    "branch",
    "commit",
    "patch",
    "script",
    "report",
    "metric",
    "window",
    "buffer",
    "thread",
    "process",
    "limit",
    "option",
]
TOOLS = ("shell", "python", "write_file", "read_file", "browser")
TASKS = (
    "Fix the failing test in {a}.py so that {b} returns the right {c}",
    "Count the {a} rows in {b}.csv whose {c} is missing and report the number",
    "Find the {a} setting in the {b} config and change it to {c}",
    "Search the docs for how {a} handles {b} and summarise it in two sentences",
    "Write a short note explaining why the {a} {b} grows when the {c} is large",
)


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def trajectory(rng: random.Random, number: int) -> dict[str, Any]:
    """One synthetic trajectory in the transcript's JSON form."""
    task = rng.choice(TASKS).format(a=rng.choice(WORDS), b=rng.choice(WORDS), c=rng.choice(WORDS))
    messages: list[dict[str, Any]] = [
        {"role": "user", "blocks": [{"type": "text", "text": f"{task} (#{number})"}]}
    ]
    for step in range(rng.randint(2, 8)):
        thought = " ".join(_sentence(rng, rng.randint(6, 14)) for _ in range(rng.randint(2, 6)))
        tool = rng.choice(TOOLS)
        call_id = f"call_{number}_{step}"
        messages.append(
            {
                "role": "assistant",
                "blocks": [
                    {
                        "type": "thinking",
                        "text": thought,
                        "signature": f"sig-{number}-{step}",
                        "dialect": "anthropic",
                    },
                    {
                        "type": "tool_call",
                        "id": call_id,
                        "name": tool,
                        "arguments": {"input": _sentence(rng, 5)},
                    },
                ],
            }
        )
        output = "\n".join(_sentence(rng, rng.randint(4, 12)) for _ in range(rng.randint(1, 5)))
        messages.append(
            {"role": "tool", "blocks": [{"type": "tool_result", "call_id": call_id, "content": output}]}
        )
    messages.append(
        {
            "role": "assistant",
            "blocks": [
                {
                    "type": "thinking",
                    "text": _sentence(rng, 12),
                    "signature": f"sig-{number}-end",
                    "dialect": "anthropic",
                },
                {"type": "text", "text": _sentence(rng, 15)},
            ],
        }
    )
    if number % 20 == 7:  # a rule breaker: tool-call arguments cut off
        messages[1]["blocks"][1]["raw_arguments"] = '{"input": "cut'
    tools = [{"name": name, "parameters": {"type": "object"}} for name in TOOLS]
    return {"interleaf_transcript": 1, "messages": messages, "tools": tools}


def near_copy(rng: random.Random, original: dict[str, Any]) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(original))
    for message in copy["messages"]:
        for block in message["blocks"]:
            if block["type"] == "thinking":
                words = block["text"].split()
                words[rng.randrange(len(words))] = rng.choice(WORDS)
                block["text"] = " ".join(words)
    return copy


def write_input(path: Path, rows: int, seed: int = 17) -> None:
    rng = random.Random(seed)
    made: list[dict[str, Any]] = []
    with path.open("w", encoding="utf-8") as handle:
        for number in range(rows):
            item = near_copy(rng, rng.choice(made)) if made and number % 10 == 9 else trajectory(rng, number)
            made.append(item)
            handle.write(json.dumps(item) + "\n")


def _rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:,.0f}" if seconds > 0 else "–"


def pipeline(root: Path, rows: int, *, ray: bool) -> dict[str, float]:
    """Seconds per stage for one run of collect -> clean -> export -> stats."""
    name = "ray" if ray else "local"
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    collect("jsonl", [root / "input.jsonl"], root / f"ds-{name}", mode="overwrite")
    seconds["collect"] = time.perf_counter() - started
    if ray:
        from interleaf.data.engine import RayEngine

        started = time.perf_counter()
        RayEngine(None, num_cpus=default_workers())  # starts the runtime; clean and export reuse it
        seconds["ray start"] = time.perf_counter() - started
    settings = CleanSettings(ray=ray, mode="overwrite")
    started = time.perf_counter()
    result = clean(root / f"ds-{name}", root / f"clean-{name}", settings)
    seconds["clean (all)"] = time.perf_counter() - started
    for stage, value in result.report["seconds"].items():
        seconds[f"clean: {stage}"] = value
    seconds["kept"] = result.kept
    started = time.perf_counter()
    export(root / f"clean-{name}", root / f"sft-{name}", ExportSettings(fmt="openai-chat", ray=ray))
    seconds["export"] = time.perf_counter() - started
    started = time.perf_counter()
    compute(root / f"clean-{name}")
    seconds["stats"] = time.perf_counter() - started
    if ray:
        import ray as ray_module

        ray_module.shutdown()
    return seconds


def dedup(rows: int, seed: int = 23) -> dict[str, float]:
    """Signatures (process pool) and LSH clustering of ``rows`` thinking texts, ~10% near-duplicates."""
    import pyarrow as pa

    from benchmarks.bench_data import _signatures_stage

    rng = random.Random(seed)
    texts: list[str] = []
    for number in range(rows):
        if texts and number % 10 == 9:
            words = rng.choice(texts).split()
            words[rng.randrange(len(words))] = rng.choice(WORDS)
            texts.append(" ".join(words))
        else:
            texts.append(" ".join(_sentence(rng, rng.randint(6, 14)) for _ in range(rng.randint(3, 8))))
    table = pa.table({"id": [f"r{i:06d}" for i in range(rows)], "text": texts})
    engine = LocalEngine()
    started = time.perf_counter()
    try:
        done = list(engine.map(_signatures_stage, batches(table, 2_000)))
    finally:
        engine.close()
    signed = time.perf_counter() - started
    signatures_all = [s for t in done for s in t.column("signature").to_pylist()]
    started = time.perf_counter()
    found = near_duplicates(table.column("id").to_pylist(), signatures_all, DedupConfig())
    clustered = time.perf_counter() - started
    return {"signatures": signed, "lsh": clustered, "total": signed + clustered, "duplicates": len(found)}


def _signatures_stage(table: Any) -> Any:
    import pyarrow as pa

    values = signatures(table.column("text").to_pylist(), DedupConfig())
    return pa.table({"signature": pa.array(values, type=pa.binary())})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--dedup-rows", type=int, default=100_000)
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="Print, do not update docs/benchmarks.md.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-data-") as tmp:
        root = Path(tmp)
        write_input(root / "input.jsonl", args.rows)
        runs = {"in-process": pipeline(root, args.rows, ray=False)}
        if not args.no_ray:
            runs["Ray Data (local)"] = pipeline(root, args.rows, ray=True)
    minhash = dedup(args.dedup_rows)
    stages = [
        "collect",
        "clean: check",
        "clean: dedup",
        "clean: difficulty",
        "clean: write",
        "clean (all)",
        "export",
        "stats",
    ]
    header = (
        "| stage | "
        + " | ".join(f"{name} rows/s" for name in runs)
        + " | "
        + " | ".join(f"{name} s" for name in runs)
        + " |"
    )
    lines = [header, "|---|" + "---:|" * (2 * len(runs))]
    for stage in stages:
        rows_for = args.rows if stage in ("collect", "clean: check", "clean (all)") else None
        cells = []
        for seconds in runs.values():
            count = rows_for or int(seconds["kept"])
            cells.append(_rate(count, seconds.get(stage, 0.0)))
        lines.append(
            f"| {stage} | "
            + " | ".join(cells)
            + " | "
            + " | ".join(f"{s.get(stage, 0.0):.2f}" for s in runs.values())
            + " |"
        )
    ray_start = runs.get("Ray Data (local)", {}).get("ray start")
    body = "\n".join(
        [
            "## Data pipeline (`interleaf data`)",
            "",
            f"`benchmarks/bench_data.py`: {args.rows:,} synthetic trajectories (2-8 tool steps, 150-700 characters of "
            "thinking a step, one in ten a near-duplicate, one in twenty breaking a rule), collect -> clean (rules, "
            "MinHash near-duplicates, task groups, difficulty; no judge) -> export (OpenAI Chat) -> stats, "
            f"in-process ({default_workers()} worker processes) and on a local Ray runtime, in one run. "
            "Rows/s counts the rows a stage reads (collect, check: all; later stages: the kept rows, "
            f"{int(runs['in-process']['kept']):,}). Export, dedup and write run on the driver in both modes"
            " apart from export's rendering.",
            "",
            *lines,
            "",
            (
                f"Starting the local Ray runtime took {ray_start:.1f} s (not in the rows above). "
                if ray_start
                else ""
            )
            + f"MinHash LSH deduplication of {args.dedup_rows:,} rows (128 permutations, word 5-grams, threshold 0.8): "
            f"signatures {minhash['signatures']:.1f} s on {default_workers()} processes, LSH clustering "
            f"{minhash['lsh']:.1f} s, **{minhash['total']:.1f} s in all** (target: under 120 s); "
            f"{int(minhash['duplicates']):,} near-duplicates found.",
        ]
    )
    print(body)
    if not args.no_write:
        write_section("data", body)


if __name__ == "__main__":
    main()
