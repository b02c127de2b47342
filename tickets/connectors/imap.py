"""An IMAP mailbox (a support inbox): email threads as tickets, read incrementally by UID.

Protocol (RFC 3501, stdlib ``imaplib``): LOGIN, EXAMINE (read-only: a sync never changes flags),
``UID SEARCH`` and ``UID FETCH (UID INTERNALDATE BODY.PEEK[]<0.N>)`` (the first 2 MB of each message).

- Incremental by UIDVALIDITY + UID. The cursor is ``{"mailbox": name, "uidvalidity": N,
  "last_uid": M}``; a sync asks for ``UID SEARCH UID M+1:*`` (a server answers that with the last
  message even when M+1 is beyond it, so UIDs <= M are dropped) and reads the new messages in
  batches of ``BATCH_SIZE``, one ``Page`` per batch whose cursor is the batch's last UID. When the
  mailbox's UIDVALIDITY is not the cursor's (or another mailbox was chosen), the server renumbered
  it: the sync starts over from UID 0. That re-import is harmless because every ticket and message
  carries a stable id (Message-IDs, not UIDs).
- The sent folder (optional ``sent_mailbox``): where a team's replies usually are, since a mail
  client files what it sends there rather than in the inbox. Its messages are agent replies; its
  position is kept under the cursor's ``"sent"`` key, and its new mail is read after the mailbox's.
- Threads: a ticket's external id is the Message-ID of its thread's root: the first id in
  ``References``, else the root of the ``In-Reply-To`` message (looked up on the server), else the
  message's own Message-ID. Each message becomes a ``MessageRecord`` with its Message-ID as id.
- Whole threads, always. Ingestion rewrites a stored ticket's fields (subject, requester, created
  time, status) from the record it gets, and upserts its messages by id without deleting any. A
  record built from only the new messages of a thread would therefore keep the old messages but
  replace the ticket's subject with "Re: …", its created time with the reply's, and its requester
  with nobody when the new message is our own reply. So for every thread a batch touches, the whole
  thread is searched on the server (``HEADER Message-ID / References / In-Reply-To`` of the root,
  in the mailbox and the sent folder) and the record is built from all of its messages.
- Authors: a message from the sent folder, or from the mailbox's own address, one of
  ``our_addresses`` or a sender at one of ``our_domains``, is an agent's; automatic mail
  (``Auto-Submitted``, ``X-Autoreply``, ``Precedence: bulk/junk/auto_reply`` outside mailing lists,
  delivery reports) is a bot's; everyone else is a customer. A thread without any customer message (a
  newsletter, an out-of-office answer to our own mail, a bounce) is not a ticket and is skipped.
  The requester is the first customer sender; the organization is their email domain unless it is
  a free-mail provider.
- Bodies: MIME decoded (RFC 2047 headers, quoted-printable and base64, declared charsets with the
  usual mislabels tolerated), text/plain preferred, HTML reduced to text when it is the only body.
  Attachments are not imported; a message that is nothing but attachments is stored as their names.

A library: no ORM, no Django settings.
"""

from __future__ import annotations

import base64
import contextlib
import email
import email.header
import email.policy
import email.utils
import hashlib
import imaplib
import logging
import re
import socket
import ssl
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import Message
from typing import Any

from tickets.connectors.base import (
    ConfigurationError,
    Connector,
    Page,
    PermanentError,
    SettingField,
    Sleep,
    TransientError,
    html_to_text,
    require,
)
from tickets.records import (
    MAX_BODY_CHARS,
    MAX_ID_CHARS,
    MAX_MESSAGES,
    CustomerRecord,
    MessageRecord,
    OrganizationRecord,
    TicketRecord,
)

logger = logging.getLogger(__name__)

BATCH_SIZE = 200
TIMEOUT_SECONDS = 60.0
CONNECT_ATTEMPTS = 3
# Roots per thread search: each adds three criteria, and servers cap a command line (Dovecot at 64 kB).
ROOTS_PER_SEARCH = 50
# How far an In-Reply-To chain without References is followed up to its root.
MAX_PARENT_HOPS = 10

FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "yahoo.com",
        "ymail.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "protonmail.ch",
        "pm.me",
        "gmx.de",
        "gmx.net",
        "gmx.com",
        "web.de",
        "t-online.de",
        "mail.com",
        "yandex.ru",
        "yandex.com",
        "mail.ru",
        "zoho.com",
        "fastmail.com",
        "hey.com",
        "tutanota.com",
        "tuta.io",
        "qq.com",
        "163.com",
        "126.com",
        "orange.fr",
        "free.fr",
        "laposte.net",
        "libero.it",
        "naver.com",
        "rediffmail.com",
        "seznam.cz",
        "wp.pl",
    }
)
# Providers with a domain per country (hotmail.co.uk, yahoo.fr, outlook.de …).
FREE_MAIL_PREFIXES = ("hotmail.", "yahoo.", "outlook.", "live.", "gmx.", "aol.")

_MESSAGE_ID = re.compile(r"<([^<>]+)>")
_REPLY_PREFIX = re.compile(r"^(?:\s*(?:re|fw|fwd|aw|wg|sv|vs|antw|tr|rif|ref|odp|r)(?:\[\d+\])?\s*:)+\s*", re.I)
_UID = re.compile(rb"\bUID (\d+)")
_INTERNALDATE = re.compile(rb'INTERNALDATE "([^"]+)"')
_MONTHS = {
    m: i
    for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)
}
_AUTO_PRECEDENCE = {"bulk", "junk", "auto_reply"}
_SECURITY_NO = {"false", "no", "0", "off", "plain", "none"}

FIELDS = (
    SettingField(
        "host", "IMAP server", "The mail server's host name, e.g. imap.gmail.com or outlook.office365.com.", True
    ),
    SettingField("port", "Port", "Optional. 993 (IMAP over TLS) unless your server uses another port."),
    SettingField(
        "ssl",
        "Use TLS",
        "Optional, on by default. Turn it off (false) only for a server on your own machine or private network: "
        "without TLS the password travels in clear text.",
    ),
    SettingField("mailbox", "Mailbox", 'Optional. The folder to import, INBOX by default (e.g. "Support").'),
    SettingField(
        "sent_mailbox",
        "Sent folder",
        "Optional. Where your team's replies are saved when they are not copied to the mailbox above "
        '(e.g. "Sent", "Sent Items", "[Gmail]/Sent Mail"); its messages are read as agent replies.',
    ),
    SettingField("username", "Username", "The mailbox's login, usually its email address.", True),
    SettingField(
        "password",
        "Password",
        "The mailbox's password, or an app password where the provider requires one "
        "(Gmail, iCloud, Outlook with two-factor sign-in).",
        True,
        True,
    ),
    SettingField(
        "our_addresses",
        "Our addresses",
        "Optional. Comma-separated addresses your team replies from (support@example.com); their messages "
        "count as agent replies.",
    ),
    SettingField(
        "our_domains",
        "Our domains",
        "Optional. Comma-separated domains of your team (example.com); anyone writing from them is an agent.",
    ),
)


@dataclass(frozen=True)
class _Options:
    host: str
    port: int
    ssl: bool
    mailbox: str
    sent_mailbox: str
    username: str
    password: str
    our_addresses: frozenset[str]
    our_domains: tuple[str, ...]
    batch_size: int


@dataclass(frozen=True)
class _Mail:
    """One message as read from the server, decoded."""

    uid: int
    message_id: str
    references: tuple[str, ...]
    in_reply_to: str
    subject: str
    sender_name: str
    sender_email: str
    sent_at: datetime
    body: str
    automatic: bool
    sent: bool  # read from the sent folder: written by us


# --- Connecting -----------------------------------------------------------------------------------


def _options(settings: Mapping[str, Any], credentials: Mapping[str, Any]) -> _Options:
    merged = {**settings, **{k: v for k, v in credentials.items() if v not in (None, "")}}
    port_text = str(settings.get("port") or "").strip()
    use_ssl = str(settings.get("ssl", "")).strip().lower() not in _SECURITY_NO
    try:
        port = int(port_text) if port_text else (993 if use_ssl else 143)
    except ValueError:
        raise ConfigurationError(f"The port {port_text!r} is not a number; IMAP over TLS uses 993.") from None
    if not 0 < port < 65536:
        raise ConfigurationError(f"The port {port} is not a valid port number; IMAP over TLS uses 993.")
    mailbox = str(settings.get("mailbox") or "").strip() or "INBOX"
    sent_mailbox = str(settings.get("sent_mailbox") or "").strip()
    return _Options(
        host=require(settings, "host", "IMAP server"),
        port=port,
        ssl=use_ssl,
        mailbox=mailbox,
        sent_mailbox=sent_mailbox if sent_mailbox != mailbox else "",
        username=require(merged, "username", "username"),
        password=require(merged, "password", "password"),
        # The mailbox's own address is ours even when nobody listed it.
        our_addresses=frozenset(_listed(settings.get("our_addresses")) + _listed(merged.get("username"))),
        our_domains=tuple(d.lstrip("@") for d in _listed(settings.get("our_domains"))),
        batch_size=_batch_size(settings.get("batch_size")),
    )


def _batch_size(value: Any) -> int:
    """Messages per page: ``BATCH_SIZE`` unless the settings say otherwise (tests, slow servers)."""
    try:
        return max(1, int(value or BATCH_SIZE))
    except (TypeError, ValueError):
        raise ConfigurationError(f"The batch size {value!r} is not a whole number.") from None


def _listed(value: Any) -> list[str]:
    items = value if isinstance(value, (list, tuple)) else re.split(r"[,;\s]+", str(value or ""))
    return [str(item).strip().lower() for item in items if str(item).strip()]


def _connect(options: _Options, sleep: Sleep) -> imaplib.IMAP4:
    """A signed-in connection; connection failures are retried, refusals are not."""
    for attempt in range(1, CONNECT_ATTEMPTS + 1):
        try:
            return _sign_in(options)
        except TransientError:
            if attempt == CONNECT_ATTEMPTS:
                raise
            logger.info("IMAP %s:%s unreachable; retry %d in %d s", options.host, options.port, attempt, 2**attempt)
            sleep(2**attempt)
    raise AssertionError("unreachable")


def _sign_in(options: _Options) -> imaplib.IMAP4:
    where = f"{options.host}:{options.port}"
    try:
        if options.ssl:
            conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                options.host, options.port, ssl_context=ssl.create_default_context(), timeout=TIMEOUT_SECONDS
            )
        else:
            conn = imaplib.IMAP4(options.host, options.port, timeout=TIMEOUT_SECONDS)
    except socket.gaierror as exc:
        if exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)):
            raise PermanentError(f"The IMAP server {options.host!r} was not found; check the host name.") from None
        raise TransientError(f"The IMAP server {options.host!r} could not be looked up ({exc.strerror}).") from None
    except ssl.SSLCertVerificationError as exc:
        raise PermanentError(
            f"The TLS certificate of {where} could not be verified ({exc.verify_message}); check the host name."
        ) from None
    except ssl.SSLError:
        raise PermanentError(
            f"The TLS handshake with {where} failed; check the port (993 for IMAP over TLS) and the TLS setting."
        ) from None
    except (OSError, imaplib.IMAP4.abort) as exc:
        raise TransientError(f"The IMAP server {where} could not be reached ({_reason(exc)}).") from None
    except imaplib.IMAP4.error:
        raise PermanentError(
            f"{where} did not answer like an IMAP server; check the host, the port and the TLS setting."
        ) from None
    try:
        conn.login(options.username, options.password)
    except UnicodeEncodeError:
        _close(conn)
        raise ConfigurationError("The username and password must be plain ASCII for IMAP LOGIN.") from None
    except imaplib.IMAP4.abort as exc:
        _close(conn)
        raise TransientError(f"The IMAP server {where} closed the connection while signing in ({exc}).") from None
    except imaplib.IMAP4.error:
        _close(conn)
        raise PermanentError(
            "The IMAP server rejected the username or password. Check them in the source's settings "
            "(some providers require an app password)."
        ) from None
    except OSError as exc:
        _close(conn)
        raise TransientError(f"The connection to {where} failed while signing in ({_reason(exc)}).") from None
    return conn


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    return str(exc) or type(exc).__name__


def _close(conn: imaplib.IMAP4) -> None:
    with contextlib.suppress(OSError, imaplib.IMAP4.error):
        conn.logout()


def _examine(conn: imaplib.IMAP4, mailbox: str) -> tuple[int, int]:
    """Open ``mailbox`` read-only; return (messages, UIDVALIDITY)."""
    typ, data = conn.select(_mailbox_name(mailbox), readonly=True)
    if typ != "OK":
        # Dovecot appends its timings ("(0.001 + 0.000 secs)"), which mean nothing to an admin.
        detail = re.sub(r"\s*\([\d.+ ]+secs?\)", "", _text(data[0]) if data and data[0] else "").strip(" .")
        raise PermanentError(
            f"The mailbox {mailbox!r} does not exist or cannot be opened ({detail}); check the mailbox name."
        )
    _, validity = conn.response("UIDVALIDITY")
    if not validity or validity[0] is None:
        raise PermanentError(f"The IMAP server gave no UIDVALIDITY for {mailbox!r}; it cannot be synced by UID.")
    return int(_text(data[0]) or 0), int(_text(validity[-1]))


def _mailbox_name(name: str) -> str:
    """The mailbox as an IMAP string: modified UTF-7 (RFC 3501 5.1.3), quoted."""
    encoded: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            chunk = base64.b64encode("".join(pending).encode("utf-16-be")).decode().rstrip("=")
            encoded.append("&" + chunk.replace("/", ",") + "-")
            pending.clear()

    for char in name:
        if " " <= char <= "~":
            flush()
            encoded.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return _quoted("".join(encoded))


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


# --- The connector's two entry points -------------------------------------------------------------


def connection_check(settings: Mapping[str, Any], credentials: Mapping[str, Any], *, sleep: Sleep = time.sleep) -> str:
    """Signs in and opens the mailbox read-only: "INBOX: 1,204 messages (UIDVALIDITY 3)"."""
    options = _options(settings, credentials)
    conn = _sign_in(options)
    found = []
    try:
        for folder in (options.mailbox, options.sent_mailbox):
            if folder:
                count, validity = _examine(conn, folder)
                found.append(f"{folder}: {count:,} message{'s' if count != 1 else ''} (UIDVALIDITY {validity})")
    except (OSError, imaplib.IMAP4.abort) as exc:
        raise TransientError(f"The connection to the IMAP server broke ({_reason(exc)}).") from None
    finally:
        _close(conn)
    return "; ".join(found)


def fetch(
    settings: Mapping[str, Any], credentials: Mapping[str, Any], cursor: Mapping[str, Any], *, sleep: Sleep = time.sleep
) -> Iterator[Page]:
    """Yield a ``Page`` per batch of new messages, each with the threads they belong to, whole.

    A page's cursor is ``{"uidvalidity", "last_uid"}`` of its batch; nothing is yielded when the
    mailbox has nothing new. Raises ``PermanentError`` (credentials, mailbox) or ``TransientError``
    (connection lost: the next sync resumes after the last page stored).
    """
    options = _options(settings, credentials)
    conn = _connect(options, sleep)
    try:
        yield from _fetch_pages(_Reader(conn, options), cursor)
    except (OSError, imaplib.IMAP4.abort) as exc:
        raise TransientError(
            f"The connection to the IMAP server broke ({_reason(exc)}); the next sync resumes where this one stopped."
        ) from None
    except imaplib.IMAP4.error as exc:
        raise PermanentError(f"The IMAP server refused a command: {exc}") from None
    finally:
        _close(conn)


def _fetch_pages(reader: _Reader, cursor: Mapping[str, Any]) -> Iterator[Page]:
    """Pages for the new mail of the mailbox, then for that of the sent folder (when one is set).

    Every page's cursor holds both positions, so a sync stopped anywhere resumes at the right
    message of each folder.
    """
    positions: dict[str, dict[str, Any]] = {}
    new_uids: dict[str, list[int]] = {}
    for folder, stored in zip(reader.folders, (cursor, cursor.get("sent") or {}), strict=False):
        validity = reader.examine(folder)[1]
        last_uid = int(stored.get("last_uid") or 0)
        known = stored.get("uidvalidity")
        if known is not None and (int(known) != validity or stored.get("mailbox", folder) != folder):
            reason = (
                f"UIDVALIDITY changed from {known} to {validity}, so the server renumbered its messages"
                if int(known) != validity
                else f"the last sync read {stored.get('mailbox')!r} instead"
            )
            logger.warning(
                "IMAP mailbox %r: %s; re-reading all of it (tickets already stored are matched by "
                "Message-ID, not by UID).",
                folder,
                reason,
            )
            last_uid = 0
        positions[folder] = {"mailbox": folder, "uidvalidity": validity, "last_uid": last_uid}
        new_uids[folder] = reader.uids_after(folder, last_uid)

    def page(records: list[TicketRecord]) -> Page:
        state = dict(positions[reader.folders[0]])
        if len(reader.folders) > 1:
            state["sent"] = dict(positions[reader.folders[1]])
        return Page(records=records, cursor=state)

    if not any(new_uids.values()):
        unchanged = page([])
        if unchanged.cursor != dict(cursor):
            yield unchanged  # nothing to read, but the cursor learns each folder's UIDVALIDITY
        return
    for folder in reader.folders:
        for batch in _chunks(new_uids[folder], reader.options.batch_size):
            records = reader.thread_records(folder, batch)
            positions[folder]["last_uid"] = batch[-1]
            yield page(records)


_Key = tuple[str, int]  # (folder, UID)


class _Reader:
    """One signed-in connection, reading the mailbox (and the sent folder) read-only."""

    def __init__(self, conn: imaplib.IMAP4, options: _Options) -> None:
        self.conn = conn
        self.options = options
        self.folders = [options.mailbox, *([options.sent_mailbox] if options.sent_mailbox else [])]
        self._open: str | None = None
        # Parents looked for and not found (replies to mail sent from elsewhere): asked once.
        self._absent: set[str] = set()

    def examine(self, folder: str) -> tuple[int, int]:
        """Open ``folder`` read-only: (messages, UIDVALIDITY)."""
        opened = _examine(self.conn, folder)
        self._open = folder
        return opened

    def uids_after(self, folder: str, last_uid: int) -> list[int]:
        # "M+1:*" is a range: with nothing above M, the server answers with the highest UID it has.
        return sorted(uid for uid in self._search(folder, f"UID {last_uid + 1}:*") if uid > last_uid)

    def thread_records(self, folder: str, batch: list[int]) -> list[TicketRecord]:
        """The records of every thread with a message in ``batch``, each with all of its messages
        from every folder read."""
        mails = {(folder, mail.uid): mail for mail in self._fetch(folder, batch)}
        roots = self._roots(mails)
        wanted = sorted({roots[(folder, uid)] for uid in batch if (folder, uid) in roots})
        for chunk in _chunks([root for root in wanted if _searchable(root)], ROOTS_PER_SEARCH):
            criteria = _any_of(
                [
                    f"HEADER {name} {_quoted(f'<{root}>')}"
                    for root in chunk
                    for name in ("Message-ID", "References", "In-Reply-To")
                ]
            )
            for other in self.folders:
                members = [uid for uid in self._search(other, criteria) if (other, uid) not in mails]
                mails.update(((other, mail.uid), mail) for mail in self._fetch(other, members))
        roots = self._roots(mails)
        threads: dict[str, list[_Mail]] = {root: [] for root in wanted}
        for key, mail in mails.items():
            if roots[key] in threads:
                threads[roots[key]].append(mail)
        records = []
        for root, thread in threads.items():
            record = _ticket_record(root, thread, self.options)
            if record is None:
                logger.debug("IMAP thread <%s> has no customer message: not a ticket", root)
            else:
                records.append(record)
        return records

    def _roots(self, mails: dict[_Key, _Mail]) -> dict[_Key, str]:
        """The thread root of each mail. A message with In-Reply-To but no References takes its
        parent's root; parents not read yet are looked up on the server and added to ``mails``."""
        by_id: dict[str, _Mail] = {}
        for mail in mails.values():
            by_id.setdefault(mail.message_id, mail)
        for _ in range(MAX_PARENT_HOPS):
            missing = {m.in_reply_to for m in by_id.values() if not m.references and m.in_reply_to}
            missing = {p for p in missing - by_id.keys() - self._absent if _searchable(p)}
            if not missing:
                break
            criteria = _any_of([f"HEADER Message-ID {_quoted(f'<{parent}>')}" for parent in sorted(missing)])
            for folder in self.folders:
                found = [uid for uid in self._search(folder, criteria) if (folder, uid) not in mails]
                for mail in self._fetch(folder, found):
                    mails[(folder, mail.uid)] = mail
                    by_id.setdefault(mail.message_id, mail)
            self._absent |= missing - by_id.keys()

        def root_of(mail: _Mail) -> str:
            hops = 0
            while not mail.references and mail.in_reply_to:
                parent = by_id.get(mail.in_reply_to)
                hops += 1
                if parent is None or hops > MAX_PARENT_HOPS:
                    return mail.in_reply_to
                mail = parent
            return mail.references[0] if mail.references else mail.message_id

        return {key: root_of(mail) for key, mail in mails.items()}

    def _select(self, folder: str) -> None:
        if self._open != folder:
            self.examine(folder)

    def _search(self, folder: str, criteria: str) -> list[int]:
        self._select(folder)
        typ, data = self.conn.uid("SEARCH", criteria)
        if typ != "OK":
            raise PermanentError(f"The IMAP server refused a search: {_text(data[0]) if data else typ}")
        return sorted({int(token) for line in data if line for token in _text(line).split() if token.isdigit()})

    def _fetch(self, folder: str, uids: list[int]) -> list[_Mail]:
        if not uids:
            return []
        self._select(folder)
        sent = folder != self.options.mailbox
        mails = []
        for chunk in _chunks(sorted(uids), FETCH_CHUNK):
            items = f"(UID INTERNALDATE BODY.PEEK[]<0.{MAX_MESSAGE_BYTES}>)"
            typ, data = self.conn.uid("FETCH", _uid_set(chunk), items)
            if typ != "OK":
                raise PermanentError(f"The IMAP server refused to send messages: {_text(data[0]) if data else typ}")
            wanted = set(chunk)
            for head, raw in _fetched(data):
                uid_match = _UID.search(head)
                if uid_match and int(uid_match.group(1)) in wanted:
                    date_match = _INTERNALDATE.search(head)
                    received = _internaldate(date_match.group(1).decode()) if date_match else None
                    mails.append(_mail(int(uid_match.group(1)), raw, received, sent=sent))
        return mails


FETCH_CHUNK = 50
# Only a message's first bytes are read: its text comes before its attachments, and a 25 MB
# attachment times a fetch chunk would otherwise sit in a worker's memory. The email parser
# reads a cut-off MIME message up to the cut.
MAX_MESSAGE_BYTES = 2_000_000


def _fetched(data: list[Any]) -> Iterator[tuple[bytes, bytes]]:
    """(response text, message bytes) per message of a FETCH answer as ``imaplib`` returns it:
    a tuple (text up to the literal, literal) then the text after it (a server may put UID there)."""
    head: bytes | None = None
    raw = b""
    for item in data:
        if isinstance(item, tuple):
            if head is not None:
                yield head, raw
            head, raw = item[0], item[1]
        elif isinstance(item, bytes) and head is not None:
            head += b" " + item
    if head is not None:
        yield head, raw


def _uid_set(uids: list[int]) -> str:
    """``1:3,7,9:10`` for [1, 2, 3, 7, 9, 10] (sorted)."""
    ranges: list[list[int]] = []
    for uid in uids:
        if ranges and uid == ranges[-1][1] + 1:
            ranges[-1][1] = uid
        else:
            ranges.append([uid, uid])
    return ",".join(str(a) if a == b else f"{a}:{b}" for a, b in ranges)


def _any_of(criteria: list[str]) -> str:
    """IMAP's OR takes two keys: ``OR a OR b c`` matches any of a, b, c."""
    combined = criteria[-1]
    for criterion in reversed(criteria[:-1]):
        combined = f"OR {criterion} {combined}"
    return combined


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _searchable(message_id: str) -> bool:
    """Ids that can go into a quoted IMAP search string (ASCII, no line breaks, not absurdly long)."""
    return message_id.isascii() and message_id.isprintable() and len(message_id) < 900


def _internaldate(value: str) -> datetime | None:
    """``17-Jul-1996 02:44:25 -0700`` (day may be space-padded) as an aware UTC datetime."""
    match = re.fullmatch(r"\s*(\d{1,2})-(\w{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)\s*", value)
    if not match or match.group(2).lower() not in _MONTHS:
        return None
    day, month, year, hour, minute, second, sign, off_h, off_m = match.groups()
    offset = (int(off_h) * 60 + int(off_m)) * (1 if sign == "+" else -1)
    try:
        local = datetime(int(year), _MONTHS[month.lower()], int(day), int(hour), int(minute), int(second), tzinfo=UTC)
    except ValueError:
        return None
    return local - timedelta(minutes=offset)


# --- Reading one message --------------------------------------------------------------------------


def _mail(uid: int, raw: bytes, received: datetime | None, *, sent: bool = False) -> _Mail:
    # compat32 never raises on malformed headers: everything below decodes defensively itself.
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    message_id = _first_id(message.get("Message-ID"))
    if not message_id:
        # Stable across UIDVALIDITY changes, so a re-import matches the message it stored before.
        message_id = f"{hashlib.sha256(raw).hexdigest()[:32]}@no-message-id.threadline"
    references = tuple(_ids(message.get("References")))
    name, address = _sender(message)
    return _Mail(
        uid=uid,
        message_id=message_id,
        references=references,
        in_reply_to=next(iter(_ids(message.get("In-Reply-To"))), ""),
        subject=_header_text(message.get("Subject")),
        sender_name=name,
        sender_email=address,
        sent_at=_sent_at(message, received),
        body=_body(message),
        automatic=_is_automatic(message, address),
        sent=sent,
    )


def _ids(value: Any) -> list[str]:
    return ["".join(found.split()) for found in _MESSAGE_ID.findall(_header_text(value))]


def _first_id(value: Any) -> str:
    ids = _ids(value)
    if ids:
        return ids[0]
    bare = _header_text(value).strip()  # some senders omit the angle brackets
    return bare if bare and " " not in bare else ""


def _header_text(value: Any) -> str:
    """A header's text with RFC 2047 encoded words decoded and folding undone."""
    if value is None:
        return ""
    try:
        parts = email.header.decode_header(value if isinstance(value, email.header.Header) else str(value))
    except (ValueError, LookupError, AssertionError):
        return " ".join(str(value).split())
    text = "".join(_decode(part, charset) if isinstance(part, bytes) else part for part, charset in parts)
    return " ".join(text.split())


def _sender(message: Message) -> tuple[str, str]:
    raw = message.get("From") or message.get("Sender") or message.get("Return-Path") or ""
    # Encoded words are decoded after splitting (a decoded name may hold a comma); raw 8-bit
    # headers (a Header object here) are decoded first, their quoting is already literal.
    raw_text = _header_text(raw) if isinstance(raw, email.header.Header) else str(raw)
    for name, address in email.utils.getaddresses([raw_text]):
        if "@" in address:
            return _header_text(name).strip('"').strip()[:255], address.strip().lower()[:320]
    return _header_text(raw_text)[:255], ""


def _sent_at(message: Message, received: datetime | None) -> datetime:
    """The Date header, unless missing, unreadable or more than a day after the server received it."""
    sent = None
    try:
        sent = email.utils.parsedate_to_datetime(_header_text(message.get("Date")))
    except (TypeError, ValueError, IndexError):
        sent = None
    if sent is not None:
        sent = sent.replace(tzinfo=UTC) if sent.tzinfo is None else sent.astimezone(UTC)
        if received is None or sent <= received + timedelta(days=1):
            return sent
    return received or datetime.now(UTC)


def _is_automatic(message: Message, sender: str) -> bool:
    """RFC 3834 and the headers common autoresponders set; bounces (delivery reports) too."""
    auto_submitted = _header_text(message.get("Auto-Submitted")).lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return True
    if message.get("X-Autoreply") or message.get("X-Autorespond") or message.get("X-Failed-Recipients"):
        return True
    # A mailing list used as the support address (a Google Group) marks every customer's mail
    # "Precedence: list" or "bulk" with a List-Id; the precedence says nothing about the sender then.
    precedence = _header_text(message.get("Precedence")).lower()
    if precedence in _AUTO_PRECEDENCE and not message.get("List-Id"):
        return True
    if message.get_content_type() == "multipart/report":
        return True
    return sender.split("@")[0] in {"mailer-daemon", "postmaster"}


def _body(message: Message) -> str:
    plain: list[str] = []
    html: list[str] = []
    attachments: list[str] = []
    for part in message.walk():
        if part.is_multipart():
            continue
        filename = part.get_filename()
        if filename or part.get_content_disposition() == "attachment":
            attachments.append(_header_text(filename) or part.get_content_type())
            continue
        kind = part.get_content_type()
        if kind not in ("text/plain", "text/html"):
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        text = _decode(payload, part.get_content_charset())
        if kind == "text/plain":
            plain.append(_unflow(text) if str(part.get_param("format", "")).lower() == "flowed" else text)
        else:
            html.append(text)
    body = next((text.strip() for text in plain if text.strip()), "")
    if not body:
        body = next((text for text in (html_to_text(h) for h in html) if text), "")
    if not body and attachments:
        body = "Attachments: " + ", ".join(attachments)
    return body.replace("\r\n", "\n").replace("\x00", "")[:MAX_BODY_CHARS] or "(no text)"


def _decode(payload: bytes, charset: str | None) -> str:
    """Bytes in a declared charset, tolerating the usual mislabels: "us-ascii" or no charset on
    UTF-8 text, "iso-8859-1" on Windows-1252 (curly quotes, €), and unknown charset names."""
    label = (charset or "").strip().strip('"').lower()
    if label in ("", "us-ascii", "ascii", "unknown-8bit", "x-unknown", "default"):
        candidates = ["utf-8"]
    elif label in ("iso-8859-1", "iso8859-1", "latin-1", "latin1", "l1"):
        candidates = ["windows-1252"]
    else:
        candidates = [label, "utf-8"]
    for candidate in candidates:
        try:
            return payload.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return payload.decode("windows-1252", errors="replace")


def _unflow(text: str) -> str:
    """RFC 3676 format=flowed: a line ending in a space continues on the next one."""
    return re.sub(r"(?<=[^\s>]) \r?\n(?!>)", " ", text)


# --- Threads to records ---------------------------------------------------------------------------


def _ticket_record(root: str, thread: list[_Mail], options: _Options) -> TicketRecord | None:
    """The ticket of one thread, or None when no customer wrote in it (bounces, newsletters, our own mail)."""
    # One message per Message-ID: the copy in the sent folder if there is one (it is surely ours).
    unique = {mail.message_id: mail for mail in sorted(thread, key=lambda m: (m.sent, -m.uid))}
    mails = sorted(unique.values(), key=lambda m: (m.sent_at, m.uid))[:MAX_MESSAGES]
    roles = [_role(mail, options) for mail in mails]
    if "customer" not in roles:
        return None
    first_customer = mails[roles.index("customer")]
    people = [role for role in roles if role != "bot"]
    return TicketRecord(
        external_id=_stored_id(root),
        created_at=mails[0].sent_at,
        updated_at=mails[-1].sent_at,
        messages=tuple(
            MessageRecord(
                external_id=_stored_id(mail.message_id),
                body=mail.body,
                created_at=mail.sent_at,
                author_role=role,
                author_name=mail.sender_name or mail.sender_email,
            )
            for mail, role in zip(mails, roles, strict=True)
        ),
        subject=next((_clean_subject(m.subject) for m in mails if _clean_subject(m.subject)), "")[:500],
        channel="email",
        # Mail has no ticket status; who spoke last is the one signal there is.
        status="pending" if people[-1] == "agent" else "open",
        requester=_requester(first_customer),
        organization=_organization(first_customer.sender_email),
    )


def _role(mail: _Mail, options: _Options) -> str:
    address = mail.sender_email
    domain = address.rpartition("@")[2]
    ours = (
        mail.sent
        or address in options.our_addresses
        or any(domain == our_domain or domain.endswith("." + our_domain) for our_domain in options.our_domains)
    )
    if mail.automatic:
        return "bot"
    return "agent" if ours else "customer"


def _requester(mail: _Mail) -> CustomerRecord | None:
    if not mail.sender_email:
        return None
    return CustomerRecord(external_id=mail.sender_email, name=mail.sender_name, email=mail.sender_email)


def _organization(address: str) -> OrganizationRecord | None:
    domain = address.rpartition("@")[2].strip().lower()
    if not domain or "." not in domain or domain in FREE_MAIL_DOMAINS or domain.startswith(FREE_MAIL_PREFIXES):
        return None
    return OrganizationRecord(external_id=domain, name=domain)


def _clean_subject(subject: str) -> str:
    return _REPLY_PREFIX.sub("", subject).strip()


def _stored_id(message_id: str) -> str:
    """A Message-ID as stored: itself, or a digest of it when longer than an id column holds."""
    if len(message_id) <= MAX_ID_CHARS:
        return message_id
    return "sha256:" + hashlib.sha256(message_id.encode("utf-8", "surrogateescape")).hexdigest()


CONNECTOR = Connector(kind="imap", label="IMAP mailbox", fields=FIELDS, fetch=fetch, test_connection=connection_check)
