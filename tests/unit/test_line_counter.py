"""The count of a batch file's requests where the gateway does not judge its lines (OpenAI's): its non-blank lines,
however its bytes are cut into chunks."""

from __future__ import annotations

import pytest

from batchbridge.domain.jsonl import LineCounter

CONTENTS = [
    b"",
    b"\n\n  \n",
    b'{"a": 1}',
    b'{"a": 1}\n',
    b'\n{"a": 1}\r\n\n  {"b": 2}\n \t\nnot json\n{"c"',
    b"x\ny\nz\n\n",
]


def counted(chunks: list[bytes]) -> int:
    counter = LineCounter()
    for chunk in counter.counted(chunks):
        assert chunk in chunks
    return counter.count


@pytest.mark.parametrize("content", CONTENTS)
def test_every_cut_of_the_bytes_counts_the_same_lines(content: bytes) -> None:
    expected = sum(1 for line in content.split(b"\n") if line.strip())
    assert counted([content]) == expected
    for first in range(len(content) + 1):
        for second in range(first, len(content) + 1):
            assert counted([content[:first], content[first:second], content[second:]]) == expected


def test_a_count_of_known_lines() -> None:
    assert counted([b'\n{"a": 1}\r\n\n  {"b": 2}\n \t\nnot json\n{"c"']) == 4
    assert counted([b"a", b"b", b"\n", b"\n", b"c"]) == 2
