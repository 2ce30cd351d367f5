"""``interleaf eval``: measure what keeping thinking is worth (keep / drop / restored / current-loop).

interleaf eval run --suite needle -p local --conditions keep,drop --limit 20 -o lengths=1k,2k,4k,8k
interleaf eval report runs/needle
interleaf eval compare runs/m2 runs/m2-gateway
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from interleaf.cli.exit_codes import BAD_INPUT, INTERRUPTED

app = typer.Typer(
    help="Measure what keeping thinking is worth for a model and deployment: the same tasks with thinking "
    "kept, dropped (as most apps do) and restored by the gateway, paired, with pass^k and confidence "
    "intervals. See docs/eval.md.",
    no_args_is_help=True,
)


def _fail(command: str, message: str) -> None:
    typer.echo(f"interleaf eval {command}: error: {message}", err=True)
    raise typer.Exit(BAD_INPUT)


@app.command("run")
def run(
    suite: Annotated[
        str,
        typer.Option("--suite", "-s", help="needle, bfcl-multi-turn or coding (`interleaf eval suites`)."),
    ],
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            "-p",
            help="Backend profile (minimax, anthropic, vllm, sglang, local, ... or one from your config). "
            "Default: the config's, else the embedded local model.",
        ),
    ] = None,
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="Server URL (overrides the profile's).")
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model name (overrides the profile's).")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", help="Config file (default: $INTERLEAF_CONFIG or ~/.config/interleaf/config.toml)."
        ),
    ] = None,
    conditions: Annotated[
        str,
        typer.Option(
            "--conditions",
            "-c",
            help="Comma-separated: keep (replay every thinking block), drop (strip thinking, as most apps "
            "do), restored (drop, through an in-process interleaf serve gateway), current-loop (thinking "
            "only after the last user message).",
        ),
    ] = "keep,drop",
    k: Annotated[
        int, typer.Option("--k", min=1, help="Trials per task and condition; pass^k needs k > 1.")
    ] = 1,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Run only the first N tasks.")] = None,
    tasks: Annotated[
        str | None, typer.Option("--tasks", help="Comma-separated task ids (`interleaf eval tasks SUITE`).")
    ] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", "-j", min=1, help="Trials at once.")] = 8,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Run directory (default: eval-runs/SUITE-MODEL). Re-run to resume."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed for task generation and per-trial sampling.")] = 0,
    option: Annotated[
        list[str] | None,
        typer.Option("--option", "-O", help="Suite option KEY=VALUE, repeatable (e.g. -O lengths=1k,2k)."),
    ] = None,
    context_policy: Annotated[
        str,
        typer.Option(
            "--context-policy",
            help="full, window:TOKENS (keep the opening and the latest steps that fit) or summary[:TOKENS] "
            "(summarise what does not fit into the system prompt).",
        ),
    ] = "full",
    mode: Annotated[str, typer.Option("--mode", help="The agent's mode: lightning or pro.")] = "lightning",
    trial_timeout: Annotated[
        float,
        typer.Option("--trial-timeout", min=1, help="Seconds one trial may take before it is an error."),
    ] = 1800.0,
    ray: Annotated[
        bool,
        typer.Option(
            "--ray",
            help="Run trials as Ray tasks on a Ray runtime started for the run (needs Ray: the eval extra).",
        ),
    ] = False,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address", help="Run trials as Ray tasks on this existing Ray cluster (implies --ray)."
        ),
    ] = None,
) -> None:
    """Run a suite under each condition, paired by task and seed; one JSON line per trial in --out.

    Ctrl-C stops cleanly: finished trials are kept and running the same command again resumes.

    Examples: `interleaf eval run -s needle -p minimax -c keep,drop,restored --k 4` ·
    `interleaf eval run -s bfcl-multi-turn -p vllm --base-url http://gpu:8000/v1 --limit 100` ·
    then `interleaf eval report DIR`.
    """
    from interleaf.backends.errors import BackendError
    from interleaf.config import ConfigError, load_config
    from interleaf.eval.backend import BackendSetupError, BackendSpec
    from interleaf.eval.conditions import parse_conditions
    from interleaf.eval.context_policy import parse_context_policy
    from interleaf.eval.progress import LiveProgress
    from interleaf.eval.ray_exec import RayUnavailableError
    from interleaf.eval.results import ResultsError
    from interleaf.eval.runner import RunConfig, run_eval
    from interleaf.eval.spec import SuiteError

    try:
        chosen = parse_conditions(conditions)
        policy = parse_context_policy(context_policy)
        cfg = load_config(config)
    except (ValueError, ConfigError) as exc:
        _fail("run", str(exc))
        raise
    if mode not in ("lightning", "pro"):
        _fail("run", f"--mode {mode!r} is not a mode; use lightning or pro")
    options: dict[str, str] = {}
    for item in option or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            _fail("run", f"--option {item!r} must be KEY=VALUE (e.g. -O lengths=1k,2k)")
        options[key.strip()] = value.strip()
    name = profile or cfg.profile_name or "local"
    if base_url is not None and profile is None and cfg.profile_name is None:
        _fail("run", "--base-url needs --profile to say which API the server speaks (e.g. vllm, anthropic)")
    directory = out or Path("eval-runs") / f"{suite}-{(model or name).replace('/', '_')}"
    run_config = RunConfig(
        suite=suite,
        backend=BackendSpec(profile=name, base_url=base_url, model=model, config_path=config),
        out=directory,
        conditions=chosen,
        k=k,
        limit=limit,
        task_ids=[t.strip() for t in tasks.split(",") if t.strip()] if tasks else None,
        concurrency=concurrency,
        seed=seed,
        policy=policy,
        options=options,
        mode=mode,
        ray=ray_address or ("local" if ray else None),
        timeout=trial_timeout,
    )
    typer.echo(f"interleaf eval: {suite} on {name}{f' ({model})' if model else ''} -> {directory}", err=True)
    view = LiveProgress()
    try:
        with view:
            summary = asyncio.run(run_eval(run_config, progress=view))
    except KeyboardInterrupt:
        typer.echo(
            f"interrupted: {len(view.records)} trial(s) finished this time are saved in {directory}; "
            "run the same command again to resume",
            err=True,
        )
        raise typer.Exit(INTERRUPTED) from None
    except (SuiteError, BackendSetupError, ResultsError, RayUnavailableError, BackendError) as exc:
        _fail("run", str(exc))
    errors = sum(1 for r in summary.records if r.outcome == "error")
    typer.echo(
        f"done: {len(summary.records)} trial(s) run, {summary.skipped} skipped as already finished, "
        f"{errors} error(s). Report: interleaf eval report {directory}",
        err=True,
    )
    _print_summary(directory)


def _print_summary(directory: Path) -> None:
    from rich.console import Console

    from interleaf.eval.report_data import load_run, summary_table

    Console().print(summary_table(load_run(directory)))


@app.command("report")
def report(
    directory: Annotated[Path, typer.Argument(help="A run directory written by `interleaf eval run`.")],
    resamples: Annotated[int, typer.Option("--resamples", min=100, help="Bootstrap resamples.")] = 2000,
) -> None:
    """Write DIR/report.html (self-contained), DIR/plots/*.png and the linked transcripts."""
    from interleaf.eval.report import write_report
    from interleaf.eval.results import ResultsError

    try:
        path = write_report(directory, resamples=resamples)
    except ResultsError as exc:
        _fail("report", str(exc))
        raise
    typer.echo(str(path))


@app.command("compare")
def compare(
    first: Annotated[Path, typer.Argument(help="A run directory (the baseline).")],
    second: Annotated[Path, typer.Argument(help="Another run directory of the same suite.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON.")] = False,
) -> None:
    """Compare two runs (two models, two deployments): pass@1 per condition and paired deltas with 95% CIs."""
    import json

    from rich.console import Console

    from interleaf.eval.compare import compare_runs, comparison_table
    from interleaf.eval.results import ResultsError

    try:
        result = compare_runs(first, second)
    except ResultsError as exc:
        _fail("compare", str(exc))
        raise
    if json_output:
        typer.echo(json.dumps(result, indent=2))
        return
    Console().print(comparison_table(result))


@app.command("pull")
def pull(
    force: Annotated[
        bool, typer.Option("--force", help="Download and unpack again even if present.")
    ] = False,
) -> None:
    """Fetch the pinned bfcl-eval wheel (no dependencies, never installed) into the cache, verified."""
    from interleaf.eval.suites.bfcl_package import BfclPackageError, pull_bfcl

    try:
        path = pull_bfcl(force=force, echo=lambda m: typer.echo(m, err=True))
    except BfclPackageError as exc:
        typer.echo(f"interleaf eval pull: error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(str(path))


@app.command("suites")
def suites() -> None:
    """The suites and what each measures."""
    from interleaf.eval.suites import SUITES

    for name, description in SUITES.items():
        typer.echo(f"{name:16} {description}")


@app.command("tasks")
def list_tasks(
    suite: Annotated[str, typer.Argument(help="Suite name.")],
    option: Annotated[
        list[str] | None, typer.Option("--option", "-O", help="Suite option KEY=VALUE.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed for generated suites.")] = 0,
) -> None:
    """List a suite's task ids (for --tasks), one per line with its facts."""
    import json

    from interleaf.eval.spec import SuiteError
    from interleaf.eval.suites import get_suite

    options = dict(item.partition("=")[::2] for item in option or [])
    try:
        for task in get_suite(suite).tasks(options, seed):
            info = {k: v for k, v in task.info.items() if not k.startswith("task_")}
            typer.echo(f"{task.id}\t{json.dumps(info)}")
    except SuiteError as exc:
        _fail("tasks", str(exc))
