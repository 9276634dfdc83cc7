from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from markets.accounts.api import TokenLogoutView, TokenObtainView
from markets.api import MarketListView
from warehouse.api import WarehouseListView

from .health import healthz
from .metrics import metrics

api = [
    path("auth/token/", TokenObtainView.as_view(), name="api-token"),
    path("auth/logout/", TokenLogoutView.as_view(), name="api-logout"),
    path("markets/", MarketListView.as_view(), name="market-list"),
    path("warehouses/", WarehouseListView.as_view(), name="warehouse-list"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Swagger UI's files come from drf-spectacular-sidecar and its start-up script from
    # `?script` (the split view), so no script is inline; its page and its React components
    # set inline styles, which this view alone allows.
    path(
        "docs/",
        csp_update({"style-src": ["'unsafe-inline'"]})(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
    path("", include("batches.api.urls")),
    path("", include("warehouse.api_urls")),  # codes: QR images, labels, scanning
    path("", include("markets.api_urls")),  # sales and the regulator's trace
]

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/", include(api)),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("warehouse.public_urls")),
    path("", include("batches.web.urls")),
]

handler404 = "config.http_errors.page_not_found"
handler500 = "config.http_errors.server_error"
handler403 = "config.http_errors.permission_denied"
