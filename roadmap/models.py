"""The backlog product managers plan from, the themes linked to it, and escalations to product."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class BacklogItemKind(models.TextChoices):
    FEATURE = "feature", "Feature"
    BUG = "bug", "Bug"
    DOCS = "docs", "Docs"


class BacklogItemStatus(models.TextChoices):
    IDEA = "idea", "Idea"
    PLANNED = "planned", "Planned"
    IN_PROGRESS = "in_progress", "In progress"
    SHIPPED = "shipped", "Shipped"
    WONT_DO = "wont_do", "Won't do"


class BacklogSourceKind(models.TextChoices):
    GITHUB = "github", "GitHub Issues"
    JIRA = "jira", "Jira Cloud"
    LINEAR = "linear", "Linear"


class BacklogSource(models.Model):
    """An issue tracker whose issues are synced into the backlog (see ``roadmap.sync``).

    ``settings`` hold what its connector asks for (repository, project, ``base_url`` …); secrets
    live only in ``credentials_encrypted`` (``tickets.crypto``). ``status_mapping`` maps the
    tracker's states (a state name, or a key like ``closed:not_planned``) to our statuses, on top
    of the connector's defaults. ``cursor`` is where the next sync resumes.
    """

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=20, choices=BacklogSourceKind.choices)
    settings = models.JSONField(default=dict, blank=True)
    credentials_encrypted = models.TextField(blank=True, default="")
    cursor = models.JSONField(default=dict, blank=True)
    status_mapping = models.JSONField(default=dict, blank=True)
    sync_interval_minutes = models.PositiveIntegerField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"


class BacklogSyncRunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class BacklogSyncRun(models.Model):
    """One sync of a backlog source: its counts so far (saved after every page) and how it ended."""

    source = models.ForeignKey(BacklogSource, on_delete=models.CASCADE, related_name="sync_runs")
    trigger = models.CharField(max_length=20, default="manual")  # manual, schedule, command
    status = models.CharField(max_length=20, choices=BacklogSyncRunStatus.choices,
                              default=BacklogSyncRunStatus.RUNNING)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    fetched = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    failure = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["source", "-started_at"])]

    def __str__(self) -> str:
        return f"{self.source} run {self.pk} ({self.status})"


class BacklogItem(models.Model):
    """Something the product team may build, fix or document; demand comes from its linked themes."""

    title = models.CharField(max_length=300)
    description = models.TextField(blank=True, default="")
    kind = models.CharField(max_length=20, choices=BacklogItemKind.choices, default=BacklogItemKind.FEATURE)
    status = models.CharField(max_length=20, choices=BacklogItemStatus.choices, default=BacklogItemStatus.IDEA)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The item's key and address in an external tracker (GitHub, Jira, Linear), when it came from one.
    external_key = models.CharField(max_length=200, blank=True, default="")
    external_url = models.URLField(max_length=500, blank=True, default="")
    # The tracker it is synced from; (source, external_key) is unique so a re-sync updates in place.
    backlog_source = models.ForeignKey(
        BacklogSource, null=True, blank=True, on_delete=models.SET_NULL, related_name="items"
    )
    target_date = models.DateField(null=True, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        permissions = [("link_backlog", "Link themes and escalations to backlog items")]
        indexes = [models.Index(fields=["status"])]
        constraints = [
            models.UniqueConstraint(fields=["backlog_source", "external_key"], name="backlog_item_source_key_unique")
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        """Still to be done: neither shipped nor closed as won't do."""
        return self.status not in CLOSED_STATUSES


CLOSED_STATUSES = (BacklogItemStatus.SHIPPED, BacklogItemStatus.WONT_DO)


class BacklogItemChange(models.Model):
    """Who changed a backlog item, when, and how: created, status, linked or unlinked a theme, edited."""

    item = models.ForeignKey(BacklogItem, on_delete=models.CASCADE, related_name="changes")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True)
    action = models.CharField(max_length=40)  # created, status, edited, theme_linked, theme_unlinked
    before = models.CharField(max_length=300, blank=True, default="")
    after = models.CharField(max_length=300, blank=True, default="")
    note = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.action} on backlog item {self.item_id}"


class ThemeLink(models.Model):
    """A theme counted as demand for a backlog item."""

    theme = models.ForeignKey("insights.Theme", on_delete=models.CASCADE, related_name="backlog_links")
    item = models.ForeignKey(BacklogItem, on_delete=models.CASCADE, related_name="theme_links")
    linked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["theme", "item"], name="theme_link_unique")]

    def __str__(self) -> str:
        return f"theme {self.theme_id} → item {self.item_id}"


class BacklogDemandDay(models.Model):
    """One day of an item's demand from one customer of one organization: what the board reads
    instead of joining every ticket of every linked theme on each request.

    ``tickets`` counts the item's distinct tickets of that (day, requester, organization): a ticket
    has one of each, so sums over a period are the item's distinct tickets, and the distinct
    requesters and organizations of a period's rows are exactly its distinct customers and
    organizations, for any period. Ids are plain values, not foreign keys: a rollup row never
    blocks deleting a customer. Rebuilt per day by the statistics refresh and per item when the
    themes it counts change (``roadmap.services.backlog_demand_rebuild``).
    """

    item = models.ForeignKey(BacklogItem, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    requester_id = models.BigIntegerField(null=True)
    organization_id = models.BigIntegerField(null=True)
    tickets = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["day", "item"]), models.Index(fields=["item", "day"])]

    def __str__(self) -> str:
        return f"item {self.item_id} on {self.day}: {self.tickets}"


class BacklogDemandBuild(models.Model):
    """Which themes an item's ``BacklogDemandDay`` rows were built from (its linked themes and all
    below them, sorted ids). An item whose themes differ now — a theme moved under a linked area,
    a link changed outside ``roadmap.services`` — has stale rows: the board counts it live until
    the next refresh rebuilds it."""

    item = models.OneToOneField(BacklogItem, on_delete=models.CASCADE, primary_key=True, related_name="+")
    themes = models.JSONField(default=list)
    built_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"demand of item {self.item_id} from {len(self.themes)} themes"


class BacklogDemandSnapshot(models.Model):
    """An item's demand over the last ``days`` days up to ``as_of`` (the board's preset periods),
    computed from its rollup by the statistics refresh and when its links change, so the board's
    default views read one row per item. Valid only for ``as_of`` today and while the item counts
    exactly ``themes``; otherwise the board reads the rollup."""

    item = models.ForeignKey(BacklogItem, on_delete=models.CASCADE, related_name="+")
    days = models.PositiveSmallIntegerField()
    as_of = models.DateField()
    themes = models.JSONField(default=list)
    tickets = models.PositiveIntegerField(default=0)
    customers = models.PositiveIntegerField(default=0)
    organizations = models.PositiveIntegerField(default=0)
    arr = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    previous_tickets = models.PositiveIntegerField(default=0)
    previous_customers = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "days"], name="backlog_demand_snapshot_unique")]

    def __str__(self) -> str:
        return f"item {self.item_id}, {self.days} days to {self.as_of}: {self.customers} customers"


class EscalationSeverity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class EscalationStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"
    DECLINED = "declined", "Declined"


class Escalation(models.Model):
    """A ticket or a whole theme raised to product by a support lead, with a severity and a note."""

    ticket = models.ForeignKey(
        "tickets.Ticket", null=True, blank=True, on_delete=models.CASCADE, related_name="escalations"
    )
    theme = models.ForeignKey(
        "insights.Theme", null=True, blank=True, on_delete=models.CASCADE, related_name="escalations"
    )
    severity = models.CharField(max_length=20, choices=EscalationSeverity.choices, default=EscalationSeverity.MEDIUM)
    note = models.TextField()
    status = models.CharField(max_length=20, choices=EscalationStatus.choices, default=EscalationStatus.OPEN)
    backlog_item = models.ForeignKey(
        BacklogItem, null=True, blank=True, on_delete=models.SET_NULL, related_name="escalations"
    )
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("escalate", "Raise escalations and work on them")]
        constraints = [
            models.CheckConstraint(
                condition=Q(ticket__isnull=False, theme__isnull=True) | Q(ticket__isnull=True, theme__isnull=False),
                name="escalation_ticket_or_theme",
            )
        ]
        indexes = [models.Index(fields=["status", "-created_at"])]

    def __str__(self) -> str:
        subject = f"ticket {self.ticket_id}" if self.ticket_id else f"theme {self.theme_id}"
        return f"{self.get_severity_display()} escalation of {subject}"


class EscalationChange(models.Model):
    """Who changed an escalation, when, and how: its audit trail."""

    escalation = models.ForeignKey(Escalation, on_delete=models.CASCADE, related_name="changes")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True)
    action = models.CharField(max_length=40)  # raised, status, severity, linked, unlinked, note
    before = models.CharField(max_length=300, blank=True, default="")
    after = models.CharField(max_length=300, blank=True, default="")
    note = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.action} on escalation {self.escalation_id}"
