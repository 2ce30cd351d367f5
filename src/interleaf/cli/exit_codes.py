"""Exit codes that scripts can rely on."""

OK = 0
FOUND_LEAK = 1
"""A probe found thinking being dropped."""
BAD_INPUT = 2
"""Bad arguments or input, or a probe that could not run."""
INTERRUPTED = 130
