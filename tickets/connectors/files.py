"""Ticket files: CSV, JSON Lines or a JSON array, read one record at a time. A library: no ORM.

Iterating a ``TicketFile`` yields, in file order, a ``TicketRecord`` for every good row and a
``Rejection`` (line, external id if known, reason) for every bad one, so one bad row never stops
an import. Problems that make the whole file unusable (no header with the required columns, a
UTF-16 file, a broken JSON array) raise ``FileFormatError`` instead, when the file is opened or
while it is read. Memory stays constant: the file is read a line (for a JSON array, a chunk) at a
time, and no line, CSV field or array element may exceed ``MAX_LINE_BYTES``.

Line numbers are physical, 1-based lines where a record starts: a CSV row whose quoted field
spans three lines is reported at its first line, and the next row starts on the line after.
The columns and their meaning are those of ``tickets.records.ticket_record_from_dict``.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Callable, Iterator, Mapping
from itertools import count
from pathlib import Path, PurePath
from typing import IO, Any, NamedTuple, TypeAlias

from tickets.records import InvalidRecord, TicketRecord, ticket_record_from_dict

CSV_COLUMNS = (
    "external_id", "subject", "body", "created_at", "requester_email", "requester_name", "organization",
    "plan", "arr", "channel", "status", "tags", "csat",
)
OPTIONAL_COLUMNS = (
    "requester_id", "organization_id", "updated_at", "solved_at", "priority", "language", "url",
    "reopen_count", "messages",
)
KNOWN_COLUMNS = frozenset(CSV_COLUMNS + OPTIONAL_COLUMNS)
IMPORT_FILE_SUFFIXES = (".csv", ".jsonl", ".ndjson", ".json")

# Far above any real ticket (a body is capped at 100,000 characters), low enough that one broken
# line (an unclosed quote, a binary file) cannot exhaust a worker's memory.
MAX_LINE_BYTES = 16 * 1024 * 1024
_CHUNK_BYTES = 64 * 1024
_JSON_BLANKS = " \t\r\n"


class FileFormatError(ValueError):
    """The file as a whole cannot be imported; the message says what to fix."""


class Rejection(NamedTuple):
    """A row that was not imported: the line it starts on, its external id if known, and why."""

    line: int
    external_id: str
    reason: str


Item: TypeAlias = TicketRecord | Rejection


class _Line(NamedTuple):
    number: int
    text: str
    problem: str | None


def detect_format(name: str, head: bytes) -> str:
    """``csv``, ``jsonl`` or ``json`` (an array) from the file name, else from the first bytes."""
    suffix = PurePath(name).suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in {".jsonl", ".ndjson"}:
        return "jsonl"
    first = head.removeprefix(codecs.BOM_UTF8).lstrip()[:1]
    if first == b"[":
        return "json"
    if first == b"{" or suffix == ".json":
        return "jsonl"
    return "csv"


class TicketFile:
    """One pass over a ticket file; ``bytes_read`` of ``total_bytes`` tells how far it has come."""

    def __init__(self, path: str | Path, *, name: str = "") -> None:
        self.path = Path(path)
        self.total_bytes = self.path.stat().st_size
        self.bytes_read = 0
        with self.path.open("rb") as stream:
            head = stream.read(_CHUNK_BYTES)
        _refuse_unusable(head, whole_file=len(head) >= self.total_bytes)
        self.format = detect_format(name or self.path.name, head)
        self.delimiter = _csv_delimiter(head)

    def __iter__(self) -> Iterator[Item]:
        self.bytes_read = 0
        with self.path.open("rb") as stream:
            if self.format == "json":
                yield from _json_array_items(_TextBuffer(self._reader(stream)))
            elif self.format == "jsonl":
                yield from _jsonl_items(self._lines(stream))
            else:
                yield from _csv_items(self._lines(stream), self.delimiter)

    def _lines(self, stream: IO[bytes]) -> Iterator[_Line]:
        """Physical lines decoded as UTF-8; one that cannot be used carries its problem."""
        for number in count(1):
            raw = stream.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            self.bytes_read += len(raw)
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                self.bytes_read += _skip_rest_of_line(stream)
                # A newline keeps the CSV parser's view of line numbers in step with the file.
                yield _Line(number, "\n", f"the line is longer than {MAX_LINE_BYTES // 2**20} MB")
                continue
            yield _decoded(number, raw.removeprefix(codecs.BOM_UTF8) if number == 1 else raw)

    def _reader(self, stream: IO[bytes]) -> Callable[[int], str]:
        decoder = codecs.getincrementaldecoder("utf-8")()
        first = True

        def read(size: int) -> str:
            nonlocal first
            raw = stream.read(size)
            self.bytes_read += len(raw)
            if first:
                raw, first = raw.removeprefix(codecs.BOM_UTF8), False
            try:
                return decoder.decode(raw, final=not raw)
            except UnicodeDecodeError:
                raise FileFormatError(
                    f"the file is not valid UTF-8 near byte {self.bytes_read:,}; save it as UTF-8"
                ) from None

        return read


def _refuse_unusable(head: bytes, *, whole_file: bool) -> None:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FileFormatError("the file is UTF-16 encoded; save it as UTF-8 (CSV UTF-8 in Excel)")
    if whole_file and not head.removeprefix(codecs.BOM_UTF8).strip():
        raise FileFormatError("the file is empty")


def _csv_delimiter(head: bytes) -> str:
    """Comma, unless the header line clearly uses semicolons or tabs (spreadsheet exports do)."""
    first_line = head.removeprefix(codecs.BOM_UTF8).lstrip().split(b"\n", 1)[0]
    counts = {delimiter: first_line.count(delimiter.encode()) for delimiter in (",", ";", "\t")}
    return max(counts, key=lambda delimiter: (counts[delimiter], delimiter == ","))


def _skip_rest_of_line(stream: IO[bytes]) -> int:
    skipped = 0
    while chunk := stream.readline(_CHUNK_BYTES):
        skipped += len(chunk)
        if chunk.endswith(b"\n"):
            break
    return skipped


def _decoded(number: int, raw: bytes) -> _Line:
    try:
        return _Line(number, raw.decode("utf-8"), None)
    except UnicodeDecodeError as exc:
        problem = (
            f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at position {exc.start + 1}); "
            "save the file as UTF-8 and import it again"
        )
        return _Line(number, raw.decode("utf-8", "replace"), problem)


def _validated(data: Mapping[str, Any], line: int) -> Item:
    try:
        return ticket_record_from_dict(data)
    except InvalidRecord as exc:
        return Rejection(line, _external_id(data.get("external_id")), str(exc))


def _external_id(value: Any) -> str:
    return "" if value is None or isinstance(value, (dict, list)) else str(value).strip()[:255]


# CSV ---------------------------------------------------------------------------------------------


def _csv_items(lines: Iterator[_Line], delimiter: str) -> Iterator[Item]:
    problems: dict[int, str] = {}

    def texts() -> Iterator[str]:
        for line in lines:
            if line.problem:
                problems[line.number] = line.problem
            yield line.text

    # Process-wide setting; raised from the 128 KiB default so a long conversation in the messages
    # column fits, and kept bounded so an unclosed quote cannot swallow the file into memory.
    csv.field_size_limit(MAX_LINE_BYTES)
    reader = csv.reader(texts(), delimiter=delimiter)
    header = _csv_header(reader)
    problems.clear()
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            item: Item | None = Rejection(start, "", f"cannot be read as CSV: {exc}")
        else:
            item = _csv_row(header, cells, start, reader.line_num, problems)
        problems.clear()
        if item is not None:
            yield item


def _csv_header(reader: Any) -> list[str]:
    try:
        cells = next((row for row in reader if any(cell.strip() for cell in row)), None)
    except csv.Error as exc:
        raise FileFormatError(f"the header line cannot be read as CSV: {exc}") from None
    if cells is None:
        raise FileFormatError("the file has no header line")
    header = [cell.strip().lower().replace(" ", "_") for cell in cells]
    missing = [name for name in ("external_id", "created_at") if name not in header]
    if "body" not in header and "messages" not in header:
        missing.append("body (or messages)")
    if missing:
        raise FileFormatError(
            f"the header (line {reader.line_num}) has no {', '.join(missing)} column; the first line "
            f"must name the columns, for example {','.join(CSV_COLUMNS)}"
        )
    repeated = sorted({name for name in header if name in KNOWN_COLUMNS and header.count(name) > 1})
    if repeated:
        raise FileFormatError(f"the header names {', '.join(repeated)} more than once")
    return header


def _csv_row(header: list[str], cells: list[str], start: int, end: int, problems: dict[int, str]) -> Item | None:
    position = header.index("external_id")
    external_id = cells[position].strip()[:255] if position < len(cells) else ""
    if problems:
        number, problem = min(problems.items())
        return Rejection(start, external_id, problem if number == start else f"line {number}: {problem}")
    if not any(cell.strip() for cell in cells):
        return None  # a blank line, or the empty row a spreadsheet leaves at the end
    if len(cells) != len(header):
        return Rejection(start, external_id, _width_problem(len(cells), len(header), start, end))
    return _validated({name: cell for name, cell in zip(header, cells, strict=True) if name in KNOWN_COLUMNS}, start)


def _width_problem(cells: int, columns: int, start: int, end: int) -> str:
    problem = f"the row has {cells} cells but the header has {columns} columns"
    if end > start:
        return f"{problem}; it runs on to line {end}: is a quote left open?"
    if cells > columns:
        return f"{problem}; does a value with a comma lack its quotes?"
    return problem


# JSON Lines and JSON arrays ---------------------------------------------------------------------


def _jsonl_items(lines: Iterator[_Line]) -> Iterator[Item]:
    for line in lines:
        if line.problem:
            yield Rejection(line.number, "", line.problem)
        elif line.text.strip():
            yield _json_line_item(line)


def _json_line_item(line: _Line) -> Item:
    try:
        value = json.loads(line.text)
    except json.JSONDecodeError as exc:
        return Rejection(line.number, "", f"not valid JSON: {exc.msg} (column {exc.colno})")
    except ValueError as exc:  # a number json parses but Python refuses, e.g. an integer of 5,000 digits
        return Rejection(line.number, "", f"not valid JSON: {exc}")
    except RecursionError:
        return Rejection(line.number, "", "not valid JSON: nested too deeply")
    return _json_value_item(value, line.number)


def _json_value_item(value: Any, line: int) -> Item:
    if not isinstance(value, dict):
        kind = {list: "an array", str: "a string", bool: "true/false", type(None): "null"}.get(type(value))
        return Rejection(line, "", f"expected a JSON object with the ticket's fields, got {kind or 'a number'}")
    return _validated(value, line)


def _json_array_items(buffer: _TextBuffer) -> Iterator[Item]:
    """The elements of ``[ {...}, {...} ]``, each at the line it starts on.

    Unlike JSON Lines, a syntax error cannot be skipped (nothing says where the next element
    begins), so it ends the file with a ``FileFormatError``; the elements before it stand.
    """
    if buffer.next_char() != "[":
        raise FileFormatError("expected a JSON array of ticket objects")
    buffer.consume(1)
    separator = buffer.next_char()
    while separator != "]":
        line, value = buffer.decode_value()
        yield _json_value_item(value, line)
        separator = buffer.next_char()
        if separator not in {",", "]"}:
            where = f"on line {buffer.line}" if separator else "at the end of the file"
            raise FileFormatError(f"the JSON array needs a comma or a closing ] {where}")
        if separator == ",":
            buffer.consume(1)
            buffer.next_char()
    buffer.consume(1)
    if buffer.next_char():
        raise FileFormatError(f"unexpected text after the JSON array on line {buffer.line}")


class _TextBuffer:
    """The not yet parsed text of a stream, and the line its first character is on."""

    def __init__(self, read: Callable[[int], str]) -> None:
        self.read = read
        self.text = ""
        self.line = 1
        self.exhausted = False

    def fill(self, size: int = _CHUNK_BYTES) -> bool:
        chunk = self.read(size)
        self.text += chunk
        self.exhausted = not chunk
        return bool(chunk)

    def consume(self, end: int) -> None:
        self.line += self.text.count("\n", 0, end)
        self.text = self.text[end:]

    def next_char(self) -> str:
        """The next non-blank character, consuming the blanks before it; '' at the end."""
        while True:
            self.consume(len(self.text) - len(self.text.lstrip(_JSON_BLANKS)))
            if self.text or not self.fill():
                return self.text[:1]

    def decode_value(self) -> tuple[int, Any]:
        decoder = json.JSONDecoder()
        while True:
            try:
                value, end = decoder.raw_decode(self.text)
            except json.JSONDecodeError as exc:
                if len(self.text) > MAX_LINE_BYTES:
                    raise FileFormatError(
                        f"the JSON element on line {self.line} is broken or larger than "
                        f"{MAX_LINE_BYTES // 2**20} MB"
                    ) from None
                if self.exhausted:
                    line = self.line + exc.lineno - 1
                    raise FileFormatError(f"the JSON array is broken on line {line}: {exc.msg}") from None
            except RecursionError:
                raise FileFormatError(f"the JSON element on line {self.line} is nested too deeply") from None
            except ValueError as exc:  # not a syntax error: a number Python refuses (5,000 digits)
                raise FileFormatError(f"the JSON element on line {self.line} cannot be read: {exc}") from None
            else:
                # A value that ends with the buffer may go on (a number split between chunks).
                if end < len(self.text) or self.exhausted:
                    line = self.line
                    self.consume(end)
                    return line, value
            # Doubling the read keeps re-parsing a large element from being quadratic.
            self.fill(max(_CHUNK_BYTES, len(self.text)))
