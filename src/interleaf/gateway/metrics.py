"""Prometheus metrics, written by hand in the text exposition format (version 0.0.4).

Why not ``prometheus_client``: the gateway needs a dozen counters, one gauge and one histogram, all
updated from the single event-loop thread. A dict increment costs ~50 ns and needs no lock; the
exposition is 60 lines; and the package stays free of a dependency that only this endpoint would use.

Label cardinality is bounded: the tenant label is a 12-hex-digit keyed hash (never the key), the
user-agent label is the client's product token (``Anthropic/Python``, ``OpenAI/Python``,
``claude-cli``) without versions, and past :data:`MAX_SERIES` label sets per metric further ones are
counted under ``other``.
"""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from collections.abc import Iterable

MAX_SERIES = 1000
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
_PRODUCT = re.compile(r"[A-Za-z][A-Za-z0-9._-]*(?:/[A-Za-z][A-Za-z0-9._-]*)?")

Labels = tuple[tuple[str, str], ...]


def user_agent_label(user_agent: str | None) -> str:
    """The product part of a User-Agent: ``Anthropic/Python 0.40.0`` -> ``Anthropic/Python``."""
    if not user_agent:
        return "unknown"
    match = _PRODUCT.match(user_agent.strip())
    return match[0][:48] if match else "other"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _format_labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels) + "}"


class Counter:
    def __init__(self, name: str, help: str, label_names: tuple[str, ...] = ()) -> None:
        self.name = name
        self.help = help
        self.label_names = label_names
        self.values: dict[Labels, float] = {}

    def inc(self, *label_values: str, amount: float = 1.0) -> None:
        if amount == 0:
            return
        key = tuple(zip(self.label_names, label_values, strict=True))
        if key not in self.values and len(self.values) >= MAX_SERIES:
            key = tuple((name, "other") for name in self.label_names)
        self.values[key] = self.values.get(key, 0.0) + amount

    def value(self, *label_values: str) -> float:
        """One series' value (tests and /healthz); label values in ``label_names`` order."""
        return self.values.get(tuple(zip(self.label_names, label_values, strict=True)), 0.0)

    def total(self) -> float:
        return sum(self.values.values())

    def expose(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} counter"
        for labels, value in self.values.items():
            yield f"{self.name}{_format_labels(labels)} {value:g}"


class Gauge:
    def __init__(self, name: str, help: str) -> None:
        self.name = name
        self.help = help
        self.value = 0.0

    def expose(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} gauge"
        yield f"{self.name} {self.value:g}"


class Histogram:
    """Seconds, per endpoint."""

    def __init__(self, name: str, help: str) -> None:
        self.name = name
        self.help = help
        self.series: dict[str, list[float]] = defaultdict(lambda: [0.0] * (len(_BUCKETS) + 2))

    def observe(self, endpoint: str, seconds: float) -> None:
        counts = self.series[endpoint]  # [bucket counts..., +Inf count, sum]
        counts[bisect.bisect_left(_BUCKETS, seconds)] += 1
        counts[-1] += seconds

    def expose(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} histogram"
        for endpoint, counts in self.series.items():
            cumulative = 0.0
            for bound, count in zip((*_BUCKETS, float("inf")), counts[:-1], strict=True):
                cumulative += count
                le = "+Inf" if bound == float("inf") else f"{bound:g}"
                yield f'{self.name}_bucket{{endpoint="{endpoint}",le="{le}"}} {cumulative:g}'
            yield f'{self.name}_sum{{endpoint="{endpoint}"}} {counts[-1]:.6f}'
            yield f'{self.name}_count{{endpoint="{endpoint}"}} {cumulative:g}'


class Metrics:
    """Every metric the gateway exports."""

    def __init__(self) -> None:
        self.requests = Counter(
            "interleaf_requests_total",
            "Requests answered, by endpoint and HTTP status.",
            ("endpoint", "status"),
        )
        self.restored = Counter(
            "interleaf_turns_restored_total",
            "Assistant turns whose dropped thinking was restored, by tenant hash and client user-agent.",
            ("tenant", "user_agent"),
        )
        self.missing = Counter(
            "interleaf_turns_missing_total",
            "Assistant turns without their thinking that could not be restored, by tenant hash and "
            "client user-agent.",
            ("tenant", "user_agent"),
        )
        self.stored = Counter(
            "interleaf_turns_stored_total", "Assistant turns written to the thinking store."
        )
        self.store_errors = Counter(
            "interleaf_store_errors_total",
            "Thinking-store operations that failed (the request was served without them).",
            ("operation",),
        )
        self.capture_errors = Counter(
            "interleaf_capture_errors_total",
            "Replies not stored (or not in time), by reason: unreadable, limits, too_deep, unwritten (sent "
            "before a write to a shared store landed), store_unavailable (dropped after the store failed for "
            "too long), internal, worker.",
            ("reason",),
        )
        self.rejected = Counter(
            "interleaf_requests_rejected_total",
            "Requests refused before any work, by reason: overloaded (too many in flight), "
            "capture_backlog (replies waiting to be stored).",
            ("reason",),
        )
        self.foreign = Counter(
            "interleaf_turns_foreign_total",
            "Assistant turns without thinking that this gateway never served (an app's own messages, "
            "history from before the gateway), by tenant hash and client user-agent.",
            ("tenant", "user_agent"),
        )
        self.unserved = Counter(
            "interleaf_unserved_requests_total",
            "Requests for a path or feature this gateway does not serve, by path and client user-agent.",
            ("path", "user_agent"),
        )
        self.upstream_errors = Counter(
            "interleaf_upstream_errors_total", "Failures talking to the upstream, by kind.", ("kind",)
        )
        self.not_recorded = Counter(
            "interleaf_requests_not_recorded_total",
            "Requests --record did not keep because its writer was behind (its queue was full).",
        )
        self.client_disconnects = Counter(
            "interleaf_client_disconnects_total", "Streams the client closed before they ended."
        )
        self.streams = Gauge("interleaf_active_streams", "Streams being relayed now.")
        self.duration = Histogram(
            "interleaf_request_duration_seconds",
            "Time to the end of the response (streams: to the last byte), by endpoint.",
        )

    def expose(self) -> str:
        lines: list[str] = []
        for metric in (
            self.requests,
            self.restored,
            self.missing,
            self.stored,
            self.store_errors,
            self.capture_errors,
            self.rejected,
            self.foreign,
            self.unserved,
            self.upstream_errors,
            self.not_recorded,
            self.client_disconnects,
            self.streams,
            self.duration,
        ):
            lines.extend(metric.expose())
        return "\n".join(lines) + "\n"
