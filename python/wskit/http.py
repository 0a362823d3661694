"""HTTP pieces of the opening handshake: Headers, Request, Response.

The C core parses and builds the handshake; these classes only present
what it parsed (and what we sent) to Python code.
"""

from __future__ import annotations

from typing import Iterable, Iterator, List, Mapping, MutableMapping, Optional, Tuple, Union

__all__ = ["Headers", "Request", "Response", "HeadersLike"]


class Headers(MutableMapping[str, str]):
    """Case-insensitive HTTP headers that may repeat a name.

    ``headers["Name"]`` is the first value; ``get_all("Name")`` every value;
    ``raw_items()`` the (name, value) pairs in order, as received.
    Assigning adds a value; deleting removes every value of that name.
    """

    __slots__ = ("_items", "_index")

    def __init__(self, items: "Optional[HeadersLike]" = None, **kwargs: str) -> None:
        self._items: List[Tuple[str, str]] = []
        self._index: Optional[dict] = None  # built on the first lookup
        if items is not None:
            self._items.extend(header_items(items))
        self._items.extend(kwargs.items())

    def _lookup(self) -> dict:
        index = self._index
        if index is None:
            index = {}
            for name, value in self._items:
                index.setdefault(name.lower(), []).append(value)
            self._index = index
        return index

    def __getitem__(self, name: str) -> str:
        return self._lookup()[name.lower()][0]

    def __setitem__(self, name: str, value: str) -> None:
        self._items.append((name, value))
        self._index = None

    def __delitem__(self, name: str) -> None:
        key = name.lower()
        if key not in self._lookup():
            raise KeyError(name)
        self._items = [(n, v) for n, v in self._items if n.lower() != key]
        self._index = None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._lookup()

    def __iter__(self) -> Iterator[str]:
        return iter(self._lookup())

    def __len__(self) -> int:
        return len(self._lookup())

    def get_all(self, name: str) -> List[str]:
        """Every value of ``name``, in order (empty when absent)."""
        return list(self._lookup().get(name.lower(), ()))

    def raw_items(self) -> List[Tuple[str, str]]:
        """The (name, value) pairs in order, names as received."""
        return list(self._items)

    def copy(self) -> "Headers":
        """A copy that can be changed independently."""
        return Headers(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return self._lookup() == other._lookup()
        return NotImplemented

    def __str__(self) -> str:
        return "".join(f"{n}: {v}\r\n" for n, v in self._items) + "\r\n"

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


HeadersLike = Union[Headers, Mapping[str, str], Iterable[Tuple[str, str]]]


def header_items(headers: Optional[HeadersLike]) -> List[Tuple[str, str]]:
    """(name, value) pairs of str from Headers, a mapping or pairs."""
    if headers is None:
        return []
    if isinstance(headers, Headers):
        return headers.raw_items()
    if isinstance(headers, Mapping):
        pairs = list(headers.items())
    else:
        pairs = [tuple(p) for p in headers]
    for pair in pairs:
        if len(pair) != 2 or not isinstance(pair[0], str) or not isinstance(pair[1], str):
            raise TypeError(f"headers must be (str, str) pairs, got {pair!r}")
    return pairs  # type: ignore[return-value]


class Request:
    """The opening handshake's request: ``path`` (target, with the query)
    and ``headers``."""

    __slots__ = ("path", "headers")

    def __init__(self, path: str, headers: Headers) -> None:
        self.path = path
        self.headers = headers

    def __repr__(self) -> str:
        # reprs end up in logs: no tokens from the query, no credential headers
        from ._core import redact_target
        headers = Headers([(n, "***" if n.lower() in _SECRET_HEADERS else v)
                           for n, v in self.headers.raw_items()])
        return f"Request(path={redact_target(self.path)!r}, headers={headers!r})"


_SECRET_HEADERS = ("authorization", "cookie", "proxy-authorization")


class Response:
    """An HTTP response: the 101 of a handshake, a refusal the client got,
    or what a server's ``process_request`` answers instead of upgrading.

    ``Response(200, [("Content-Type", "text/plain")], b"OK\\n")``
    """

    __slots__ = ("status", "headers", "body", "reason")

    def __init__(
        self,
        status: int,
        headers: Optional[HeadersLike] = None,
        body: Union[bytes, str] = b"",
        reason: str = "",
    ) -> None:
        self.status = int(status)
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)
        self.body = body.encode() if isinstance(body, str) else bytes(body)
        self.reason = reason

    @property
    def status_code(self) -> int:
        """Same as ``status`` (the websockets library's name)."""
        return self.status

    def __repr__(self) -> str:
        return f"Response({self.status}, {self.headers!r}, {self.body[:64]!r})"


def parse_head(raw: bytes) -> Tuple[str, List[Tuple[str, str]]]:
    """Split a head we wrote ourselves into its first line and headers."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    lines = head.split("\r\n")
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name, value.strip()))
    return lines[0], headers
