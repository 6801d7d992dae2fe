"""Request body parsing for the API: JSON, refusing bodies the parser cannot take apart."""

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, with nesting too deep for the parser a 400 instead of a 500.

    Python's json module recurses once per nested array or object and raises RecursionError past
    the interpreter's limit (about a thousand levels); no request of this API nests more than two.
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - the body is nested too deeply.") from exc
