"""Public pages, no login: the verification page behind every code's QR (SPEC §4)."""

from django.urls import re_path

from .public import PublicCodeView

urlpatterns = [
    re_path(r"^c/(?P<token>[A-Za-z2-7]+)/?$", PublicCodeView.as_view(), name="public-code"),
    # GS1 Digital Link: /01/{gtin}/10/{lot = batch number}/21/{serial} opens the same page.
    re_path(
        r"^01/(?P<gtin>\d+)/10/(?P<lot>[^/]+)/21/(?P<serial>[^/]+)/?$",
        PublicCodeView.as_view(),
        name="public-digital-link",
    ),
]
