"""Unit tests of module_utils/beacon_auth.py: password hashes, session cookies, editor ownership."""

from __future__ import annotations

import beacon_auth as auth
import pytest
from beacon_auth import EditorPathError
from beacon_routing import ValidationError

SALT = b"0123456789abcdef"
SECRET = b"a-session-secret-of-some-length"
FAST = 1000  # rounds: enough to test the format, quick to compute


# --- hash_password / verify_password ---------------------------------------------------------


def test_hash_and_verify_round_trip():
    encoded = auth.hash_password("correct horse", SALT, FAST)
    assert encoded.startswith(f"pbkdf2_sha256${FAST}$")
    assert auth.verify_password("correct horse", encoded)


def test_default_rounds_are_used():
    assert auth.hash_password("pw", SALT).split("$")[1] == str(auth.PBKDF2_ROUNDS)


def test_same_password_and_salt_give_the_same_hash_and_other_salts_do_not():
    assert auth.hash_password("pw", SALT, FAST) == auth.hash_password("pw", SALT, FAST)
    assert auth.hash_password("pw", SALT, FAST) != auth.hash_password("pw", SALT[::-1], FAST)


@pytest.mark.parametrize("wrong", ["correct horsE", "correct horse ", "", "correct"])
def test_wrong_password_is_refused(wrong):
    assert not auth.verify_password(wrong, auth.hash_password("correct horse", SALT, FAST))


def test_non_ascii_passwords_round_trip():
    encoded = auth.hash_password("pässwörd-🔑", SALT, FAST)
    assert auth.verify_password("pässwörd-🔑", encoded)
    assert not auth.verify_password("passwword-🔑", encoded)


def test_password_that_is_not_a_string_is_refused():
    encoded = auth.hash_password("pw", SALT, FAST)
    assert not auth.verify_password(None, encoded)  # type: ignore[arg-type]
    assert not auth.verify_password(b"pw", encoded)  # type: ignore[arg-type]


def _good() -> list[str]:
    return auth.hash_password("pw", SALT, FAST).split("$")


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        None,
        42,
        "pw",
        "pbkdf2_sha256$",
        "md5$1000$" + "A" * 22 + "$" + "A" * 43,  # other algorithm
        "pbkdf2_sha256$100$" + "A" * 22 + "$" + "A" * 43,  # rounds too few digits
        "pbkdf2_sha256$abcd$" + "A" * 22 + "$" + "A" * 43,
        "pbkdf2_sha256$1000$" + "A" * 15 + "$" + "A" * 43,  # salt too short
        "pbkdf2_sha256$1000$" + "A" * 22 + "$" + "A" * 42,  # hash too short
        "pbkdf2_sha256$1000$" + "A" * 22 + "$" + "A" * 44,  # hash too long
        "pbkdf2_sha256$1000$" + "A+/=" * 6 + "$" + "A" * 43,  # not URL-safe base64
        # These two used to raise instead of answering False (fixed in beacon_auth):
        "pbkdf2_sha256$0000$" + "A" * 22 + "$" + "A" * 43,  # zero rounds: hashlib refuses
        "pbkdf2_sha256$1000$" + "A" * 17 + "$" + "A" * 43,  # 4n+1 characters are not base64
    ],
)
def test_malformed_hashes_are_refused_without_raising(encoded):
    assert auth.verify_password("pw", encoded) is False


def test_hash_with_trailing_newline_is_refused():
    # fullmatch: "$" alone would let a trailing newline through.
    assert not auth.verify_password("pw", "$".join(_good()) + "\n")


def test_hash_with_other_rounds_does_not_verify():
    algorithm, _rounds, salt, digest = _good()
    assert not auth.verify_password("pw", f"{algorithm}$1001${salt}${digest}")


def test_hash_password_refuses_bad_input():
    with pytest.raises(ValidationError):
        auth.hash_password("", SALT)
    with pytest.raises(ValidationError):
        auth.hash_password("pw", b"short")


def test_stable_salt_depends_on_user_and_password():
    assert auth.stable_salt("1", "pw") == auth.stable_salt("1", "pw")
    assert auth.stable_salt("1", "pw") != auth.stable_salt("2", "pw")
    assert auth.stable_salt("1", "pw") != auth.stable_salt("1", "pw2")
    assert len(auth.stable_salt("1", "pw")) == 16


# --- sign_session / session_user --------------------------------------------------------------

NOW = 1_700_000_000


def test_session_round_trip():
    value = auth.sign_session("42", SECRET, now=NOW, ttl=100)
    uid, expiry, _mac = value.split(".")
    assert (uid, int(expiry)) == ("42", NOW + 100)
    assert auth.session_user(value, SECRET, now=NOW) == "42"
    assert auth.session_user(value, SECRET, now=NOW + 100) == "42"  # valid up to its expiry


def test_expired_session_is_refused():
    value = auth.sign_session("42", SECRET, now=NOW, ttl=100)
    assert auth.session_user(value, SECRET, now=NOW + 101) is None


def test_session_with_another_secret_is_refused():
    value = auth.sign_session("42", SECRET, now=NOW)
    assert auth.session_user(value, b"another-secret-entirely", now=NOW) is None


def _tampered(part: int, text: str) -> str:
    parts = auth.sign_session("42", SECRET, now=NOW, ttl=100).split(".")
    parts[part] = text
    return ".".join(parts)


@pytest.mark.parametrize(
    "value",
    [
        _tampered(0, "43"),  # another user
        _tampered(0, "4"),
        _tampered(1, str(NOW + 10**6)),  # a later expiry
        _tampered(2, "A" * 43),  # another MAC
        _tampered(2, ""),
    ],
)
def test_tampered_session_is_refused(value):
    assert auth.session_user(value, SECRET, now=NOW) is None


def test_session_mac_has_one_spelling_only():
    """Other base64 spellings of the right MAC are refused (they used to be accepted)."""
    value = auth.sign_session("42", SECRET, now=NOW, ttl=100)
    uid, expiry, mac = value.split(".")
    # The last of 43 characters carries 2 spare bits: 3 other characters decode to the same bytes.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    spellings = [f"{uid}.{expiry}.{mac[:-1]}{c}" for c in alphabet if c != mac[-1]]
    spellings += [f"{value}!!", f"{value}=", f"{uid}.{expiry}.{mac[:10]}*{mac[10:]}"]
    assert [s for s in spellings if auth.session_user(s, SECRET, now=NOW)] == []


@pytest.mark.parametrize(
    "value",
    [None, "", "42", "42.123", "42.1.2.3", "Alice.99999999999.xyz", "42.soon.xyz", "4" * 201, "..", "42..x"],
)
def test_malformed_sessions_are_refused(value):
    assert auth.session_user(value, SECRET, now=NOW) is None


def test_sign_session_refuses_invalid_user_ids():
    with pytest.raises(ValidationError):
        auth.sign_session("a.b", SECRET)
    with pytest.raises(ValidationError):
        auth.sign_session("Alice", SECRET)


# --- editor_owner --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "owner"),
    [
        ("/code/user/1/", "1"),
        ("/code/user/1", "1"),  # the bare path: Traefik redirects it to the slash form
        ("/code/user/1/x?y", "1"),
        ("/code/user/10/", "10"),
        ("/code/user/alice-b/static/app.js", "alice-b"),
        ("/code/user/1/?folder=/home/coder/project", "1"),
        ("/code/user/1/?next=/code/user/2/../3", "1"),  # the query is not part of the path
        ("/code/user/1/x#/../2", "1"),
        ("/code/user/1/a%20b", "1"),  # other percent-escapes after the owner are fine
        # Percent-escapes of plain characters are decoded: %31 is "1". Traefik (Go) matches its
        # routers on the decoded path too, so user 1's router takes /code/user/%31/ and the
        # owner agrees with it.
        ("/code/user/%31/", "1"),
        ("/code/user/%61lice/", "alice"),
    ],
)
def test_editor_owner(uri, owner):
    assert auth.editor_owner(uri) == owner


@pytest.mark.parametrize("uri", ["/", "/api/x", "/api/v1/auth/verify", "/code/user", "/code/", "//code/user/1/", ""])
def test_not_an_editor_uri(uri):
    assert auth.editor_owner(uri) is None


@pytest.mark.parametrize(
    "uri",
    [
        "/code/user/1/../2/",
        "/code/user/1/..",
        "/code/user/1/./x",
        "/code/user/1/%2e%2e/2/",
        "/code/user/1/%2E%2E/2/",
        "/code/user/1/.%2e/2/",
        "/code/user/1%2F..%2F2/",
        "/code/user/1%2f..%2f2/",
        "/code/user/1/x%5c..%5c2",
        "/code/user/1\\..\\2/",
        "/code/user/1%00/",
        "/code/user/1/\n",
        "/code/user/1\r\nX-Beacon-User: 2/",
        "/code/user/1\t/",
        "/code/user/1%0a/",  # decodes to a newline in the owner
        "/code/user/Alice/",
        "/code/user/ALICE/",
        "/code/user/-1/",
        "/code/user/1-/",
        "/code/user/a.b/",
        "/code/user/",
        "/code/user//1/",
        "/code/user/%20/",
        "/code/user/" + "a" * 64 + "/",  # a user id is at most 63 characters
        "/code/user/1/" + "x" * 5000,  # overlong
    ],
)
def test_editor_owner_refuses(uri):
    with pytest.raises(EditorPathError):
        auth.editor_owner(uri)


def test_editor_owner_refuses_non_strings():
    with pytest.raises(EditorPathError):
        auth.editor_owner(None)  # type: ignore[arg-type]


def test_editor_owner_length_limit_counts_the_query():
    assert auth.editor_owner("/code/user/1/?" + "q" * 4000) == "1"
    with pytest.raises(EditorPathError):
        auth.editor_owner("/code/user/1/?" + "q" * 4100)
