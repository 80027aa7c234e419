"""When the worker's poller holds a whole HTTP/1 request (hotcrm_ai/gunicorn_worker.py):
only then does a thread take it, so a half-sent request never holds a thread."""

from __future__ import annotations

from hotcrm_ai.gunicorn_worker import BUFFER_BYTES, request_state

HEAD = b"POST /api/v1/predictions/ HTTP/1.1\r\nHost: x\r\n"


def test_it_waits_for_the_whole_head_and_body():
    assert request_state(b"GET / HTTP/1.1\r\nHost: x\r\n") == "incomplete"
    assert request_state(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") == "complete"
    assert request_state(HEAD + b"Content-Length: 10\r\n\r\n12345") == "incomplete"
    assert request_state(HEAD + b"Content-Length: 10\r\n\r\n1234567890") == "complete"
    assert request_state(HEAD + b"Content-Length: 10\r\nExpect: 100-continue\r\n\r\n") == "continue"


def test_it_follows_chunked_framing_to_the_last_chunk():
    head = HEAD + b"Transfer-Encoding: chunked\r\n\r\n"
    assert request_state(head + b"5\r\nhello\r\n") == "incomplete"
    assert request_state(head + b"5\r\nhel") == "incomplete"
    assert request_state(head + b"5\r\nhello\r\n0\r\n") == "incomplete"
    assert request_state(head + b"5\r\nhello\r\n0\r\n\r\n") == "complete"
    assert request_state(head + b"5;ext=1\r\nhello\r\n0\r\nX-Trailer: y\r\n\r\n") == "complete"


def test_it_leaves_what_it_cannot_buffer_or_judge_to_gunicorn():
    assert request_state(HEAD + b"Content-Length: " + str(BUFFER_BYTES).encode() + b"\r\n\r\n") == "thread"
    assert request_state(b"GET /" + b"a" * BUFFER_BYTES) == "thread"
    assert request_state(HEAD + b"Content-Length: 1\r\nContent-Length: 2\r\n\r\n") == "thread"
    assert request_state(HEAD + b"Content-Length: -1\r\n\r\n") == "thread"
    assert request_state(HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n") == "thread"


def test_it_answers_100_continue_once_itself():
    from hotcrm_ai.gunicorn_worker import _without_expect

    head = bytearray(HEAD + b"Content-Length: 10\r\nExpect: 100-continue\r\nAccept: */*\r\n\r\n")
    rewritten = _without_expect(head)
    assert rewritten == HEAD + b"Content-Length: 10\r\nAccept: */*\r\n\r\n"
    assert request_state(rewritten) == "incomplete"
    assert request_state(rewritten + b"1234567890") == "complete"
