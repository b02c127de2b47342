from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import IsAuthenticated

from config.health import healthz
from tickets.signin import ThrottledAuthenticationForm

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path(
        "login/",
        auth_views.LoginView.as_view(authentication_form=ThrottledAuthenticationForm, redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "account/password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"
    ),
    # The schema and its docs describe every endpoint: for signed-in users only (API clients send
    # their token; a browser without a session is sent to sign in). The split docs view serves its
    # start-up script as a file, so the Content-Security-Policy needs no inline script.
    path("api/schema/", SpectacularAPIView.as_view(permission_classes=[IsAuthenticated]), name="api-schema"),
    path(
        "api/docs/",
        login_required(
            SpectacularSwaggerSplitView.as_view(url_name="api-schema", permission_classes=[IsAuthenticated])
        ),
        name="api-docs",
    ),
    path("api/", include("tickets.api.urls")),
    path("api/", include("roadmap.api")),
    path("django-admin/", admin.site.urls),
    path("", include("insights.urls")),
    path("", include("roadmap.urls")),
    path("", include("tickets.urls")),
]
