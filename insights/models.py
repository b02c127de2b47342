"""Themes, the tickets' place in them, the models that assign them, and their statistics."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from tickets.models import Ticket


class ThemeStatus(models.TextChoices):
    SUGGESTED = "suggested", "Suggested"
    ACTIVE = "active", "Active"
    ARCHIVED = "archived", "Archived"
    MERGED = "merged", "Merged"
    DISMISSED = "dismissed", "Dismissed"


class ThemeOrigin(models.TextChoices):
    DISCOVERED = "discovered", "Discovered"
    MANUAL = "manual", "Created by hand"


class Theme(models.Model):
    """One specific user problem ("card declined abroad"), or a broad area that groups several.

    The primary key is the theme's stable id: discovery and retraining match their results to
    existing themes instead of replacing them, so links from the roadmap never break.
    """

    name = models.CharField(max_length=120)
    description = models.TextField(blank=True, default="")
    keywords = models.JSONField(default=list, blank=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    status = models.CharField(max_length=20, choices=ThemeStatus.choices, default=ThemeStatus.SUGGESTED)
    origin = models.CharField(max_length=20, choices=ThemeOrigin.choices, default=ThemeOrigin.DISCOVERED)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged_from"
    )
    # Mean of its tickets' vectors (float32 bytes) in the representation named below: what
    # discovery compares new clusters with to keep ids stable.
    centroid = models.BinaryField(null=True, blank=True, editable=False)
    centroid_representation = models.CharField(max_length=40, blank=True, default="")
    example_ticket_ids = models.JSONField(default=list, blank=True)
    suggested_size = models.PositiveIntegerField(default=0)
    discovery_run = models.ForeignKey(
        "DiscoveryRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="themes"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["status", "name"])]
        permissions = [("curate_theme", "Can tag tickets and create, rename, merge, split and archive themes")]

    def __str__(self) -> str:
        return self.name


class AssignmentMethod(models.TextChoices):
    MODEL = "model", "Model"
    DISCOVERY = "discovery", "Discovery"
    MANUAL = "manual", "Manual"


class TicketTheme(models.Model):
    """A ticket's membership in a theme. Manual rows are a person's decision: never overwritten."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="ticket_themes")
    theme = models.ForeignKey(Theme, on_delete=models.CASCADE, related_name="ticket_themes")
    confidence = models.FloatField()
    method = models.CharField(max_length=20, choices=AssignmentMethod.choices)
    # {"terms": [["declined", 0.8], ...], "sentence": "..."}: why the model chose it.
    explanation = models.JSONField(default=dict, blank=True)
    model_version = models.ForeignKey(
        "ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    assigned_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["ticket", "theme"], name="ticket_theme_unique")]
        indexes = [models.Index(fields=["theme", "ticket"]), models.Index(fields=["method"])]

    def __str__(self) -> str:
        return f"{self.ticket_id} in {self.theme_id} ({self.method} {self.confidence:.2f})"


class NoRequestMethod(models.TextChoices):
    """Who decided whether a ticket asks anything ("" : nobody yet, it is an ordinary ticket)."""

    TEXT = "text", "Text preparation"
    MODEL = "model", "Model"
    MANUAL = "manual", "A person"


# The assignment model's class for tickets that ask nothing: a key no theme can have (theme keys
# are their ids, all digits), learnt from the tickets people mark, never stored or shown as a theme.
NO_REQUEST_CLASS = "no-request"


class TicketAnalysis(models.Model):
    """What analysis made of one ticket: its prepared (redacted) text, its vector, its best theme.

    The vector is computed once, when the ticket is processed, and reused by every discovery
    run and dashboard; it is recomputed only when the ticket's content or the representation
    model changes (``content_hash`` and ``representation_version``).
    """

    ticket = models.OneToOneField(Ticket, on_delete=models.CASCADE, primary_key=True, related_name="analysis")
    text = models.TextField()
    sentences = models.JSONField(default=list)
    # Null until a representation exists (the first discovery fits one on the texts so far).
    vector = models.BinaryField(null=True)
    representation_version = models.ForeignKey(
        "ModelVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    content_hash = models.CharField(max_length=64)
    classifier_version = models.ForeignKey(
        "ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    best_theme = models.ForeignKey(Theme, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    best_confidence = models.FloatField(null=True, blank=True)
    # Unthemed or below the confidence threshold: the triage queue and the next discovery.
    needs_triage = models.BooleanField(default=True)
    processed_at = models.DateTimeField(auto_now=True)
    # The queue's "most affected" order, copied from the ticket and its organization so that a
    # partial index serves it (insights.services.stats.triage_order_refresh keeps them current):
    # the organization's ARR, -1 for none or unknown, and the ticket's created time.
    triage_arr = models.DecimalField(max_digits=14, decimal_places=2, default=-1, db_default=-1)
    triage_created_at = models.DateTimeField(null=True, blank=True)
    # The customer asked nothing (greetings, thanks, auto-replies, tests, empty): no themes, not in
    # the triage queue or discovery, not "unthemed". ``no_request_method`` says who decided; a
    # person's decision ("manual", either way) is never overwritten by text preparation or the model.
    no_request = models.BooleanField(default=False, db_default=False)
    no_request_method = models.CharField(max_length=10, choices=NoRequestMethod.choices, blank=True, default="",
                                         db_default="")
    no_request_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    no_request_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["needs_triage", "best_confidence"]),
            # Few tickets ask nothing: their count and filter read this small index.
            models.Index(fields=["ticket"], condition=Q(no_request=True), name="analysis_no_request_idx"),
            models.Index(fields=["-triage_arr", "-triage_created_at", "-ticket"], condition=Q(needs_triage=True),
                         name="analysis_triage_affected_idx"),
        ]

    def __str__(self) -> str:
        return f"analysis of ticket {self.ticket_id}"


class ModelKind(models.TextChoices):
    REPRESENTATION = "representation", "Text representation"
    CLASSIFIER = "classifier", "Assignment model"


class ModelVersion(models.Model):
    """A trained artefact (a fitted representation or an assignment model) and its metrics.

    The artefact is a joblib file under ``THREADLINE_DATA_DIR/models/``; only one version per
    kind is active at a time, and a new classifier is activated only if its held-out accuracy
    is not worse than the active one's.
    """

    kind = models.CharField(max_length=20, choices=ModelKind.choices)
    backend = models.CharField(max_length=40)
    artifact = models.CharField(max_length=255)
    metrics = models.JSONField(default=dict, blank=True)
    training_size = models.PositiveIntegerField(default=0)
    manual_labels = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind"], condition=models.Q(is_active=True), name="one_active_model_per_kind"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} v{self.pk} ({self.backend})"


class DiscoveryRunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class DiscoveryPhase(models.TextChoices):
    """Where a discovery run is, in the order it goes through them (``DiscoveryRun.phase``)."""

    QUEUED = "queued", "Waiting for a worker"
    VECTORISING = "vectorising", "Vectorising tickets"
    LOADING = "loading", "Loading the triage pool"
    CLUSTERING = "clustering", "Finding and naming themes"
    ASSIGNING = "assigning", "Saving suggested themes and their tickets"
    REPORTING = "reporting", "Comparing with existing themes"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


# (start, width) in percent of each phase, from a typical run's time shares (100,000 tickets with a
# representation already fitted, bench/theming.py: loading 2 s, clustering 38 s, assigning 3 s).
# ``vectorising`` happens only on an install's very first run, when it is the longest phase:
# a page should show that phase's own ``progress_done`` of ``progress_total`` as well.
DISCOVERY_PHASE_SPAN: dict[str, tuple[int, int]] = {
    DiscoveryPhase.QUEUED: (0, 0),
    DiscoveryPhase.VECTORISING: (0, 5),
    DiscoveryPhase.LOADING: (5, 5),
    DiscoveryPhase.CLUSTERING: (10, 83),
    DiscoveryPhase.ASSIGNING: (93, 6),
    DiscoveryPhase.REPORTING: (99, 1),
    DiscoveryPhase.DONE: (100, 0),
    DiscoveryPhase.FAILED: (100, 0),
}


class DiscoveryRun(models.Model):
    """One discovery over the pool of unthemed and low-confidence tickets, with what it changed.

    ``phase``, ``progress_done`` / ``progress_total`` (items of the phase: tickets vectorised or
    loaded, suggested themes to save; both 0 while clustering, which is one library call) and
    ``progress_updated_at`` are written as the run goes, outside its transactions, so a page can
    poll them; ``pool_size`` is set once the pool is loaded; ``progress_percent`` turns the phase
    and its counts into one number.
    """

    status = models.CharField(max_length=20, choices=DiscoveryRunStatus.choices, default=DiscoveryRunStatus.RUNNING)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    pool_size = models.PositiveIntegerField(default=0)
    # {"kept": [...], "new": [...], "merge": [...], "split": [...], "changed_share": 0.03}
    report = models.JSONField(default=dict, blank=True)
    failure = models.TextField(blank=True, default="")
    phase = models.CharField(max_length=20, choices=DiscoveryPhase.choices, default=DiscoveryPhase.QUEUED)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    progress_updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"discovery {self.pk} ({self.status})"

    @property
    def progress_percent(self) -> int:
        """0–100 across the whole run: the phase's place plus the share of its items done."""
        start, span = DISCOVERY_PHASE_SPAN.get(self.phase, (0, 0))
        within = self.progress_done / self.progress_total if self.progress_total else 0.0
        return min(100, int(start + span * min(1.0, within)))


class DaySegmentCount(models.Model):
    """Tickets of one day in one segment (source × channel × plan): the shape of the daily statistics."""

    day = models.DateField()
    source = models.ForeignKey("tickets.Source", on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=20)
    plan = models.CharField(max_length=100, blank=True, default="")
    tickets = models.PositiveIntegerField(default=0)

    class Meta:
        abstract = True


class ThemeStat(DaySegmentCount):
    """Tickets per theme per day per segment: what dashboards read instead of scanning tickets."""

    theme = models.ForeignKey(Theme, on_delete=models.CASCADE, related_name="stats")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["theme", "day", "source", "channel", "plan"], name="theme_stat_unique")
        ]
        indexes = [models.Index(fields=["day", "theme"])]

    def __str__(self) -> str:
        return f"{self.theme_id} on {self.day}: {self.tickets}"


class UnthemedStat(DaySegmentCount):
    """Tickets in no theme (and not "no request") per day per segment, rebuilt with ``ThemeStat``:
    the dashboard's Unthemed figure, without probing every ticket's assignments per view."""

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "source", "channel", "plan"], name="unthemed_stat_unique")
        ]

    def __str__(self) -> str:
        return f"unthemed on {self.day}: {self.tickets}"


class ThemeStatDirtyDay(models.Model):
    """A day whose ``ThemeStat`` rows must be rebuilt because tickets of that day changed themes.

    Writers only insert (ignoring duplicates); the refresh task claims rows with SKIP LOCKED,
    so any number of workers can mark and refresh days without double counting.
    """

    day = models.DateField(primary_key=True)

    def __str__(self) -> str:
        return str(self.day)


class SpikePeriod(models.TextChoices):
    DAY = "day", "Today"
    WEEK = "week", "This week"


class SpikeAlert(models.Model):
    """A theme running well above its own seasonal baseline; one row (and one notice) per spike."""

    theme = models.ForeignKey(Theme, on_delete=models.CASCADE, related_name="spike_alerts")
    period = models.CharField(max_length=10, choices=SpikePeriod.choices)
    start_date = models.DateField()
    observed = models.PositiveIntegerField()
    expected = models.FloatField()
    p_value = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)
    notified_at = models.DateTimeField(null=True, blank=True)
    notify_error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["theme", "period", "start_date"], name="one_alert_per_spike")
        ]

    def __str__(self) -> str:
        return f"spike of {self.theme_id} from {self.start_date}"


class ThemeChangeAction(models.TextChoices):
    CONFIRM = "confirm", "Confirmed a ticket's theme"
    RETAG = "retag", "Retagged a ticket"
    CREATE = "create", "Created a theme"
    ACCEPT = "accept", "Accepted a suggested theme"
    DISMISS = "dismiss", "Dismissed a suggested theme"
    RENAME = "rename", "Renamed a theme"
    MERGE = "merge", "Merged themes"
    SPLIT = "split", "Split a theme"
    ARCHIVE = "archive", "Archived a theme"
    NO_REQUEST = "no_request", "Marked a ticket as no request"
    REQUEST = "request", "Marked a ticket as a request"


class ThemeChange(models.Model):
    """The audit trail of people's decisions about themes: who, when, what before and after."""

    action = models.CharField(max_length=20, choices=ThemeChangeAction.choices)
    theme = models.ForeignKey(Theme, null=True, on_delete=models.SET_NULL, related_name="changes")
    ticket = models.ForeignKey(Ticket, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["action", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.action} by {self.user_id} at {self.created_at:%Y-%m-%d %H:%M}"


class DeferredTask(models.Model):
    """A task hand-off the broker could not take (Redis down), kept until the sweep can send it.

    Written only when publishing failed; ``config.dispatch.deferred_tasks_send`` publishes the
    rows in order and deletes each one it sent. Every task is safe to run twice, so a hand-off that
    reached the broker after all and is sent again by the sweep does no harm.
    """

    task_name = models.CharField(max_length=200)
    args = models.JSONField(default=list)
    kwargs = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.task_name} deferred at {self.created_at:%Y-%m-%d %H:%M}"
