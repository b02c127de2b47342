"""Request body parsers of the API. Kept free of project imports: DRF settings may name them."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class JSONBodyParser(JSONParser):
    """DRF's JSON parser, answering 400 instead of 500 to JSON nested deeper than Python parses.

    ``json`` recurses once per level, so a body of 100,000 ``[`` raises ``RecursionError``, which
    DRF's parser (it catches ``ValueError``) lets through as a server error.
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the JSON is nested too deeply") from None
