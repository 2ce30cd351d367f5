"""``python -m tests.compat``: run the compatibility matrix and print the app x dialect table.

Examples::

    python -m tests.compat                               # every installed app, every cell
    python -m tests.compat --app claude-code --app codex # some apps
    python -m tests.compat --dialect anthropic --route gateway --gateway-src head
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from tests.compat.apps import APPS
from tests.compat.dialects import DIALECTS
from tests.compat.gateway import gateway_source
from tests.compat.sandbox import CACHE, PROJECT
from tests.compat.suite import default_jobs, failures, matrix, run_matrix
from tests.compat.table import markdown, reasons, write_json


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.compat", description=__doc__.splitlines()[0])
    parser.add_argument("--app", action="append", default=[], choices=sorted(APPS), help="default: all")
    parser.add_argument(
        "--dialect", action="append", default=[], choices=sorted(DIALECTS), help="default: all"
    )
    parser.add_argument(
        "--api", action="append", default=[], choices=["anthropic", "openai-chat", "openai-responses"]
    )
    parser.add_argument("--route", action="append", default=[], choices=["direct", "gateway"])
    parser.add_argument(
        "--full", action="store_true", help="every cross-format route, not only the usual ones"
    )
    parser.add_argument(
        "--jobs", type=int, default=default_jobs(), help="cells at once (default: %(default)s)"
    )
    parser.add_argument(
        "--gateway-src",
        choices=["checkout", "head"],
        default="checkout",
        help="run the gateway from the working tree (default) or from the last commit",
    )
    parser.add_argument("--json", type=Path, default=CACHE / "results.json", help="default: %(default)s")
    parser.add_argument(
        "--record-fixtures",
        action="store_true",
        help="write each direct cell's request shapes to tests/fixtures/apps/",
    )
    args = parser.parse_args(argv)
    cells = matrix(args.app, args.dialect, args.api, args.route, full=args.full)
    if not cells:
        parser.error("no cell matches these filters")
    fixtures = PROJECT / "tests" / "fixtures" / "apps" if args.record_fixtures else None
    print(f"running {len(cells)} cells, {args.jobs} at a time", flush=True)
    started = time.monotonic()
    results = asyncio.run(
        run_matrix(
            cells,
            jobs=args.jobs,
            gateway_src=gateway_source(args.gateway_src),
            fixtures=fixtures,
            progress=True,
        )
    )
    seconds = time.monotonic() - started
    broken = failures(results)
    write_json(args.json, results, broken, seconds)
    print()
    print(markdown(results))
    print()
    print("Cells that did not pass:")
    print(reasons(results) or "- none")
    print()
    print(f"{len(cells)} cells in {seconds:.0f} s; results in {args.json}")
    if broken:
        print(f"{len(broken)} gateway cell(s) break the promise:")
        for failure in broken:
            print(f"  {failure.cell.key}: {failure.why}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
