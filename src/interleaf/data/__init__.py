"""``interleaf data``: interleaved-thinking trajectories into clean training data.

collect (:mod:`.collect`, :mod:`.sources`) -> clean (:mod:`.clean`: :mod:`.rules`, :mod:`.dedup`,
:mod:`.judge`, :mod:`.difficulty`, :mod:`.domains`) -> export (:mod:`.export`), plus :mod:`.trace` and
:mod:`.stats`. Datasets are Parquet (:mod:`.dataset`) with the lossless transcript JSON per row
(:mod:`.rows`); per-row stages run in a process pool or on Ray Data (:mod:`.engine`). Needs the
``data`` extra (pyarrow, datasketch, matplotlib); ``--ray`` needs the ``ray`` extra.
"""
