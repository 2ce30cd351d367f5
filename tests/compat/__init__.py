"""The gateway compatibility suite: real agent apps, installed from the package registries, driven
offline through ``interleaf serve`` against a strict scripted model (``python -m tests.compat``)."""
