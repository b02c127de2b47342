"""API credentials: ``POST /api/auth/token/`` exchanges a username and password for a token."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.exceptions import Throttled
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tickets.services import api_token_get_or_create
from tickets.signin import SignInThrottled, signin_authenticate


class AuthTokenObtainApi(APIView):
    # The password is the credential here; no session, so no CSRF token is needed either.
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []  # password guessing is limited by tickets.signin, as on the login page

    class InputSerializer(AuthTokenSerializer):
        # DRF's serializer also declares the response field; ours is OutputSerializer.
        token = None  # type: ignore[assignment]

        class Meta:
            ref_name = "AuthTokenRequest"

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            try:
                user = signin_authenticate(
                    request=self.context["request"], username=attrs["username"], password=attrs["password"]
                )
            except SignInThrottled as exc:
                raise Throttled(wait=exc.minutes * 60, detail=str(exc)) from exc
            if user is None:
                raise serializers.ValidationError("Unable to log in with provided credentials.", code="authorization")
            return {**attrs, "user": user}

    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField(help_text="Send as `Authorization: Token <token>`.")

        class Meta:
            ref_name = "AuthToken"

    @extend_schema(
        operation_id="auth_token_obtain",
        summary="Get your API token",
        description=(
            "Returns the user's token, creating it on first use; the same token is returned until an "
            "admin revokes it. The username is the user's email address."
        ),
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            400: OpenApiResponse(description="Wrong username or password, or a field is missing."),
            429: OpenApiResponse(description="Too many failed sign-ins for this user or address; wait as told."),
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        token = api_token_get_or_create(user=serializer.validated_data["user"])
        return Response(self.OutputSerializer({"token": token}).data, headers={"Cache-Control": "no-store"})
