/* wskit._core: the CPython binding of the sans-I/O core. Shared
 * declarations of the binding's C files (one job each):
 *
 *   module.c    module init, constants, hooks, small functions
 *   config.c    Config: a wsk_conn_opts_t built once per server / client
 *   protocol.c  Protocol: the asyncio.BufferedProtocol half (lifecycle,
 *               get_buffer/buffer_updated, connection_lost, properties)
 *   input.c     bytes in, and stopping while the application pauses reading
 *   recvbuf.c   RecvBuffer: the receive buffer a thread's connections share
 *   pump.c      events -> Python calls, output -> transport.write
 *   timer.c     the loop's clock, the connection's timer, closing the transport
 *   boundary.c  callback exceptions: stored, then handled at the entry point
 *   send.c      calls into the core: send, fragments, ping, pong, close,
 *               accept, reject
 *   backoff.c   reconnect policy (wsk_backoff_*, wsk_failure_*) and URLs
 *   rpc.c       RpcTable (wsk_rpc_*): request/response correlation, its
 *               deadlines on the connection's timer, the JSON-RPC pre-filter
 *   fanout.c    broadcast() and Channels (wsk_broadcast_*, wsk_channels_*)
 *   proxy.c     HTTP CONNECT proxies (wsk_proxy_*)
 *   chanclient.c ChanClient: channel protocol client side (wsk_chan_client_t)
 *   sseclient.c SseParser: event-stream parser (wsk_sse_parser_t)
 *   guard.c     first-message auth, rate-limit replies, stats, IpLimit
 *               (wsk_iplimit_*), redact_target for logs
 *
 * Python exceptions never cross the core: a callback's exception is stored
 * in the Protocol (`exc`) and handled when control returns to the entry
 * point that Python called (wskpy_finish). */
#ifndef WSKPY_BINDING_H
#define WSKPY_BINDING_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#include "wskit/proto.h"

#if PY_VERSION_HEX < 0x03090000
#error "wskit needs Python 3.9 or later"
#endif
#if PY_VERSION_HEX < 0x030A0000
static inline PyObject *Py_NewRef(PyObject *o) {
  Py_INCREF(o);
  return o;
}
#endif

/* Options for many connections (a server's, or one connect() call's). The
 * strings and arrays in `opts` point into objects held by `keep`. */
typedef struct {
  PyObject_HEAD
  wsk_conn_opts_t opts;
  PyObject *keep;               /* list of str objects opts points into */
  const char **subprotocols;    /* PyMem arrays, NULL when empty */
  const char **origins;
  const char **hosts;
  wsk_http_header_t *headers;
} WskConfig;

/* The receive buffer shared by one thread's connections (recvbuf.c). */
typedef struct {
  PyObject_HEAD
  PyObject *view;   /* memoryview over a bytearray: what get_buffer returns */
  uint8_t *ptr;
  Py_ssize_t len;
  Py_ssize_t size;
  PyObject *spare;  /* a view given back after a stall, reused by the next one */
} WskRecvBuf;

/* Pending requests of one connection (or of anyone: rpc.c). */
typedef struct {
  PyObject_HEAD
  wsk_rpc_table_t *t;
} WskRpc;

/* One connection. Owned by its transport while connected and by the user's
 * references; the timer handle holds a reference while armed. */
typedef struct {
  PyObject_HEAD
  wsk_conn_t *conn;          /* created in connection_made, freed in dealloc */
  WskConfig *config;
  PyObject *loop;
  PyObject *time;            /* loop.time, looked up once */
  WskRecvBuf *rb;            /* receive buffer shared by the thread's connections */
  PyObject *held;            /* driver memory the core still reads while the app
                                has paused reading: a view taken from rb, or a
                                former backlog (bytearray) */
  PyObject *backlog;         /* bytearray: input that arrived while `held` was busy */
  PyObject *transport;
  PyObject *write;           /* transport.write, looked up once */
  PyObject *timer;           /* asyncio TimerHandle armed at timer_at */
  int64_t timer_at;          /* ms, -1 when no timer */
  int64_t last_now;          /* the core's clock never goes back (see wskpy_now) */
  int64_t linger_at;         /* after CLOSED: abort the transport if still open then */
  PyObject *close_reason;    /* the peer's close reason (str), NULL if none */
  PyObject *hs_bytes;        /* the handshake head we wrote (request or 101) */
  PyObject *exc;             /* a callback's exception, for wskpy_finish */
  PyObject *weakrefs;
  WskRpc *rpc;               /* pending requests, NULL until _rpc_enable */
  unsigned close_code;       /* CLOSED: code received (1005 none, 1006 no frame) */
  unsigned sent_code;        /* CLOSED: code we sent, 0 when none */
  uint8_t in_pump;           /* pulling events: nested calls leave the work to it */
  uint8_t closed;            /* CLOSED was dispatched */
  uint8_t clean;
  uint8_t lost;              /* connection_lost was called */
  uint8_t eof;               /* the input ended (EOF or connection lost) */
  uint8_t closing_transport; /* transport.close() was called */
  uint8_t writing_paused;    /* between pause_writing and resume_writing */
  uint8_t reading_paused;
  uint8_t keep_hs;           /* keep the next write as hs_bytes */
  uint8_t borrowed;          /* the core reads driver memory (rb's or held) */
  uint8_t monotonic;         /* loop.time() is CLOCK_MONOTONIC: read it directly */
  uint8_t rpc_filter;        /* text that looks like JSON-RPC goes to _on_rpc first */
  uint8_t u8carry_len;       /* streaming: bytes of a UTF-8 character split between */
  uint8_t u8carry[4];        /* two pieces of a text message, kept for the next */
} WskProto;

extern PyTypeObject WskConfig_Type;
extern PyTypeObject WskProto_Type;
extern PyTypeObject WskBackoff_Type;
extern PyTypeObject WskRecvBuf_Type;
extern PyTypeObject WskRpc_Type;
extern PyTypeObject WskChannels_Type;
extern PyTypeObject WskHub_Type; /* hub.c: the core's channel hub */
extern PyTypeObject WskChanClient_Type; /* chanclient.c */
extern PyTypeObject WskSseParser_Type;  /* sseclient.c */
extern PyTypeObject WskIpLimit_Type;

/* recvbuf.c: take the current buffer (a new reference; *ptr, *len describe
 * it) and install a fresh one; give a taken one back (steals it). */
PyObject *wskpy_rbuf_take(WskRecvBuf *rb, uint8_t **ptr, Py_ssize_t *len);
void wskpy_rbuf_give(WskRecvBuf *rb, PyObject *view);

/* input.c: bytes in, and what happens when the application pauses reading */
void wskpy_input_feed(WskProto *p, Py_ssize_t n);
void wskpy_input_release(WskProto *p);
int wskpy_input_backlog(WskProto *p);

/* Interned method names, made once at import. */
typedef struct {
  PyObject *on_made, *on_request, *on_open, *on_rejected, *on_message, *on_ping, *on_pong,
      *on_closed, *on_lost, *on_writable, *closed_exc, *on_rpc, *on_rpc_expired, *on_fragment;
  PyObject *time, *call_at, *cancel, *close, *abort, *pause_reading, *resume_reading,
      *set_write_buffer_limits, *write, *on_timer, *can_write_eof, *write_eof;
} wskpy_names_t;
extern wskpy_names_t wskpy_s;
/* report(protocol, exception): logs a callback's exception (set by Python). */
extern PyObject *wskpy_report_hook;

/* pump.c: events -> hooks, output -> transport */
void wskpy_pump(WskProto *p);
void wskpy_flush(WskProto *p);
/* After a call that may have produced output or events. */
void wskpy_after_call(WskProto *p);

/* timer.c: the loop's clock (ms), the connection's timer, the transport's end */
int64_t wskpy_now(WskProto *p);
void wskpy_rearm(WskProto *p);
void wskpy_close_transport(WskProto *p);
PyObject *wskpy_on_timer(WskProto *p, PyObject *unused);

/* boundary.c: a hook's exception is stashed, then handled by wskpy_finish.
 * Every method Python calls ends with `return wskpy_finish(p, result)`:
 * outside a pump it handles a stored callback exception (logs it and
 * fails the connection with 1011, or re-raises KeyboardInterrupt and
 * SystemExit). */
void wskpy_stash_error(WskProto *p);
PyObject *wskpy_finish(WskProto *p, PyObject *ret);

/* send.c: methods of Protocol */
PyObject *wskpy_send(WskProto *p, PyObject *data);
PyObject *wskpy_send_fragment(WskProto *p, PyObject *const *args, Py_ssize_t nargs);
PyObject *wskpy_ping(WskProto *p, PyObject *const *args, Py_ssize_t nargs);
PyObject *wskpy_pong(WskProto *p, PyObject *const *args, Py_ssize_t nargs);
PyObject *wskpy_close(WskProto *p, PyObject *args, PyObject *kw);
PyObject *wskpy_abort(WskProto *p, PyObject *unused);
PyObject *wskpy_accept(WskProto *p, PyObject *args);
PyObject *wskpy_reject(WskProto *p, PyObject *args);

/* Headers as a list of (name, value) pairs of str -> a PyMem array whose
 * strings point into the str objects (kept alive by `keep`, a list).
 * Returns the count, or -1 with an exception. */
Py_ssize_t wskpy_headers_from_py(PyObject *seq, PyObject *keep, wsk_http_header_t **out);
/* A parsed head's headers as a list of (name, value) str pairs. */
PyObject *wskpy_headers_to_py(const wsk_http_head_t *head);

/* module.c: raise the builtin exception for a WSK_E* code (ValueError,
 * MemoryError, RuntimeError); wskit's own exceptions come from Python. */
PyObject *wskpy_raise_code(int err);

extern PyMethodDef wskpy_backoff_functions[];
extern PyMethodDef wskpy_fanout_functions[];
extern PyMethodDef wskpy_proxy_functions[];
/* chanproto.c: channel protocol, backplane and SSE functions and constants */
int wskpy_chanproto_add(PyObject *m);
/* detach.c: _detach(): drop the core, keep the transport (SSE responses) */
PyObject *wskpy_detach(WskProto *p, PyObject *unused);
PyObject *wskpy_host_allowed(WskProto *p, PyObject *host);
extern PyMethodDef wskpy_guard_functions[];

/* guard.c */
PyObject *wskpy_auth_message(WskProto *p, PyObject *message);
void wskpy_rate_limited(WskProto *p, const wsk_event_t *ev);
PyObject *wskpy_authenticate(WskProto *p, PyObject *args, PyObject *kw);
PyObject *wskpy_get_authenticated(WskProto *p, void *c);
PyObject *wskpy_get_stats(WskProto *p, void *c);

/* rpc.c */
int wskpy_rpc_add(WskRpc *t, uint64_t id, int64_t deadline, PyObject *ud);
PyObject *wskpy_rpc_expire(WskRpc *t, int64_t now);
PyObject *wskpy_rpc_enable(WskProto *p, PyObject *unused);
PyObject *wskpy_rpc_add_method(WskProto *p, PyObject *const *args, Py_ssize_t nargs);
int64_t wskpy_rpc_deadline(WskProto *p);
void wskpy_rpc_timer(WskProto *p, int64_t now);
int wskpy_rpc_candidate(const uint8_t *d, size_t n);

#endif
