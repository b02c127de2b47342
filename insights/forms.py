"""Forms of the support lead's curation pages: triage, ticket retag, suggested themes."""

from __future__ import annotations

from typing import Any

from django import forms

from insights.models import Theme, ThemeStatus


def active_themes() -> Any:
    return Theme.objects.filter(status=ThemeStatus.ACTIVE).order_by("name")


class ThemePickForm(forms.Form):
    """One active theme for a ticket (triage: confirm or pick another)."""

    theme = forms.ModelChoiceField(queryset=active_themes(), error_messages={
        "invalid_choice": "That theme is no longer active; pick another.",
        "required": "Pick a theme.",
    })


class ThemeNewForm(forms.Form):
    """A new theme, named by the support lead, for a ticket nothing fits."""

    name = forms.CharField(max_length=120, error_messages={"required": "Give the new theme a name."})


class TicketThemesForm(forms.Form):
    """All the themes of one ticket (the ticket page's retag): none means "no theme fits"."""

    themes = forms.ModelMultipleChoiceField(queryset=active_themes(), required=False)


class ThemeRenameForm(forms.Form):
    name = forms.CharField(max_length=120, error_messages={"required": "A theme needs a name."})


class ThemeMergeForm(forms.Form):
    into = forms.ModelChoiceField(
        queryset=active_themes(), error_messages={"required": "Pick the theme to merge into."}
    )


class ThemeSplitForm(forms.Form):
    """Part of a theme's tickets become a new theme with its own name."""

    name = forms.CharField(max_length=120, error_messages={"required": "Name the new theme."})
    tickets = forms.TypedMultipleChoiceField(
        coerce=int, error_messages={"required": "Tick the tickets that belong to the new theme."}
    )

    def __init__(self, *args: Any, ticket_ids: list[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        tickets_field = self.fields["tickets"]
        assert isinstance(tickets_field, forms.TypedMultipleChoiceField)
        tickets_field.choices = [(pk, str(pk)) for pk in ticket_ids]
