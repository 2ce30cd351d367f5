"""What the probes found: plain result values, the verdict rules, exit codes and JSON.

Every probe (endpoint, template, and later the client probe) returns a :class:`ProbeReport`
subclass carrying one :class:`Overall` outcome that maps to the exit code CI scripts read:

* ``kept`` (0) — the thinking that matters survived;
* ``leak`` (1) — it was lost somewhere, and the report names where;
* ``unprobed`` (2) — the probe could not tell (server unreachable, model too weak, invalid control).

Rendering lives in :mod:`interleaf.probe.render`; nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from interleaf.probe.template_results import FieldResult, StackResult, TemplateOption
from interleaf.transcript import ReasoningDialect

JSON_VERSION = 1


class Verdict(StrEnum):
    """What happened to thinking sent one way (or to one message's reasoning in a template)."""

    KEPT = "kept"
    DROPPED = "dropped"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"


class Overall(StrEnum):
    KEPT = "kept"
    LEAK = "leak"
    UNPROBED = "unprobed"

    @property
    def exit_code(self) -> int:
        return {Overall.KEPT: 0, Overall.LEAK: 1, Overall.UNPROBED: 2}[self]


WAY_LABELS: dict[str, str] = {
    ReasoningDialect.ANTHROPIC: "Anthropic thinking blocks",
    ReasoningDialect.REASONING_CONTENT: "reasoning_content",
    ReasoningDialect.REASONING: "reasoning",
    ReasoningDialect.REASONING_DETAILS: "reasoning_details",
    ReasoningDialect.THINK_TAGS: "<think> in content",
    "control": "control: no reasoning sent",
    "baseline": "baseline: code in visible text",
}


def kept_threshold(attempted: int) -> int:
    """Hits needed for ``kept``: two thirds of the trials that got an answer, rounded up."""
    return -(-2 * attempted // 3)


# ------------------------------------------------------------------------------------- endpoint


@dataclass(frozen=True, slots=True, kw_only=True)
class Trial:
    """One request of a way. ``found_in`` is where the code appeared (``thinking``, ``text``,
    ``tool_call``), ``None`` for a miss; ``error`` says why the trial produced no answer."""

    code: str | None
    found_in: str | None = None
    reply: str = ""
    error: str | None = None

    @property
    def hit(self) -> bool:
        return self.found_in is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "hit": self.hit,
            "found_in": self.found_in,
            "reply": self.reply,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class WayResult:
    """The trials of one way of sending reasoning back (or of the control / baseline)."""

    way: str
    trials: tuple[Trial, ...]
    verdict: Verdict
    primary: bool = False
    note: str = ""

    @property
    def label(self) -> str:
        return WAY_LABELS.get(self.way, self.way)

    @property
    def hits(self) -> int:
        return sum(t.hit for t in self.trials)

    @property
    def attempted(self) -> int:
        """Trials that got an answer."""
        return sum(t.error is None for t in self.trials)

    @property
    def errors(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.error for t in self.trials if t.error is not None))

    def to_json(self) -> dict[str, Any]:
        return {
            "way": self.way,
            "label": self.label,
            "verdict": self.verdict.value,
            "hits": self.hits,
            "trials": len(self.trials),
            "answered": self.attempted,
            "primary": self.primary,
            "note": self.note,
            "evidence": [t.to_json() for t in self.trials],
        }


def judge(trials: tuple[Trial, ...]) -> Verdict:
    """``kept`` at two thirds of the answered trials or more, ``dropped`` at none, else inconclusive;
    ``error`` when no trial was answered."""
    attempted = sum(t.error is None for t in trials)
    if attempted == 0:
        return Verdict.ERROR
    hits = sum(t.hit for t in trials)
    if hits == 0:
        return Verdict.DROPPED
    return Verdict.KEPT if hits >= kept_threshold(attempted) else Verdict.INCONCLUSIVE


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    """A yes/no capability: ``ok``, ``failed`` (answered, but not as it should), ``error``, ``skipped``."""

    name: str
    status: str
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "detail": self.detail}


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeReport:
    """What every probe reports: the outcome, one sentence saying why, and further notes."""

    kind: ClassVar[str] = "probe"
    overall: Overall
    summary: str
    notes: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        return self.overall.exit_code

    def to_json(self) -> dict[str, Any]:
        return {
            "interleaf_probe": JSON_VERSION,
            "kind": self.kind,
            "overall": self.overall.value,
            "exit_code": self.exit_code,
            "summary": self.summary,
            "notes": list(self.notes),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointReport(ProbeReport):
    """``interleaf probe endpoint``. ``mode`` is ``fabricated`` (the probe writes the earlier thinking)
    or ``signed`` (a real first turn, for servers that verify signatures)."""

    kind: ClassVar[str] = "endpoint"
    profile: str
    url: str
    model: str | None
    mode: str
    primary_way: str | None
    ways: tuple[WayResult, ...] = ()
    control: WayResult | None = None
    baseline: WayResult | None = None
    checks: tuple[Check, ...] = ()
    reply_ways: tuple[str, ...] = ()
    """Where the endpoint's own replies carried reasoning (``reasoning_content``, ``anthropic``...)."""

    def to_json(self) -> dict[str, Any]:
        out = ProbeReport.to_json(self)
        out.update(
            profile=self.profile,
            url=self.url,
            model=self.model,
            mode=self.mode,
            primary_way=self.primary_way,
            ways=[w.to_json() for w in self.ways],
            control=None if self.control is None else self.control.to_json(),
            baseline=None if self.baseline is None else self.baseline.to_json(),
            checks=[c.to_json() for c in self.checks],
            reply_ways=list(self.reply_ways),
        )
        return out


def conclude_endpoint(
    ways: list[WayResult],
    *,
    control: WayResult | None,
    baseline: WayResult | None,
) -> tuple[list[WayResult], Overall, str, list[str]]:
    """Apply the controls to the ways' verdicts and decide the outcome.

    A baseline the model fails turns every ``dropped`` into ``inconclusive`` (silence proves nothing
    when the model cannot repeat a code it can plainly see). A control that repeats a code voids the
    whole probe. The outcome follows the primary way (where the profile sends thinking back); with
    none, the best way.
    """
    notes: list[str] = []
    weak = baseline is not None and baseline.verdict is not Verdict.KEPT and baseline.attempted > 0
    if weak:
        assert baseline is not None
        ways = [
            _replace_verdict(w, Verdict.INCONCLUSIVE, "no hits, but the model also failed the baseline")
            if w.verdict is Verdict.DROPPED
            else w
            for w in ways
        ]
        notes.append(
            f"model too weak to probe reliably: it repeated a code it could see in plain text only "
            f"{baseline.hits}/{len(baseline.trials)} times; use a stronger model or check its sampling settings"
        )
    best = max((w.hits / max(len(w.trials), 1) for w in ways), default=0.0)
    if ways and 0 < best < 2 / 3 and not weak:
        notes.append(
            "even the best way repeated the code in under two thirds of the trials: the model is weak"
        )

    answered = any(w.attempted for w in ways)
    if not answered:
        reasons = "; ".join(dict.fromkeys(e for w in ways for e in w.errors)) or "no way was tried"
        return ways, Overall.UNPROBED, f"could not probe: no trial got an answer ({reasons})", notes
    if control is not None and control.hits:
        return (
            ways,
            Overall.UNPROBED,
            "could not probe: the control (no reasoning sent) repeated the code, so the code reaches "
            "the model some other way and no verdict can be trusted",
            notes,
        )
    primary = next((w for w in ways if w.primary), None)
    if primary is None:
        kept = [w for w in ways if w.verdict is Verdict.KEPT]
        if kept:
            return ways, Overall.KEPT, f"thinking survives when sent as {_names(kept)}", notes
        if any(w.verdict is Verdict.DROPPED for w in ways) and not any(
            w.verdict is Verdict.INCONCLUSIVE for w in ways
        ):
            return ways, Overall.LEAK, "thinking is lost whichever way it is sent", notes
        return ways, Overall.UNPROBED, "could not tell whether any way keeps thinking", notes
    others = [w for w in ways if w is not primary and w.verdict is Verdict.KEPT]
    also = f" (also kept: {_names(others)})" if others else ""
    if primary.verdict is Verdict.KEPT:
        return ways, Overall.KEPT, f"thinking sent as {primary.label} survives{also}", notes
    if primary.verdict is Verdict.DROPPED:
        hint = f"; send it as {_names(others)} instead" if others else ""
        return ways, Overall.LEAK, f"thinking sent as {primary.label} is dropped{hint}", notes
    why = "; ".join(primary.errors) if primary.verdict is Verdict.ERROR else primary.note or "too few hits"
    return ways, Overall.UNPROBED, f"could not tell whether {primary.label} keeps thinking ({why})", notes


def _names(ways: list[WayResult]) -> str:
    return ", ".join(w.label for w in ways)


def _replace_verdict(way: WayResult, verdict: Verdict, note: str) -> WayResult:
    return WayResult(way=way.way, trials=way.trials, verdict=verdict, primary=way.primary, note=note)


# ------------------------------------------------------------------------------------- template


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateReport(ProbeReport):
    """``interleaf probe template``: per way of carrying reasoning (``fields``) the verdict for every
    assistant message of the probe's conversations and the rule they show; per serving stack and
    client field (``stacks``) what survives of the current tool loop; the options the template reads
    (``options``) and those this run passed (``template_kwargs``)."""

    kind: ClassVar[str] = "template"
    source: str
    name: str | None = None
    template_kwargs: tuple[tuple[str, Any], ...] = ()
    options: tuple[TemplateOption, ...] = ()
    fields: tuple[FieldResult, ...] = ()
    stacks: tuple[StackResult, ...] = ()
    checks: tuple[Check, ...] = ()
    generation_prompt: str | None = None
    """What ``add_generation_prompt`` appends (does it open ``<think>``?); ``None`` when unknown."""

    def field(self, name: str) -> FieldResult:
        """The result for one carrier (``reasoning_content``, ``<think> in content`` ...)."""
        for result in self.fields:
            if result.field == name:
                return result
        raise KeyError(f"no carrier {name!r} was probed; probed: {', '.join(f.field for f in self.fields)}")

    def to_json(self) -> dict[str, Any]:
        out = ProbeReport.to_json(self)
        out.update(
            source=self.source,
            name=self.name,
            template_kwargs=dict(self.template_kwargs),
            options=[o.to_json() for o in self.options],
            generation_prompt=self.generation_prompt,
            fields=[f.to_json() for f in self.fields],
            stacks=[s.to_json() for s in self.stacks],
            checks=[c.to_json() for c in self.checks],
        )
        return out
