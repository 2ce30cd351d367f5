"""The coding suite's tasks, part 1: each a tiny repo with one failing behaviour and hidden tests.

A task is ``(id, report, files, hidden)``: the bug report the agent gets, the files of the repo it works
in, and the pytest file that decides pass or fail, which the agent never sees.
"""

from __future__ import annotations

from typing import NamedTuple


class CodingTask(NamedTuple):
    id: str
    report: str
    files: dict[str, str]
    hidden: str


TASKS_1: tuple[CodingTask, ...] = (
    CodingTask(
        "fizzbuzz-range",
        "`fizzbuzz(n)` in fizzbuzz.py should return the FizzBuzz strings for 1..n inclusive, but the last "
        "number is missing.",
        {
            "fizzbuzz.py": 'def fizzbuzz(n):\n    out = []\n    for i in range(1, n):\n        if i % 15 == 0:\n            out.append("FizzBuzz")\n        elif i % 3 == 0:\n            out.append("Fizz")\n        elif i % 5 == 0:\n            out.append("Buzz")\n        else:\n            out.append(str(i))\n    return out\n'
        },
        'from fizzbuzz import fizzbuzz\n\ndef test_inclusive():\n    assert fizzbuzz(15)[-1] == "FizzBuzz"\n    assert len(fizzbuzz(15)) == 15\n\ndef test_start():\n    assert fizzbuzz(5) == ["1", "2", "Fizz", "4", "Buzz"]\n\ndef test_zero():\n    assert fizzbuzz(0) == []\n',
    ),
    CodingTask(
        "slugify-dashes",
        "`slugify(title)` in text.py should lowercase, turn every run of characters that are not letters or "
        "digits into a single '-', and strip '-' from both ends. 'Hello,  World!' gives 'hello--world-' "
        "instead of 'hello-world'.",
        {
            "text.py": 'import re\n\n\ndef slugify(title):\n    return re.sub(r"[^a-z0-9]", "-", title.lower())\n'
        },
        'from text import slugify\n\ndef test_basic():\n    assert slugify("Hello,  World!") == "hello-world"\n\ndef test_edges():\n    assert slugify("  --Already-Slugged--  ") == "already-slugged"\n    assert slugify("A1 b2") == "a1-b2"\n',
    ),
    CodingTask(
        "duration-minutes",
        "`parse_duration(text)` in duration.py turns strings like '1h30m', '45m' or '2h' into seconds; "
        "'1h30m' gives 111600 instead of 5400.",
        {
            "duration.py": 'import re\n\n\ndef parse_duration(text):\n    total = 0\n    for value, unit in re.findall(r"(\\d+)([hms])", text):\n        if unit == "h":\n            total += int(value) * 3600\n        elif unit == "m":\n            total += int(value) * 3600\n        else:\n            total += int(value)\n    return total\n'
        },
        'from duration import parse_duration\n\ndef test_parse():\n    assert parse_duration("1h30m") == 5400\n    assert parse_duration("45m") == 2700\n    assert parse_duration("2h") == 7200\n    assert parse_duration("1h1m1s") == 3661\n',
    ),
    CodingTask(
        "median-even",
        "`median(values)` in stats.py is wrong for lists of even length: median([1, 2, 3, 4]) should be 2.5.",
        {
            "stats.py": "def median(values):\n    ordered = sorted(values)\n    return ordered[len(ordered) // 2]\n"
        },
        "from stats import median\n\ndef test_even():\n    assert median([4, 1, 3, 2]) == 2.5\n\ndef test_odd():\n    assert median([3, 1, 2]) == 2\n\ndef test_single():\n    assert median([7]) == 7\n",
    ),
    CodingTask(
        "palindrome-case",
        "`is_palindrome(text)` in words.py should ignore case, spaces and punctuation, so 'A man, a plan, "
        "a canal: Panama' is a palindrome; it returns False.",
        {
            "words.py": 'def is_palindrome(text):\n    cleaned = "".join(c for c in text if c.isalnum())\n    return cleaned == cleaned[::-1]\n'
        },
        'from words import is_palindrome\n\ndef test_mixed():\n    assert is_palindrome("A man, a plan, a canal: Panama")\n    assert is_palindrome("No lemon, no melon")\n\ndef test_not():\n    assert not is_palindrome("interleaf")\n',
    ),
    CodingTask(
        "word-count-punctuation",
        "`word_count(text)` in counts.py should count words case-insensitively without surrounding "
        "punctuation: word_count('Hi, hi! HI.') should be {'hi': 3}.",
        {
            "counts.py": "def word_count(text):\n    counts = {}\n    for word in text.split():\n        counts[word] = counts.get(word, 0) + 1\n    return counts\n"
        },
        'from counts import word_count\n\ndef test_punctuation():\n    assert word_count("Hi, hi! HI.") == {"hi": 3}\n\ndef test_several():\n    assert word_count("the cat; the hat") == {"the": 2, "cat": 1, "hat": 1}\n',
    ),
    CodingTask(
        "chunk-remainder",
        "`chunk(items, size)` in lists.py splits a list into lists of `size`; the last, shorter chunk is "
        "lost: chunk([1, 2, 3, 4, 5], 2) should be [[1, 2], [3, 4], [5]].",
        {
            "lists.py": "def chunk(items, size):\n    return [items[i : i + size] for i in range(0, len(items) - size + 1, size)]\n"
        },
        "from lists import chunk\n\ndef test_remainder():\n    assert chunk([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]\n\ndef test_exact():\n    assert chunk([1, 2, 3, 4], 2) == [[1, 2], [3, 4]]\n\ndef test_empty():\n    assert chunk([], 3) == []\n",
    ),
    CodingTask(
        "roman-subtractive",
        "`to_roman(n)` in roman.py gives 'IIII' for 4 and 'VIIII' for 9; Roman numerals use the "
        "subtractive forms (IV, IX, XL, XC, CD, CM).",
        {
            "roman.py": 'NUMERALS = [(1000, "M"), (500, "D"), (100, "C"), (50, "L"), (10, "X"), (5, "V"), (1, "I")]\n\n\ndef to_roman(n):\n    out = ""\n    for value, letter in NUMERALS:\n        while n >= value:\n            out += letter\n            n -= value\n    return out\n'
        },
        'from roman import to_roman\n\ndef test_subtractive():\n    assert to_roman(4) == "IV"\n    assert to_roman(9) == "IX"\n    assert to_roman(1994) == "MCMXCIV"\n    assert to_roman(2024) == "MMXXIV"\n',
    ),
    CodingTask(
        "merge-intervals-unsorted",
        "`merge(intervals)` in intervals.py merges overlapping [start, end] pairs but gives wrong results "
        "when the input is not sorted: merge([[8, 10], [1, 3], [2, 6]]) should be [[1, 6], [8, 10]].",
        {
            "intervals.py": "def merge(intervals):\n    out = []\n    for start, end in intervals:\n        if out and start <= out[-1][1]:\n            out[-1][1] = max(out[-1][1], end)\n        else:\n            out.append([start, end])\n    return out\n"
        },
        "from intervals import merge\n\ndef test_unsorted():\n    assert merge([[8, 10], [1, 3], [2, 6]]) == [[1, 6], [8, 10]]\n\ndef test_touching():\n    assert merge([[1, 2], [2, 3]]) == [[1, 3]]\n",
    ),
    CodingTask(
        "fahrenheit-formula",
        "`to_fahrenheit(celsius)` in temperature.py is wrong: 100 should give 212.0 and -40 should give -40.0.",
        {"temperature.py": "def to_fahrenheit(celsius):\n    return celsius * 5 / 9 + 32\n"},
        "from temperature import to_fahrenheit\n\ndef test_points():\n    assert to_fahrenheit(100) == 212.0\n    assert to_fahrenheit(-40) == -40.0\n    assert to_fahrenheit(0) == 32.0\n",
    ),
)
