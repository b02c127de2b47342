"""A small IMAP4rev1 server for tests: real sockets on 127.0.0.1, enough of RFC 3501 for ``imaplib``.

Commands: CAPABILITY, NOOP, LOGIN (checks the credentials), SELECT / EXAMINE (EXISTS, UIDVALIDITY,
UIDNEXT), UID SEARCH (ALL, UID <set>, HEADER <field> <text>, OR, NOT, parenthesised groups),
UID FETCH (UID, FLAGS, INTERNALDATE, RFC822.SIZE, RFC822, BODY[] / BODY.PEEK[] and their partial
<start.length> forms as literals),
CLOSE and LOGOUT. Mailboxes hold raw messages; a test adds mail between syncs and can make the
server renumber a mailbox (a new UIDVALIDITY), as a real server does after a rebuild.
Every command is recorded (LOGIN without its arguments) so tests can check what a client sent.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import re
import socketserver
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

_TOKEN = re.compile(rb'"((?:[^"\\]|\\.)*)"|(\()|(\))|([^\s()]+)')


@dataclass
class StoredMessage:
    uid: int
    raw: bytes
    internaldate: datetime


@dataclass
class Mailbox:
    uidvalidity: int
    messages: list[StoredMessage] = field(default_factory=list)
    uidnext: int = 1


class FakeImapServer:
    """Use as a context manager: ``with FakeImapServer(...) as server: server.port``."""

    def __init__(self, *, username: str, password: str, mailboxes: tuple[str, ...] = ("INBOX",)) -> None:
        self.username = username
        self.password = password
        self.mailboxes = {name: Mailbox(uidvalidity=1) for name in mailboxes}
        self.commands: list[str] = []
        self.lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.imap = self
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def __enter__(self) -> FakeImapServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def add(self, raw: bytes, *, mailbox: str = "INBOX", internaldate: datetime | None = None) -> int:
        """Deliver ``raw`` (CRLF line ends are added where missing); return its UID."""
        with self.lock:
            box = self.mailboxes[mailbox]
            uid = box.uidnext
            raw = re.sub(rb"(?<!\r)\n", b"\r\n", raw)
            box.messages.append(StoredMessage(uid, raw, internaldate or _date_of(raw)))
            box.uidnext += 1
            return uid

    def last_uid(self, *, mailbox: str = "INBOX") -> int:
        with self.lock:
            return max((message.uid for message in self.mailboxes[mailbox].messages), default=0)

    def renumber(self, *, mailbox: str = "INBOX", first_uid: int = 100) -> int:
        """Give every message a new UID from ``first_uid`` on and a new UIDVALIDITY; return it."""
        with self.lock:
            box = self.mailboxes[mailbox]
            box.uidvalidity += 1
            for offset, message in enumerate(box.messages):
                message.uid = first_uid + offset
            box.uidnext = first_uid + len(box.messages)
            return box.uidvalidity


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    imap: FakeImapServer


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        self.imap = self.server.imap
        self.signed_in = False
        self.selected: Mailbox | None = None
        self.send(b"* OK [CAPABILITY IMAP4rev1] fake IMAP ready")
        while True:
            line = self.read_command()
            if line is None:
                return
            tag, _, rest = line.partition(b" ")
            tokens = _parse(rest)
            if not tokens:
                self.send(tag + b" BAD empty command")
                continue
            command = str(tokens[0]).upper()
            if command == "UID" and len(tokens) > 1:
                command = "UID " + str(tokens[1]).upper()
                tokens = tokens[1:]
            self.imap.commands.append(command if command == "LOGIN" else rest.decode(errors="replace"))
            if not self.dispatch(tag, command, tokens[1:]):
                return

    def read_command(self) -> bytes | None:
        """One command line; a ``{n}`` literal at a line end is read and inlined as a quoted string."""
        line = self.rfile.readline()
        if not line:
            return None
        line = line.rstrip(b"\r\n")
        while (literal := re.search(rb"\{(\d+)\}$", line)) is not None:
            self.send(b"+ go ahead")
            data = self.rfile.read(int(literal.group(1)))
            quoted = b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
            line = line[: literal.start()] + quoted + self.rfile.readline().rstrip(b"\r\n")
        return line

    def send(self, data: bytes) -> None:
        self.wfile.write(data + b"\r\n")
        self.wfile.flush()

    def dispatch(self, tag: bytes, command: str, args: list[Any]) -> bool:
        if command == "LOGOUT":
            self.send(b"* BYE logging out")
            self.send(tag + b" OK LOGOUT completed")
            return False
        if command == "CAPABILITY":
            self.send(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN")
            self.send(tag + b" OK CAPABILITY completed")
        elif command == "NOOP":
            self.send(tag + b" OK NOOP completed")
        elif command == "LOGIN":
            self.login(tag, args)
        elif not self.signed_in:
            self.send(tag + b" NO sign in first")
        elif command in ("SELECT", "EXAMINE"):
            self.select(tag, command, args)
        elif command == "CLOSE":
            self.selected = None
            self.send(tag + b" OK CLOSE completed")
        elif self.selected is None:
            self.send(tag + b" BAD no mailbox selected")
        elif command == "UID SEARCH":
            self.search(tag, args)
        elif command == "UID FETCH":
            self.fetch(tag, args)
        else:
            self.send(tag + b" BAD unknown command " + command.encode())
        return True

    def login(self, tag: bytes, args: list[Any]) -> None:
        if len(args) == 2 and args[0] == self.imap.username and args[1] == self.imap.password:
            self.signed_in = True
            self.send(tag + b" OK [CAPABILITY IMAP4rev1] Logged in")
        else:
            self.send(tag + b" NO [AUTHENTICATIONFAILED] Authentication failed.")

    def select(self, tag: bytes, command: str, args: list[Any]) -> None:
        box = self.imap.mailboxes.get(str(args[0]) if args else "")
        if box is None:
            self.selected = None
            self.send(tag + b" NO [NONEXISTENT] Mailbox doesn't exist: " + str(args[0] if args else "").encode())
            return
        self.selected = box
        with self.imap.lock:
            self.send(f"* {len(box.messages)} EXISTS".encode())
            self.send(b"* 0 RECENT")
            self.send(b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)")
            self.send(f"* OK [UIDVALIDITY {box.uidvalidity}] UIDs valid".encode())
            self.send(f"* OK [UIDNEXT {box.uidnext}] Predicted next UID".encode())
        mode = b"READ-ONLY" if command == "EXAMINE" else b"READ-WRITE"
        self.send(tag + b" OK [" + mode + b"] " + command.encode() + b" completed")

    def search(self, tag: bytes, args: list[Any]) -> None:
        assert self.selected is not None
        with self.imap.lock:
            messages = list(self.selected.messages)
        try:
            matches = [m.uid for m in messages if _matches(m, list(args), messages)]
        except (IndexError, ValueError) as exc:
            self.send(tag + b" BAD invalid search: " + str(exc).encode())
            return
        self.send(b"* SEARCH" + b"".join(b" %d" % uid for uid in matches))
        self.send(tag + b" OK SEARCH completed")

    def fetch(self, tag: bytes, args: list[Any]) -> None:
        assert self.selected is not None
        with self.imap.lock:
            messages = list(self.selected.messages)
        items = args[1] if isinstance(args[1], list) else [args[1]]
        names = [str(item).upper() for item in items]
        wanted = _uid_set(str(args[0]), messages)
        for number, message in enumerate(messages, start=1):
            if message.uid not in wanted:
                continue
            parts = [b"UID %d" % message.uid]
            literal: tuple[bytes, bytes] | None = None
            for name in names:
                if name == "FLAGS":
                    parts.append(b"FLAGS ()")
                elif name == "INTERNALDATE":
                    parts.append(
                        b'INTERNALDATE "' + message.internaldate.strftime("%d-%b-%Y %H:%M:%S +0000").encode() + b'"'
                    )
                elif name == "RFC822.SIZE":
                    parts.append(b"RFC822.SIZE %d" % len(message.raw))
                elif name in ("RFC822", "BODY[]", "BODY.PEEK[]"):
                    literal = (b"RFC822" if name == "RFC822" else b"BODY[]", message.raw)
                elif partial := re.fullmatch(r"BODY(?:\.PEEK)?\[\]<(\d+)\.(\d+)>", name):
                    start, length = int(partial.group(1)), int(partial.group(2))
                    literal = (b"BODY[]<%d>" % start, message.raw[start : start + length])
            head = b"* %d FETCH (" % number + b" ".join(parts)
            if literal is None:
                self.send(head + b")")
            else:
                self.wfile.write(head + b" " + literal[0] + b" {%d}\r\n" % len(literal[1]) + literal[1])
                self.send(b")")
        self.send(tag + b" OK FETCH completed")


def _date_of(raw: bytes) -> datetime:
    """When a message was delivered: its Date header, as a mail server sees it a moment after sending."""
    date = email.message_from_bytes(raw, policy=email.policy.compat32).get("Date")
    try:
        return email.utils.parsedate_to_datetime(str(date)).astimezone(UTC)
    except (TypeError, ValueError):
        return datetime.now(UTC)


def _parse(data: bytes) -> list[Any]:
    """Tokens of a command: quoted strings and atoms as ``str``, parenthesised lists as ``list``."""
    stack: list[list[Any]] = [[]]
    for quoted, opening, closing, atom in _TOKEN.findall(data):
        if opening:
            stack.append([])
        elif closing:
            group = stack.pop()
            stack[-1].append(group)
        elif atom:
            stack[-1].append(atom.decode())
        else:
            stack[-1].append(re.sub(rb"\\(.)", rb"\1", quoted).decode())
    return stack[0]


def _uid_set(text: str, messages: list[StoredMessage]) -> set[int]:
    """UIDs of a sequence set like ``1:3,7,9:*``; ``*`` is the highest UID, so ``8:*`` includes it."""
    highest = max((m.uid for m in messages), default=0)
    uids: set[int] = set()
    for part in text.split(","):
        low_text, _, high_text = part.partition(":")
        low = highest if low_text == "*" else int(low_text)
        high = low if not high_text else highest if high_text == "*" else int(high_text)
        low, high = min(low, high), max(low, high)
        uids.update(m.uid for m in messages if low <= m.uid <= high)
    return uids


def _matches(message: StoredMessage, keys: list[Any], messages: list[StoredMessage]) -> bool:
    """Whether ``message`` satisfies every search key in ``keys`` (consumed as they are read)."""
    while keys:
        if not _match_one(message, keys, messages):
            return False
    return True


def _match_one(message: StoredMessage, keys: list[Any], messages: list[StoredMessage]) -> bool:
    key = keys.pop(0)
    if isinstance(key, list):
        return _matches(message, list(key), messages)
    name = key.upper()
    if name == "ALL":
        return True
    if name == "UID":
        return message.uid in _uid_set(keys.pop(0), messages)
    if name == "HEADER":
        field_name, text = keys.pop(0), keys.pop(0)
        parsed = email.message_from_bytes(message.raw, policy=email.policy.compat32)
        values = [" ".join(str(value).split()) for value in parsed.get_all(field_name) or []]
        return any(text.lower() in value.lower() for value in values)
    if name == "OR":
        first = _match_one(message, keys, messages)
        second = _match_one(message, keys, messages)
        return first or second
    if name == "NOT":
        return not _match_one(message, keys, messages)
    raise ValueError(f"unsupported search key {key}")
