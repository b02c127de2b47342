"""Pages of the ticket store."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from tickets.access import access_tickets_read, page_access
from tickets.filters import TicketFilter
from tickets.models import Ticket
from tickets.selectors import store_overview, ticket_detail, ticket_list

TICKETS_PER_PAGE = 50


@page_access(access_tickets_read)
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "tickets/home.html", store_overview())


@page_access(access_tickets_read)
def tickets(request: HttpRequest) -> HttpResponse:
    filterset = TicketFilter(request.GET, queryset=ticket_list())
    page = Paginator(filterset.qs, TICKETS_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "tickets/ticket_list.html",
        {"filter": filterset, "page": page, "query": query.urlencode(), "filtered": bool(query)},
    )


@page_access(access_tickets_read)
def ticket(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        found = ticket_detail(ticket_id=pk)
    except Ticket.DoesNotExist:
        raise Http404 from None
    return render(request, "tickets/ticket_detail.html", {"ticket": found})
