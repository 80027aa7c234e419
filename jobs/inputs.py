"""Reading an uploaded job file: CSV with a header row or JSON Lines, gzip or not, as a
stream of records (never the whole file in memory), and splitting chunks back into rows.

A CSV record may span lines (a quoted field holding a newline): a record is complete when it
holds an even number of quote characters, which RFC 4180's doubling of quotes keeps true.
Counting quotes in bytes is far cheaper than parsing every field here; the worker parses
each record with the csv module.
"""

from __future__ import annotations

import csv
import gzip
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from hotcrm_ai.errors import ApplicationError, InvalidInput
from jobs.models import InputFormat

GZIP_MAGIC = b"\x1f\x8b"
# A record longer than this is refused: a file with no newlines must not fill memory.
MAX_RECORD_BYTES = 1_000_000
BLOCK_BYTES = 1 << 20
MAX_COLUMNS = 500


class TooLarge(ApplicationError):
    status = 413
    code = "file_too_large"


def unreadable(message: str) -> InvalidInput:
    return InvalidInput(message, code="unreadable_file")


class _Counted:
    """A binary stream that refuses to give more than `limit` bytes (a gzip bomb)."""

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        self.stream, self.limit, self.read_bytes = stream, limit, 0

    def readline(self, size: int = -1) -> bytes:
        return self._counted(self.stream.readline(size))

    def read(self, size: int) -> bytes:
        return self._counted(self.stream.read(size))

    def _counted(self, data: bytes) -> bytes:
        self.read_bytes += len(data)
        if self.read_bytes > self.limit:
            raise TooLarge(f"The file holds more than {self.limit} bytes once uncompressed.")
        return data


def open_input(raw: IO[bytes], *, max_bytes: int) -> _Counted:
    """The uploaded bytes, uncompressed when they are gzip (told by content, not name)."""
    head = raw.read(2)
    raw.seek(0)
    stream: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="rb") if head == GZIP_MAGIC else raw  # type: ignore[assignment]  # GzipFile reads bytes
    return _Counted(stream, max_bytes)


def input_format(file_name: str, first_line: bytes) -> str:
    name = file_name.lower().removesuffix(".gz")
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return InputFormat.JSONL
    if name.endswith((".csv", ".txt")):
        return InputFormat.CSV
    return InputFormat.JSONL if first_line.lstrip().startswith(b"{") else InputFormat.CSV


def open_records(stream: _Counted, file_name: str) -> tuple[str, Iterator[list[bytes]]]:
    """The file's format (by name, else by its first line) and its non-blank records, each
    without its line ending, in blocks (lists, one per block read: handled a block at a
    time, not a record at a time); I/O and gzip errors are 400s."""
    try:
        first = stream.readline(MAX_RECORD_BYTES + 1)
        while first and not first.strip():
            first = stream.readline(MAX_RECORD_BYTES + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise unreadable(f"The file cannot be read ({type(exc).__name__}).") from None
    fmt = input_format(file_name, first)
    return fmt, _guarded(_records(stream, fmt, first))


def _guarded(records: Iterator[list[bytes]]) -> Iterator[list[bytes]]:
    try:
        yield from records
    except (OSError, EOFError, zlib.error) as exc:
        raise unreadable(f"The file cannot be read ({type(exc).__name__}: {str(exc)[:200]}).") from None


def _records(stream: _Counted, fmt: str, first: bytes) -> Iterator[list[bytes]]:
    """The records, read a block at a time and split into lines by `bytes.split` (a line by
    line loop in Python was most of an upload's time); only a block holding quotes has its
    lines counted one by one, to join the lines of a quoted field that spans them."""
    csv_quotes = fmt == InputFormat.CSV
    pending: list[bytes] = []  # the lines of a CSV record still inside a quoted field
    quotes = 0
    carry = first
    while True:
        block = stream.read(BLOCK_BYTES)
        data = carry + block if carry else block
        if block:
            cut = data.rfind(b"\n")
            if cut < 0:
                if len(data) > MAX_RECORD_BYTES:
                    raise _record_too_long()
                carry = data
                continue
            lines, carry = data[:cut].split(b"\n"), data[cut + 1:]
        else:
            lines, carry = (data.split(b"\n") if data else []), b""
        if max(map(len, lines), default=0) > MAX_RECORD_BYTES:
            raise _record_too_long()
        if pending or (csv_quotes and b'"' in data):
            lines, pending, quotes = _join_quoted(lines, pending, quotes)
        yield [line.rstrip(b"\r") for line in lines if line.strip()]
        if not block:
            break
    if pending and b"\n".join(pending).strip():
        yield [b"\n".join(pending).rstrip(b"\r\n")]  # an unclosed quote: the worker reports the row


def _join_quoted(lines: list[bytes], pending: list[bytes], quotes: int) -> tuple[list[bytes], list[bytes], int]:
    """Lines -> complete CSV records: a record is complete when it holds an even number of
    quote characters. Returns the records and the state of a record still open."""
    records = []
    for line in lines:
        pending.append(line)
        quotes += line.count(b'"')
        if quotes % 2:
            if sum(map(len, pending)) > MAX_RECORD_BYTES:
                raise _record_too_long()
            continue
        records.append(b"\n".join(pending).rstrip(b"\r\n"))
        pending, quotes = [], 0
    return records, pending, quotes


def _record_too_long() -> InvalidInput:
    return InvalidInput(f"A record is longer than {MAX_RECORD_BYTES} bytes.", code="record_too_long")


def split_chunk(data: bytes, fmt: str) -> list[bytes]:
    """A stored chunk's records again (they were joined with newlines)."""
    if fmt != InputFormat.CSV or b'"' not in data:
        return data.split(b"\n")
    records, pending, quotes = [], [], 0
    for line in data.split(b"\n"):
        pending.append(line)
        quotes += line.count(b'"')
        if quotes % 2 == 0:
            records.append(b"\n".join(pending))
            pending, quotes = [], 0
    if pending:
        records.append(b"\n".join(pending))
    return records


@dataclass
class Header:
    """What the first record says: the CSV columns, or a JSON Lines record's keys."""

    columns: list[str]
    first_is_data: bool  # JSON Lines: the first record is a row too


def read_header(record: bytes, fmt: str) -> Header:
    try:
        text = record.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise unreadable("The file's first record is not UTF-8 text.") from None
    if fmt == InputFormat.JSONL:
        try:
            first = json.loads(text)
        except ValueError:
            raise unreadable("The first line is not a JSON object (JSON Lines: one object per line).") from None
        if not isinstance(first, dict):
            raise unreadable("The first line is not a JSON object (JSON Lines: one object per line).")
        return Header([str(k) for k in first], first_is_data=True)
    try:
        columns = next(csv.reader([text], strict=True))
    except (csv.Error, StopIteration):
        raise unreadable("The CSV header row cannot be parsed.") from None
    columns = [c.strip() for c in columns]
    if len(columns) > MAX_COLUMNS:
        raise InvalidInput(f"The file has {len(columns)} columns; at most {MAX_COLUMNS} are accepted.",
                           code="too_many_columns")
    if any(not c or "\x00" in c for c in columns) or len(set(columns)) != len(columns):
        raise unreadable("The CSV header row needs unique, non-empty column names.")
    return Header(columns, first_is_data=False)


def parse_csv_record(text: str) -> list[str]:
    return next(csv.reader([text], strict=True))


def parse_json_record(text: str) -> Any:
    return json.loads(text)
