"""``interleaf eval``: measure what keeping thinking is worth for a model and a deployment.

The same tasks run through interleaf's own agent under several conditions (``keep``, ``drop``,
``restored``, ``current-loop``: :mod:`interleaf.eval.conditions`), paired by task and seed; each trial is
one JSON line in the run directory plus its full transcript in the agent's session store
(:mod:`interleaf.eval.results`). :mod:`interleaf.eval.runner` runs trials in-process or on Ray,
:mod:`interleaf.eval.stats` computes pass@1, pass^k and paired bootstrap intervals, and
:mod:`interleaf.eval.report` writes the HTML report. See docs/eval.md.
"""
