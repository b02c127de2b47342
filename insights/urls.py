from __future__ import annotations

from django.urls import path

from insights.views import curation, dashboards

urlpatterns = [
    # --- Product manager: dashboards (insights/views/dashboards.py) ---
    path("", dashboards.dashboard, name="dashboard"),
    path("themes/", dashboards.themes, name="theme_list"),
    path("themes/<int:pk>/", dashboards.theme, name="theme_detail"),
    path("compare/", dashboards.compare, name="compare"),
    # --- Support lead: curation (insights/views/curation.py) ---
    path("triage/", curation.triage, name="triage"),
    path("themes/suggested/", curation.suggested_themes, name="suggested_themes"),
    path("triage/<int:ticket_pk>/row/", curation.triage_row, name="triage_row"),
    path("triage/<int:ticket_pk>/file/", curation.triage_file, name="triage_file"),
    path("triage/<int:ticket_pk>/new-theme/", curation.triage_new_theme, name="triage_new_theme"),
    path("tickets/<int:ticket_pk>/themes/", curation.ticket_themes_set, name="ticket_themes_set"),
    path("tickets/<int:ticket_pk>/no-request/", curation.no_request_mark, name="ticket_no_request"),
    path("tickets/<int:ticket_pk>/no-request/undo/", curation.no_request_undo,
         name="ticket_no_request_undo"),
    path("themes/suggested/<int:pk>/", curation.suggested_card, name="suggested_card"),
    path("themes/suggested/<int:pk>/accept/", curation.suggested_accept, name="suggested_accept"),
    path("themes/suggested/<int:pk>/rename/", curation.suggested_rename, name="suggested_rename"),
    path("themes/suggested/<int:pk>/merge/", curation.suggested_merge, name="suggested_merge"),
    path("themes/suggested/<int:pk>/split/", curation.suggested_split, name="suggested_split"),
    path("themes/suggested/<int:pk>/dismiss/", curation.suggested_dismiss, name="suggested_dismiss"),
    path("themes/merge/", curation.themes_merge_group, name="themes_merge_group"),
    path("themes/<int:pk>/name/", curation.theme_name, name="theme_name"),
    path("discovery/start/", curation.discovery_start, name="discovery_start"),
    path("discovery/status/", curation.discovery_status, name="discovery_status"),
]
