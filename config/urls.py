from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.settings import api_settings

from markets.api import MarketListView
from warehouse.api import WarehouseListView

from .health import healthz

api = [
    # The API's own JSON parser (limits, depth, text checks) rather than the view's form parsers.
    path("auth/token/", ObtainAuthToken.as_view(parser_classes=api_settings.DEFAULT_PARSER_CLASSES), name="api-token"),
    path("markets/", MarketListView.as_view(), name="market-list"),
    path("warehouses/", WarehouseListView.as_view(), name="warehouse-list"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("batches.api.urls")),
    path("", include("warehouse.api_urls")),  # codes: QR images, labels, scanning
    path("", include("markets.api_urls")),  # sales and the regulator's trace
]

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/", include(api)),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("warehouse.public_urls")),
    path("", include("batches.web.urls")),
]

handler404 = "config.http_errors.page_not_found"
handler500 = "config.http_errors.server_error"
