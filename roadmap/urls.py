from __future__ import annotations

from django.urls import path

from roadmap import backlog_views, views

urlpatterns = [
    path("roadmap/", backlog_views.board, name="roadmap_board"),
    path("roadmap/unaddressed/", backlog_views.unaddressed, name="roadmap_unaddressed"),
    path("roadmap/items/<int:pk>/", backlog_views.item, name="backlog_item_detail"),
    # POST-only actions (a redirect back, with the outcome as a message)
    path("roadmap/items/new/", backlog_views.item_create, name="backlog_item_create"),
    path("roadmap/items/<int:pk>/edit/", backlog_views.item_update, name="backlog_item_update"),
    path("roadmap/items/<int:pk>/status/", backlog_views.item_status, name="backlog_item_status"),
    path("roadmap/links/new/", backlog_views.link_create, name="theme_link_create"),
    path("roadmap/links/<int:pk>/delete/", backlog_views.link_delete, name="theme_link_delete"),
    path("escalations/", views.escalations, name="escalation_list"),
    path("escalations/<int:pk>/", views.escalation, name="escalation_detail"),
    # POST-only actions (htmx partials, or a redirect for a plain form post)
    path("escalations/new/", views.escalation_raise_view, name="escalation_raise"),
    path("escalations/<int:pk>/update/", views.escalation_update_view, name="escalation_update"),
    path("escalations/<int:pk>/link/", views.escalation_link_view, name="escalation_link"),
]
