"""The public verification page a code's QR opens (SPEC §2 public role, §4 `GET /c/{token}`).

No login. It shows what a buyer needs to trust the goods — product, batch, warehouse and
market, the dates of disinfection, rest and negative test, and the item's status — and
never a merchant's or a buyer's personal data: the page's context is built here from named
fields only, so nothing else can reach the template.

Throttled per client address (`public_verify` rate) so that tokens cannot be enumerated;
unknown codes count against the same budget. The page must not fail when the shared cache
(Redis) is unreachable: the throttle then counts in the process's own memory until the cache
is back (see PublicVerifyThrottle).
"""

import logging
import time

import redis
from django.conf import settings
from django.core.cache.backends.locmem import LocMemCache
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.renderers import TemplateHTMLRenderer
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from batches.codes import TOKEN_RE, CodeRef, codes_for_refs, digital_link_ref
from batches.models import Code, CodeStatus, Status

from .codes_api import FirstRendererNegotiation
from .selectors import first_negative_result, last_disinfection


def client_address(request) -> str:
    """The caller's address: REMOTE_ADDR, or — behind PUBLIC_VERIFY_TRUSTED_PROXIES proxies of
    our own — the address the outermost of them saw. A client's own X-Forwarded-For entries
    are never trusted, so they cannot be used to dodge the throttle."""
    proxies = settings.PUBLIC_VERIFY_TRUSTED_PROXIES
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if proxies and forwarded:
        return forwarded[-min(proxies, len(forwarded))]
    return request.META.get("REMOTE_ADDR", "")


logger = logging.getLogger(__name__)

# What a cache backend raises when its server is away: redis-py's errors (the Redis cache),
# OSError (the file-based cache on a full or read-only disk).
CACHE_ERRORS = (redis.RedisError, OSError)
# Counts kept in this process while the shared cache is unreachable.
LOCAL_COUNTS = LocMemCache("public-verify-fallback", {"MAX_ENTRIES": 50_000})


class PublicVerifyThrottle(SimpleRateThrottle):
    """Per client address. When the shared cache is unreachable, the limit is kept in this
    process's memory instead of failing the page (a buyer scanning a label must get an
    answer) and instead of letting every request through (an outage must not open the door
    to enumeration): each web process then allows the rate on its own, so the limit is at
    most the number of processes times the rate until the cache is back."""

    scope = "public_verify"
    # After a failure the shared cache is left alone this long, so that a Redis that hangs
    # does not cost every scan a socket timeout.
    RETRY_AFTER_SECONDS = 30
    shared_down_until = 0.0

    def allow_request(self, request, view):
        if time.monotonic() >= PublicVerifyThrottle.shared_down_until:
            try:
                return super().allow_request(request, view)
            except CACHE_ERRORS as error:
                PublicVerifyThrottle.shared_down_until = time.monotonic() + self.RETRY_AFTER_SECONDS
                logger.warning(
                    "public page throttle: shared cache unreachable (%s); counting in this process for %d s",
                    error,
                    self.RETRY_AFTER_SECONDS,
                )
        self.cache = LOCAL_COUNTS
        return super().allow_request(request, view)

    def get_rate(self):
        # Read per request, not frozen at import, so a changed setting takes effect.
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": client_address(request)}


class PublicPageRenderer(TemplateHTMLRenderer):
    exception_template_names = ["public/%(status_code)s.html", "public/error.html"]


# What a buyer reads as the item's state: recalled wins over everything (R4).
PUBLIC_STATUS = {
    CodeStatus.IN_WAREHOUSE: "in_warehouse",
    CodeStatus.RELEASED: "in_market",
    CodeStatus.SOLD: "sold",
    CodeStatus.RECALLED: "recalled",
}


def public_facts(code: Code) -> dict:
    """Everything the public page shows, and nothing more."""
    batch, line = code.batch, code.line
    disinfection = last_disinfection(batch)
    negative = first_negative_result(batch)
    return {
        "status": "recalled" if batch.status == Status.RECALLED else PUBLIC_STATUS[code.status],
        "product_name": line.product_name,
        "specification": line.specification,
        "gtin": line.gtin,
        "item_no": code.item_no,
        "batch_number": batch.number,
        "origin_country": batch.origin_country,
        "warehouse_name": batch.warehouse.name if batch.warehouse else "",
        "market_name": batch.market.name,
        "disinfected_at": disinfection.performed_at if disinfection else None,
        "rest_started_at": batch.rest_started_at,
        "rest_until": batch.rest_until,
        "negative_tested_at": negative.recorded_at if negative else None,
        "negative_report_no": negative.report_no if negative else "",
    }


class PublicCodeView(APIView):
    """GET /c/{token} and GET /01/{gtin}/10/{batch number}/21/{serial}: one page for both."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [PublicVerifyThrottle]
    renderer_classes = [PublicPageRenderer]
    content_negotiation_class = FirstRendererNegotiation

    @extend_schema(exclude=True)
    def get(self, request, token=None, gtin=None, lot=None, serial=None):
        # A Digital Link resolves only if its whole (gtin, lot, serial) triple is real; a guessed
        # or half-right path gets the very answer an unknown token gets.
        if token is not None:
            ref = CodeRef(token=token.upper()) if TOKEN_RE.match(token.upper()) else None
        else:
            ref = digital_link_ref(gtin=gtin, lot=lot, serial=serial)
        code = codes_for_refs({"scan": ref}, queryset=Code.objects.select_related("batch__market", "batch__warehouse"))[
            "scan"
        ]
        if code is None:
            raise Http404
        return Response(public_facts(code), template_name="public/code.html")

    def finalize_response(self, request, response, *args, **kwargs):
        # The language (Chinese unless `?lang=` or the cookie says otherwise) is chosen by
        # config.middleware.ChineseFirstLocaleMiddleware, as on every page.
        response = super().finalize_response(request, response, *args, **kwargs)
        # The status changes (sold, recalled): never serve a stale page; keep tokens out of search engines.
        response["Cache-Control"] = "no-store"
        response["X-Robots-Tag"] = "noindex, nofollow"
        return response
