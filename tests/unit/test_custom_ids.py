"""custom_ids a provider cannot take are swapped for ones it can, uniquely, and mapped back."""

from __future__ import annotations

import re

from batchbridge.domain.custom_ids import provider_ids
from batchbridge.domain.jsonl import iter_lines

ANTHROPIC = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def test_valid_ids_are_kept_and_others_mapped_back() -> None:
    originals = ["req-1", "request 2", "x" * 65, "ok_3", "naïve"]
    sent, back = provider_ids(originals, ANTHROPIC)
    assert sent[0] == "req-1" and sent[3] == "ok_3"
    assert len(set(sent)) == len(sent) and all(ANTHROPIC.match(s) for s in sent)
    assert back == {sent[1]: "request 2", sent[2]: "x" * 65, sent[4]: "naïve"}


def test_a_generated_id_never_collides_with_a_users_id() -> None:
    sent, _ = provider_ids(["a b"], ANTHROPIC)
    taken = sent[0]  # a user who picked exactly the id we would generate
    sent_again, back = provider_ids([taken, "a b"], ANTHROPIC)
    assert sent_again[0] == taken and sent_again[1] != taken and back == {sent_again[1]: "a b"}


def test_lines_split_across_chunks() -> None:
    chunks = [b'{"a":1}\n{"b"', b":2}\n\n", b'{"c":3}']
    assert list(iter_lines(chunks)) == [b'{"a":1}', b'{"b":2}', b'{"c":3}']
    long_line = b"x" * 300_000
    assert list(iter_lines(long_line[i : i + 1000] for i in range(0, 300_000, 1000))) == [long_line]
