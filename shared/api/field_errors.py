"""Validation errors in our own words: a field and a short reason.

pydantic's messages name Python types and internals ("Input should be a valid decimal", "use
sys.set_int_max_str_digits()"); an API's errors are part of its contract, so each entry is
translated by its `type` into a text written here. The only texts passed through are the ones our
own validators raise (`value_error`), without pydantic's "Value error, " prefix."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from shared.api.types import DATE_HINT, MONTH_HINT, MONTH_TEXT
from shared.money import GB_TEXT_HINT

UNKNOWN = "not a valid value"

_PLAIN: dict[str, str] = {
    "missing": "required",
    "missing_argument": "required",
    "union_tag_not_found": "required",
    "extra_forbidden": "is not allowed here (unknown field)",
    "unexpected_keyword_argument": "is not allowed here (unknown field)",
    "json_invalid": "not valid JSON",
    "json_type": "must be JSON",
    "string_type": "must be a string",
    "string_unicode": "must be valid text",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "int_parsing_size": "a number is out of range",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "decimal_type": 'must be a decimal string such as "12.34"',
    "decimal_parsing": 'must be a decimal string such as "12.34"',
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "dataclass_type": "must be an object",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "set_type": "must be a list",
    "date_type": DATE_HINT,
    "date_parsing": DATE_HINT,
    "date_from_datetime_parsing": DATE_HINT,
    "date_from_datetime_inexact": DATE_HINT,
    "date_past": "must be a past date",
    "date_future": "must be a future date",
    "datetime_type": "must be a date and time such as 2026-11-02T00:00:00Z",
    "datetime_parsing": "must be a date and time such as 2026-11-02T00:00:00Z",
    "datetime_from_date_parsing": "must be a date and time such as 2026-11-02T00:00:00Z",
    "datetime_object_invalid": "must be a date and time such as 2026-11-02T00:00:00Z",
    "timezone_aware": "must carry a timezone (UTC), such as 2026-11-02T00:00:00Z",
    "timezone_naive": "must not carry a timezone",
    "uuid_type": "must be a UUID",
    "uuid_parsing": "must be a UUID",
    "uuid_version": "must be a UUID",
    "url_type": "must be a URL",
    "url_parsing": "must be a URL",
    "url_scheme": "must be a URL",
    "bytes_type": "must be a string",
    "none_required": "must be null",
}


def _bound(word: str, key: str) -> Callable[[Mapping[str, Any]], str]:
    return lambda ctx: f"{word} {ctx.get(key)}"


_WITH_CONTEXT: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "string_too_short": lambda c: f"at least {c.get('min_length')} characters",
    "string_too_long": lambda c: f"at most {c.get('max_length')} characters",
    "too_short": lambda c: f"at least {c.get('min_length')} items",
    "too_long": lambda c: f"at most {c.get('max_length')} items",
    "greater_than": _bound("must be more than", "gt"),
    "greater_than_equal": _bound("must be at least", "ge"),
    "less_than": _bound("must be less than", "lt"),
    "less_than_equal": _bound("must be at most", "le"),
    "multiple_of": _bound("must be a multiple of", "multiple_of"),
    "decimal_max_digits": lambda c: f"at most {c.get('max_digits')} digits",
    "decimal_max_places": lambda c: f"at most {c.get('decimal_places')} decimal places",
    "decimal_whole_digits": lambda c: f"at most {c.get('whole_digits')} digits before the point",
    "literal_error": lambda c: f"must be one of {c.get('expected')}",
    "enum": lambda c: f"must be one of {c.get('expected')}",
    "union_tag_invalid": lambda c: f"must be one of {c.get('expected_tags')}",
}


def _pattern(err: Mapping[str, Any]) -> str:
    loc = err.get("loc") or ()
    last = str(loc[-1]) if loc else ""
    pattern = (err.get("ctx") or {}).get("pattern")
    if last.endswith("_gb"):
        return f"must be {GB_TEXT_HINT}"
    if last == "service_line_number":
        return "must be a Starlink service line number such as AST-511274-31364-54"
    if pattern == MONTH_TEXT:
        return MONTH_HINT
    return f"must match {pattern}" if isinstance(pattern, str) else UNKNOWN


def _value_error(err: Mapping[str, Any]) -> str:
    """The text our own validator raised. EmailStr's check is not ours: its text is replaced."""
    cause = (err.get("ctx") or {}).get("error")
    text = str(cause) if cause is not None else str(err.get("msg", ""))
    text = text.removeprefix("Value error, ")
    if text.startswith("value is not a valid email address"):
        return "must be an e-mail address such as name@example.com"
    return text or UNKNOWN


def message(err: Mapping[str, Any]) -> str:
    """One pydantic error entry (`ValidationError.errors()`) as our short reason."""
    kind = str(err.get("type", ""))
    if kind in _PLAIN:
        return _PLAIN[kind]
    if kind in _WITH_CONTEXT:
        return _WITH_CONTEXT[kind](err.get("ctx") or {})
    if kind == "string_pattern_mismatch":
        return _pattern(err)
    if kind == "value_error":
        return _value_error(err)
    return UNKNOWN


def field_errors(
    errors: Iterable[Mapping[str, Any]], drop: tuple[str, ...] = ("body", "query", "path")
) -> dict[str, str]:
    """Field path (dotted, without the `drop` roots such as FastAPI's `body`) -> reason; a
    whole-body error (a model's own check, bad JSON) is on `body`."""
    fields: dict[str, str] = {}
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in drop]
        if err.get("type") == "json_invalid":
            loc = []  # FastAPI puts the character offset there: not a field
        fields.setdefault(".".join(loc) or "body", message(err))
    return fields


_STORED = {
    "22003": "a number is out of range",
    "22001": "a text is too long",
    "22021": "a text holds a character that cannot be stored",  # a NUL, bad UTF-8
    "22P05": "a text holds a character that cannot be stored",
    "22P02": "a text holds a character that cannot be stored",
    "22008": "a date is out of range",
}


def stored_value_message(exc: BaseException) -> str:
    """Why PostgreSQL refused a value (an `asyncpg.DataError`), by its SQLSTATE: never the
    server's own text, which names columns, precisions and internals."""
    reason = _STORED.get(str(getattr(exc, "sqlstate", "")), "a value cannot be stored")
    return f"the request cannot be stored: {reason}"
