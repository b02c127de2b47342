from __future__ import annotations

from django.urls import path

from tickets import api

urlpatterns: list = []
