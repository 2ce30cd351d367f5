"""The before/after section of docs/benchmarks.md, from one run of :mod:`benchmarks.bench_gateway_hardening`."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from benchmarks.gateway_load import Load, error_note


@dataclass
class Soak:
    store: str
    version: str
    result: dict[str, Any]
    cpu_seconds: float
    rss_mib: list[float] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(self.result["statuses"].values())

    @property
    def lost_share(self) -> float:
        sent = self.result["turns"] + self.result["lost"]
        return self.result["lost"] / sent if sent else 0.0

    @property
    def turns_per_second(self) -> float:
        return float(self.result["turns"] / self.result["seconds"])


@dataclass
class Measured:
    names: dict[str, str]
    """Version label -> how the tables name it (label and commit)."""
    cpu: dict[str, Load] = field(default_factory=dict)
    soaks: list[Soak] = field(default_factory=list)
    drains: dict[str, dict[str, Any]] = field(default_factory=dict)
    resets: dict[str, dict[str, float]] = field(default_factory=dict)
    load: tuple[float, float] = (0.0, 0.0)


def report(args: argparse.Namespace, m: Measured) -> str:
    lines = [
        f"## Gateway: before and after the hardening ({args.after})",
        "",
        f"`benchmarks/bench_gateway_hardening.py`: `interleaf serve` at {args.before} (*before*), at "
        f"{args.after} (*after*, the hardening) and at the commit this run measured (*now*), the older ones "
        "exported with `git archive`, each run as users run it, in one run.",
        "",
        *cpu_lines(args, m),
        "",
        *soak_lines(args, m),
        "",
        *drain_lines(args, m),
        "",
        *reset_lines(args, m),
        "",
        *verdicts(args, m),
        "",
        f"Load average {m.load[0]:.2f} → {m.load[1]:.2f} on 2 cores shared with other work.",
    ]
    return "\n".join(lines)


def cpu_lines(args: argparse.Namespace, m: Measured) -> list[str]:
    lines = [
        "**CPU per request**: every version and the bare Starlette + aiohttp proxy running at once in front "
        "of the zero-latency emulator, `wrk` at concurrency 50 on each in turn (the Gateway section's "
        f"request, thinking kept), {args.cpu_rounds} interleaved rounds of {args.cpu_seconds:g} s, each "
        "party's CPU time counted until it had written every reply it captured, medians:",
        "",
        "| version | req/s | CPU per request | × bare proxy |",
        "|---|---:|---:|---:|",
    ]
    bare = m.cpu["bare"].cpu_us or 0.0
    for name, load in m.cpu.items():
        label = "bare Starlette + aiohttp proxy" if name == "bare" else m.names[name]
        cpu = load.cpu_us or 0.0
        lines.append(
            f"| {label}{error_note((load,))} | {load.rps:,.0f} | {cpu:,.0f} µs | {cpu / bare:.2f}× |"
        )
    return lines


def soak_lines(args: argparse.Namespace, m: Measured) -> list[str]:
    lines = [
        f"**Soak**: {args.clients} streaming + {args.clients} non-streaming clients (`tests/support/load.py`, "
        "the soak test's client, on uvloop, in a process of its own) run three-turn tool conversations for "
        f"{args.seconds:g} s after a 2-s warm-up, dropping the thinking of every turn they send back, "
        "against `tests/support/strict_echo.py`, which refuses a turn that lacks its thinking: such a turn "
        "is *lost* (the gateway forwarded it bare) and ends its conversation. SQLite: Anthropic clients, one "
        "gateway. Redis: OpenAI clients and a DeepSeek-style upstream, two replicas on one redis-server "
        "taking turns (turn k of a conversation goes to replica k mod 2). Clients, upstream and gateways "
        "share the two cores, so turns/s is the whole system's; CPU per request is the gateways' own.",
        "",
        "| store | version | turns/s | p50 | p99 | turns lost | refused (503) | other failures "
        "| gateway CPU per request | RSS after |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for soak in m.soaks:
        r = soak.result
        cpu = soak.cpu_seconds * 1e6 / soak.requests if soak.requests else 0.0
        lines.append(
            f"| {soak.store} | {m.names[soak.version]} | {soak.turns_per_second:,.0f} | {r['p50']:.0f} ms "
            f"| {r['p99']:.0f} ms | {r['lost']:,} ({soak.lost_share:.1%}) | {r['refused']:,} "
            f"| {r['unexplained']:,} | {cpu:,.0f} µs | {' + '.join(f'{x:.0f}' for x in soak.rss_mib)} MiB |"
        )
    examples = [e for s in m.soaks for e in s.result["unexplained_examples"]]
    if examples:
        lines += ["", f"Other failures, first examples: {examples[:3]!r}"]
    return lines


def drain_lines(args: argparse.Namespace, m: Measured) -> list[str]:
    lines = [
        f"**Drain**: {args.rate} non-streaming requests a second (the Gateway section's request) sent at a "
        f"steady rate, each timed from when it was due, while {args.bursts} bursts of {args.streams} streams "
        f"({args.stream_chunks} chunks, 50 ms apart) open at once and end together, {args.gap:g} s apart "
        "(the older gateway tidied at most every 30 s, when its last stream ended). *After the drain*: "
        "requests due from 0.1 s before a burst's last stream ended to 1 s after; *while streams run*: "
        "during a burst; *quiet*: the rest (steady requests only). Latency p50 / p99 / max, ms:",
        "",
        "| version | quiet | while streams run | after the streams drained | errors |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, d in m.drains.items():
        cells = [
            f"{d[g]['p50']:.1f} / {d[g]['p99']:.1f} / {d[g]['max']:.1f}"
            for g in ("quiet", "streams", "drain")
        ]
        lines.append(f"| {m.names[label]} | {cells[0]} | {cells[1]} | {cells[2]} | {d['errors']} |")
    return lines


def reset_lines(args: argparse.Namespace, m: Measured) -> list[str]:
    if not m.resets:
        return []
    settle = next(iter(m.resets.values()))["settle_seconds"]
    lines = [
        f"**Reset connections**: {args.resets:,} clients, one after another, each asking `/healthz`, reading "
        "the whole reply and resetting the connection (RST: a killed client, or a proxy purging idle "
        "connections, closes it so). The gateway's RSS once started, right after the last reset, and "
        f"{settle:g} s later (idle; the client keep-alive is 75 s):",
        "",
        f"| version | connections a second | RSS started | right after | {settle:g} s later | held by the resets |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, r in m.resets.items():
        rate = args.resets / r["seconds"] if r["seconds"] else 0.0
        lines.append(
            f"| {m.names[label]} | {rate:,.0f} | {r['started']:.0f} MiB | {r['after']:.0f} MiB "
            f"| {r['settled']:.0f} MiB | {r['settled'] - r['started']:+.0f} MiB |"
        )
    return lines


def verdicts(args: argparse.Namespace, m: Measured) -> list[str]:
    lines = ["In short:", ""]
    if "before" in m.cpu and "after" in m.cpu:
        b, a = (m.cpu[v].cpu_us or 0.0 for v in ("before", "after"))
        now = f", {m.cpu['now'].cpu_us or 0.0:,.0f} µs now" if "now" in m.cpu else ""
        lines.append(f"- CPU per request: {b:,.0f} µs before, {a:,.0f} µs after ({a / b:.2f}×){now}.")
    for store in ("sqlite", "redis"):
        by = {s.version: s for s in m.soaks if s.store == store}
        if "before" in by and "after" in by:
            b_soak, a_soak = by["before"], by["after"]
            now = f", {by['now'].lost_share:.1%} now" if "now" in by else ""
            lines.append(
                f"- {store}: turns lost {b_soak.lost_share:.1%} before, {a_soak.lost_share:.1%} after{now}; "
                f"completed turns/s ×{a_soak.turns_per_second / b_soak.turns_per_second:.2f} after against "
                f"before; p99 {b_soak.result['p99']:.0f} → {a_soak.result['p99']:.0f} ms."
            )
    if "before" in m.drains and "after" in m.drains:
        b_drain, a_drain = m.drains["before"], m.drains["after"]
        lines.append(
            f"- after the streams drained: p99 {b_drain['drain']['p99']:.1f} ms before, "
            f"{a_drain['drain']['p99']:.1f} ms after (max {b_drain['drain']['max']:.1f} → "
            f"{a_drain['drain']['max']:.1f} ms); quiet p99 {b_drain['quiet']['p99']:.1f} → "
            f"{a_drain['quiet']['p99']:.1f} ms."
        )
    if "before" in m.resets and "now" in m.resets:
        b_reset, n_reset = m.resets["before"], m.resets["now"]
        lines.append(
            f"- {args.resets:,} reset connections held {b_reset['settled'] - b_reset['started']:+.0f} MiB "
            f"before, {n_reset['settled'] - n_reset['started']:+.0f} MiB now."
        )
    return lines
