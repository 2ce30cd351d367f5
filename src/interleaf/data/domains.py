"""Domain tags (coding, browsing, data, math, writing, ops, general) from the task and the tools used.

A transparent keyword-and-tool score, not a model: a keyword in the user's messages counts three
times, a tool called twice (a shell once: most agent work uses one), a keyword elsewhere in the
trajectory half (capped), so a user can see why a row got its tag and rebalance. The primary
``domain`` is the best score; ``domains`` lists every domain within half of it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from interleaf.data import text as tx
from interleaf.transcript import Conversation

DOMAINS = ("coding", "browsing", "data", "math", "writing", "ops", "general")

_KEYWORDS: dict[str, frozenset[str]] = {
    "coding": frozenset(
        [
            "code",
            "function",
            "class",
            "method",
            "bug",
            "debug",
            "compile",
            "refactor",
            "unittest",
            "pytest",
            "python",
            "javascript",
            "typescript",
            "rust",
            "golang",
            "java",
            "repo",
            "repository",
            "git",
            "commit",
            "script",
            "test",
            "tests",
            "traceback",
        ]
    ),
    "browsing": frozenset(
        [
            "search",
            "browse",
            "website",
            "webpage",
            "url",
            "link",
            "google",
            "wikipedia",
            "news",
            "online",
            "http",
            "https",
        ]
    ),
    "data": frozenset(
        [
            "csv",
            "dataset",
            "dataframe",
            "pandas",
            "sql",
            "query",
            "table",
            "column",
            "columns",
            "rows",
            "statistics",
            "average",
            "median",
            "plot",
            "chart",
            "spreadsheet",
            "excel",
            "parquet",
            "aggregate",
        ]
    ),
    "math": frozenset(
        [
            "compute",
            "calculate",
            "equation",
            "solve",
            "prove",
            "proof",
            "integral",
            "derivative",
            "probability",
            "prime",
            "theorem",
            "algebra",
            "geometry",
            "matrix",
        ]
    ),
    "writing": frozenset(
        [
            "essay",
            "email",
            "letter",
            "story",
            "poem",
            "summarise",
            "summarize",
            "summary",
            "rewrite",
            "draft",
            "blog",
            "article",
            "translate",
            "proofread",
            "tone",
        ]
    ),
    "ops": frozenset(
        [
            "docker",
            "kubernetes",
            "k8s",
            "deploy",
            "server",
            "nginx",
            "systemd",
            "install",
            "ssh",
            "cron",
            "disk",
            "port",
            "firewall",
            "terraform",
            "pipeline",
            "logs",
        ]
    ),
}
_CODE_SUFFIXES = (".py", ".js", ".ts", ".rs", ".go", ".java", ".c", ".cpp", ".rb")
_TOOLS: dict[str, tuple[str, ...]] = {
    "coding": ("write_file", "edit", "python", "apply_patch", "str_replace", "read_file", "patch"),
    "browsing": ("browser", "search", "fetch", "open_url", "navigate"),
    "data": ("sql", "query", "pandas", "spreadsheet"),
    "math": ("calculator", "wolfram"),
    "ops": ("shell", "bash", "terminal", "kubectl", "docker"),
}


def _counts(text: str) -> Counter[str]:
    words = Counter(tx.tokens(text))
    files = sum(1 for word in text.split() if word.rstrip(".,:;)").endswith(_CODE_SUFFIXES))
    scores: Counter[str] = Counter()
    for domain, keywords in _KEYWORDS.items():
        scores[domain] = sum(count for word, count in words.items() if word in keywords)
    scores["coding"] += files
    return scores


def tag(conversation: Conversation, tools: Sequence[str]) -> tuple[str, list[str]]:
    """The primary domain and every domain within half of its score."""
    task = "\n".join(tx.user_texts(conversation)) or tx.task_text(conversation)
    in_task = _counts(task)
    elsewhere = _counts("\n".join(tx.iter_texts(conversation))[:8_000])
    scores = {domain: 3 * min(in_task[domain], 5) + 0.5 * min(elsewhere[domain], 10) for domain in _KEYWORDS}
    for domain, names in _TOOLS.items():
        hits = sum(1 for tool in tools if any(name in tool.lower() for name in names))
        scores[domain] += (1 if domain == "ops" else 2) * min(hits, 3)
    best = max(scores.values())
    if best < 2:
        return "general", ["general"]
    ranked = sorted(scores.items(), key=lambda item: (-item[1], DOMAINS.index(item[0])))
    return ranked[0][0], [domain for domain, score in ranked if score >= best / 2]
