"""The warehouse crew's pages, in the `web` namespace (assembled in config/urls.py)."""

from django.urls import path

from . import pages

urlpatterns = [
    path("scan/", pages.scan, name="scan"),
    path("warehouse/board/", pages.zone_board, name="zone-board"),
    path("warehouse/release/<str:number>/", pages.release_scan, name="release-scan"),
]
