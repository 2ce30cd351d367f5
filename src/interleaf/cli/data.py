"""``interleaf data``: interleaved-thinking trajectories into clean training data.

collect -> clean (rules, judge, near-duplicates, difficulty) -> export, plus trace and stats.
Heavy imports (pyarrow, datasketch, matplotlib, Ray) happen inside the commands.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from interleaf.cli.exit_codes import BAD_INPUT

app = typer.Typer(
    help=(
        "Turn agent trajectories into clean SFT data with the thinking intact: collect, clean "
        "(rules, LLM judge, near-duplicates, difficulty), export, trace bad cases, stats."
    ),
    no_args_is_help=True,
)

_RAY_HELP = (
    "Run the per-row stages on Ray Data (a local Ray runtime; see --ray-address). Default: in-process."
)
_RAY_ADDRESS_HELP = "Ray cluster address (ray://host:10001 or host:6379); implies --ray."


def _fail(command: str, message: str) -> None:
    typer.echo(f"interleaf data {command}: error: {message}", err=True)
    raise typer.Exit(BAD_INPUT)


class _Progress:
    """``stage done/total`` on one rewritten stderr line when stderr is a terminal, else silent."""

    def __init__(self) -> None:
        self.live = sys.stderr.isatty()

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.live:
            sys.stderr.write(f"\r{stage}: {done}/{total}   ")
            sys.stderr.flush()

    def end(self) -> None:
        if self.live:
            sys.stderr.write("\r" + " " * 40 + "\r")


@app.command("collect")
def collect(
    source: Annotated[
        str, typer.Option("--from", help="sessions | eval | jsonl | m2 | gateway: what PATHS are.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Dataset directory to write.")],
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="sessions: a sessions.db (default: the agent's); eval: run directories; jsonl: files of "
            "JSON lines (or .json); m2: text files of M2 prompts."
        ),
    ] = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="For jsonl: auto | transcript | anthropic | openai-chat | responses | minimax-m2 | sharegpt.",
        ),
    ] = "auto",
    append: Annotated[
        bool, typer.Option("--append", help="Add to an existing dataset (same ids skipped).")
    ] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing dataset.")] = False,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Stop after this many rows.")] = None,
) -> None:
    """Collect trajectories into a Parquet dataset, one row per trajectory, thinking intact.

    Examples:

      interleaf data collect --from sessions --out ds

      interleaf data collect --from eval runs/2026-12-01 --out ds --append

      interleaf data collect --from jsonl requests.jsonl --out ds
    """
    from interleaf.data.collect import collect as run_collect
    from interleaf.data.errors import DataError
    from interleaf.data.sources import KINDS
    from interleaf.data.sources.wire import FORMATS

    if source not in KINDS:
        _fail("collect", f"--from {source!r} is not a source; use one of {', '.join(KINDS)}")
    if fmt not in FORMATS:
        _fail("collect", f"--format {fmt!r} is not a format; use one of {', '.join(FORMATS)}")
    if append and overwrite:
        _fail("collect", "--append and --overwrite exclude each other")
    mode = "append" if append else "overwrite" if overwrite else "new"
    try:
        summary = run_collect(
            source,
            list(paths or []),
            out,
            fmt=fmt,
            mode=mode,  # type: ignore[arg-type]
            limit=limit,
            on_problem=lambda problem: typer.echo(f"interleaf data collect: error: {problem}", err=True),
        )
    except DataError as exc:
        _fail("collect", str(exc))
        return
    formats = ", ".join(f"{name} {count}" for name, count in summary.formats.most_common()) or "none"
    typer.echo(
        f"collected {summary.rows} trajectories into {out} ({formats}); dataset has {summary.total_rows} rows"
        + (f"; {summary.duplicates} already there" if summary.duplicates else "")
    )
    if summary.problems:
        typer.echo(f"interleaf data collect: {len(summary.problems)} record(s) skipped (see above)", err=True)
        raise typer.Exit(BAD_INPUT)


@app.command("clean")
def clean(
    dataset: Annotated[Path, typer.Argument(help="Dataset to clean (made by collect).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Dataset directory to write the kept rows to.")],
    rules: Annotated[
        Path | None, typer.Option("--rules", help="TOML/JSON rule settings (docs/data.md).")
    ] = None,
    judge: Annotated[
        bool, typer.Option("--judge", help="Score rows with an LLM judge (off by default).")
    ] = False,
    judge_profile: Annotated[
        str | None,
        typer.Option(
            "--judge-profile", help="Backend profile of the judge (implies --judge). Default: local."
        ),
    ] = None,
    judge_model: Annotated[str | None, typer.Option("--judge-model", help="Judge model name.")] = None,
    judge_base_url: Annotated[str | None, typer.Option("--judge-base-url", help="Judge server URL.")] = None,
    judge_concurrency: Annotated[int, typer.Option("--judge-concurrency", min=1, help="Calls at once.")] = 4,
    judge_limit: Annotated[
        int | None, typer.Option("--judge-limit", min=1, help="Judge at most N rows.")
    ] = None,
    judge_max_chars: Annotated[
        int, typer.Option("--judge-max-chars", min=400, help="Size of the digest the judge reads.")
    ] = 2400,
    min_judge: Annotated[
        float | None, typer.Option("--min-judge", help="Drop rows whose judge score (1-5) is below this.")
    ] = None,
    min_difficulty: Annotated[
        float | None, typer.Option("--min-difficulty", help="Drop rows whose difficulty (0-1) is below this.")
    ] = None,
    dedup_task: Annotated[
        float, typer.Option("--dedup-task", help="Task similarity that groups rows.")
    ] = 0.8,
    dedup_thinking: Annotated[
        float, typer.Option("--dedup-thinking", help="Thinking similarity that marks a near-duplicate.")
    ] = 0.8,
    max_per_task: Annotated[
        int, typer.Option("--max-per-task", min=0, help="Rows kept per task group (0: no cap).")
    ] = 3,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Worker processes (default: CPUs).")
    ] = None,
    ray: Annotated[bool, typer.Option("--ray", help=_RAY_HELP)] = False,
    ray_address: Annotated[str | None, typer.Option("--ray-address", help=_RAY_ADDRESS_HELP)] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing output dataset.")
    ] = False,
) -> None:
    """Clean a dataset: rules, near-duplicates, optional LLM judge, difficulty; writes a report.

    Examples:

      interleaf data clean ds --out ds-clean

      interleaf data clean ds --out ds-clean --judge --min-judge 3 --min-difficulty 0.2

      interleaf data clean ds --out ds-clean --judge-profile anthropic --judge-model claude-sonnet-4-5
    """
    from interleaf.data.clean import clean as run_clean
    from interleaf.data.clean_settings import CleanSettings
    from interleaf.data.dedup import DedupConfig
    from interleaf.data.errors import DataError
    from interleaf.data.judge.runner import JudgeSettings
    from interleaf.data.rules import BUILTIN, load_rules_config
    from interleaf.data.rules.config import RulesConfig

    for option, value in (("--dedup-task", dedup_task), ("--dedup-thinking", dedup_thinking)):
        if not 0 < value <= 1:
            _fail("clean", f"{option} {value} must be above 0 and at most 1")
    judging = judge or judge_profile is not None or judge_model is not None or judge_base_url is not None
    progress = _Progress()
    try:
        settings = CleanSettings(
            rules=load_rules_config(rules, BUILTIN) if rules is not None else RulesConfig(),
            dedup=DedupConfig(
                task_threshold=dedup_task,
                thinking_threshold=dedup_thinking,
                max_per_task=max_per_task or None,
            ),
            judge=JudgeSettings(
                profile=judge_profile or "local",
                model=judge_model,
                base_url=judge_base_url,
                concurrency=judge_concurrency,
                limit=judge_limit,
                max_chars=judge_max_chars,
            )
            if judging
            else None,
            min_judge=min_judge,
            min_difficulty=min_difficulty,
            workers=workers,
            ray=ray,
            ray_address=ray_address,
            mode="overwrite" if overwrite else "new",
        )
        result = run_clean(
            dataset,
            out,
            settings,
            progress=progress,
            on_problem=lambda problem: typer.echo(f"\ninterleaf data clean: error: {problem}", err=True),
        )
    except DataError as exc:
        progress.end()
        _fail("clean", str(exc))
        return
    progress.end()
    report = result.report
    reasons = ", ".join(f"{name} {count}" for name, count in report["rejected_by"].items()) or "none"
    typer.echo(f"kept {result.kept} of {report['input_rows']} rows in {out}; rejected: {reasons}")
    if report.get("judge"):
        j = report["judge"]
        typer.echo(
            f"judge {j['judge']}: {j['judged']} judged ({j['from_cache']} from cache), {j['unjudged']} unjudged, "
            f"mean score {j['mean_score']}, {j['seconds']} s"
        )
    typer.echo(f"report: {out / 'report.json'}; rejected rows: {out / 'rejected.parquet'}")
    if result.problems:
        raise typer.Exit(BAD_INPUT)


@app.command("trace")
def trace(
    badcase: Annotated[
        str, typer.Argument(help="A bad trajectory or answer: a file (any collect format) or text.")
    ],
    dataset: Annotated[Path, typer.Option("--dataset", "-d", help="The training dataset to search.")],
    top: Annotated[int, typer.Option("--top", "-n", min=1, help="How many rows to list.")] = 10,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object a line.")] = False,
) -> None:
    """List the training rows most like a bad case (MinHash and token overlap), with why.

    Examples:

      interleaf data trace bad-answer.txt --dataset ds-clean

      interleaf data trace "the tests pass now" --dataset ds-clean --top 5
    """
    from interleaf.data.errors import DataError
    from interleaf.data.trace import read_badcase
    from interleaf.data.trace import trace as run_trace

    try:
        matches, problems = run_trace(read_badcase(badcase), dataset, top=top)
    except DataError as exc:
        _fail("trace", str(exc))
        return
    for problem in problems:
        typer.echo(f"interleaf data trace: error: {problem}", err=True)
    if json_output:
        for match in matches:
            typer.echo(json.dumps(match.to_json(), ensure_ascii=False))
    else:
        for rank, match in enumerate(matches, start=1):
            typer.echo(f"{rank:>2}. {match.id}  score {match.score:.3f}  {match.source_ref}")
            typer.echo(f"    task: {match.task}")
            for reason in match.why:
                typer.echo(f"    - {reason}")
    if problems:
        raise typer.Exit(BAD_INPUT)


@app.command("export")
def export(
    dataset: Annotated[Path, typer.Argument(help="Dataset to export.")],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="openai-chat | anthropic | minimax-m2 | sharegpt.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for train.jsonl, validation.jsonl.")],
    diversify: Annotated[
        bool,
        typer.Option("--diversify", help="Vary answer formats (plain/Markdown/JSON), thinking untouched."),
    ] = False,
    validation: Annotated[
        float, typer.Option("--validation", help="Share of task groups for validation.")
    ] = 0.1,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the split and of --diversify.")] = 0,
    dialect: Annotated[
        str | None,
        typer.Option(
            "--dialect",
            help="openai-chat: put all thinking in reasoning_content | reasoning | reasoning_details | "
            "think_tags. Default: where each block arrived.",
        ),
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Worker processes (default: CPUs).")
    ] = None,
    ray: Annotated[bool, typer.Option("--ray", help=_RAY_HELP)] = False,
    ray_address: Annotated[str | None, typer.Option("--ray-address", help=_RAY_ADDRESS_HELP)] = None,
) -> None:
    """Write SFT files, split into train/validation by task group (never by row).

    Examples:

      interleaf data export ds-clean --format openai-chat --out sft

      interleaf data export ds-clean --format minimax-m2 --out sft-m2 --diversify
    """
    from interleaf.data.errors import DataError
    from interleaf.data.export import EXPORT_FORMATS, ExportSettings
    from interleaf.data.export import export as run_export
    from interleaf.transcript import ReasoningDialect

    if fmt not in EXPORT_FORMATS:
        _fail("export", f"--format {fmt!r} is not a format; use one of {', '.join(EXPORT_FORMATS)}")
    dialects = ("reasoning_content", "reasoning", "reasoning_details", "think_tags")
    if dialect is not None and (fmt != "openai-chat" or dialect not in dialects):
        _fail("export", f"--dialect is for --format openai-chat and one of {', '.join(dialects)}")
    try:
        summary = run_export(
            dataset,
            out,
            ExportSettings(
                fmt=fmt,
                validation=validation,
                seed=seed,
                diversify=diversify,
                dialect=None if dialect is None else ReasoningDialect(dialect),
                workers=workers,
                ray=ray,
                ray_address=ray_address,
            ),
        )
    except DataError as exc:
        _fail("export", str(exc))
        return
    for problem in summary.problems:
        typer.echo(f"interleaf data export: error: {problem}", err=True)
    typer.echo(
        f"wrote {summary.lines.get('train', 0)} train and {summary.lines.get('validation', 0)} validation records "
        f"({summary.groups.get('train', 0)} / {summary.groups.get('validation', 0)} task groups) to {out}"
    )
    if summary.losses:
        typer.echo(f"{summary.losses} thing(s) the format cannot carry are listed in {out / 'manifest.json'}")
    if summary.styles:
        typer.echo("answer styles: " + ", ".join(f"{k} {v}" for k, v in summary.styles.most_common()))
    if summary.problems:
        raise typer.Exit(BAD_INPUT)


@app.command("stats")
def stats(
    dataset: Annotated[Path, typer.Argument(help="Dataset to describe.")],
    json_output: Annotated[bool, typer.Option("--json", help="All figures as one JSON object.")] = False,
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write an HTML report with plots here.")
    ] = None,
) -> None:
    """Rows, sources, domains, lengths, thinking, rule hits, judge scores, difficulty, duplicates."""
    from interleaf.data.errors import DataError
    from interleaf.data.stats import compute

    try:
        figures = compute(dataset)
        if html is not None:
            from interleaf.data.report_html import write

            write(dataset, html)
    except DataError as exc:
        _fail("stats", str(exc))
        return
    if json_output:
        typer.echo(json.dumps(figures, ensure_ascii=False, indent=2))
    else:
        _print_stats(figures)
    if html is not None:
        typer.echo(f"report: {html}")
    for problem in figures["problems"]:
        typer.echo(f"interleaf data stats: error: {problem}", err=True)
    if figures["problems"]:
        raise typer.Exit(BAD_INPUT)


def _print_stats(figures: dict[str, object]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, show_header=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key in (
        "rows",
        "sources",
        "formats",
        "domains",
        "tokens",
        "steps",
        "tool_calls",
        "thinking_blocks",
        "thinking_ratio",
        "rule_hits_kept",
        "judge",
        "difficulty",
        "task_groups",
        "clean",
    ):
        if key in figures:
            value = figures[key]
            table.add_row(key, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
    Console().print(table)


@app.command("rules")
def list_rules(
    rules: Annotated[Path | None, typer.Option("--rules", help="Show the settings this file gives.")] = None,
) -> None:
    """The cleaning rules: name, action and parameters in force, and what each checks."""
    from interleaf.data.errors import DataError
    from interleaf.data.rules import BUILTIN, RuleSet

    try:
        rule_set = RuleSet.from_file(rules)
    except DataError as exc:
        _fail("rules", str(exc))
        return
    for name, settings in rule_set.settings().items():
        params = ", ".join(f"{k}={v}" for k, v in settings.items() if k not in ("action", "pattern", "where"))
        description = (
            BUILTIN[name].description
            if name in BUILTIN
            else f"custom: /{settings['pattern']}/ in {settings['where']}"
        )
        typer.echo(f"{name:<26} {settings['action']:<6} {description}" + (f"  [{params}]" if params else ""))
