"""OpenAI's result files read as raw lines: every byte kept, whatever the chunks' boundaries."""

from __future__ import annotations

import pytest

from batchbridge.providers.openai import _raw_lines

CONTENT = b'{"a": 1}\r\n{ "b" : "\\u00e9 \xc3\xa9" }\n\n{"c":3}'


@pytest.mark.parametrize("size", [1, 2, 3, 7, 9, len(CONTENT), 4096])
def test_the_lines_are_the_files_bytes_split_after_each_newline(size: int) -> None:
    chunks = iter([CONTENT[start : start + size] for start in range(0, len(CONTENT), size)])
    lines = list(_raw_lines(chunks))
    assert lines == [b'{"a": 1}\r\n', b'{ "b" : "\\u00e9 \xc3\xa9" }\n', b"\n", b'{"c":3}']
    assert b"".join(lines) == CONTENT


def test_an_empty_file_has_no_lines_and_a_last_newline_leaves_nothing_after_it() -> None:
    assert list(_raw_lines(iter([b"", b""]))) == []
    assert list(_raw_lines(iter([b"x\n", b""]))) == [b"x\n"]
