"""`POST /api/auth/token/` and `POST /api/auth/logout/` (SPEC §4)."""

from django.contrib.auth import authenticate, user_logged_in, user_logged_out
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from .tokens import ExpiringTokenAuthentication, token_issue, token_revoke


class CredentialsInput(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    # Long enough for any pass phrase, short enough that hashing it costs nothing unusual.
    password = serializers.CharField(
        max_length=1024, trim_whitespace=False, write_only=True, style={"input_type": "password"}
    )

    def validate(self, attrs):
        # axes reads and marks the Django request (the lockout answer is built from it), so it,
        # not DRF's wrapper, goes to authenticate().
        request = self.context["request"]._request
        user = authenticate(request, username=attrs["username"], password=attrs["password"])
        if user is None:
            raise serializers.ValidationError(_("Unable to log in with provided credentials."), code="authorization")
        attrs["user"] = user
        return attrs


class TokenOutput(serializers.Serializer):
    token = serializers.CharField()
    expires_at = serializers.DateTimeField()


ERROR = inline_serializer("AuthError", {"detail": serializers.CharField()})
LOCKED = inline_serializer(
    "SignInLocked",
    {"detail": serializers.CharField(), "code": serializers.CharField(), "retry_after": serializers.IntegerField()},
)


class TokenObtainView(APIView):
    """Exchange a username and password for a token that expires after TOKEN_TTL_HOURS."""

    # The credentials are in the body: no session, hence no CSRF check on a cookie a browser sent.
    authentication_classes = ()
    permission_classes = (AllowAny,)

    @extend_schema(
        operation_id="auth_token_create",
        auth=[],
        request=CredentialsInput,
        parameters=[
            OpenApiParameter(
                "Retry-After",
                int,
                OpenApiParameter.HEADER,
                response=[429],
                description="Seconds until signing in is allowed again.",
            )
        ],
        responses={
            200: TokenOutput,
            400: OpenApiResponse(
                inline_serializer(
                    "CredentialsErrors",
                    {
                        "non_field_errors": serializers.ListField(child=serializers.CharField(), required=False),
                        "username": serializers.ListField(child=serializers.CharField(), required=False),
                        "password": serializers.ListField(child=serializers.CharField(), required=False),
                    },
                ),
                description="Missing fields, or a wrong username or password.",
            ),
            429: OpenApiResponse(
                LOCKED,
                description="Too many failed sign-ins for this username or address; "
                "the Retry-After header gives the seconds left.",
            ),
        },
    )
    def post(self, request):
        credentials = CredentialsInput(data=request.data, context={"request": request})
        credentials.is_valid(raise_exception=True)
        user = credentials.validated_data["user"]
        stored, token = token_issue(user=user)
        user_logged_in.send(sender=user.__class__, request=request._request, user=user)
        return Response(TokenOutput({"token": token, "expires_at": stored.expiry}).data)


class TokenLogoutView(APIView):
    """Revoke the token this request is signed with; the next request with it answers 401."""

    authentication_classes = (ExpiringTokenAuthentication,)
    permission_classes = (IsAuthenticated,)
    every_signed_in_user_may = True  # no role check: never 403
    answers_conflict = False  # no state to be in: never 409

    @extend_schema(
        operation_id="auth_logout_create",
        request=None,
        responses={
            204: OpenApiResponse(description="The token is revoked."),
            401: OpenApiResponse(ERROR, description="No valid token was sent."),
        },
    )
    def post(self, request):
        _ = request.data  # takes no input, but a malformed body is refused (400) like everywhere
        token_revoke(token=request.auth)
        user_logged_out.send(sender=request.user.__class__, request=request._request, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
