/* Protocol: the asyncio.BufferedProtocol half of a connection. asyncio
 * calls these methods; each one feeds the core, then pump.c turns the
 * core's events into calls of the Python subclass's _on_* hooks (once per
 * message or event), writes the output and re-arms the timer.
 *
 * The receive buffer is not the connection's own: every connection of a
 * thread shares one (wskit/_buffer.py). That is safe because buffer_updated
 * pulls events until the core has none, and the core then has copied
 * whatever it did not consume (docs/design.md, "Input"). An idle
 * connection therefore holds no receive buffer at all. */
#include "binding.h"

#include <string.h>

static PyObject *proto_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
  (void)args;
  (void)kw;
  WskProto *p = (WskProto *)type->tp_alloc(type, 0);
  if (!p) return NULL;
  p->timer_at = -1;
  p->linger_at = -1;
  return (PyObject *)p;
}

static int proto_traverse(WskProto *p, visitproc visit, void *arg) {
  Py_VISIT(p->config);
  Py_VISIT(p->loop);
  Py_VISIT(p->time);
  Py_VISIT(p->rb);
  Py_VISIT(p->held);
  Py_VISIT(p->backlog);
  Py_VISIT(p->transport);
  Py_VISIT(p->write);
  Py_VISIT(p->timer);
  Py_VISIT(p->close_reason);
  Py_VISIT(p->hs_bytes);
  Py_VISIT(p->exc);
  Py_VISIT(p->rpc);
  return 0;
}

static int proto_clear(WskProto *p) {
  Py_CLEAR(p->config);
  Py_CLEAR(p->loop);
  Py_CLEAR(p->time);
  Py_CLEAR(p->rb);
  Py_CLEAR(p->held);
  Py_CLEAR(p->backlog);
  Py_CLEAR(p->transport);
  Py_CLEAR(p->write);
  Py_CLEAR(p->timer);
  Py_CLEAR(p->close_reason);
  Py_CLEAR(p->hs_bytes);
  Py_CLEAR(p->exc);
  Py_CLEAR(p->rpc);
  return 0;
}

/* An armed timer holds a reference to us, so by the time we get here no
 * callback of ours is pending: freeing the core is all that is left. */
static void proto_dealloc(WskProto *p) {
  PyObject_GC_UnTrack(p);
  if (p->weakrefs) PyObject_ClearWeakRefs((PyObject *)p);
  proto_clear(p);
  if (p->conn) {
    wsk_conn_free(p->conn);
    p->conn = NULL;
  }
  Py_TYPE(p)->tp_free((PyObject *)p);
}

/* _setup(config, loop, recv_buffer, monotonic=False): before the transport
 * connects. monotonic: the caller knows loop.time() is CLOCK_MONOTONIC in
 * seconds (asyncio's loops, uvloop), so no Python call is needed per read. */
static PyObject *proto_setup(WskProto *p, PyObject *const *args, Py_ssize_t nargs) {
  if (nargs < 3 || nargs > 4 || !PyObject_TypeCheck(args[0], &WskConfig_Type) ||
      !PyObject_TypeCheck(args[2], &WskRecvBuf_Type)) {
    PyErr_SetString(PyExc_TypeError,
                    "_setup(config: Config, loop, recv_buffer: RecvBuffer, monotonic=False)");
    return NULL;
  }
  int mono = nargs == 4 ? PyObject_IsTrue(args[3]) : 0;
  if (mono < 0) return NULL;
  if (p->conn || p->config) {
    PyErr_SetString(PyExc_RuntimeError, "protocol already set up");
    return NULL;
  }
  p->time = PyObject_GetAttr(args[1], wskpy_s.time);
  if (!p->time) return NULL;
  Py_INCREF(args[0]);
  p->config = (WskConfig *)args[0];
  Py_INCREF(args[1]);
  p->loop = args[1];
  Py_INCREF(args[2]);
  p->rb = (WskRecvBuf *)args[2];
  p->monotonic = (uint8_t)mono;
  Py_RETURN_NONE;
}

/* _preload(data): bytes that belong to the connection but were read before
 * it had a transport (what an HTTP proxy sent after its 200). They wait in
 * the backlog and are fed, in order, before anything the transport reads. */
static PyObject *proto_preload(WskProto *p, PyObject *data) {
  if (p->conn || p->backlog) {
    PyErr_SetString(PyExc_RuntimeError, "_preload() must come once, before connection_made");
    return NULL;
  }
  Py_buffer v;
  if (PyObject_GetBuffer(data, &v, PyBUF_SIMPLE) < 0) return NULL;
  if (v.len) p->backlog = PyByteArray_FromStringAndSize(v.buf, v.len);
  PyBuffer_Release(&v);
  if (v.len && !p->backlog) return NULL;
  Py_RETURN_NONE;
}

static PyObject *proto_connection_made(WskProto *p, PyObject *transport) {
  if (!p->config) {
    PyErr_SetString(PyExc_RuntimeError, "protocol was not set up");
    return NULL;
  }
  if (p->conn) {
    PyErr_SetString(PyExc_RuntimeError, "protocol is already connected");
    return NULL;
  }
  Py_INCREF(transport);
  Py_XSETREF(p->transport, transport);
  Py_XSETREF(p->write, PyObject_GetAttr(transport, wskpy_s.write));
  if (!p->write) return NULL;
  if (p->config->opts.write_limit) {
    /* pause_writing() fires above write_limit, resume_writing() at a quarter */
    PyObject *hi = PyLong_FromSize_t(p->config->opts.write_limit);
    PyObject *r = hi ? PyObject_CallMethodOneArg(transport, wskpy_s.set_write_buffer_limits, hi)
                     : NULL;
    Py_XDECREF(hi);
    if (!r) PyErr_Clear(); /* a transport without flow control still works */
    Py_XDECREF(r);
  }
  int err = 0;
  int64_t now = wskpy_now(p);
  p->conn = wsk_conn_new(&p->config->opts, now, &err);
  if (!p->conn) {
    PyObject *r = PyObject_CallMethodNoArgs(transport, wskpy_s.abort);
    Py_XDECREF(r);
    PyErr_Clear();
    return wskpy_raise_code(err);
  }
  wsk_conn_set_data(p->conn, p);
  p->keep_hs = wsk_conn_role(p->conn) == WSK_ROLE_CLIENT; /* the request is the first write */
  /* A server counts a connection from here: asyncio never calls
   * connection_made (nor connection_lost) when a TLS handshake fails. */
  PyObject *r = PyObject_CallMethodNoArgs((PyObject *)p, wskpy_s.on_made);
  if (!r)
    wskpy_stash_error(p);
  else
    Py_DECREF(r);
  wskpy_after_call(p);
  Py_INCREF(Py_None);
  return wskpy_finish(p, Py_None);
}

static PyObject *proto_get_buffer(WskProto *p, PyObject *hint) {
  (void)hint; /* we always offer the whole shared buffer */
  if (!p->rb) {
    PyErr_SetString(PyExc_RuntimeError, "protocol was not set up");
    return NULL;
  }
  Py_INCREF(p->rb->view);
  return p->rb->view;
}

static PyObject *proto_buffer_updated(WskProto *p, PyObject *arg) {
  Py_ssize_t n = PyLong_AsSsize_t(arg);
  if (n == -1 && PyErr_Occurred()) return NULL;
  if (!p->rb || n < 0 || n > p->rb->len) {
    PyErr_SetString(PyExc_ValueError, "buffer_updated: size out of range");
    return NULL;
  }
  if (!p->conn || p->closed || n == 0) Py_RETURN_NONE; /* bytes after the end are ignored */
  wskpy_input_feed(p, n);
  Py_INCREF(Py_None);
  return wskpy_finish(p, Py_None);
}

static PyObject *proto_eof_received(WskProto *p, PyObject *unused) {
  (void)unused;
  p->eof = 1;
  if (p->conn && !p->closed) {
    wsk_conn_feed_eof(p->conn);
    wskpy_after_call(p);
  }
  Py_INCREF(Py_False); /* let the transport close itself */
  return wskpy_finish(p, Py_False);
}

static PyObject *proto_connection_lost(WskProto *p, PyObject *exc) {
  p->lost = 1;
  p->eof = 1;
  if (p->conn && !p->closed) {
    wsk_conn_feed_eof(p->conn);
    wskpy_after_call(p);
  }
  Py_CLEAR(p->write);
  wskpy_rearm(p); /* cancels the timer: nothing is left to wait for */
  PyObject *args[2] = {(PyObject *)p, exc};
  PyObject *r = PyObject_VectorcallMethod(wskpy_s.on_lost, args,
                                          2 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
  if (!r)
    wskpy_stash_error(p);
  else
    Py_DECREF(r);
  Py_INCREF(Py_None);
  return wskpy_finish(p, Py_None);
}

static PyObject *proto_pause_writing(WskProto *p, PyObject *unused) {
  (void)unused;
  p->writing_paused = 1;
  Py_RETURN_NONE;
}

static PyObject *proto_resume_writing(WskProto *p, PyObject *unused) {
  (void)unused;
  p->writing_paused = 0;
  PyObject *r = PyObject_CallMethodNoArgs((PyObject *)p, wskpy_s.on_writable);
  if (!r)
    wskpy_stash_error(p);
  else
    Py_DECREF(r);
  Py_INCREF(Py_None);
  return wskpy_finish(p, Py_None);
}

/* Receive-side backpressure, used when the application's queue is full:
 * the pump stops pulling events and the transport stops reading. */
static PyObject *proto_pause_reading(WskProto *p, PyObject *unused) {
  (void)unused;
  /* Only an open connection pauses: once closing, the peer's close frame
   * must be read whatever the queue holds (and after CLOSED we drain). */
  if (p->reading_paused || !p->conn || wsk_conn_state(p->conn) != WSK_STATE_OPEN) Py_RETURN_NONE;
  p->reading_paused = 1;
  if (!p->transport || p->lost || p->closing_transport) Py_RETURN_NONE;
  return PyObject_CallMethodNoArgs(p->transport, wskpy_s.pause_reading);
}

static PyObject *proto_resume_reading(WskProto *p, PyObject *unused) {
  (void)unused;
  if (!p->reading_paused) Py_RETURN_NONE;
  p->reading_paused = 0;
  if (p->transport && !p->lost && !p->closing_transport) {
    PyObject *r = PyObject_CallMethodNoArgs(p->transport, wskpy_s.resume_reading);
    if (!r) return NULL;
    Py_DECREF(r);
  }
  wskpy_after_call(p); /* deliver what the core still has, then any backlog */
  Py_INCREF(Py_None);
  return wskpy_finish(p, Py_None);
}

static PyMethodDef proto_methods[] = {
    {"_setup", (PyCFunction)(void (*)(void))proto_setup, METH_FASTCALL,
     "_setup(config, loop, recv_buffer, monotonic=False): attach options, loop and\n"
     "receive buffer; monotonic: loop.time() is CLOCK_MONOTONIC (read it in C)"},
    {"connection_made", (PyCFunction)proto_connection_made, METH_O, "asyncio: transport connected"},
    {"get_buffer", (PyCFunction)proto_get_buffer, METH_O, "asyncio: where to read into"},
    {"buffer_updated", (PyCFunction)proto_buffer_updated, METH_O, "asyncio: n bytes were read"},
    {"eof_received", (PyCFunction)proto_eof_received, METH_NOARGS, "asyncio: end of input"},
    {"connection_lost", (PyCFunction)proto_connection_lost, METH_O, "asyncio: transport closed"},
    {"pause_writing", (PyCFunction)proto_pause_writing, METH_NOARGS, "asyncio: write buffer full"},
    {"resume_writing", (PyCFunction)proto_resume_writing, METH_NOARGS,
     "asyncio: write buffer drained"},
    {"_pause_reading", (PyCFunction)proto_pause_reading, METH_NOARGS, "stop reading the socket"},
    {"_resume_reading", (PyCFunction)proto_resume_reading, METH_NOARGS, "read the socket again"},
    {"_on_timer", (PyCFunction)wskpy_on_timer, METH_NOARGS, "the connection's timer fired"},
    {"_detach", (PyCFunction)wskpy_detach, METH_NOARGS,
     "_detach(): server, request pending: drop the core and keep the transport (SSE)"},
    {"_host_allowed", (PyCFunction)wskpy_host_allowed, METH_O,
     "_host_allowed(host) -> bool: the server's Host allowlist admits it"},
    {"_preload", (PyCFunction)proto_preload, METH_O,
     "_preload(data): input read before the transport existed (fed first)"},
    {"_rpc_enable", (PyCFunction)wskpy_rpc_enable, METH_NOARGS,
     "_rpc_enable() -> RpcTable: keep pending requests on this connection (deadlines on\n"
     "its timer) and pass text that looks like JSON-RPC to _on_rpc(text) -> bool first"},
    {"_rpc_add", (PyCFunction)(void (*)(void))wskpy_rpc_add_method, METH_FASTCALL,
     "_rpc_add(ud, timeout) -> id: a pending request ending at its reply, after timeout\n"
     "seconds (None: never; _on_rpc_expired([(id, ud)]) is called) or at cancel_all"},
    {"_send", (PyCFunction)wskpy_send, METH_O,
     "_send(message) -> bool: send str as text, bytes-like as binary. True when the\n"
     "write buffer is over write_limit (wait before sending more)."},
    {"_send_fragment", (PyCFunction)(void (*)(void))wskpy_send_fragment, METH_FASTCALL,
     "_send_fragment(data, fin) -> bool: a piece of a message; the first piece's type\n"
     "(str or bytes-like) is the message's."},
    {"_ping", (PyCFunction)(void (*)(void))wskpy_ping, METH_FASTCALL,
     "_ping(data=None) -> int: send a ping, return its id (a pong acks ids <= its id)"},
    {"_pong", (PyCFunction)(void (*)(void))wskpy_pong, METH_FASTCALL, "_pong(data=b'')"},
    {"_close", (PyCFunction)(void (*)(void))wskpy_close, METH_VARARGS | METH_KEYWORDS,
     "_close(code=1000, reason=''): start the closing handshake (code None: no code)"},
    {"_abort", (PyCFunction)wskpy_abort, METH_NOARGS, "_abort(): drop the connection now"},
    {"_accept", (PyCFunction)wskpy_accept, METH_VARARGS,
     "_accept(subprotocol, headers) -> bool: answer the request with 101"},
    {"_reject", (PyCFunction)wskpy_reject, METH_VARARGS,
     "_reject(status, headers, body) -> bool: answer the request with plain HTTP"},
    {"_authenticate", (PyCFunction)(void (*)(void))wskpy_authenticate,
     METH_VARARGS | METH_KEYWORDS,
     "_authenticate(ok, reason=None) -> bool: judge the first message (auth_timeout);\n"
     "False when nothing awaits a judgement (timed out, closed)"},
    {NULL, NULL, 0, NULL}};

/* ---- properties ---- */

static PyObject *get_state(WskProto *p, void *c) {
  (void)c;
  if (p->closed || !p->conn) return PyLong_FromLong(p->closed ? WSK_STATE_CLOSED : 0);
  return PyLong_FromLong(wsk_conn_state(p->conn));
}

static PyObject *get_subprotocol(WskProto *p, void *c) {
  (void)c;
  const char *s = p->conn ? wsk_conn_subprotocol(p->conn) : "";
  if (!*s) Py_RETURN_NONE;
  return PyUnicode_FromString(s);
}

static PyObject *get_close_code(WskProto *p, void *c) {
  (void)c;
  if (!p->closed) Py_RETURN_NONE;
  return PyLong_FromUnsignedLong(p->close_code);
}

static PyObject *get_close_reason(WskProto *p, void *c) {
  (void)c;
  if (!p->closed) Py_RETURN_NONE;
  if (!p->close_reason) return PyUnicode_FromString("");
  Py_INCREF(p->close_reason);
  return p->close_reason;
}

static PyObject *get_sent_code(WskProto *p, void *c) {
  (void)c;
  if (!p->closed || !p->sent_code) Py_RETURN_NONE;
  return PyLong_FromUnsignedLong(p->sent_code);
}

static PyObject *get_obj(PyObject *o) {
  if (!o) Py_RETURN_NONE;
  Py_INCREF(o);
  return o;
}

static PyObject *get_transport(WskProto *p, void *c) {
  (void)c;
  return get_obj(p->transport);
}

static PyObject *get_loop(WskProto *p, void *c) {
  (void)c;
  return get_obj(p->loop);
}

static PyObject *get_hs_bytes(WskProto *p, void *c) {
  (void)c;
  return get_obj(p->hs_bytes);
}

static PyObject *get_flag(int v) { return PyBool_FromLong(v); }

static PyObject *get_writing_paused(WskProto *p, void *c) {
  (void)c;
  return get_flag(p->writing_paused || (p->conn && wsk_conn_over_limit(p->conn)));
}

static PyObject *get_reading_paused(WskProto *p, void *c) {
  (void)c;
  return get_flag(p->reading_paused);
}

static PyObject *get_lost(WskProto *p, void *c) {
  (void)c;
  return get_flag(p->lost);
}

static PyObject *get_eof(WskProto *p, void *c) {
  (void)c;
  return get_flag(p->eof);
}

static PyObject *get_clean(WskProto *p, void *c) {
  (void)c;
  return get_flag(p->clean);
}

static PyObject *get_error(WskProto *p, void *c) {
  (void)c;
  return PyUnicode_DecodeUTF8(p->conn ? wsk_conn_error(p->conn) : "",
                              p->conn ? (Py_ssize_t)strlen(wsk_conn_error(p->conn)) : 0,
                              "replace");
}

static PyObject *get_is_client(WskProto *p, void *c) {
  (void)c;
  return get_flag(p->config && p->config->opts.role == WSK_ROLE_CLIENT);
}

static PyObject *get_compression(WskProto *p, void *c) {
  (void)c;
  const wsk_deflate_params_t *d = p->conn ? wsk_conn_deflate(p->conn) : NULL;
  if (!d || !d->enabled) Py_RETURN_NONE;
  return Py_BuildValue("{s:O,s:O,s:i,s:i}", "server_no_context_takeover",
                       d->server_no_context_takeover ? Py_True : Py_False,
                       "client_no_context_takeover",
                       d->client_no_context_takeover ? Py_True : Py_False,
                       "server_max_window_bits", d->server_max_window_bits,
                       "client_max_window_bits", d->client_max_window_bits);
}

static PyObject *get_output_size(WskProto *p, void *c) {
  (void)c;
  return PyLong_FromSize_t(p->conn ? wsk_conn_output_len(p->conn) : 0);
}

static PyObject *get_rpc(WskProto *p, void *c) {
  (void)c;
  return get_obj((PyObject *)p->rpc);
}

static PyGetSetDef proto_getset[] = {
    {"_rpc", (getter)get_rpc, NULL, "the RpcTable of pending requests, None until enabled", NULL},
    {"_state", (getter)get_state, NULL, "0 CONNECTING, 1 OPEN, 2 CLOSING, 3 CLOSED", NULL},
    {"subprotocol", (getter)get_subprotocol, NULL, "negotiated subprotocol, or None", NULL},
    {"close_code", (getter)get_close_code, NULL,
     "code of the peer's close frame (1005: none in it, 1006: no frame); None while open",
     NULL},
    {"close_reason", (getter)get_close_reason, NULL, "reason of the peer's close frame", NULL},
    {"_sent_code", (getter)get_sent_code, NULL, "close code we sent, None if none", NULL},
    {"_eof", (getter)get_eof, NULL, "the input ended (EOF or connection lost)", NULL},
    {"_clean", (getter)get_clean, NULL, "close frames went both ways", NULL},
    {"transport", (getter)get_transport, NULL, "the asyncio transport, None before connecting",
     NULL},
    {"_loop", (getter)get_loop, NULL, "the event loop", NULL},
    {"_handshake_bytes", (getter)get_hs_bytes, NULL, "the handshake head we wrote", NULL},
    {"_writing_paused", (getter)get_writing_paused, NULL, "over write_limit", NULL},
    {"_reading_paused", (getter)get_reading_paused, NULL, "socket reading paused", NULL},
    {"_lost", (getter)get_lost, NULL, "connection_lost was called", NULL},
    {"_error", (getter)get_error, NULL, "why the connection failed, '' if it did not", NULL},
    {"_is_client", (getter)get_is_client, NULL, "client role", NULL},
    {"compression", (getter)get_compression, NULL,
     "negotiated permessage-deflate parameters (dict), or None", NULL},
    {"_output_size", (getter)get_output_size, NULL, "bytes not yet handed to the transport", NULL},
    {"_authenticated", (getter)wskpy_get_authenticated, NULL,
     "the first message was accepted, or auth_timeout is off", NULL},
    {"stats", (getter)wskpy_get_stats, NULL,
     "counts (dict): messages_in, messages_out, bytes_in, bytes_out, rate_limited", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

PyTypeObject WskProto_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "wskit._core.Protocol",
    .tp_basicsize = sizeof(WskProto),
    .tp_dealloc = (destructor)proto_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The C half of a WebSocket connection: an asyncio buffered protocol driving\n"
              "the sans-I/O core. Subclasses implement the _on_* hooks.",
    .tp_traverse = (traverseproc)proto_traverse,
    .tp_clear = (inquiry)proto_clear,
    .tp_weaklistoffset = offsetof(WskProto, weakrefs),
    .tp_methods = proto_methods,
    .tp_getset = proto_getset,
    .tp_new = proto_new,
};
