"""``python -m interleaf``: the same as the ``interleaf`` command."""

from interleaf.cli import main

main()
