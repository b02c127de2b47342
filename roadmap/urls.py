from __future__ import annotations

from django.urls import path

from roadmap.views import backlog, escalations

urlpatterns = [
    path("roadmap/", backlog.board, name="roadmap_board"),
    path("roadmap/unaddressed/", backlog.unaddressed, name="roadmap_unaddressed"),
    path("roadmap/items/<int:pk>/", backlog.item, name="backlog_item_detail"),
    # POST-only actions (a redirect back, with the outcome as a message)
    path("roadmap/items/new/", backlog.item_create, name="backlog_item_create"),
    path("roadmap/items/<int:pk>/edit/", backlog.item_update, name="backlog_item_update"),
    path("roadmap/items/<int:pk>/status/", backlog.item_status, name="backlog_item_status"),
    path("roadmap/items/<int:pk>/tag-back/", backlog.item_tag_back, name="backlog_item_tag_back"),
    path("roadmap/links/new/", backlog.link_create, name="theme_link_create"),
    path("roadmap/links/<int:pk>/delete/", backlog.link_delete, name="theme_link_delete"),
    path("escalations/", escalations.escalations, name="escalation_list"),
    path("escalations/<int:pk>/", escalations.escalation, name="escalation_detail"),
    # POST-only actions (htmx partials, or a redirect for a plain form post)
    path("escalations/new/", escalations.escalation_raise_view, name="escalation_raise"),
    path("escalations/<int:pk>/update/", escalations.escalation_update_view, name="escalation_update"),
    path("escalations/<int:pk>/link/", escalations.escalation_link_view, name="escalation_link"),
]
