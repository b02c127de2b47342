"""The dashboards' filter forms: a period and a customer segment, always read from the query string.

Every form is bound to ``request.GET``, so any filtered view is a URL someone can share. An invalid
value falls back to the default instead of failing the page: a stale link still opens.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django import forms
from django.http import QueryDict
from django.utils import timezone

from insights.selectors import Period, Segment
from tickets.models import Channel, Organization, Source

PERIOD_CHOICES = [("7", "Last 7 days"), ("30", "Last 30 days"), ("90", "Last 90 days"), ("custom", "Custom")]
PERIOD_VALUES = {value for value, _ in PERIOD_CHOICES}
DEFAULT_DAYS = 30
# Longest custom period: a year of daily statistics is what the charts and the tables are built for.
MAX_PERIOD_DAYS = 366
# Above this many organizations the filter is an id carried by links, not a drop-down.
ORGANIZATION_SELECT_LIMIT = 300


def _today() -> date:
    return timezone.localdate()


class SegmentForm(forms.Form):
    """Which tickets count: by source, channel, plan and organization (all optional)."""

    source = forms.ModelChoiceField(queryset=Source.objects.order_by("name"), required=False, empty_label="Any source")
    channel = forms.ChoiceField(choices=[("", "Any channel"), *Channel.choices], required=False)
    plan = forms.ChoiceField(required=False)
    organization = forms.ModelChoiceField(
        queryset=Organization.objects.order_by("name"), required=False, empty_label="Any organization"
    )

    def __init__(self, data: QueryDict | None = None, **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        plans = Organization.objects.exclude(plan="").order_by("plan").values_list("plan", flat=True).distinct()
        plan_field = self.fields["plan"]
        assert isinstance(plan_field, forms.ChoiceField)
        plan_field.choices = [("", "Any plan"), *((plan, plan.title()) for plan in plans)]
        self.organization_select = Organization.objects.count() <= ORGANIZATION_SELECT_LIMIT
        if not self.organization_select:
            self.fields["organization"].widget = forms.HiddenInput()

    def organization_options(self) -> list[tuple[int, str, bool]]:
        """(id, name, selected) for the organization drop-down; the page renders it itself because
        Django's widget templates spend milliseconds per option."""
        chosen = str(self.data.get("organization") or "")
        names = Organization.objects.order_by("name").values_list("pk", "name")
        return [(pk, name, str(pk) == chosen) for pk, name in names]

    def segment(self) -> Segment:
        data = self.cleaned_data if self.is_valid() else {}
        source, organization = data.get("source"), data.get("organization")
        return Segment(
            source_id=source.pk if source else None,
            channel=data.get("channel") or "",
            plan=data.get("plan") or "",
            organization_id=organization.pk if organization else None,
            organization_name=organization.name if organization else "",
        )


class PeriodChoiceForm(forms.Form):
    """One period: the last 7, 30 or 90 days, or from one day to another (dashboards, roadmap)."""

    period = forms.ChoiceField(
        choices=PERIOD_CHOICES, required=False,
        # Picking a preset applies it at once; the days are for a custom period.
        widget=forms.Select(attrs={"data-submit-on-change": "custom"}),
    )
    start = forms.DateField(required=False, label="From", widget=forms.DateInput(
        attrs={"type": "date", "data-sets": "period=custom"}))
    end = forms.DateField(required=False, label="To", widget=forms.DateInput(
        attrs={"type": "date", "data-sets": "period=custom"}))

    def period_chosen(self) -> Period:
        """The period asked for; the form then shows it (preset and days) whatever was sent."""
        data = self.cleaned_data if self.is_valid() else {}
        period = period_of(data.get("period") or "", data.get("start"), data.get("end"))
        shown = QueryDict(mutable=True)
        shown.update(self.data)
        preset = str(period.days) if period.end == _today() and str(period.days) in PERIOD_VALUES else "custom"
        shown["period"] = "custom" if data.get("period") == "custom" else preset
        shown["start"], shown["end"] = period.start.isoformat(), period.end.isoformat()
        self.data = shown  # the form shows the period used, defaults included
        return period


class PeriodForm(SegmentForm, PeriodChoiceForm):
    """A segment over one period."""


def period_of(choice: str, start: date | None, end: date | None) -> Period:
    """The period a form asked for; a custom period needs both days, else the default applies."""
    today = _today()
    if choice in {"custom", ""} and start and end:
        start, end = min(start, end), max(start, end)
        return Period(start=max(start, end - timedelta(days=MAX_PERIOD_DAYS - 1)), end=end)
    days = int(choice) if choice.isdigit() and choice in PERIOD_VALUES else DEFAULT_DAYS
    return Period(start=today - timedelta(days=days - 1), end=today)


class ThemeListForm(PeriodForm):
    q = forms.CharField(required=False, label="Search", max_length=120)
    sort = forms.ChoiceField(
        required=False,
        choices=[("area", "Area"), ("name", "Name"), ("-volume", "Most tickets"), ("-change", "Biggest rise"),
                 ("-customers", "Most customers"), ("-arr", "Most ARR affected")],
    )


class CompareForm(SegmentForm):
    """Two periods, "before" (a) and "after" (b); by default the previous 30 days and the last 30."""

    a_start = forms.DateField(required=False, label="Before: from", widget=forms.DateInput(attrs={"type": "date"}))
    a_end = forms.DateField(required=False, label="to", widget=forms.DateInput(attrs={"type": "date"}))
    b_start = forms.DateField(required=False, label="After: from", widget=forms.DateInput(attrs={"type": "date"}))
    b_end = forms.DateField(required=False, label="to", widget=forms.DateInput(attrs={"type": "date"}))

    def periods(self) -> tuple[Period, Period]:
        data = self.cleaned_data if self.is_valid() else {}
        after = period_of("custom", data.get("b_start"), data.get("b_end"))
        if not (data.get("b_start") and data.get("b_end")):
            after = period_of(str(DEFAULT_DAYS), None, None)
        before = after.previous()
        if data.get("a_start") and data.get("a_end"):
            before = period_of("custom", data["a_start"], data["a_end"])
        shown = QueryDict(mutable=True)
        shown.update(self.data)
        for prefix, period in (("a", before), ("b", after)):
            shown[f"{prefix}_start"], shown[f"{prefix}_end"] = period.start.isoformat(), period.end.isoformat()
        self.data = shown  # the form shows the periods compared, defaults included
        return before, after
