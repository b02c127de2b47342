"""The IMAP mailbox connector against real IMAP servers on 127.0.0.1: the small one of fake_imap.py and Dovecot."""

from __future__ import annotations

import base64
import email
import email.utils
import imaplib
import logging
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_service
from tests.connectors.fake_imap import FakeImapServer
from tickets.connectors import imap, registry
from tickets.connectors.base import Page, PermanentError, TransientError
from tickets.models import Message, SourceKind, SyncRunStatus, Ticket
from tickets.records import TicketRecord
from tickets.services import ingest_records, source_configure, source_get_or_create, source_sync, source_test_connection

USERNAME = "support@threadline.example"
PASSWORD = 'correct horse "battery" staple'


def mail(
    message_id: str,
    sender: str,
    subject: str,
    body: bytes | str,
    *,
    date: str = "Mon, 02 Mar 2026 09:00:00 +0000",
    in_reply_to: str = "",
    references: str = "",
    headers: str = "",
    content_type: str = "text/plain; charset=utf-8",
    encoding: str = "8bit",
) -> bytes:
    head = [f"From: {sender}", f"To: {USERNAME}", f"Subject: {subject}", f"Date: {date}", "MIME-Version: 1.0"]
    if message_id:
        head.append(f"Message-ID: <{message_id}>")
    if in_reply_to:
        head.append(f"In-Reply-To: <{in_reply_to}>")
    if references:
        head.append("References: " + "\r\n ".join(f"<{ref}>" for ref in references.split()))
    head += [line for line in headers.splitlines() if line]
    head += [f"Content-Type: {content_type}", f"Content-Transfer-Encoding: {encoding}"]
    payload = body.encode() if isinstance(body, str) else body
    return "\r\n".join(head).encode() + b"\r\n\r\n" + payload


# Thread 1: a customer at acme.example, our reply, their follow-up (References lists the chain).
INVOICE_QUESTION = mail(
    "a1@acme.example",
    "Jane Doe <jane@acme.example>",
    "Cannot export invoices",
    "Hello,\nthe export button does nothing since Monday.\nJane",
)
INVOICE_ANSWER = mail(
    "a2@threadline.example",
    "Threadline Support <support@threadline.example>",
    "Re: Cannot export invoices",
    "Hi Jane, we fixed it, please try again.",
    date="Mon, 02 Mar 2026 10:00:00 +0000",
    in_reply_to="a1@acme.example",
    references="a1@acme.example",
)
INVOICE_THANKS = mail(
    "a3@acme.example",
    "Jane Doe <jane@acme.example>",
    "Re: Re: Cannot export invoices",
    "Works now, thanks!",
    date="Mon, 02 Mar 2026 11:00:00 +0000",
    in_reply_to="a2@threadline.example",
    references="a1@acme.example a2@threadline.example",
)
# Thread 2: a free-mail customer, RFC 2047 name and subject, a Latin-1 quoted-printable body; our
# colleague answers from our domain with In-Reply-To only (no References).
RESET_QUESTION = mail(
    "b1@mail.gmail.com",
    "=?utf-8?q?Jos=C3=A9_Garc=C3=ADa?= <Jose.Garcia@gmail.com>",
    "=?iso-8859-1?q?R=E9initialiser_le_mot_de_passe?=",
    b"Je n'arrive pas =E0 r=E9initialiser mon mot de passe, le lien a expir=E9.",
    date="Tue, 03 Mar 2026 08:00:00 +0100",
    content_type="text/plain; charset=iso-8859-1",
    encoding="quoted-printable",
)
RESET_ANSWER = mail(
    "b2@threadline.example",
    "Bob <bob@threadline.example>",
    "RE: =?iso-8859-1?q?R=E9initialiser_le_mot_de_passe?=",
    "Je vous envoie un nouveau lien.",
    date="Tue, 03 Mar 2026 09:30:00 +0100",
    in_reply_to="b1@mail.gmail.com",
)
# Thread 3: HTML only, Windows-1252 in base64, with a PDF attached; our autoresponder answers.
_HTML = "<html><body><p>The dashboard shows \u201cError 500\u201d.</p><p>We pay \u20ac40 a month!</p></body></html>"
_PDF = base64.b64encode(b"%PDF-1.4 not really").decode()
OUTAGE_REPORT = mail(
    "c1@globex.example",
    "ops@globex.example",
    "Dashboard down",
    "--XYZ\r\nContent-Type: text/html; charset=windows-1252\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    + base64.b64encode(_HTML.encode("cp1252")).decode()
    + '\r\n--XYZ\r\nContent-Type: application/pdf; name="report.pdf"\r\n'
    'Content-Disposition: attachment; filename="report.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
    + _PDF
    + "\r\n--XYZ--\r\n",
    date="Wed, 04 Mar 2026 12:00:00 +0000",
    content_type='multipart/mixed; boundary="XYZ"',
    encoding="7bit",
)
OUTAGE_AUTOREPLY = mail(
    "c2@threadline.example",
    "support@threadline.example",
    "Re: Dashboard down",
    "We received your request and will answer within a day.",
    date="Wed, 04 Mar 2026 12:00:05 +0000",
    in_reply_to="c1@globex.example",
    references="c1@globex.example",
    headers="Auto-Submitted: auto-replied",
)
# Not tickets: a newsletter, and an out-of-office answer to mail we sent from elsewhere.
NEWSLETTER = mail(
    "n1@news.example",
    "News <news@news.example>",
    "Our spring offers",
    "Buy now.",
    headers="Precedence: bulk\r\nList-Unsubscribe: <mailto:leave@news.example>",
)
OUT_OF_OFFICE = mail(
    "o1@initech.example",
    "Peter <peter@initech.example>",
    "Automatic reply: Your renewal",
    "I am out of the office until Monday.",
    in_reply_to="outbound-7@threadline.example",
    references="outbound-7@threadline.example",
    headers="X-Autoreply: yes",
)

FIRST_DELIVERY = (
    INVOICE_QUESTION,
    INVOICE_ANSWER,
    RESET_QUESTION,
    OUTAGE_REPORT,
    NEWSLETTER,
    INVOICE_THANKS,
    RESET_ANSWER,
    OUTAGE_AUTOREPLY,
    OUT_OF_OFFICE,
)


MAILBOXES = ("INBOX", "Support Archive", "Sent")
DOVECOT = next((path for path in (shutil.which("dovecot"), "/usr/sbin/dovecot") if path and Path(path).exists()), None)


class DovecotServer:
    """Debian's Dovecot (``dovecot-imapd``) as a process of the test: a temporary maildir, a passwd
    file, plain IMAP on a free port of 127.0.0.1. The same methods as ``FakeImapServer``."""

    def __init__(self, *, username: str, password: str, mailboxes: tuple[str, ...]) -> None:
        self.username, self.password, self.mailboxes = username, password, mailboxes
        self.root = Path(tempfile.mkdtemp(prefix="threadline-dovecot-"))
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> DovecotServer:
        assert DOVECOT is not None
        self.root.chmod(0o755)  # mail is read and written as the mail user, not as us
        (self.root / "mail").mkdir()
        (self.root / "users").write_text(f"{self.username}:{{PLAIN}}{self.password}\n")
        if os.geteuid() == 0:  # Dovecot refuses to access mail as root
            mail_user = pwd.getpwnam("nobody")
            os.chown(self.root / "mail", mail_user.pw_uid, mail_user.pw_gid)
            process_users = ""
        else:
            mail_user = pwd.getpwuid(os.geteuid())
            process_users = f"default_internal_user = {mail_user.pw_name}\ndefault_login_user = {mail_user.pw_name}\n"
        (self.root / "dovecot.conf").write_text(
            DOVECOT_CONF.format(
                root=self.root,
                port=self.port,
                uid=mail_user.pw_uid,
                gid=mail_user.pw_gid,
                process_users=process_users,
            )
        )
        self.process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.root / "dovecot.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self._wait_until_listening()
        with self._client() as client:
            for mailbox in self.mailboxes[1:]:
                client.create(_quoted(mailbox))
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self.process is not None
        self.process.terminate()
        self.process.wait(timeout=30)
        shutil.rmtree(self.root, ignore_errors=True)

    def _wait_until_listening(self) -> None:
        """Dovecot forks its listeners after start-up: connect until one answers (or Dovecot exits)."""
        assert self.process is not None
        for _ in range(500):
            if self.process.poll() is not None:
                log = (self.root / "dovecot.log").read_text() if (self.root / "dovecot.log").exists() else ""
                raise RuntimeError(f"dovecot exited with {self.process.returncode}: {log[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=5).close()
                return
            except ConnectionRefusedError:
                time.sleep(0.02)
        raise RuntimeError("dovecot did not start listening")

    @contextmanager
    def _client(self, mailbox: str | None = None) -> Iterator[imaplib.IMAP4]:
        client = imaplib.IMAP4("127.0.0.1", self.port, timeout=30)
        client.login(self.username, self.password)
        if mailbox:
            client.select(_quoted(mailbox))
        try:
            yield client
        finally:
            client.logout()

    def add(self, raw: bytes, *, mailbox: str = "INBOX") -> int:
        sent = email.utils.parsedate_to_datetime(str(email.message_from_bytes(raw)["Date"]))
        with self._client() as client:
            _, data = client.append(_quoted(mailbox), "", imaplib.Time2Internaldate(sent), raw)
        found = re.search(rb"APPENDUID \d+ (\d+)", data[0] or b"")
        assert found is not None, data
        return int(found.group(1))

    def last_uid(self, *, mailbox: str = "INBOX") -> int:
        with self._client(mailbox) as client:
            _, data = client.uid("SEARCH", "ALL")
        return max((int(uid) for uid in (data[0] or b"").split()), default=0)

    def renumber(self, *, mailbox: str = "INBOX") -> int:
        """Delete and re-create ``mailbox`` with the same mail: a new UIDVALIDITY, as after a rebuild."""
        assert mailbox != "INBOX", "Dovecot cannot delete INBOX"
        with self._client(mailbox) as client:
            _, data = client.uid("FETCH", "1:*", "(BODY.PEEK[])")
            messages = [item[1] for item in data if isinstance(item, tuple)]
            client.close()
            client.delete(_quoted(mailbox))
            client.create(_quoted(mailbox))
        for raw in messages:
            self.add(raw, mailbox=mailbox)
        with self._client() as client:
            client.select(_quoted(mailbox), readonly=True)
            _, validity = client.response("UIDVALIDITY")
        return int(validity[-1])


DOVECOT_CONF = """
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
{process_users}
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
# A wrong password is answered at once, not after Dovecot's 2 s (and growing) brute-force delay.
auth_failure_delay = 0
login_trusted_networks = 127.0.0.1/32
first_valid_uid = 1
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""


def _quoted(mailbox: str) -> str:
    return '"' + mailbox + '"'


@pytest.fixture(params=["fake", "dovecot"])
def server(request: pytest.FixtureRequest) -> Iterator[FakeImapServer | DovecotServer]:
    """Each test runs against the small server of fake_imap.py and against a real Dovecot."""
    if request.param == "fake":
        with FakeImapServer(username=USERNAME, password=PASSWORD, mailboxes=MAILBOXES) as fake:
            yield fake
    else:
        require_service("Dovecot (Debian package dovecot-imapd)", DOVECOT is not None)
        with DovecotServer(username=USERNAME, password=PASSWORD, mailboxes=MAILBOXES) as dovecot:
            yield dovecot


@pytest.fixture
def fake_server() -> Iterator[FakeImapServer]:
    with FakeImapServer(username=USERNAME, password=PASSWORD, mailboxes=MAILBOXES) as fake:
        yield fake


Server = FakeImapServer | DovecotServer


def settings_for(server: Server, **overrides: Any) -> dict[str, Any]:
    return {
        "host": "127.0.0.1",
        "port": str(server.port),
        "ssl": "false",
        "username": USERNAME,
        "our_domains": "threadline.example",
        **overrides,
    }


def sync(server: Server, cursor: dict[str, Any] | None = None, **overrides: Any) -> list[Page]:
    pages = imap.fetch(settings_for(server, **overrides), {"password": PASSWORD}, cursor or {}, sleep=_no_sleep)
    return list(pages)


def _no_sleep(seconds: float) -> None:
    raise AssertionError(f"the connector waited {seconds} s")


def by_id(pages: list[Page]) -> dict[str, TicketRecord]:
    return {record.external_id: record for page in pages for record in page.records}


def deliver(server: Server, *messages: bytes, mailbox: str = "INBOX") -> None:
    for message in messages:
        server.add(message, mailbox=mailbox)


def test_it_threads_the_first_sync_into_one_ticket_per_conversation(server: Server) -> None:
    deliver(server, *FIRST_DELIVERY)

    pages = sync(server)

    assert [page.cursor["last_uid"] for page in pages] == [9]
    tickets = by_id(pages)
    assert sorted(tickets) == ["a1@acme.example", "b1@mail.gmail.com", "c1@globex.example"]
    invoices = tickets["a1@acme.example"]
    assert invoices.subject == "Cannot export invoices"
    assert invoices.channel == "email"
    assert [(m.external_id, m.author_role, m.author_name) for m in invoices.messages] == [
        ("a1@acme.example", "customer", "Jane Doe"),
        ("a2@threadline.example", "agent", "Threadline Support"),
        ("a3@acme.example", "customer", "Jane Doe"),
    ]
    assert invoices.messages[0].body == "Hello,\nthe export button does nothing since Monday.\nJane"
    assert invoices.requester is not None
    assert (invoices.requester.name, invoices.requester.email) == ("Jane Doe", "jane@acme.example")
    assert invoices.organization is not None
    assert invoices.organization.external_id == "acme.example"
    assert invoices.created_at.isoformat() == "2026-03-02T09:00:00+00:00"
    assert invoices.updated_at is not None
    assert invoices.updated_at.isoformat() == "2026-03-02T11:00:00+00:00"
    assert invoices.status == "open"


def test_it_follows_in_reply_to_when_a_reply_has_no_references(server: Server) -> None:
    deliver(server, RESET_QUESTION, RESET_ANSWER)

    reset = by_id(sync(server))["b1@mail.gmail.com"]

    assert [(m.author_role, m.author_name) for m in reset.messages] == [("customer", "José García"), ("agent", "Bob")]
    assert reset.status == "pending"  # we spoke last


def test_it_decodes_encoded_headers_charsets_and_html_only_mail(server: Server) -> None:
    deliver(server, RESET_QUESTION, OUTAGE_REPORT)

    tickets = by_id(sync(server))

    reset = tickets["b1@mail.gmail.com"]
    assert reset.subject == "Réinitialiser le mot de passe"
    assert reset.messages[0].body == "Je n'arrive pas à réinitialiser mon mot de passe, le lien a expiré."
    assert reset.messages[0].created_at.isoformat() == "2026-03-03T07:00:00+00:00"
    assert reset.requester is not None
    assert (reset.requester.name, reset.requester.email) == ("José García", "jose.garcia@gmail.com")
    assert reset.organization is None  # gmail.com says nothing about the customer's company
    outage = tickets["c1@globex.example"]
    assert outage.messages[0].body == "The dashboard shows \u201cError 500\u201d.\n\nWe pay \u20ac40 a month!"
    assert "PDF" not in outage.messages[0].body
    assert outage.organization is not None
    assert outage.organization.name == "globex.example"


def test_it_marks_automatic_replies_as_bots_and_skips_threads_no_customer_wrote(server: Server) -> None:
    deliver(server, OUTAGE_REPORT, OUTAGE_AUTOREPLY, NEWSLETTER, OUT_OF_OFFICE)

    tickets = by_id(sync(server))

    assert list(tickets) == ["c1@globex.example"]
    assert [m.author_role for m in tickets["c1@globex.example"].messages] == ["customer", "bot"]
    assert tickets["c1@globex.example"].status == "open"  # an autoresponder is not an answer


def test_it_yields_nothing_when_no_new_mail_arrived(server: Server) -> None:
    deliver(server, *FIRST_DELIVERY)
    cursor = sync(server)[-1].cursor

    assert sync(server, cursor) == []


def test_it_pages_in_batches_and_a_later_batch_carries_the_whole_thread(server: Server) -> None:
    deliver(server, *FIRST_DELIVERY)

    pages = sync(server, batch_size=4)

    assert [page.cursor["last_uid"] for page in pages] == [4, 8, 9]
    # INVOICE_THANKS (UID 6) is in the second batch; its ticket comes with the messages of the first.
    second = {record.external_id: record for record in pages[1].records}
    assert [m.external_id for m in second["a1@acme.example"].messages] == [
        "a1@acme.example",
        "a2@threadline.example",
        "a3@acme.example",
    ]
    assert second["a1@acme.example"].subject == "Cannot export invoices"


@pytest.mark.django_db
def test_it_keeps_every_message_when_a_reply_arrives_in_a_later_sync(server: Server) -> None:
    source = source_get_or_create(name="support inbox", kind=SourceKind.IMAP)
    deliver(server, INVOICE_QUESTION, INVOICE_ANSWER, RESET_QUESTION)
    pages = sync(server)
    for page in pages:
        ingest_records(source=source, records=page.records)
    cursor = pages[-1].cursor

    deliver(
        server,
        INVOICE_THANKS,
        mail(
            "a4@threadline.example",
            "Threadline Support <support@threadline.example>",
            "Re: Cannot export invoices",
            "Glad to hear it!",
            date="Mon, 02 Mar 2026 12:00:00 +0000",
            in_reply_to="a3@acme.example",
            references="a1@acme.example a2@threadline.example a3@acme.example",
        ),
    )
    later = sync(server, cursor)
    counts = [ingest_records(source=source, records=page.records) for page in later]

    assert [page.cursor for page in later] == [
        {"mailbox": "INBOX", "uidvalidity": cursor["uidvalidity"], "last_uid": 5}
    ]
    assert [(c.created, c.updated) for c in counts] == [(0, 1)]
    ticket = Ticket.objects.select_related("requester", "organization").get(
        source=source, external_id="a1@acme.example"
    )
    assert list(Message.objects.filter(ticket=ticket).values_list("external_id", "author_role")) == [
        ("a1@acme.example", "customer"),
        ("a2@threadline.example", "agent"),
        ("a3@acme.example", "customer"),
        ("a4@threadline.example", "agent"),
    ]
    assert ticket.subject == "Cannot export invoices"
    assert ticket.requester is not None
    assert ticket.requester.email == "jane@acme.example"
    assert ticket.organization is not None
    assert ticket.organization.name == "acme.example"
    assert ticket.status == "pending"
    assert Ticket.objects.filter(source=source).count() == 2


@pytest.mark.django_db
def test_it_starts_over_when_the_mailbox_is_renumbered(server: Server, caplog: Any) -> None:
    source = source_get_or_create(name="support inbox", kind=SourceKind.IMAP)
    deliver(server, *FIRST_DELIVERY, mailbox="Support Archive")
    first = sync(server, mailbox="Support Archive")
    for page in first:
        ingest_records(source=source, records=page.records)
    old_validity = first[-1].cursor["uidvalidity"]
    validity = server.renumber(mailbox="Support Archive")

    with caplog.at_level(logging.WARNING, logger="tickets.connectors.imap"):
        again = sync(server, first[-1].cursor, mailbox="Support Archive")

    assert f"UIDVALIDITY changed from {old_validity} to {validity}" in caplog.text
    assert [page.cursor for page in again] == [
        {"mailbox": "Support Archive", "uidvalidity": validity, "last_uid": server.last_uid(mailbox="Support Archive")}
    ]
    assert sorted(by_id(again)) == sorted(by_id(first))
    counts = ingest_records(source=source, records=[record for page in again for record in page.records])
    assert (counts.created, counts.updated, counts.unchanged) == (0, 0, 3)


def test_it_learns_the_uidvalidity_of_an_empty_mailbox(server: Server) -> None:
    pages = sync(server)

    assert [page.records for page in pages] == [[]]
    assert pages[0].cursor["last_uid"] == 0
    assert sync(server, pages[0].cursor) == []


def test_it_reads_the_mailbox_read_only_and_only_the_start_of_each_message(fake_server: FakeImapServer) -> None:
    deliver(fake_server, INVOICE_QUESTION, mailbox="Support Archive")

    tickets = by_id(sync(fake_server, mailbox="Support Archive"))

    assert list(tickets) == ["a1@acme.example"]
    assert 'EXAMINE "Support Archive"' in fake_server.commands
    assert not [command for command in fake_server.commands if command.split()[0] in ("SELECT", "STORE")]
    assert any(f"BODY.PEEK[]<0.{imap.MAX_MESSAGE_BYTES}>" in command for command in fake_server.commands)


def test_it_says_what_the_mailbox_holds(server: Server) -> None:
    deliver(server, *FIRST_DELIVERY)

    found = imap.connection_check(settings_for(server), {"password": PASSWORD}, sleep=_no_sleep)

    assert re.fullmatch(r"INBOX: 9 messages \(UIDVALIDITY \d+\)", found)


def test_it_reports_a_rejected_password_in_plain_words(server: Server) -> None:
    with pytest.raises(PermanentError, match="rejected the username or password"):
        imap.connection_check(settings_for(server), {"password": "wrong"}, sleep=_no_sleep)
    with pytest.raises(PermanentError, match="rejected the username or password"):
        imap.fetch(settings_for(server), {"password": "wrong"}, {}, sleep=_no_sleep).__next__()


def test_it_reports_a_missing_mailbox(server: Server) -> None:
    with pytest.raises(PermanentError, match="mailbox 'Tickets' does not exist"):
        imap.connection_check(settings_for(server, mailbox="Tickets"), {"password": PASSWORD}, sleep=_no_sleep)


def test_it_reports_an_unreachable_server_after_retrying() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    waits: list[float] = []
    settings = {"host": "127.0.0.1", "port": str(port), "ssl": "false", "username": USERNAME}

    with pytest.raises(TransientError, match=f"127.0.0.1:{port} could not be reached \\(connection refused\\)"):
        next(imap.fetch(settings, {"password": PASSWORD}, {}, sleep=waits.append))

    assert waits == [2, 4]


def test_it_explains_settings_it_cannot_use() -> None:
    with pytest.raises(PermanentError, match="The IMAP server is missing"):
        imap.connection_check({"username": USERNAME}, {"password": PASSWORD}, sleep=_no_sleep)
    with pytest.raises(PermanentError, match="port 'imap' is not a number"):
        imap.connection_check(
            {"host": "mail.example", "port": "imap", "username": USERNAME}, {"password": PASSWORD}, sleep=_no_sleep
        )


def test_it_reads_raw_utf8_headers_and_the_text_of_a_message_with_a_huge_attachment(server: Server) -> None:
    attachment = base64.encodebytes(bytes(3_000_000)).decode()
    deliver(
        server,
        mail(
            "d1@firma.de",
            '"Müller, Jürgen" <j.mueller@firma.de>',
            "Grüße: Rechnung fehlt",
            "--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nDie Rechnung für März fehlt.\r\n"
            "--B\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename=scan.png\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n" + attachment + "--B--\r\n",
            content_type="multipart/mixed; boundary=B",
        ),
    )

    ticket = by_id(sync(server))["d1@firma.de"]

    assert ticket.subject == "Grüße: Rechnung fehlt"
    assert ticket.requester is not None
    assert (ticket.requester.name, ticket.requester.email) == ("Müller, Jürgen", "j.mueller@firma.de")
    assert ticket.messages[0].body == "Die Rechnung für März fehlt."


def test_it_reads_our_replies_from_the_sent_folder(server: Server) -> None:
    deliver(server, INVOICE_QUESTION, INVOICE_THANKS)
    deliver(
        server,
        INVOICE_ANSWER,
        mail("x1@threadline.example", "Bob <bob@threadline.example>", "Renewal offer", "Our offer, never answered."),
        mailbox="Sent",
    )
    options: dict[str, Any] = {"sent_mailbox": "Sent", "our_domains": ""}  # our replies are known by their folder alone

    pages = sync(server, **options)

    assert [(page.cursor["last_uid"], page.cursor["sent"]["last_uid"]) for page in pages] == [(2, 0), (2, 2)]
    assert [list(by_id([page])) for page in pages] == [["a1@acme.example"], ["a1@acme.example"]]
    invoices = pages[0].records[0]
    assert [(m.external_id, m.author_role) for m in invoices.messages] == [
        ("a1@acme.example", "customer"),
        ("a2@threadline.example", "agent"),
        ("a3@acme.example", "customer"),
    ]
    assert sync(server, pages[-1].cursor, **options) == []

    deliver(
        server,
        mail(
            "a4@threadline.example",
            "Bob <bob@threadline.example>",
            "Re: Cannot export invoices",
            "Glad to hear it!",
            date="Mon, 02 Mar 2026 12:00:00 +0000",
            in_reply_to="a3@acme.example",
            references="a1@acme.example a3@acme.example",
        ),
        mailbox="Sent",
    )
    later = sync(server, pages[-1].cursor, **options)

    assert [(page.cursor["last_uid"], page.cursor["sent"]["last_uid"]) for page in later] == [(2, 3)]
    invoices = later[0].records[0]
    assert [m.author_role for m in invoices.messages] == ["customer", "agent", "customer", "agent"]
    assert invoices.status == "pending"
    found = imap.connection_check(settings_for(server, **options), {"password": PASSWORD}, sleep=_no_sleep)
    assert re.fullmatch(r"INBOX: 2 messages \(UIDVALIDITY \d+\); Sent: 3 messages \(UIDVALIDITY \d+\)", found)


@pytest.mark.django_db
def test_it_syncs_a_configured_source_through_the_sync_service(server: Server, monkeypatch: Any) -> None:
    monkeypatch.setitem(registry.MODULES, SourceKind.IMAP, "imap")
    source, _ = source_configure(
        name="Support inbox",
        kind=SourceKind.IMAP,
        settings_update=settings_for(server),
        secrets_update={"password": PASSWORD},
    )
    deliver(server, *FIRST_DELIVERY)

    assert source_test_connection(source=source, sleep=_no_sleep).startswith("INBOX: 9 messages")
    run = source_sync(source_id=source.pk, sleep=_no_sleep)

    assert run.status == SyncRunStatus.SUCCEEDED, run.failure
    assert (run.created, run.updated, run.unchanged) == (3, 0, 0)
    source.refresh_from_db()
    assert source.cursor["last_uid"] == 9
    assert source_sync(source_id=source.pk, sleep=_no_sleep).fetched == 0
    source_configure(name="Support inbox", kind=SourceKind.IMAP, settings_update={}, secrets_update={"password": "x"})
    failed = source_sync(source_id=source.pk, sleep=_no_sleep)
    assert failed.status == SyncRunStatus.FAILED
    assert "rejected the username or password" in failed.failure
