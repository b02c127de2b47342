"""The ticket store: where conversations come from and what they say.

Every row that comes from outside carries the id it has there (``external_id``) under a unique
constraint, so importing the same data twice finds the existing rows instead of adding new ones.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class SourceKind(models.TextChoices):
    UPLOAD = "upload", "CSV / JSONL upload"
    WEBHOOK = "webhook", "Signed webhook"
    API = "api", "REST API"
    DEMO = "demo", "Demo data"
    ZENDESK = "zendesk", "Zendesk Support"
    INTERCOM = "intercom", "Intercom"
    FRESHDESK = "freshdesk", "Freshdesk"
    HELPSCOUT = "helpscout", "Help Scout"
    ZAMMAD = "zammad", "Zammad"
    IMAP = "imap", "IMAP mailbox"


class Source(models.Model):
    """A configured place tickets come from: a help desk connector, an upload, a webhook."""

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=20, choices=SourceKind.choices)
    settings = models.JSONField(default=dict, blank=True)
    # Fernet token of a JSON object; read and written only through tickets.crypto.
    credentials_encrypted = models.TextField(blank=True, default="")
    cursor = models.JSONField(default=dict, blank=True)
    sync_interval_minutes = models.PositiveIntegerField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        permissions = [
            ("import_tickets", "Can import tickets from files and the API"),
            ("manage_source", "Can configure ticket sources and their credentials"),
        ]

    def __str__(self) -> str:
        return self.name


class SyncRunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    PARTIAL = "partial", "Finished with rejected records"
    FAILED = "failed", "Failed"


class SyncTrigger(models.TextChoices):
    MANUAL = "manual", "Started by hand"
    SCHEDULE = "schedule", "Schedule"
    UPLOAD = "upload", "File upload"
    COMMAND = "command", "Command line"
    API = "api", "API"
    WEBHOOK = "webhook", "Webhook"


class SyncRun(models.Model):
    """One import or sync of a source: its progress while it runs, its counts and errors after."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="sync_runs")
    trigger = models.CharField(max_length=20, choices=SyncTrigger.choices)
    status = models.CharField(max_length=20, choices=SyncRunStatus.choices, default=SyncRunStatus.QUEUED)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    file_name = models.CharField(max_length=255, blank=True, default="")
    file_path = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Progress: bytes or records done out of total; total is null when unknown.
    progress_done = models.BigIntegerField(default=0)
    progress_total = models.BigIntegerField(null=True, blank=True)
    fetched = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    # Tickets removed because the source marks them deleted or spam.
    deleted = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    # [{"line": 12, "external_id": "T-9", "reason": "..."}], capped; see MAX_REPORTED_ERRORS.
    errors = models.JSONField(default=list, blank=True)
    failure = models.TextField(blank=True, default="")

    MAX_REPORTED_ERRORS = 1000

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["source", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.source} run {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in {SyncRunStatus.SUCCEEDED, SyncRunStatus.PARTIAL, SyncRunStatus.FAILED}

    @property
    def progress_percent(self) -> int | None:
        if not self.progress_total:
            return None
        return min(100, int(100 * self.progress_done / self.progress_total))


class Organization(models.Model):
    """A customer company, as the source knows it."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="organizations")
    external_id = models.CharField(max_length=255)
    name = models.CharField(max_length=255)
    plan = models.CharField(max_length=100, blank=True, default="")
    arr = models.DecimalField(
        "annual recurring revenue", max_digits=14, decimal_places=2, null=True, blank=True
    )
    attributes = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="organization_unique_per_source")
        ]
        indexes = [models.Index(fields=["plan"])]

    def __str__(self) -> str:
        return self.name


class Customer(models.Model):
    """The person who asked: a ticket's requester."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="customers")
    external_id = models.CharField(max_length=255)
    name = models.CharField(max_length=255, blank=True, default="")
    email = models.EmailField(max_length=320, blank=True, default="")
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.SET_NULL, related_name="customers"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="customer_unique_per_source")
        ]
        indexes = [models.Index(fields=["email"])]

    def __str__(self) -> str:
        return self.name or self.email or self.external_id


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    CHAT = "chat", "Chat"
    PHONE = "phone", "Phone"
    WEB = "web", "Web form"
    SOCIAL = "social", "Social"
    API = "api", "API"
    OTHER = "other", "Other"


class TicketStatus(models.TextChoices):
    NEW = "new", "New"
    OPEN = "open", "Open"
    PENDING = "pending", "Pending"
    SOLVED = "solved", "Solved"
    CLOSED = "closed", "Closed"


class Ticket(models.Model):
    """A support ticket or a chat conversation."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="tickets")
    external_id = models.CharField(max_length=255)
    channel = models.CharField(max_length=20, choices=Channel.choices, default=Channel.OTHER)
    subject = models.CharField(max_length=500, blank=True, default="")
    status = models.CharField(max_length=20, choices=TicketStatus.choices, default=TicketStatus.OPEN)
    priority = models.CharField(max_length=20, blank=True, default="")
    requester = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets"
    )
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets"
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(null=True, blank=True)
    solved_at = models.DateTimeField(null=True, blank=True)
    reopen_count = models.PositiveSmallIntegerField(default=0)
    tags = models.JSONField("source tags", default=list, blank=True)
    csat = models.PositiveSmallIntegerField("CSAT (1-5)", null=True, blank=True)
    language = models.CharField(max_length=16, blank=True, default="")
    url = models.URLField("link in the help desk", max_length=500, blank=True, default="")
    # Hash of everything imported for this ticket, messages included: equal hash = nothing changed.
    content_hash = models.CharField(max_length=64)
    ingested_at = models.DateTimeField(auto_now_add=True)
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="ticket_unique_per_source")
        ]
        indexes = [
            models.Index(fields=["-created_at"], name="ticket_created_idx"),
            models.Index(fields=["source", "-created_at"], name="ticket_source_created_idx"),
            models.Index(fields=["organization", "-created_at"], name="ticket_org_created_idx"),
            models.Index(fields=["channel", "-created_at"], name="ticket_channel_created_idx"),
        ]

    def __str__(self) -> str:
        return self.subject or f"{self.source} #{self.external_id}"


class AuthorRole(models.TextChoices):
    CUSTOMER = "customer", "Customer"
    AGENT = "agent", "Agent"
    BOT = "bot", "Bot"


class Message(models.Model):
    """One turn of a conversation, as plain text."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages")
    external_id = models.CharField(max_length=255)
    author_role = models.CharField(max_length=20, choices=AuthorRole.choices, default=AuthorRole.CUSTOMER)
    author_name = models.CharField(max_length=255, blank=True, default="")
    body = models.TextField()
    created_at = models.DateTimeField()
    is_public = models.BooleanField(default=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["ticket", "external_id"], name="message_unique_per_ticket")
        ]

    def __str__(self) -> str:
        return f"{self.author_role} on {self.ticket_id}"


class IngestBatchStatus(models.TextChoices):
    READY = "ready", "Ready for processing"
    PROCESSED = "processed", "Processed"
    FAILED = "failed", "Failed"


class IngestBatch(models.Model):
    """The tickets one committed ingest batch created or changed, handed to the processing task."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="ingest_batches")
    sync_run = models.ForeignKey(
        SyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="ingest_batches"
    )
    ticket_ids = models.JSONField(default=list)
    status = models.CharField(
        max_length=20, choices=IngestBatchStatus.choices, default=IngestBatchStatus.READY
    )
    created_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    processed_count = models.PositiveIntegerField(default=0)
    failure = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"batch {self.pk} of {self.source} ({len(self.ticket_ids)} tickets)"


class SignInFailure(models.Model):
    """One failed sign-in (login page or API token), kept for the throttle window of ``tickets.signin``.

    In the database rather than the cache so the limit holds across processes and while Redis is down.
    """

    username = models.CharField(max_length=254)  # as typed, lower-cased: the account it aimed at, if any
    ip = models.GenericIPAddressField(null=True, blank=True)
    at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["username", "at"]),
            models.Index(fields=["ip", "at"]),
            models.Index(fields=["at"]),  # pruning
        ]

    def __str__(self) -> str:
        return f"failed sign-in as {self.username!r} from {self.ip} at {self.at:%Y-%m-%d %H:%M}"
