from __future__ import annotations

from django.urls import path

from tickets import views

urlpatterns = [
    path("", views.home, name="home"),
    path("tickets/", views.tickets, name="ticket_list"),
    path("tickets/<int:pk>/", views.ticket, name="ticket_detail"),
]
