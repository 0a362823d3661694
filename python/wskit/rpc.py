"""Request/response as JSON-RPC 2.0 over text messages, on either side.

::

    rpc = wskit.Methods()

    @rpc.method("add")
    def add(a, b):
        return a + b

    async with wskit.serve(handler, host, port, methods=rpc):
        async with wskit.connect(url) as ws:
            assert await ws.request("add", [1, 2]) == 3

Which reply answers which request, and when a request has waited too
long, is the core's table (``_core.RpcTable``, deadlines on the
connection's one timer); this module only makes and reads the JSON.

Which text messages are JSON-RPC (they never reach ``recv()`` /
``on_message``): nothing is examined until the connection has request/
response on, that is until it was given ``methods`` or made a request.
From then on a text message whose first non-blank character is ``{`` or
``[`` and that contains ``"jsonrpc"`` is parsed, and it is claimed when it
is

- a reply (``"jsonrpc": "2.0"``, ``result`` or ``error``, no ``method``)
  whose id is an integer this connection issued: it answers that request,
  or is dropped when the request already ended (timed out, cancelled);
- with ``methods``: a request or notification (``"method"``), a batch, an
  invalid request (answered -32600) or text that is not JSON (-32700).

Everything else, including replies with other ids and any JSON without
``"jsonrpc": "2.0"``, is delivered as usual.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
from typing import (Any, Awaitable, Callable, Dict, Iterator, List, Mapping, Optional, Set,
                    Tuple, Union)

from .exceptions import ConnectionClosed, RequestError, RequestTimeout

__all__ = ["Methods", "RpcMixin"]

logger = logging.getLogger("wskit")

Params = Union[List[Any], Tuple[Any, ...], Dict[str, Any], None]

_MISSING = object()

# Reasons to pause reading, one bit each (Connection's queue uses bit 1).
HOLD_QUEUE = 1
HOLD_CALLS = 2   # max_running method calls are running
HOLD_WRITE = 4   # replies filled the write buffer


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _error(rid: Any, code: int, message: str, data: Any = _MISSING) -> Dict[str, Any]:
    err: Dict[str, Any] = {"code": code, "message": message}
    if data is not _MISSING:
        err["data"] = data
    return {"jsonrpc": "2.0", "id": rid, "error": err}


def _valid_id(rid: Any) -> bool:
    return rid is None or (type(rid) in (int, float, str))


class _Method:
    __slots__ = ("func", "pass_connection", "signature")

    def __init__(self, func: Callable[..., Any], pass_connection: bool) -> None:
        self.func = func
        self.pass_connection = pass_connection
        try:
            self.signature: Optional[inspect.Signature] = inspect.signature(func)
        except (TypeError, ValueError):  # some builtins have none: call and see
            self.signature = None


class Methods:
    """A JSON-RPC method table for ``serve(..., methods=)`` and
    ``connect(..., methods=)``.

    Each method is called with the request's params: a list as positional
    arguments, an object as keyword arguments (``pass_connection=True``
    puts the connection first). It may be a plain or an async function;
    its return value is the ``result``. Params that do not fit its
    signature are answered with -32602; a ``RequestError`` it raises is
    sent as it is; any other exception is logged and answered with -32000
    and "ExceptionType: text" (with ``expose_errors=False``: -32603
    "Internal error", nothing of the exception). At most ``max_running``
    calls (async ones) run at once per connection: beyond that, reading
    from the peer pauses until one ends.
    """

    __slots__ = ("_table", "expose_errors", "max_running")

    def __init__(self, methods: Optional[Mapping[str, Callable[..., Any]]] = None, *,
                 expose_errors: bool = True, max_running: int = 32) -> None:
        if max_running < 1:
            raise ValueError("max_running must be at least 1")
        self._table: Dict[str, _Method] = {}
        self.expose_errors = expose_errors
        self.max_running = max_running
        for name, func in (methods or {}).items():
            self.add(name, func)

    def add(self, name: str, func: Callable[..., Any], *, pass_connection: bool = False) -> None:
        """Register ``func`` as ``name`` (replacing any method of that name)."""
        if not isinstance(name, str):
            raise TypeError("a method name must be str")
        if not callable(func):
            raise TypeError(f"{func!r} is not callable")
        self._table[name] = _Method(func, pass_connection)

    def method(self, name: Optional[str] = None, *,
               pass_connection: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: ``@rpc.method("add")``, or ``@rpc.method()`` to use the
        function's name. Returns the function unchanged."""
        def register(func: Callable[..., Any]) -> Callable[..., Any]:
            self.add(name or func.__name__, func, pass_connection=pass_connection)
            return func
        return register

    def remove(self, name: str) -> None:
        """Unregister a method (KeyError when absent)."""
        del self._table[name]

    def __contains__(self, name: object) -> bool:
        return name in self._table

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._table))

    def __len__(self) -> int:
        return len(self._table)

    def _get(self, name: str) -> Optional[_Method]:
        return self._table.get(name)

    def __repr__(self) -> str:
        return f"Methods({sorted(self._table)!r})"


def as_methods(methods: Any) -> Optional[Methods]:
    """A Methods from what serve()/connect() got: Methods, a mapping or None."""
    if methods is None or isinstance(methods, Methods):
        return methods
    if isinstance(methods, Mapping):
        return Methods(methods)
    raise TypeError("methods must be a wskit.Methods, a dict of callables or None")


class RpcMixin:
    """Request/response on a connection (mixed into BaseProtocol, whose
    slots hold the state: ``_rpc_methods``, ``_rpc_tasks``, ``_rpc_last``,
    ``_holds``)."""

    __slots__ = ()

    _rpc_methods: Optional[Methods]
    _rpc_tasks: Optional[Set["asyncio.Task[Any]"]]
    _rpc_last: int
    _holds: int

    def _rpc_setup(self, methods: Optional[Methods]) -> None:
        """Serve ``methods`` on this connection (before it opens)."""
        self._rpc_methods = methods
        if methods is not None:
            self._rpc_enable()  # type: ignore[attr-defined]

    # ---- reading pauses for several reasons at once ----

    def _hold(self, bit: int) -> None:
        self._holds |= bit
        self._pause_reading()  # type: ignore[attr-defined]

    def _release(self, bit: int) -> None:
        holds = self._holds
        if holds & bit:
            holds = self._holds = holds & ~bit
            if not holds:
                self._resume_reading()  # type: ignore[attr-defined]

    # ---- our requests ----

    def _rpc_request(self, method: str, params: Params,
                     timeout: Optional[float]) -> "Tuple[asyncio.Future[Any], bool]":
        """Send a request; returns (future of the result, over write limit)."""
        if not isinstance(method, str):
            raise TypeError("method must be str")
        if params is not None and not isinstance(params, (list, tuple, dict)):
            raise TypeError("params must be a list, a tuple, a dict or None")
        if timeout is not None and timeout < 0:
            raise ValueError("timeout must be None or >= 0")
        state = self._state  # type: ignore[attr-defined]
        if state != 1:
            if state == 0:
                raise RuntimeError("the connection is not open yet")
            raise self._closed_exc()  # type: ignore[attr-defined]
        table = self._rpc  # type: ignore[attr-defined]
        if table is None:
            table = self._rpc_enable()  # type: ignore[attr-defined]
        loop = self._loop  # type: ignore[attr-defined]
        fut: "asyncio.Future[Any]" = loop.create_future()
        rid = self._rpc_add((fut, method, timeout), timeout)  # type: ignore[attr-defined]
        self._rpc_last = rid
        try:
            envelope: Dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
            if params is not None:
                envelope["params"] = list(params) if isinstance(params, tuple) else params
            over = self._send(_dumps(envelope))  # type: ignore[attr-defined]
        except BaseException:
            table.resolve(rid)
            raise
        fut.add_done_callback(functools.partial(_forget, table, rid))
        return fut, over

    @staticmethod
    def _rpc_notification(method: str, params: Params) -> str:
        if not isinstance(method, str):
            raise TypeError("method must be str")
        if params is not None and not isinstance(params, (list, tuple, dict)):
            raise TypeError("params must be a list, a tuple, a dict or None")
        envelope: Dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            envelope["params"] = list(params) if isinstance(params, tuple) else params
        return _dumps(envelope)

    def _on_rpc_expired(self, ended: List[Tuple[int, Any]]) -> None:
        # called by the connection's timer with the requests the core expired
        for _, (fut, method, timeout) in ended:
            if not fut.done():
                fut.set_exception(RequestTimeout(method, timeout))

    def _rpc_cancel_all(self) -> None:
        """The connection is closed: every pending request fails, once."""
        table = self._rpc  # type: ignore[attr-defined]
        if table is None or not len(table):
            return
        for _, (fut, _method, _timeout) in table.cancel_all():
            if not fut.done():
                fut.set_exception(self._closed_exc())  # type: ignore[attr-defined]
                fut.cancel()  # done already: only stops "never retrieved" logs

    # ---- incoming JSON-RPC text (called by C for candidates only) ----

    def _on_rpc(self, text: str) -> bool:
        serving = self._rpc_methods is not None
        try:
            msg = json.loads(text)
        except ValueError:
            if not serving:
                return False
            self._rpc_send(_error(None, RequestError.PARSE_ERROR, "Parse error"))
            return True
        if isinstance(msg, dict):
            if msg.get("jsonrpc") != "2.0":
                return False
            if "method" in msg:
                if not serving:
                    return False
                self._rpc_answer(self._rpc_call(msg))
                return True
            if "result" in msg or "error" in msg:
                return self._rpc_reply(msg)
            if not serving:
                return False
            rid = msg.get("id")
            self._rpc_send(_error(rid if _valid_id(rid) else None,
                                  RequestError.INVALID_REQUEST, "Invalid Request"))
            return True
        if isinstance(msg, list) and serving:
            self._rpc_batch(msg)
            return True
        return False

    def _rpc_reply(self, msg: Dict[str, Any]) -> bool:
        rid = msg.get("id")
        if type(rid) is not int or not 0 < rid <= self._rpc_last:
            return False  # not one of our ids: the application's business
        ud = self._rpc.resolve(rid)  # type: ignore[attr-defined]
        if ud is None:
            logger.debug("dropped a reply to request %d, which already ended", rid)
            return True
        fut = ud[0]
        if fut.done():
            return True
        if "error" in msg:
            err = msg["error"]
            if (isinstance(err, dict) and type(err.get("code")) is int
                    and isinstance(err.get("message"), str)):
                fut.set_exception(RequestError(err["code"], err["message"], err.get("data")))
            else:
                fut.set_exception(RequestError(RequestError.INTERNAL_ERROR,
                                               "malformed error object in the reply", err))
        else:
            fut.set_result(msg.get("result"))
        return True

    def _rpc_call(self, msg: Dict[str, Any]) -> Any:
        """Run one request: its reply (dict), None (a notification), or a
        coroutine that ends with one of those (an async method)."""
        notify = "id" not in msg
        rid = msg.get("id")
        if not notify and not _valid_id(rid):
            return _error(None, RequestError.INVALID_REQUEST, "Invalid Request")
        name = msg.get("method")
        params = msg.get("params", _MISSING)
        if not isinstance(name, str) or (params is not _MISSING
                                         and not isinstance(params, (list, dict))):
            return _error(rid, RequestError.INVALID_REQUEST, "Invalid Request")
        methods = self._rpc_methods
        assert methods is not None
        entry = methods._get(name)
        if entry is None:
            if notify:
                logger.debug("notification for unknown method %r ignored", name)
                return None
            return _error(rid, RequestError.METHOD_NOT_FOUND, f"Method not found: {name}")
        args: Tuple[Any, ...] = ()
        kwargs: Dict[str, Any] = {}
        if isinstance(params, dict):
            kwargs = params
        elif params is not _MISSING:
            args = tuple(params)
        if entry.pass_connection:
            args = (self,) + args
        if entry.signature is not None:
            try:
                entry.signature.bind(*args, **kwargs)
            except TypeError as exc:
                if notify:
                    logger.debug("notification %r with invalid params ignored: %s", name, exc)
                    return None
                return _error(rid, RequestError.INVALID_PARAMS, "Invalid params", str(exc))
        try:
            result = entry.func(*args, **kwargs)
        except Exception as exc:
            return self._rpc_failed(rid, name, exc, notify)
        if inspect.isawaitable(result):
            return self._rpc_await(rid, name, result, notify)
        return None if notify else {"jsonrpc": "2.0", "id": rid, "result": result}

    async def _rpc_await(self, rid: Any, name: str, aw: Awaitable[Any],
                         notify: bool) -> Optional[Dict[str, Any]]:
        try:
            result = await aw
        except Exception as exc:
            return self._rpc_failed(rid, name, exc, notify)
        return None if notify else {"jsonrpc": "2.0", "id": rid, "result": result}

    def _rpc_failed(self, rid: Any, name: str, exc: Exception,
                    notify: bool) -> Optional[Dict[str, Any]]:
        if isinstance(exc, RequestError):
            return None if notify else _error(rid, exc.code, exc.message,
                                              _MISSING if exc.data is None else exc.data)
        logger.error("JSON-RPC method %r failed", name, exc_info=exc)
        if notify:
            return None
        methods = self._rpc_methods
        if methods is not None and methods.expose_errors:
            text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            return _error(rid, RequestError.SERVER_ERROR, text)
        return _error(rid, RequestError.INTERNAL_ERROR, "Internal error")

    def _rpc_batch(self, items: List[Any]) -> None:
        if not items:
            self._rpc_send(_error(None, RequestError.INVALID_REQUEST, "Invalid Request"))
            return
        replies: List[Any] = []
        waiting = False
        for item in items:
            if not isinstance(item, dict) or item.get("jsonrpc") != "2.0":
                replies.append(_error(None, RequestError.INVALID_REQUEST, "Invalid Request"))
            elif "method" in item:
                r = self._rpc_call(item)
                if r is not None:
                    waiting = waiting or not isinstance(r, dict)
                    replies.append(r)
            elif ("result" in item or "error" in item) and self._rpc_reply(item):
                pass
            else:
                rid = item.get("id")
                replies.append(_error(rid if _valid_id(rid) else None,
                                      RequestError.INVALID_REQUEST, "Invalid Request"))
        if waiting:
            self._rpc_spawn(self._rpc_batch_done(replies))
        elif replies:
            self._rpc_send(replies)

    async def _rpc_batch_done(self, replies: List[Any]) -> None:
        pending = [r for r in replies if not isinstance(r, dict)]
        done = iter(await asyncio.gather(*pending))
        out = [r if isinstance(r, dict) else next(done) for r in replies]
        out = [r for r in out if r is not None]
        if out:
            self._rpc_send(out)

    def _rpc_answer(self, reply: Any) -> None:
        if reply is None:
            return
        if isinstance(reply, dict):
            self._rpc_send(reply)
        else:
            self._rpc_spawn(self._rpc_reply_later(reply))

    async def _rpc_reply_later(self, coro: Awaitable[Optional[Dict[str, Any]]]) -> None:
        reply = await coro
        if reply is not None:
            self._rpc_send(reply)

    def _rpc_spawn(self, coro: Awaitable[Any]) -> None:
        task = self._loop.create_task(coro)  # type: ignore[attr-defined]
        tasks = self._rpc_tasks
        if tasks is None:
            tasks = self._rpc_tasks = set()
        tasks.add(task)
        task.add_done_callback(self._rpc_task_done)
        server = self._server  # type: ignore[attr-defined]
        if server is not None:  # the server's wait_closed() waits for running calls
            server._tasks.add(task)
            task.add_done_callback(server._tasks.discard)
        methods = self._rpc_methods
        if methods is not None and len(tasks) >= methods.max_running:
            self._hold(HOLD_CALLS)

    def _rpc_task_done(self, task: "asyncio.Task[Any]") -> None:
        tasks = self._rpc_tasks
        if tasks is not None:
            tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("JSON-RPC reply failed", exc_info=task.exception())
        methods = self._rpc_methods
        if tasks is not None and methods is not None and len(tasks) < methods.max_running:
            self._release(HOLD_CALLS)

    def _rpc_send(self, reply: Any) -> None:
        """Send a reply (or a batch of them) if the connection is still open."""
        if self._state != 1:  # type: ignore[attr-defined]
            return  # closing: the peer will not read it
        if isinstance(reply, list):
            text = "[" + ",".join(_encode_reply(r) for r in reply) + "]"
        else:
            text = _encode_reply(reply)
        try:
            over = self._send(text)  # type: ignore[attr-defined]
        except ConnectionClosed:
            return
        if over and not self._holds & HOLD_WRITE:
            # Replies went over write_limit: the peer sends requests faster
            # than it reads. Stop reading at once (one read may hold
            # thousands of requests), and once this batch is written see
            # whether the transport really is full: if not, go on; if so,
            # wait for it to drain (_on_writable). Never buffer without bound.
            self._hold(HOLD_WRITE)
            self._loop.call_soon(self._rpc_check_write)  # type: ignore[attr-defined]

    def _rpc_check_write(self) -> None:
        if not self._writing_paused:  # type: ignore[attr-defined]
            self._release(HOLD_WRITE)


def _encode_reply(reply: Dict[str, Any]) -> str:
    try:
        return _dumps(reply)
    except (TypeError, ValueError) as exc:
        logger.error("JSON-RPC result cannot be encoded as JSON", exc_info=exc)
        return _dumps(_error(reply.get("id"), RequestError.INTERNAL_ERROR,
                             "Internal error: the result is not JSON serializable"))


def _forget(table: Any, rid: int, fut: "asyncio.Future[Any]") -> None:
    # A request whose future was cancelled (its awaiting task was) leaves
    # the table now instead of at its deadline; a finished one is gone already.
    if fut.cancelled():
        table.resolve(rid)
