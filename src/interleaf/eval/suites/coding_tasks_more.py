"""The coding suite's tasks, part 2 (see :mod:`interleaf.eval.suites.coding_tasks`)."""

from __future__ import annotations

from interleaf.eval.suites.coding_tasks import CodingTask

TASKS_2: tuple[CodingTask, ...] = (
    CodingTask(
        "flatten-deep",
        "`flatten(nested)` in nest.py should flatten lists nested to any depth: flatten([1, [2, [3, [4]]]]) "
        "should be [1, 2, 3, 4]; it only flattens one level.",
        {
            "nest.py": "def flatten(nested):\n    out = []\n    for item in nested:\n        if isinstance(item, list):\n            out.extend(item)\n        else:\n            out.append(item)\n    return out\n"
        },
        "from nest import flatten\n\ndef test_deep():\n    assert flatten([1, [2, [3, [4]]]]) == [1, 2, 3, 4]\n\ndef test_flat():\n    assert flatten([1, 2]) == [1, 2]\n    assert flatten([]) == []\n",
    ),
    CodingTask(
        "csv-column-sum",
        "`column_sum(path, column)` in report.py should add up a numeric column of a CSV file with a header "
        "row (values may have decimals); it fails on sales.csv's 'amount' column.",
        {
            "report.py": "import csv\n\n\ndef column_sum(path, column):\n    with open(path) as handle:\n        rows = list(csv.reader(handle))\n    index = rows[0].index(column)\n    return sum(int(row[index]) for row in rows)\n",
            "sales.csv": "day,amount\nmon,10.5\ntue,4\nwed,0.25\n",
        },
        'from report import column_sum\n\ndef test_sum(tmp_path):\n    path = tmp_path / "x.csv"\n    path.write_text("a,b\\n1,2.5\\n3,4\\n")\n    assert column_sum(str(path), "b") == 6.5\n    assert column_sum(str(path), "a") == 4\n\ndef test_sales():\n    assert column_sum("sales.csv", "amount") == 14.75\n',
    ),
    CodingTask(
        "stack-empty-pop",
        "`Stack.pop()` in stack.py returns None on an empty stack; it should raise IndexError('pop from "
        "empty stack').",
        {
            "stack.py": "class Stack:\n    def __init__(self):\n        self._items = []\n\n    def push(self, item):\n        self._items.append(item)\n\n    def pop(self):\n        if self._items:\n            return self._items.pop()\n        return None\n"
        },
        'import pytest\nfrom stack import Stack\n\ndef test_empty():\n    with pytest.raises(IndexError, match="pop from empty stack"):\n        Stack().pop()\n\ndef test_lifo():\n    s = Stack()\n    s.push(1)\n    s.push(2)\n    assert s.pop() == 2\n    assert s.pop() == 1\n',
    ),
    CodingTask(
        "dedupe-order",
        "`dedupe(items)` in unique.py should drop repeated items but keep the first occurrences in their "
        "original order; the order comes out scrambled.",
        {"unique.py": "def dedupe(items):\n    return list(set(items))\n"},
        'from unique import dedupe\n\ndef test_order():\n    assert dedupe(["b", "a", "b", "c", "a"]) == ["b", "a", "c"]\n    assert dedupe([3, 1, 3, 2, 1]) == [3, 1, 2]\n',
    ),
    CodingTask(
        "vowels-uppercase",
        "`count_vowels(text)` in vowels.py misses capital vowels: count_vowels('AEIOU aeiou') should be 10.",
        {"vowels.py": 'def count_vowels(text):\n    return sum(1 for c in text if c in "aeiou")\n'},
        'from vowels import count_vowels\n\ndef test_both_cases():\n    assert count_vowels("AEIOU aeiou") == 10\n    assert count_vowels("Interleaf") == 4\n    assert count_vowels("xyz") == 0\n',
    ),
    CodingTask(
        "binary-search-last",
        "`find(items, target)` in search.py (binary search over a sorted list, returning the index or -1) "
        "never finds the last element.",
        {
            "search.py": "def find(items, target):\n    low, high = 0, len(items) - 1\n    while low < high:\n        mid = (low + high) // 2\n        if items[mid] == target:\n            return mid\n        if items[mid] < target:\n            low = mid + 1\n        else:\n            high = mid - 1\n    return -1\n"
        },
        "from search import find\n\ndef test_all_positions():\n    items = [1, 3, 5, 7, 9, 11]\n    for index, value in enumerate(items):\n        assert find(items, value) == index\n\ndef test_missing():\n    assert find([1, 3, 5], 4) == -1\n    assert find([], 1) == -1\n",
    ),
    CodingTask(
        "rle-last-run",
        "`encode(text)` in rle.py run-length encodes a string ('aaab' -> 'a3b1') but drops the last run.",
        {
            "rle.py": 'def encode(text):\n    out = ""\n    count = 1\n    for i in range(1, len(text)):\n        if text[i] == text[i - 1]:\n            count += 1\n        else:\n            out += text[i - 1] + str(count)\n            count = 1\n    return out\n'
        },
        'from rle import encode\n\ndef test_runs():\n    assert encode("aaab") == "a3b1"\n    assert encode("abc") == "a1b1c1"\n    assert encode("zz") == "z2"\n    assert encode("") == ""\n',
    ),
    CodingTask(
        "titlecase-small-words",
        "`titlecase(text)` in titles.py should capitalise every word except the small words a, an, the, "
        "of, and, in, on (kept lower case unless first): 'the lord of the rings' -> 'The Lord of the Rings'.",
        {
            "titles.py": 'SMALL = {"a", "an", "the", "of", "and", "in", "on"}\n\n\ndef titlecase(text):\n    return " ".join(word.capitalize() for word in text.split())\n'
        },
        'from titles import titlecase\n\ndef test_small_words():\n    assert titlecase("the lord of the rings") == "The Lord of the Rings"\n    assert titlecase("war and peace") == "War and Peace"\n    assert titlecase("a tale") == "A Tale"\n',
    ),
    CodingTask(
        "config-equals-in-value",
        "`load(text)` in config.py parses 'key = value' lines into a dict, skipping blank lines and lines "
        "starting with '#'. Values containing '=' break it ('url = a=b' should give {'url': 'a=b'}), and "
        "spaces around keys and values are kept.",
        {
            "config.py": 'def load(text):\n    out = {}\n    for line in text.splitlines():\n        if not line or line.startswith("#"):\n            continue\n        key, value = line.split("=")\n        out[key] = value\n    return out\n'
        },
        'from config import load\n\ndef test_load():\n    text = "# comment\\nname = interleaf\\n\\nurl = a=b\\n  mode=pro  \\n"\n    assert load(text) == {"name": "interleaf", "url": "a=b", "mode": "pro"}\n',
    ),
    CodingTask(
        "transfer-overdraft",
        "`transfer(source, target, amount)` in bank.py moves money between Account objects; it lets "
        "balances go negative. It should raise ValueError and change nothing when the source has too "
        "little money, or when the amount is not positive.",
        {
            "bank.py": "class Account:\n    def __init__(self, balance=0):\n        self.balance = balance\n\n\ndef transfer(source, target, amount):\n    source.balance -= amount\n    target.balance += amount\n"
        },
        "import pytest\nfrom bank import Account, transfer\n\ndef test_ok():\n    a, b = Account(10), Account(0)\n    transfer(a, b, 4)\n    assert (a.balance, b.balance) == (6, 4)\n\ndef test_overdraft():\n    a, b = Account(3), Account(0)\n    with pytest.raises(ValueError):\n        transfer(a, b, 5)\n    assert (a.balance, b.balance) == (3, 0)\n\ndef test_not_positive():\n    with pytest.raises(ValueError):\n        transfer(Account(3), Account(0), 0)\n",
    ),
)
