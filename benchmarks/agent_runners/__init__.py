"""Processes that ``benchmarks.bench_agent`` starts: the scripted model server and interleaf's runner.

mini-swe-agent's runner is not here: it imports a package that lives only in its own venv, so the
benchmark writes it to a temporary directory and runs it with that venv's Python.
"""
