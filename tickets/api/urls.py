from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from tickets.api.auth import AuthTokenObtainApi
from tickets.api.imports import ImportCreateApi, ImportDetailApi
from tickets.api.tickets import TicketBulkCreateApi, TicketDetailApi, TicketListApi
from tickets.api.webhooks import WebhookReceiveApi, WebhookSecretRotateApi

urlpatterns: list[URLPattern | URLResolver] = [
    path("auth/token/", AuthTokenObtainApi.as_view(), name="api-auth-token"),
    path("tickets/", TicketListApi.as_view(), name="api-ticket-list"),
    path("tickets/bulk/", TicketBulkCreateApi.as_view(), name="api-ticket-bulk"),
    path("tickets/<int:ticket_id>/", TicketDetailApi.as_view(), name="api-ticket-detail"),
    path("imports/", ImportCreateApi.as_view(), name="api-import-create"),
    path("imports/<int:sync_run_id>/", ImportDetailApi.as_view(), name="api-import-detail"),
    path("webhooks/<str:source>/", WebhookReceiveApi.as_view(), name="api-webhook"),
    path("sources/<str:source>/webhook-secret/", WebhookSecretRotateApi.as_view(), name="api-webhook-secret"),
]
