"""Running the judge: any profile, the embedded model by default; batched, cached, resumable.

Rows are judged ``concurrency`` at a time; every verdict goes into the cache the moment it arrives,
so an interrupted run loses at most the calls in flight and the next run resumes. Where the server
speaks OpenAI Chat the reply is constrained to the verdict's JSON schema (``response_format``; the
embedded llama.cpp server enforces it with a grammar). A reply that is not a valid verdict is asked
for once more, with what was wrong; if that fails too the row is recorded as unjudged, never fatal.
An unreachable judge stops the judging (the rest are recorded as unjudged, with the endpoint named)
but not the run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from interleaf.backends.client import ModelClient
from interleaf.backends.errors import (
    BackendConfigError,
    BackendConnectionError,
    BackendError,
    BackendTimeout,
    redact_url,
)
from interleaf.backends.http import RetryPolicy, Timeouts
from interleaf.data.errors import JudgeError
from interleaf.data.judge.cache import VerdictCache, cache_key
from interleaf.data.judge.rubric import (
    RESPONSE_SCHEMA,
    SYSTEM_PROMPT,
    Verdict,
    VerdictError,
    digest,
    parse_verdict,
)
from interleaf.paths import data_dir
from interleaf.transcript import Conversation, Message, Text

Status = Literal["judged", "unjudged", "skipped"]


@dataclass(frozen=True, slots=True)
class JudgeSettings:
    """Who judges and how. ``profile`` is any backend profile (``local``: the embedded model, started
    for the run); ``model``/``base_url``/``api_key`` override it. ``limit`` judges at most that many
    rows (the rest are ``skipped``). ``cache_path`` defaults to ``$INTERLEAF_HOME/data/judge-cache.db``."""

    profile: str = "local"
    model: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    concurrency: int = 4
    max_chars: int = 2400
    max_tokens: int = 256
    limit: int | None = None
    cache_path: Path | None = None
    config_file: Path | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    status: Status
    verdict: Verdict | None = None
    note: str = ""
    cached: bool = False


@dataclass
class JudgeReport:
    judge: str = ""
    endpoint: str = ""
    judged: int = 0
    cached: int = 0
    unjudged: int = 0
    skipped: int = 0
    retried: int = 0
    seconds: float = 0.0
    calls: int = 0
    error: str | None = None
    """One line when the judge became unreachable (the run continued without it)."""
    notes: list[str] = field(default_factory=list)


class _Unreachable(Exception):
    pass


@asynccontextmanager
async def open_client(settings: JudgeSettings) -> AsyncIterator[ModelClient]:
    """A client for the judge; for ``local`` without a base URL, the embedded server started for it."""
    from interleaf.backends.resolve import resolve_profile
    from interleaf.config import ConfigError, load_config

    try:
        config = load_config(settings.config_file)
        profile = resolve_profile(settings.profile, config, base_url=settings.base_url, model=settings.model)
    except (BackendConfigError, ConfigError) as exc:
        raise JudgeError(f"judge profile {settings.profile!r}: {exc}") from None
    async with AsyncExitStack() as stack:
        base_url = settings.base_url
        if profile.name == "local" and base_url is None:
            from interleaf.backends.local import start_default_server

            try:
                server = await start_default_server(pull=False)
            except BackendError as exc:
                raise JudgeError(
                    f"the embedded judge model cannot start ({exc}); run `interleaf model pull`, "
                    "or pass --judge-profile"
                ) from None
            stack.push_async_callback(server.aclose)
            base_url = server.base_url
        try:
            client = ModelClient(
                profile,
                base_url=base_url,
                model=settings.model,
                api_key=settings.api_key,
                timeouts=Timeouts(connect=10.0, first_byte=600.0, idle=120.0, total=900.0),
                retry=RetryPolicy(max_retries=2),
            )
        except BackendError as exc:
            raise JudgeError(f"judge profile {settings.profile!r}: {exc}") from None
        stack.push_async_callback(client.aclose)
        yield client


def _request(client: ModelClient, text: str, settings: JudgeSettings, retry_note: str | None) -> Conversation:
    messages = [
        Message(role="system", blocks=(Text(text=SYSTEM_PROMPT),), plain=True),
        Message(role="user", blocks=(Text(text=text),), plain=True),
    ]
    if retry_note is not None:
        messages[-1] = Message(
            role="user",
            blocks=(
                Text(
                    text=f"{text}\n\nYour previous reply was rejected: {retry_note}. Reply with the JSON object only."
                ),
            ),
            plain=True,
        )
    openai = client.profile.api == "openai-chat"
    return Conversation(
        messages=tuple(messages),
        params={"temperature": 0.0, "max_tokens": settings.max_tokens},
        extra={
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "verdict", "schema": RESPONSE_SCHEMA},
            }
        }
        if openai
        else {},
        source="openai-chat" if openai else None,
    )


async def _ask(client: ModelClient, text: str, settings: JudgeSettings, report: JudgeReport) -> Outcome:
    note: str | None = None
    for attempt in range(2):
        report.calls += 1
        try:
            response = await client.complete(_request(client, text, settings, note))
        except (BackendConnectionError, BackendTimeout) as exc:
            raise _Unreachable(str(exc)) from None
        except BackendError as exc:
            return Outcome("unjudged", note=f"judge error: {str(exc).splitlines()[0]}")
        try:
            return Outcome("judged", parse_verdict(response.message.text))
        except VerdictError as exc:
            note = str(exc)
            if attempt == 0:
                report.retried += 1
    return Outcome("unjudged", note=f"invalid verdict twice: {note}")


async def judge_conversations(
    items: Sequence[tuple[str, Conversation]],
    settings: JudgeSettings,
    *,
    client: ModelClient | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, Outcome], JudgeReport]:
    """Judge ``(row id, conversation)`` pairs; never raises for one bad row or an unreachable judge."""
    report = JudgeReport()
    outcomes: dict[str, Outcome] = {}
    started = time.perf_counter()
    cache = VerdictCache(settings.cache_path or data_dir() / "data" / "judge-cache.db")
    try:
        async with AsyncExitStack() as stack:
            if client is None:
                client = await stack.enter_async_context(open_client(settings))
            judge = f"{client.profile.name}:{client.model or ''}"
            report.judge = judge
            report.endpoint = redact_url(client.url)
            pending: list[tuple[str, str, str]] = []
            for number, (row_id, conversation) in enumerate(items):
                if settings.limit is not None and number >= settings.limit:
                    outcomes[row_id] = Outcome("skipped", note="over --judge-limit")
                    continue
                text = digest(conversation, settings.max_chars)
                key = cache_key(judge, text)
                cached = cache.get(key)
                if cached is not None:
                    outcomes[row_id] = Outcome("judged", cached, cached=True)
                else:
                    pending.append((row_id, text, key))
            done = len(outcomes)
            if on_progress is not None:
                on_progress(done, len(items))
            size = max(1, settings.concurrency)
            for offset in range(0, len(pending), size):
                batch = pending[offset : offset + size]
                results = await asyncio.gather(
                    *(_ask(client, text, settings, report) for _, text, _ in batch), return_exceptions=True
                )
                unreachable: _Unreachable | None = None
                for (row_id, _, key), result in zip(batch, results, strict=True):
                    if isinstance(result, _Unreachable):
                        unreachable = result
                        continue
                    if isinstance(result, BaseException):
                        raise result
                    outcomes[row_id] = result
                    if result.verdict is not None:
                        cache.put(key, result.verdict, judge)
                done += len(batch)
                if on_progress is not None:
                    on_progress(done, len(items))
                if unreachable is not None:
                    report.error = (
                        f"judge at {report.endpoint} is unreachable: {str(unreachable).splitlines()[0]}"
                    )
                    break
    except JudgeError as exc:
        report.error = str(exc)
    finally:
        cache.close()
    for row_id, _ in items:
        if row_id not in outcomes:
            outcomes[row_id] = Outcome("unjudged", note=report.error or "not judged")
    for outcome in outcomes.values():
        if outcome.status == "judged":
            report.judged += 1
            report.cached += outcome.cached
        elif outcome.status == "unjudged":
            report.unjudged += 1
        else:
            report.skipped += 1
    report.seconds = round(time.perf_counter() - started, 2)
    return outcomes, report
