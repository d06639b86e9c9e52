"""English and Indonesian: the language of a request, from ``Accept-Language`` (default
``LANGUAGE_CODE``).

Django's ``LocaleMiddleware`` adds ``Vary: Accept-Language`` to every response. The API's
successful answers (the counts, the report's JSON, CSV and Excel) are the same in every
language, and the pre-rendered answers in front of Django send exactly the viewset's
headers, so they are left without it; pages and error messages, which are translated,
keep it.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponseBase
from django.middleware.locale import LocaleMiddleware


class LanguageMiddleware(LocaleMiddleware):
    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if request.path_info.startswith("/api/") and response.status_code < 400:
            return response
        return super().process_response(request, response)
