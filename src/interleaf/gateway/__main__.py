"""``python -m interleaf.gateway``: the serving process ``interleaf serve`` replaces itself with."""

from interleaf.gateway.server import main

main()
