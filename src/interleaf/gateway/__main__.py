"""``python -m interleaf.gateway FD ...``: the interpreter ``interleaf serve`` replaces itself with, so
the gateway runs without the CLI's modules (gateway/server.py, :func:`~interleaf.gateway.server.serve`).
It reads the options ``interleaf serve`` resolved from the file descriptor ``FD``; what follows ``FD`` is
the original command line, kept only so process listings still show ``interleaf serve ...``."""

from __future__ import annotations

import sys

from interleaf.gateway.server import serve_handed_over


def main() -> None:
    sys.exit(serve_handed_over(sys.argv[1:]))


if __name__ == "__main__":
    main()
