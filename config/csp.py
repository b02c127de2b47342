"""The Content-Security-Policy header, on every response whatever DEBUG says (so the browser tests
run under the policy production has).

Scripts, styles, images and fonts come from our own origin only: htmx, plotly.js and the API docs
are served from our static files, and no page has an inline script or event handler (charts are
drawn by static/js/charts.js from a data attribute, insights/charts.py). One allowance remains:
- ``style-src 'unsafe-inline'``: progress and confidence bars set their width in a ``style``
  attribute, and plotly styles its SVG inline. Inline styles cannot run code.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response
