"""Pages of the ticket store."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from tickets.access import access_tickets_read, page_access
from tickets.selectors import store_overview


@page_access(access_tickets_read)
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "tickets/home.html", store_overview())
