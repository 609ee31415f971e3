"""The event-stream parser: every line ending, chunks split anywhere, ids kept."""

from __future__ import annotations

from labthings.client.sse import Message, Parser

STREAM = (
    b"retry: 2000\n\n"
    b": keep-alive\n\n"
    b'event: record\ndata: {"a": 1}\n\n'
    b'event: update\nid: e.1\ndata: {"b":\ndata:  2}\n\n'
    b"data: plain\n\n"
    b"id\n\n"
    b"event: ignored-without-data\n\n"
    b"data: caf\xc3\xa9\n\n"
)
EXPECTED = [
    Message("record", '{"a": 1}', None),
    Message("update", '{"b":\n 2}', "e.1"),
    Message("message", "plain", "e.1"),
    Message("message", "café", ""),
]


def parse(chunks: list[bytes]) -> tuple[list[Message], Parser]:
    parser = Parser()
    messages = [message for chunk in chunks for message in parser.feed(chunk)]
    return messages, parser


def test_a_whole_stream_gives_its_messages_with_the_last_id() -> None:
    messages, parser = parse([STREAM])
    assert messages == EXPECTED
    assert parser.retry == 2000
    assert messages[1].value() == {"b": 2}
    assert messages[2].value() == "plain"  # not JSON: the text itself


def test_bytes_one_at_a_time_give_the_same_messages() -> None:
    # A UTF-8 character and a `\r\n` split between chunks must survive.
    messages, _ = parse([STREAM[i : i + 1] for i in range(len(STREAM))])
    assert messages == EXPECTED


def test_crlf_and_cr_line_endings_are_lines_too() -> None:
    for ending in (b"\r\n", b"\r"):
        text = STREAM.replace(b"\n", ending)
        whole, _ = parse([text])
        split, _ = parse([text[i : i + 3] for i in range(0, len(text), 3)])
        assert whole == EXPECTED and split == EXPECTED, ending


def test_a_byte_order_mark_at_the_start_is_dropped() -> None:
    messages, _ = parse([b"\xef\xbb\xbf", b"data: 1\n\n"])
    assert messages == [Message("message", "1", None)]


def test_a_message_is_dispatched_only_at_its_blank_line() -> None:
    parser = Parser()
    assert parser.feed(b"event: x\ndata: 1\n") == []
    assert parser.feed(b"\n") == [Message("x", "1", None)]
