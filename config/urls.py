from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from batches.web import urls as batch_pages
from markets.accounts.api import TokenLogoutView, TokenObtainView
from markets.api import MarketListView
from markets.web import urls as market_pages
from warehouse.api import WarehouseListView
from warehouse.web import urls as warehouse_pages

from .health import healthz
from .metrics import metrics
from .regulation_urls import api as regulation_api

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
    *regulation_api,  # evidence photos, incidents
]

# The one `web` namespace of the pages, assembled here at the top so that no page layer imports
# a higher one (docs/architecture.md). The markets' pages come first: their recall page has the
# path of the batch action `recall`, which the batches' generic action pattern would also match.
web = [*market_pages.urlpatterns, *warehouse_pages.urlpatterns, *batch_pages.urlpatterns]

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/", include(api)),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("warehouse.public_urls")),
    path("", include((web, "web"))),
    path("", include("config.regulation_urls")),  # evidence photos, incidents (namespace `regulation`)
]

handler404 = "batches.web.errors.page_not_found"
handler500 = "batches.web.errors.server_error"
handler403 = "batches.web.errors.permission_denied"
