"""The public verification page a code's QR opens (SPEC §2 public role, §4 `GET /c/{token}`).

No login. It shows what a buyer needs to trust the goods — product, batch, warehouse and
market, the dates of disinfection, rest and negative test, and the item's status — and
never a merchant's or a buyer's personal data: the page's context is built here from named
fields only, so nothing else can reach the template.

Cached per token and language (README, "The hot paths under load"): the page changes only
when the code's or its batch's status does or a seal is put on or lifted, and every such
change writes an event of the batch (R6), which moves the batch's cache version on
(`page_changed`); for UNSETTLED_SECONDS after it pages of that batch are not stored, so that
one read before the change's commit is not kept. Answers carry an ETag and Last-Modified; a
phone that asks again with them gets 304 and no body. Cache-Control is `no-cache`: a browser
keeps the page but asks every time, so a sold, recalled or sealed item never shows as it was.

Throttled per client address (`public_verify` rate) so that tokens cannot be enumerated;
unknown codes count against the same budget. The page must not fail when the shared cache
(Redis) is unreachable: the throttle then counts in the process's own memory until the cache
is back (see PublicVerifyThrottle).
"""

import contextlib
import hashlib
import logging
import time
import uuid

import redis
from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.locmem import LocMemCache
from django.db.models import Exists, OuterRef, Subquery
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.http import Http404, HttpResponse
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.cache import get_conditional_response
from django.utils.http import http_date
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.renderers import TemplateHTMLRenderer
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from batches.codes import TOKEN_RE, CodeRef, codes_for_refs, digital_link_ref
from batches.models import Code, CodeStatus, Event, Seal, Status
from batches.seals import sealed_batch_ids

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
        self.num_requests, self.duration = self.parse_rate(self.get_rate())
        if time.monotonic() >= PublicVerifyThrottle.shared_down_until:
            try:
                return self.counted(request, view)
            except CACHE_ERRORS as error:
                PublicVerifyThrottle.shared_down_until = time.monotonic() + self.RETRY_AFTER_SECONDS
                logger.warning(
                    "public page throttle: shared cache unreachable (%s); counting in this process for %d s",
                    error,
                    self.RETRY_AFTER_SECONDS,
                )
        self.cache = LOCAL_COUNTS
        return self.counted(request, view)

    def get_rate(self):
        # Read per request, not frozen at import, so a changed setting takes effect.
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]

    def counted(self, request, view) -> bool:
        """One counter per address and window, raised atomically (Redis INCR; the in-process
        cache holds a lock): concurrent requests on every web node are counted exactly, where a
        read-modify-write of a list of times (DRF's own) lets simultaneous requests through. The
        window starts with the address's first request and lasts the rate's duration."""
        key = self.get_cache_key(request, view)
        now = self.timer()
        if self.cache.add(f"{key}:start", now, self.duration):
            self.cache.set(key, 0, self.duration)
        try:
            count = self.cache.incr(key)
        except ValueError:  # the window ended between the two calls: this request opens the next
            self.cache.set(f"{key}:start", now, self.duration)
            self.cache.set(key, 1, self.duration)
            count = 1
        if count <= self.num_requests:
            return True
        started = self.cache.get(f"{key}:start", now)
        self.wait_seconds = max(1.0, started + self.duration - now)
        return False

    def wait(self):
        return self.wait_seconds

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": client_address(request)}


class PublicPageRenderer(TemplateHTMLRenderer):
    exception_template_names = ["public/%(status_code)s.html", "public/error.html"]


# What a buyer reads as the item's state (public_status: a recall, then a seal, win over it).
PUBLIC_STATUS = {
    CodeStatus.IN_WAREHOUSE: "in_warehouse",
    CodeStatus.RELEASED: "in_market",
    CodeStatus.SOLD: "sold",
    CodeStatus.RECALLED: "recalled",
}


def public_status(code: Code) -> str:
    """Recalled wins (R4); then a seal in force on the batch: "under investigation", whatever the
    item's own state, and the test is then not shown as passed (docs/contract.md, public page)."""
    if code.batch.status == Status.RECALLED or code.status == CodeStatus.RECALLED:
        return "recalled"
    sealed = getattr(code, "sealed", None)  # annotated by the page's one read of the code
    if sealed if sealed is not None else sealed_batch_ids([code.batch_id]):
        return "under_investigation"
    return PUBLIC_STATUS[code.status]


def public_facts(code: Code) -> dict:
    """Everything the public page shows, and nothing more."""
    batch, line = code.batch, code.line
    status = public_status(code)
    disinfection = last_disinfection(batch)
    negative = first_negative_result(batch) if status != "under_investigation" else None
    return {
        "status": status,
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


def last_modified(last_change) -> int | None:
    """The page's Last-Modified: the second of its batch's last event (every change to what the
    page shows writes one, R6), the same for every build until the next change, so
    If-Modified-Since holds across rebuilds and servers. None (no Last-Modified, the ETag alone)
    while that second is not over: another change within it would carry the same date."""
    if last_change is None:
        return None
    changed = int(last_change.timestamp())
    return changed if changed < int(time.time()) else None


def _version_key(batch_id: int) -> str:
    return f"public-page:v:{batch_id}"


def _page_key(token: str, language: str) -> str:
    return f"public-page:{language}:{token}"


# A page read from the database while a change is not yet committed must not be kept: for this
# long after an event, pages of its batch are built but not stored (longer than the rest of any
# transaction that writes an event, which writes it last or nearly).
UNSETTLED_SECONDS = 30


def _new_version(*, unsettled_for: float = 0) -> str:
    """A batch's cache version: a fresh random part and, after ":", the time (epoch seconds)
    until which pages of the batch are not stored. One value, so an event costs one write."""
    return f"{uuid.uuid4().hex}:{time.time() + unsettled_for:.3f}" if unsettled_for else f"{uuid.uuid4().hex}:0"


def _unsettled(version: str | None) -> bool:
    _random, _, until = (version or "").rpartition(":")
    try:
        return float(until) > time.time()
    except ValueError:  # a version without a time: settled
        return False


@receiver(post_save, sender=Event, dispatch_uid="public-page-changed")
def page_changed(sender, instance, created, **kwargs):
    """A batch's event (a release, a sale, a void, a recall, any transition): its codes' pages
    are read afresh, and not stored again for UNSETTLED_SECONDS (the change may not be
    committed yet)."""
    if not (created and settings.PUBLIC_PAGE_CACHE_SECONDS):
        return
    try:
        cache.set(_version_key(instance.batch_id), _new_version(unsettled_for=UNSETTLED_SECONDS), None)
    except CACHE_ERRORS as error:  # the page's own time limit still ends a stale copy
        logger.warning("public page cache: could not invalidate batch %s (%s)", instance.batch_id, error)


def _current_version(batch_id: int) -> str:
    """The batch's cache version; a new one if there is none (never written, or evicted), so a
    page kept under an older one is never taken for current."""
    key = _version_key(batch_id)
    version = cache.get(key)
    if version is None:
        cache.add(key, _new_version(), None)
        version = cache.get(key)
    return version


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
        if ref is None:
            raise Http404
        page = self.cached_page(request, ref) if ref.token and settings.PUBLIC_PAGE_CACHE_SECONDS else None
        if page is None:
            page = self.build_page(request, ref, version=None)
        html, etag, modified = page["html"], page["etag"], page["modified"]
        response = get_conditional_response(request._request, etag=etag, last_modified=modified)
        if response is None:
            response = HttpResponse(html, content_type="text/html; charset=utf-8")
        response["ETag"] = etag
        if modified is not None:
            response["Last-Modified"] = http_date(modified)
        return response

    def cached_page(self, request, ref: CodeRef) -> dict | None:
        """The page from the cache if its batch's version still holds, else built and kept;
        None when the cache cannot be reached (the page is then built without it)."""
        if time.monotonic() < PublicVerifyThrottle.shared_down_until:
            return None  # the throttle found the cache away a moment ago: do not wait for it again
        key = _page_key(ref.token, translation.get_language())
        try:
            page = cache.get(key)
            if page is not None and cache.get(_version_key(page["batch"])) == page["version"]:
                return page
            batch_id = page["batch"] if page is not None else self.batch_of(ref)
            version = _current_version(batch_id)  # read before the database: see the module's doc
            unsettled = _unsettled(version)
        except CACHE_ERRORS as error:
            PublicVerifyThrottle.shared_down_until = time.monotonic() + PublicVerifyThrottle.RETRY_AFTER_SECONDS
            logger.warning("public page cache unreachable (%s); the page is built without it", error)
            return None
        page = self.build_page(request, ref, version=version)
        if unsettled or version is None:  # no version (evicted at once): nothing to check it by later
            return page
        with contextlib.suppress(CACHE_ERRORS):
            cache.set(key, page, settings.PUBLIC_PAGE_CACHE_SECONDS)
        return page

    def batch_of(self, ref: CodeRef) -> int:
        batch_id = Code.objects.filter(token=ref.token).values_list("batch_id", flat=True).first()
        if batch_id is None:
            raise Http404
        return batch_id

    def build_page(self, request, ref: CodeRef, *, version) -> dict:
        codes = Code.objects.select_related("batch__market", "batch__warehouse").annotate(
            last_change=Subquery(Event.objects.filter(batch_id=OuterRef("batch_id")).order_by("-id").values("at")[:1]),
            sealed=Exists(Seal.objects.filter(batch_id=OuterRef("batch_id"), lifted_at__isnull=True)),
        )
        code = codes_for_refs({"scan": ref}, queryset=codes)["scan"]
        if code is None:
            raise Http404
        html = render_to_string("public/code.html", public_facts(code), request=request._request)
        return {
            "batch": code.batch_id,
            "version": version,
            "html": html,
            "etag": f'"{hashlib.sha256(html.encode()).hexdigest()[:32]}"',
            "modified": last_modified(code.last_change),
        }

    def finalize_response(self, request, response, *args, **kwargs):
        # The language (Chinese unless `?lang=` or the cookie says otherwise) is chosen by
        # config.middleware.ChineseFirstLocaleMiddleware, as on every page.
        response = super().finalize_response(request, response, *args, **kwargs)
        # The status changes (sold, recalled): a browser may keep the page but must ask again
        # each time (ETag / Last-Modified → 304); keep tokens out of search engines.
        response["Cache-Control"] = "no-cache"
        response["X-Robots-Tag"] = "noindex, nofollow"
        return response
