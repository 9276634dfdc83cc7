from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authtoken.views import obtain_auth_token

from markets.api import MarketListView
from warehouse.api import WarehouseListView

from .health import healthz
from .metrics import metrics

api = [
    path("auth/token/", obtain_auth_token, name="api-token"),
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
    path("metrics", metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/", include(api)),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("warehouse.public_urls")),
    path("", include("batches.web.urls")),
]
