"""Read credentials from an opening handshake, for ``serve(authenticate=...)``.

::

    def authenticate(ws, request):
        token = wskit.auth.bearer(request) or wskit.auth.token_from_query(request)
        return USERS.get(token)      # None: 401; anything else becomes ws.user

Each helper takes the handshake Request (or the connection, whose
``handshake_request`` is used) and returns the credential as str, or None
when it is absent. Checking it is the application's job. Recipes:
docs/auth.md.
"""

from __future__ import annotations

import urllib.parse
from typing import Any, Optional

from . import _core

__all__ = ["token_from_query", "cookie", "bearer", "redact_target", "redact_uri"]


def _request(request: Any) -> Any:
    return getattr(request, "handshake_request", request)


def token_from_query(request: Any, name: str = "token") -> Optional[str]:
    """The first ``name`` parameter of the request target's query string
    (percent-decoded). The server's access log shows it as ``***``
    (see redact_target), as long as ``name`` is one of the names the core
    redacts: token, access_token, auth, key, jwt, ticket, ..."""
    target = _request(request).path
    query = urllib.parse.urlsplit(target).query
    for key, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        if key == name:
            return value
    return None


def cookie(request: Any, name: str) -> Optional[str]:
    """The value of cookie ``name`` from the Cookie header(s), without
    surrounding double quotes; the first one when it repeats."""
    for header in _request(request).headers.get_all("Cookie"):
        for part in header.split(";"):
            key, eq, value = part.strip().partition("=")
            if eq and key.strip() == name:
                value = value.strip()
                if len(value) >= 2 and value[0] == value[-1] == '"':
                    value = value[1:-1]
                return value
    return None


def bearer(request: Any) -> Optional[str]:
    """The token of an ``Authorization: Bearer <token>`` header (the scheme
    is case-insensitive, RFC 6750), else None."""
    value = _request(request).headers.get("Authorization")
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def redact_uri(uri: str) -> str:
    """A ws:// URI fit for logs: no user:password, and the query redacted
    as redact_target does."""
    parts = urllib.parse.urlsplit(uri)
    if "@" in parts.netloc:
        parts = parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2])
    return redact_target(urllib.parse.urlunsplit(parts))


def redact_target(target: str) -> str:
    """A request target fit for logs: the values of credential-like query
    parameters replaced by ``***`` (the core's wsk_http_redact_target, the
    same in every wskit binding)."""
    return _core.redact_target(target)  # type: ignore[no-any-return]
