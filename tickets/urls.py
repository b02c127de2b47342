from __future__ import annotations

from django.urls import path

from tickets import views

urlpatterns = [
    path("overview/", views.overview, name="overview"),
    path("tickets/", views.tickets, name="ticket_list"),
    path("tickets/<int:pk>/", views.ticket, name="ticket_detail"),
    path("imports/", views.import_upload, name="import_upload"),
    path("imports/<int:pk>/", views.import_run, name="import_run"),
    path("imports/<int:pk>/errors.csv", views.import_errors_csv, name="import_errors_csv"),
    path("sources/", views.source_list, name="source_list"),
    path("sources/new/", views.source_new, name="source_new"),
    path("sources/<int:pk>/", views.source_detail_page, name="source_detail"),
    path("sources/<int:pk>/edit/", views.source_edit, name="source_edit"),
    path("sources/<int:pk>/test/", views.source_test, name="source_test"),
    path("sources/<int:pk>/sync/", views.source_sync_now, name="source_sync"),
    path("sources/<int:pk>/sync/status/", views.source_sync_status, name="source_sync_status"),
    path("sources/<int:pk>/toggle/", views.source_toggle, name="source_toggle"),
    path("sources/<int:pk>/webhook-secret/", views.source_webhook_rotate, name="source_webhook_rotate"),
    path("sources/<int:pk>/runs/", views.source_history, name="source_history"),
    path("sources/<int:pk>/runs/<int:run_pk>/", views.source_run, name="source_run"),
]
