"""Text from garbage messages is stored as written, minus what PostgreSQL refuses."""

from shared.db.text import storable


def test_nul_and_lone_surrogates_become_escapes_and_the_rest_stays() -> None:
    assert storable("key\x00one") == "key\\u0000one"
    assert storable("field \ud89e here") == "field \\ud89e here"
    assert storable("AST-1-2-3 😍 née") == "AST-1-2-3 😍 née"
    assert "\x00" not in storable("\x00" * 5)
    storable("a\ud800\x00b").encode("utf-8")  # encodable: no UnicodeEncodeError
