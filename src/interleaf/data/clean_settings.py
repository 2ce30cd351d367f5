"""What ``interleaf data clean`` is asked to do: shared by the pipeline (clean.py) and its report."""

from __future__ import annotations

from dataclasses import dataclass, field

from interleaf.data.dataset import WriteMode
from interleaf.data.dedup import DedupConfig
from interleaf.data.judge.runner import JudgeSettings
from interleaf.data.rules import RulesConfig


@dataclass(frozen=True, slots=True)
class CleanSettings:
    rules: RulesConfig = field(default_factory=RulesConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    judge: JudgeSettings | None = None
    min_judge: float | None = None
    min_difficulty: float | None = None
    workers: int | None = None
    ray: bool = False
    ray_address: str | None = None
    mode: WriteMode = "new"
