"""Judge results cached by content hash, so a re-run judges only what it has not judged yet.

The key is the SHA-256 of the rubric version, the judge (profile and model) and the digest the judge
reads: a changed trajectory, rubric or judge is a new key. Only verdicts are cached; rows recorded as
unjudged are tried again on the next run.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path

from interleaf.data.errors import JudgeError
from interleaf.data.judge.rubric import RUBRIC_VERSION, Verdict


def cache_key(judge: str, digest_text: str) -> str:
    return hashlib.sha256(f"{RUBRIC_VERSION}\0{judge}\0{digest_text}".encode()).hexdigest()


class VerdictCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS verdicts (key TEXT PRIMARY KEY, verdict TEXT NOT NULL,"
                " judge TEXT NOT NULL, created REAL NOT NULL)"
            )
        except (OSError, sqlite3.DatabaseError) as exc:
            raise JudgeError(f"{path}: cannot open the judge cache ({exc})") from None

    def get(self, key: str) -> Verdict | None:
        row = self._db.execute("SELECT verdict FROM verdicts WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        return Verdict(**json.loads(row[0]))

    def put(self, key: str, verdict: Verdict, judge: str) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO verdicts (key, verdict, judge, created) VALUES (?, ?, ?, ?)",
            (key, json.dumps(verdict.to_json(), ensure_ascii=False), judge, time.time()),
        )

    def close(self) -> None:
        self._db.close()
