"""Chinese first: the interface speaks zh-hans unless the person chose otherwise."""

from django.conf import settings
from django.middleware.locale import LocaleMiddleware
from django.utils import translation


def chosen_language(request) -> str | None:
    """`?lang=en` on any page, else the language cookie set by the switch (/i18n/setlang/)."""
    for candidate in (request.GET.get("lang"), request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)):
        if candidate:
            try:
                return translation.get_supported_language_variant(candidate)
            except LookupError:
                continue
    return None


class ChineseFirstLocaleMiddleware(LocaleMiddleware):
    """Like Django's LocaleMiddleware, but the browser's Accept-Language is not followed:
    warehouse handhelds and market stalls often run English-language browsers, and the people
    using them read Chinese. The English switch sets the cookie; `?lang=` works for links."""

    def process_request(self, request):
        language = chosen_language(request) or settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()

    def process_response(self, request, response):
        response = super().process_response(request, response)
        asked = request.GET.get("lang")
        if asked and chosen_language(request) and request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME) != asked:
            response.set_cookie(settings.LANGUAGE_COOKIE_NAME, request.LANGUAGE_CODE, samesite="Lax",
                                max_age=settings.LANGUAGE_COOKIE_AGE)
        return response
