"""``interleaf probe endpoint``: which ways of sending earlier thinking back a model server honours.

For each way (:class:`ReasoningDialect`) the probe sends fabricated tool-loop histories whose earlier
thinking holds a random code (:mod:`interleaf.probe.histories`) and counts the replies that repeat it.
The way is forced per request by overriding the profile's ``thinking_dialect``, so what is measured
is the server, not interleaf's choice. A control (no reasoning) and a baseline (the code in visible
text) guard the verdicts; two checks say whether tool calls and streaming parse.

Servers that verify signatures (Anthropic) reject fabricated thinking, so there the probe runs a real
first turn in which the model invents its own code while thinking, then replays that signed turn.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from interleaf.backends.client import ModelClient
from interleaf.backends.errors import (
    BackendConfigError,
    BackendConnectionError,
    BackendError,
    BackendHTTPError,
    BackendTimeout,
    redact_url,
)
from interleaf.backends.http import HttpClient, RetryPolicy, Timeouts
from interleaf.backends.profiles import Profile
from interleaf.probe import histories
from interleaf.probe.histories import Reply
from interleaf.probe.report import (
    Check,
    EndpointReport,
    Overall,
    Trial,
    Verdict,
    WayResult,
    conclude_endpoint,
    judge,
)
from interleaf.probe.signed import signed_trial
from interleaf.transcript import Conversation, JSONDict, ReasoningDialect, Response

Progress = Callable[[str], None]

OPENAI_WAYS: tuple[ReasoningDialect, ...] = (
    ReasoningDialect.REASONING_CONTENT,
    ReasoningDialect.REASONING,
    ReasoningDialect.REASONING_DETAILS,
    ReasoningDialect.THINK_TAGS,
)
ANTHROPIC_WAYS: tuple[ReasoningDialect, ...] = (ReasoningDialect.ANTHROPIC,)

# Errors after which no further request can succeed: stop instead of repeating them for every way.
_FATAL = (BackendConfigError, BackendConnectionError, BackendTimeout)


class ProbeAborted(Exception):
    """The probe cannot go on (server unreachable, bad key, unknown model)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointOptions:
    """How the endpoint probe runs.

    * ``trials``: requests per way (and for the control and the baseline).
    * ``ways``: the ways to try (default: every way the profile's API can carry); the primary way is
      always tried.
    * ``primary``: the way that decides the outcome (default: the profile's ``thinking_dialect``).
    * ``temperature``/``max_tokens``: generation settings of every request (``None``: the profile's).
    * ``anthropic_thinking``: the ``thinking`` parameter sent to Anthropic-API servers; by default the
      one the model takes for a high effort (:mod:`interleaf.backends.effort`: adaptive, which then
      always thinks, or a budget of 1,024 tokens).
    * ``checks``/``controls``: run the tool-call and streaming checks / the control and baseline.
    * ``seed``: makes the codes reproducible (default: fresh randomness).
    """

    trials: int = 3
    ways: tuple[ReasoningDialect, ...] | None = None
    primary: ReasoningDialect | None = None
    temperature: float | None = None
    max_tokens: int | None = 1024
    anthropic_thinking: JSONDict | None = None
    checks: bool = True
    controls: bool = True
    seed: int | None = None
    timeouts: Timeouts | None = None
    retry: RetryPolicy | None = None


PROBE_EFFORT = "high"
"""The effort asked of Anthropic-API servers: a probe needs thinking in every reply, and an adaptive
model at a lower effort may answer a simple question without any."""


def ways_for(profile: Profile) -> tuple[ReasoningDialect, ...]:
    """Every way the profile's API can carry thinking back."""
    return ANTHROPIC_WAYS if profile.api == "anthropic" else OPENAI_WAYS


class EndpointProbe:
    """Runs the probe against one server. ``progress`` receives one line per request."""

    def __init__(
        self,
        profile: Profile,
        *,
        base_url: str | None = None,
        model: str | None = None,
        api_key: str | None = None,
        options: EndpointOptions | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.profile = profile
        self.base_url = base_url or profile.base_url
        self.model = model
        self.api_key = api_key
        self.options = options or EndpointOptions()
        if self.options.trials < 1:
            raise ValueError("trials must be at least 1")
        self.progress = progress or (lambda line: None)
        self.primary = self.options.primary or profile.thinking_dialect
        available = ways_for(profile)
        if self.primary is not None and self.primary not in available:
            raise BackendConfigError(
                f"the {profile.api} API cannot carry thinking as {self.primary.value}; "
                f"ways it can: {', '.join(w.value for w in available)}"
            )
        chosen = self.options.ways or available
        for way in chosen:
            if way not in available:
                raise BackendConfigError(
                    f"the {profile.api} API cannot carry thinking as {way.value}; "
                    f"ways it can: {', '.join(w.value for w in available)}"
                )
        if self.primary is not None and self.primary not in chosen:
            chosen = (self.primary, *chosen)
        self.ways = tuple(chosen)
        self.signed = profile.verifies_signatures
        self._rng = (
            random.Random(self.options.seed) if self.options.seed is not None else random.SystemRandom()
        )
        self._reply_ways: dict[str, None] = {}
        self._codes: list[str] = []
        self._clients: dict[ReasoningDialect | None, ModelClient] = {}
        self._http: HttpClient | None = None

    # --------------------------------------------------------------------------------- running

    async def run(self) -> EndpointReport:
        """Probe the server; never raises for what the server does (that goes into the report)."""
        checks: list[Check] = []
        ways: list[WayResult] = []
        control = baseline = None
        async with HttpClient(timeouts=self.options.timeouts, retry=self.options.retry) as http:
            self._http, self._clients = http, {}
            try:
                if self.options.checks:
                    checks = await self._checks()
                if self.signed:
                    ways = [await self._signed_way()]
                else:
                    ways = [await self._way(way) for way in self.ways]
                    if self.options.controls:
                        baseline = await self._baseline()
                        control = await self._control()
            except ProbeAborted as exc:
                return self._report(Overall.UNPROBED, f"could not probe: {exc}", [])
        ways, overall, summary, notes = conclude_endpoint(ways, control=control, baseline=baseline)
        if self.signed:
            notes.insert(
                0,
                f"the {self.profile.name} backend verifies thinking signatures, so fabricated thinking "
                "cannot be probed: each trial ran a real first turn in which the model invented its own "
                "code while thinking, then replayed that signed turn (no control or baseline possible)",
            )
        if self.primary is None:
            notes.append(
                f"the {self.profile.name} profile sends no thinking back (thinking_dialect is none); "
                "the outcome is for the best way"
            )
        return self._report(
            overall,
            summary,
            notes,
            ways=tuple(ways),
            control=control,
            baseline=baseline,
            checks=tuple(checks),
        )

    def _report(self, overall: Overall, summary: str, notes: list[str], **results: Any) -> EndpointReport:
        return EndpointReport(
            overall=overall,
            summary=summary,
            notes=tuple(notes),
            profile=self.profile.name,
            url=redact_url(self.profile.url(self.base_url)) if self.base_url else "",
            model=self.model,
            mode="signed" if self.signed else "fabricated",
            primary_way=None if self.primary is None else self.primary.value,
            reply_ways=tuple(self._reply_ways),
            **results,
        )

    def _client(self, way: ReasoningDialect | None) -> ModelClient:
        """The client sending thinking ``way`` (``None``: as the profile does), made on first use.

        All share one connection pool and the model the first request settled on, so a profile that
        discovers its model asks the server once."""
        client = self._clients.get(way)
        if client is None:
            profile = self.profile if way is None else self.profile.with_overrides(thinking_dialect=way)
            try:
                client = ModelClient(
                    profile, base_url=self.base_url, model=self.model, api_key=self.api_key, http=self._http
                )
            except BackendConfigError as exc:
                raise ProbeAborted(str(exc)) from None
            self._clients[way] = client
        return client

    def _params(self) -> JSONDict:
        params: JSONDict = {}
        if self.options.temperature is not None:
            params["temperature"] = self.options.temperature
        if self.options.max_tokens is not None:
            params["max_tokens"] = self.options.max_tokens
        if self.profile.api == "anthropic":
            if self.options.anthropic_thinking is not None:
                params["thinking"] = dict(self.options.anthropic_thinking)
            else:
                params["reasoning_effort"] = PROBE_EFFORT
            # With thinking on, Anthropic accepts no temperature but 1: leave it to the profile.
            params.pop("temperature", None)
        return params

    async def _ask(
        self, way: ReasoningDialect | None, conversation: Conversation, *, stream: bool = False
    ) -> Response:
        """One request; fatal errors abort the probe, others propagate to be recorded per trial."""
        client = self._client(way)
        try:
            response = await client.complete(conversation, stream=stream)
            self.model = client.model
        except _FATAL as exc:
            raise ProbeAborted(str(exc)) from None
        except BackendHTTPError as exc:
            if exc.status in (401, 403, 404):
                raise ProbeAborted(str(exc)) from None
            raise
        for block in response.message.thinking:
            if block.dialect is not None:
                self._reply_ways.setdefault(block.dialect.value)
        return response

    # ---------------------------------------------------------------------------------- checks

    async def _checks(self) -> list[Check]:
        conversation = histories.tool_check(self._params())
        checks = []
        for stream in (False, True):
            name = "streaming" if stream else "tool calls"
            self.progress(f"check {name} …")
            try:
                response = await self._ask(None, conversation, stream=stream)
            except BackendError as exc:
                if not stream:  # the very first request: nothing else will work either
                    raise ProbeAborted(str(exc)) from None
                checks.append(Check(name=name, status="error", detail=str(exc)))
                continue
            calls = response.message.tool_calls
            if not stream:
                if calls and calls[0].name == histories.TOOL_NAME:
                    checks.append(
                        Check(name=name, status="ok", detail=f"{calls[0].name}({calls[0].arguments_json})")
                    )
                else:
                    detail = "no structured tool call came back: " + Reply.of(response).excerpt()
                    checks.append(Check(name=name, status="failed", detail=detail))
            elif response.message.blocks:
                what = "tool call" if calls else "text" if response.message.text else "thinking only"
                checks.append(Check(name=name, status="ok", detail=f"complete streamed reply ({what})"))
            else:
                checks.append(
                    Check(name=name, status="failed", detail="the stream completed with an empty reply")
                )
            self.progress(f"check {name}: {checks[-1].status}")
        return checks

    # ---------------------------------------------------------------------------------- trials

    async def _trials(
        self,
        label: str,
        way: ReasoningDialect | None,
        build: Callable[[str], Conversation],
        *,
        control: bool = False,
    ) -> tuple[Trial, ...]:
        """``trials`` requests, each with a fresh code that ``build`` places in the conversation. A
        ``control`` places none and watches for every code this run has sent."""
        trials = []
        for number in range(1, self.options.trials + 1):
            code = histories.new_code(self._rng)
            watched = self._codes if control else [code]
            if not control:
                self._codes.append(code)
            try:
                response = await self._ask(way, build(code))
            except BackendError as exc:
                trial = Trial(code=None if control else code, error=str(exc))
            else:
                reply = Reply.of(response)
                found = next(((c, where) for c in watched if (where := reply.where(c))), None)
                if found is None:
                    trial = Trial(code=None if control else code, reply=reply.excerpt())
                else:
                    trial = Trial(code=found[0], found_in=found[1], reply=reply.excerpt())
            self.progress(f"{label} trial {number}/{self.options.trials}: {_outcome(trial)}")
            trials.append(trial)
        return tuple(trials)

    async def _way(self, way: ReasoningDialect) -> WayResult:
        params = self._params()
        trials = await self._trials(way.value, way, lambda code: histories.way_trial(code, params))
        return WayResult(way=way.value, trials=trials, verdict=judge(trials), primary=way == self.primary)

    async def _baseline(self) -> WayResult:
        params = self._params()
        trials = await self._trials("baseline", None, lambda code: histories.baseline_trial(code, params))
        note = "the code in the earlier turn's visible text: shows the model can repeat a code at all"
        return WayResult(way="baseline", trials=trials, verdict=judge(trials), note=note)

    async def _control(self) -> WayResult:
        """The loop with no reasoning and no code, run last: a reply holding any code of this run
        means codes reach the model some other way (a cache keyed by the tool-call id, say)."""
        params = self._params()
        trials = await self._trials("control", None, lambda _: histories.control_trial(params), control=True)
        verdict = Verdict.KEPT if any(t.hit for t in trials) else judge(trials)
        return WayResult(
            way="control",
            trials=trials,
            verdict=verdict,
            note="must stay at 0 hits: nothing to repeat was sent",
        )

    async def _signed_way(self) -> WayResult:
        way = ReasoningDialect.ANTHROPIC
        params = self._params()
        trials = []
        for n in range(1, self.options.trials + 1):
            trial = await signed_trial(lambda conversation: self._ask(way, conversation), params)
            self.progress(f"{way.value} (signed) trial {n}/{self.options.trials}: {_outcome(trial)}")
            trials.append(trial)
        result = tuple(trials)
        return WayResult(
            way=way.value,
            trials=result,
            verdict=judge(result),
            primary=self.primary == way,
            note="real first turn, signed thinking replayed",
        )


def _outcome(trial: Trial) -> str:
    if trial.error is not None:
        return f"error ({trial.error[:120]})"
    return f"hit ({trial.found_in})" if trial.hit else "miss"


async def probe_endpoint(
    profile: Profile,
    *,
    base_url: str | None = None,
    model: str | None = None,
    api_key: str | None = None,
    options: EndpointOptions | None = None,
    progress: Progress | None = None,
) -> EndpointReport:
    """Probe one server (see :class:`EndpointProbe`)."""
    probe = EndpointProbe(
        profile, base_url=base_url, model=model, api_key=api_key, options=options, progress=progress
    )
    return await probe.run()


__all__ = [
    "ANTHROPIC_WAYS",
    "OPENAI_WAYS",
    "EndpointOptions",
    "EndpointProbe",
    "ProbeAborted",
    "probe_endpoint",
    "ways_for",
]
