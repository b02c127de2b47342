"""Forms of the roadmap pages: escalations (raise, work on, link, filter), backlog items, theme
links, and the board's period and sort."""

from __future__ import annotations

from typing import Any

from django import forms

from insights.filters import PeriodChoiceForm
from insights.models import Theme, ThemeStatus
from roadmap.models import BacklogItem, BacklogItemKind, BacklogItemStatus, EscalationSeverity, EscalationStatus
from roadmap.selectors import backlog_items_linkable, escalation_raisers
from tickets.models import Ticket

NOTE_PLACEHOLDER = "What happens to customers, how often, and what would help"


class EscalationRaiseForm(forms.Form):
    """Escalate exactly one ticket or one theme; the subject comes as a hidden id."""

    ticket = forms.ModelChoiceField(queryset=Ticket.objects.all(), required=False, widget=forms.HiddenInput)
    theme = forms.ModelChoiceField(queryset=Theme.objects.all(), required=False, widget=forms.HiddenInput)
    severity = forms.ChoiceField(
        choices=EscalationSeverity.choices, initial=EscalationSeverity.MEDIUM, widget=forms.RadioSelect
    )
    note = forms.CharField(
        max_length=5000, widget=forms.Textarea(attrs={"rows": 4, "placeholder": NOTE_PLACEHOLDER})
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if (cleaned.get("ticket") is None) == (cleaned.get("theme") is None):
            raise forms.ValidationError("Escalate either a ticket or a theme.")
        return cleaned


class EscalationUpdateForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "— keep —"), *EscalationStatus.choices], required=False)
    severity = forms.ChoiceField(choices=[("", "— keep —"), *EscalationSeverity.choices], required=False)
    note = forms.CharField(
        max_length=5000, required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "A note for the history (optional with a change)"}),
    )


class EscalationLinkForm(forms.Form):
    item = forms.ModelChoiceField(
        queryset=backlog_items_linkable(), required=False, empty_label="— not linked —", label="Backlog item"
    )
    note = forms.CharField(max_length=2000, required=False, widget=forms.TextInput(attrs={"placeholder": "Why here"}))


STATUS_FILTERS = [("active", "Needs attention"), *EscalationStatus.choices, ("", "All")]


class EscalationFilterForm(forms.Form):
    """The list's filters; anything invalid is ignored rather than refused (a shared URL still opens)."""

    status = forms.ChoiceField(choices=STATUS_FILTERS, required=False)
    severity = forms.ChoiceField(choices=[("", "Any severity"), *EscalationSeverity.choices], required=False)
    subject = forms.ChoiceField(
        choices=[("", "Tickets and themes"), ("ticket", "Tickets"), ("theme", "Themes")], required=False
    )
    raised_by = forms.ModelChoiceField(queryset=escalation_raisers(), required=False, empty_label="Anyone")
    linked = forms.ChoiceField(
        choices=[("", "Linked or not"), ("yes", "Linked to the backlog"), ("no", "Not linked yet")], required=False
    )

    def filters(self, raw: Any) -> dict[str, Any]:
        """The selector's keyword arguments from the query string, defaults for invalid values."""
        data = self.cleaned_data if self.is_valid() else {}
        raiser = data.get("raised_by")
        status = data.get("status", "active") if "status" in raw else "active"
        return {
            "status": status,
            "severity": data.get("severity", ""),
            "subject": data.get("subject", ""),
            "raised_by": raiser.pk if raiser else None,
            "linked": data.get("linked", ""),
        }


# --- backlog ------------------------------------------------------------------------------------


def _people() -> Any:
    """Who can own an item: staff with a role that plans (product managers and admins first)."""
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(is_active=True, groups__isnull=False).distinct().order_by(
        "first_name", "email")


class OwnerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return obj.get_full_name() or obj.email or obj.username


class BacklogItemForm(forms.Form):
    """Create or edit an item; ``theme`` (hidden) links the new item to the theme it came from."""

    title = forms.CharField(max_length=300, widget=forms.TextInput(attrs={"placeholder": "What will change for users"}))
    description = forms.CharField(required=False, max_length=20000, widget=forms.Textarea(attrs={"rows": 3}))
    kind = forms.ChoiceField(choices=BacklogItemKind.choices, initial=BacklogItemKind.FEATURE)
    status = forms.ChoiceField(choices=BacklogItemStatus.choices, initial=BacklogItemStatus.IDEA)
    owner = OwnerChoiceField(queryset=_people(), required=False, empty_label="— nobody yet —")
    target_date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    external_key = forms.CharField(required=False, max_length=200, label="Tracker key",
                                   widget=forms.TextInput(attrs={"placeholder": "e.g. ENG-123"}))
    external_url = forms.URLField(required=False, max_length=500, label="Tracker link", assume_scheme="https")
    theme = forms.ModelChoiceField(queryset=Theme.objects.all(), required=False, widget=forms.HiddenInput)
    note = forms.CharField(required=False, max_length=2000, widget=forms.HiddenInput)


class BacklogItemEditForm(BacklogItemForm):
    """Editing leaves the status to the status form (shipping has its own date)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("status", "theme", "note"):
            del self.fields[name]


class BacklogStatusForm(forms.Form):
    status = forms.ChoiceField(choices=BacklogItemStatus.choices)
    shipped_on = forms.DateField(required=False, label="Shipped on", widget=forms.DateInput(attrs={"type": "date"}),
                                 help_text="When it reached customers; today if empty.")
    note = forms.CharField(required=False, max_length=2000,
                           widget=forms.TextInput(attrs={"placeholder": "Why (optional)"}))


class ThemeLinkForm(forms.Form):
    """Link a theme to an item: from the item page (theme chosen) or from a theme (item chosen)."""

    item = forms.ModelChoiceField(queryset=BacklogItem.objects.all(), label="Backlog item",
                                  empty_label="— choose an item —")
    theme = forms.ModelChoiceField(queryset=Theme.objects.filter(status=ThemeStatus.ACTIVE).order_by("name"),
                                   empty_label="— choose a theme —")
    note = forms.CharField(required=False, max_length=2000,
                           widget=forms.TextInput(attrs={"placeholder": "Why this theme is demand for the item"}))
    next = forms.CharField(required=False, widget=forms.HiddenInput)


class ThemeUnlinkForm(forms.Form):
    note = forms.CharField(required=False, max_length=2000)
    next = forms.CharField(required=False, widget=forms.HiddenInput)


BOARD_SORT_CHOICES = [
    ("customers", "Customers"), ("tickets", "Tickets"), ("organizations", "Organizations"), ("arr", "ARR"),
    ("trend", "Growth"), ("escalations", "Escalations"), ("title", "Title"),
]


class BoardForm(PeriodChoiceForm):
    sort = forms.ChoiceField(choices=BOARD_SORT_CHOICES, required=False,
                             widget=forms.Select(attrs={"data-submit-on-change": ""}))
    kind = forms.ChoiceField(choices=[("", "Any kind"), *BacklogItemKind.choices], required=False,
                             widget=forms.Select(attrs={"data-submit-on-change": ""}))
