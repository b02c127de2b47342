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
]
