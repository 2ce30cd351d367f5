"""The SQLite thinking store in a hardened container: the root filesystem read-only, temp directories
included, and only the store's own directory writable (Docker ``--read-only``, Kubernetes
``readOnlyRootFilesystem`` with a data volume).

SQLite spills a statement journal to a temp file once a statement has changed more than 64 KiB of
existing pages, as the gateway's batched writes do under load. Where no temp directory is writable
that failed as "disk I/O error": the store worked at light load and failed under heavy load. The store
keeps temp data in memory (``PRAGMA temp_store=MEMORY``). bubblewrap builds the read-only filesystem.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.sandbox_home import require_bubblewrap

pytestmark = pytest.mark.timeout(120)

BATCHES, PER_BATCH = 6, 2048
"""Batches as big as the gateway's writer makes them under load (capture.BATCH_BEHIND), onto a table
that already holds rows: each batch rewrites existing index pages."""

CHILD = f"""
import asyncio, json, os, sys
from pathlib import Path
from interleaf.store.thinking import RawReply
from interleaf.store.thinking_sqlite import SQLiteThinkingStore

def writable(directory):
    try:
        with open(os.path.join(directory, "probe"), "w"):
            return True
    except OSError:
        return False

async def main():
    data = Path(sys.argv[1])
    store = SQLiteThinkingStore(data / "thinking.db")
    try:
        for batch in range({BATCHES}):
            replies, thoughts = {{}}, {{}}
            for i in range({PER_BATCH}):
                key, thought = f"f1:{{batch}}:{{i}}:{{os.urandom(8).hex()}}", os.urandom(600).hex()
                thoughts[key] = thought
                body = json.dumps({{
                    "id": f"msg_{{batch}}_{{i}}", "type": "message", "role": "assistant", "model": "m",
                    "content": [
                        {{"type": "thinking", "thinking": thought, "signature": "s"}},
                        {{"type": "text", "text": "done"}},
                    ],
                    "stop_reason": "end_turn",
                }})
                replies[key] = RawReply("anthropic", body.encode())
            await store.put_groups({{"tenant": replies}})
        key = next(iter(replies))
        found = await store.get_many("tenant", [key])
        thinking = found[key].thinking if key in found else ()
        print(json.dumps({{
            "stored": await store.count(),
            "read_back": [getattr(block, "text", None) for block in thinking] == [thoughts[key]],
            "writable": {{d: writable(d) for d in ("/tmp", "/var/tmp", "/", str(data))}},
        }}))
    except Exception as exc:
        print(json.dumps({{"error": f"{{type(exc).__name__}}: {{exc}}"}}))
    finally:
        await store.aclose()

asyncio.run(main())
"""


def test_batched_writes_work_with_only_the_store_directory_writable(tmp_path: Path) -> None:
    require_bubblewrap()
    data = tmp_path / "data"
    data.mkdir()
    command = [
        "bwrap",
        *("--ro-bind", "/", "/"),
        *("--dev", "/dev", "--proc", "/proc"),
        *("--bind", str(data), str(data)),
        *("--chdir", "/"),
        "--",
        sys.executable,
        "-c",
        CHILD,
        str(data),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=100)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert "error" not in result, result["error"]
    # The filesystem really was read-only but for the store's directory.
    assert result["writable"] == {"/tmp": False, "/var/tmp": False, "/": False, str(data): True}
    assert result["stored"] == BATCHES * PER_BATCH
    assert result["read_back"] is True
