# Copyright (c) 2026 Beacon contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Passwords, sessions and editor ownership: the platform's authentication rules in one place.

The deploy hashes inventory passwords with ``hash_password`` (through the ``beacon`` filter
plugin); the reference backend verifies them, signs session cookies and decides, for Traefik's
forwardAuth, who may open ``/code/user/<id>/``. Standard library only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
import urllib.parse

try:
    from ansible.module_utils.beacon_routing import USER_PATH_ROOT, ValidationError, validate_user_id
except ImportError:  # in the backend image the files sit side by side
    from beacon_routing import USER_PATH_ROOT, ValidationError, validate_user_id  # type: ignore[no-redef]

PBKDF2_ROUNDS = 200_000
SESSION_COOKIE = "beacon_session"
SESSION_TTL = 12 * 3600
_HASH_RE = re.compile(r"^pbkdf2_sha256\$([0-9]{4,7})\$([A-Za-z0-9_-]{16,64})\$([A-Za-z0-9_-]{43})$")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, salt: bytes, rounds: int = PBKDF2_ROUNDS) -> str:
    """``pbkdf2_sha256$<rounds>$<salt>$<hash>``, both parts URL-safe base64 without padding."""
    if not isinstance(password, str) or not password:
        raise ValidationError("password must be a non-empty string")
    if len(salt) < 12:
        raise ValidationError("salt must be at least 12 bytes")
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, rounds)
    return f"pbkdf2_sha256${rounds}${_b64(salt)}${_b64(digest)}"


def stable_salt(user_id: str, password: str, pepper: str = "beacon") -> bytes:
    """A salt that stays the same for an unchanged user and password, so redeploys change nothing."""
    return hashlib.sha256(f"{pepper}\0{user_id}\0{password}".encode()).digest()[:16]


def verify_password(password: str, encoded: str) -> bool:
    """True if ``password`` matches ``encoded``; False for a wrong password or a malformed hash (never raises)."""
    match = _HASH_RE.fullmatch(encoded) if isinstance(encoded, str) else None
    if not match or not isinstance(password, str):
        return False
    try:
        # A salt of 4n+1 characters is not base64 and 0 rounds is refused by hashlib: both ValueError.
        rounds, salt, expected = int(match.group(1)), _unb64(match.group(2)), _unb64(match.group(3))
        return hmac.compare_digest(hashlib.pbkdf2_hmac("sha256", password.encode(), salt, rounds), expected)
    except ValueError:
        return False


def sign_session(user_id: str, secret: bytes, now: float | None = None, ttl: int = SESSION_TTL) -> str:
    """A cookie value ``<user_id>.<expiry>.<hmac>``; the id is validated, so it has no dots."""
    uid = validate_user_id(user_id)
    expiry = int((now if now is not None else time.time()) + ttl)
    mac = hmac.new(secret, f"{uid}.{expiry}".encode(), hashlib.sha256).digest()
    return f"{uid}.{expiry}.{_b64(mac)}"


def session_user(value: str | None, secret: bytes, now: float | None = None) -> str | None:
    """The user id of a valid, unexpired session cookie value, else None."""
    if not value or value.count(".") != 2 or len(value) > 200:
        return None
    uid, expiry, mac = value.split(".")
    try:
        validate_user_id(uid)
        expires = int(expiry)
    except (ValidationError, ValueError):
        return None
    wanted = hmac.new(secret, f"{uid}.{expiry}".encode(), hashlib.sha256).digest()
    # Compare the canonical text: decoding first would accept other spellings of the same MAC
    # (base64 ignores the last character's spare bits and skips characters outside its alphabet).
    if not hmac.compare_digest(mac.encode("utf-8", "replace"), _b64(wanted).encode()):
        return None
    if expires < (now if now is not None else time.time()):
        return None
    return uid


class EditorPathError(ValueError):
    """A URI under /code/user/ that is malformed or tries to escape its owner's prefix."""


def editor_owner(uri: str) -> str | None:
    """The user id whose editor ``uri`` addresses, None if it is not an editor URI.

    Refuses (EditorPathError) what could make Traefik and the backend disagree on the owner:
    encoded slashes or dots, dot segments, backslashes, control characters, overlong URIs.
    """
    if not isinstance(uri, str) or len(uri) > 4096:
        raise EditorPathError("URI missing or over 4096 characters")
    path = uri.split("?", 1)[0].split("#", 1)[0]
    if not path.startswith(USER_PATH_ROOT):
        return None
    lowered = path.lower()
    if any(token in lowered for token in ("%2f", "%5c", "%2e", "%00", "\\")) or any(ord(c) < 0x20 for c in path):
        raise EditorPathError(f"refused encoded or control characters in {path[:80]!r}")
    decoded = urllib.parse.unquote(path)
    segments = decoded.split("/")
    if any(segment in (".", "..") for segment in segments):
        raise EditorPathError(f"refused dot segments in {path[:80]!r}")
    owner = decoded[len(USER_PATH_ROOT) :].split("/", 1)[0]
    try:
        return validate_user_id(owner)
    except ValidationError as exc:
        raise EditorPathError(str(exc)) from exc
