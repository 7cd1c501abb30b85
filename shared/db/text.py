"""Text from outside (a message's key, the reason a garbage message was refused, which quotes
its field names) made storable in PostgreSQL: a `text` refuses NUL and lone surrogates cannot
be encoded at all, and either refusal turned an alarm into a database error."""

from __future__ import annotations


def storable(text: str) -> str:
    """`text` with each NUL written `\\u0000` and each lone surrogate as its escape: the same
    characters for a reader, nothing PostgreSQL refuses."""
    cleaned = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return cleaned.replace("\x00", "\\u0000")
