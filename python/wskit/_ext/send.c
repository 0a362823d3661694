/* Calls into the core from Python: sending, control frames, closing, and
 * the server's answer to a request. Each ends like every entry point:
 * wskpy_after_call (events, output, timer) then wskpy_finish. */
#include "binding.h"

#include <string.h>

static PyObject *not_connected(void) {
  PyErr_SetString(PyExc_RuntimeError, "the connection has no transport yet");
  return NULL;
}

/* Raise for a failed call: ConnectionClosed (built by the Python side from
 * the close state) when closed, RuntimeError for a call in the wrong state. */
static PyObject *call_failed(WskProto *p, int err) {
  if (err == WSK_ECLOSED) {
    PyObject *exc = PyObject_CallMethodNoArgs((PyObject *)p, wskpy_s.closed_exc);
    if (!exc) return NULL;
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
    return NULL;
  }
  if (err == WSK_ESTATE) {
    PyErr_SetString(PyExc_RuntimeError, wsk_conn_state(p->conn) == WSK_STATE_CONNECTING
                                            ? "the connection is not open yet"
                                            : "a fragmented message is being sent");
    return NULL;
  }
  return wskpy_raise_code(err);
}

/* str -> UTF-8 (cached in the str for non-ASCII), anything else -> its buffer.
 * Fills *view (release with PyBuffer_Release when is_text is 0). */
typedef struct {
  const char *data;
  Py_ssize_t len;
  int is_text;
  Py_buffer view;
} payload_t;

static int payload_get(PyObject *o, payload_t *pl) {
  if (PyUnicode_Check(o)) {
    pl->is_text = 1;
    pl->data = PyUnicode_AsUTF8AndSize(o, &pl->len);
    return pl->data ? 0 : -1;
  }
  pl->is_text = 0;
  if (PyObject_GetBuffer(o, &pl->view, PyBUF_SIMPLE) < 0) {
    PyErr_Format(PyExc_TypeError, "message must be str or bytes-like, not %.100s",
                 Py_TYPE(o)->tp_name);
    return -1;
  }
  pl->data = pl->view.buf;
  pl->len = pl->view.len;
  return 0;
}

static void payload_release(payload_t *pl) {
  if (!pl->is_text) PyBuffer_Release(&pl->view);
}

static PyObject *over_limit(WskProto *p) {
  return PyBool_FromLong(p->writing_paused || (p->conn && wsk_conn_over_limit(p->conn)));
}

PyObject *wskpy_send(WskProto *p, PyObject *data) {
  if (!p->conn) return not_connected();
  payload_t pl;
  if (payload_get(data, &pl) < 0) return NULL;
  int r = wsk_conn_send(p->conn, pl.is_text ? WSK_OP_TEXT : WSK_OP_BINARY, pl.data, (size_t)pl.len);
  payload_release(&pl);
  if (r < 0) return call_failed(p, r);
  wskpy_after_call(p);
  return wskpy_finish(p, over_limit(p));
}

PyObject *wskpy_send_fragment(WskProto *p, PyObject *const *args, Py_ssize_t nargs) {
  if (nargs != 2) {
    PyErr_SetString(PyExc_TypeError, "_send_fragment(data, fin)");
    return NULL;
  }
  if (!p->conn) return not_connected();
  int fin = PyObject_IsTrue(args[1]);
  if (fin < 0) return NULL;
  payload_t pl;
  if (payload_get(args[0], &pl) < 0) return NULL;
  int r = wsk_conn_send_fragment(p->conn, pl.is_text ? WSK_OP_TEXT : WSK_OP_BINARY, pl.data,
                                 (size_t)pl.len, fin);
  payload_release(&pl);
  if (r < 0) return call_failed(p, r);
  wskpy_after_call(p);
  return wskpy_finish(p, over_limit(p));
}

PyObject *wskpy_ping(WskProto *p, PyObject *const *args, Py_ssize_t nargs) {
  if (nargs > 1) {
    PyErr_SetString(PyExc_TypeError, "_ping(data=None)");
    return NULL;
  }
  if (!p->conn) return not_connected();
  int r;
  if (nargs == 0 || args[0] == Py_None) {
    r = wsk_conn_ping(p->conn, NULL, 0);
  } else {
    payload_t pl;
    if (payload_get(args[0], &pl) < 0) return NULL;
    r = pl.len > 125 ? WSK_EINVAL : wsk_conn_ping(p->conn, pl.data, (size_t)pl.len);
    payload_release(&pl);
  }
  if (r == WSK_EEXIST) {
    PyErr_SetString(PyExc_ValueError, "a ping with the same data is already waiting for its pong");
    return NULL;
  }
  if (r == WSK_E2BIG) {
    PyErr_SetString(PyExc_RuntimeError, "too many pings are waiting for their pongs");
    return NULL;
  }
  if (r == WSK_EINVAL) {
    PyErr_SetString(PyExc_ValueError, "ping data is limited to 125 bytes");
    return NULL;
  }
  if (r < 0) return call_failed(p, r);
  wskpy_after_call(p);
  return wskpy_finish(p, PyLong_FromLong(r));
}

PyObject *wskpy_pong(WskProto *p, PyObject *const *args, Py_ssize_t nargs) {
  if (nargs > 1) {
    PyErr_SetString(PyExc_TypeError, "_pong(data=b'')");
    return NULL;
  }
  if (!p->conn) return not_connected();
  payload_t pl = {"", 0, 1, {0}};
  if (nargs == 1 && payload_get(args[0], &pl) < 0) return NULL;
  int r = pl.len > 125 ? WSK_EINVAL : wsk_conn_pong(p->conn, pl.data, (size_t)pl.len);
  payload_release(&pl);
  if (r == WSK_EINVAL) {
    PyErr_SetString(PyExc_ValueError, "pong data is limited to 125 bytes");
    return NULL;
  }
  if (r < 0) return call_failed(p, r);
  wskpy_after_call(p);
  Py_INCREF(Py_None);
  return wskpy_finish(p, Py_None);
}

PyObject *wskpy_close(WskProto *p, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"code", "reason", NULL};
  PyObject *code_o = NULL;
  const char *reason = "";
  Py_ssize_t rlen = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "|Os#", kwlist, &code_o, &reason, &rlen)) return NULL;
  unsigned code = WSK_CLOSE_NORMAL;
  if (code_o == Py_None) {
    code = 0; /* a close frame without a code */
  } else if (code_o) {
    long c = PyLong_AsLong(code_o);
    if (c == -1 && PyErr_Occurred()) return NULL;
    if (c < 0 || c > 65535) c = 1; /* not sendable: rejected below */
    code = (unsigned)c;
  }
  if (!p->conn) {
    if (!p->transport) return not_connected();
    Py_RETURN_NONE;
  }
  int r = wsk_conn_close(p->conn, code, reason, (size_t)rlen);
  if (r == WSK_EINVAL) {
    PyErr_Format(PyExc_ValueError,
                 "invalid close: code %u is not sendable or the reason is over 123 bytes", code);
    return NULL;
  }
  if (r < 0) return call_failed(p, r);
  if (p->reading_paused && p->transport && !p->lost && !p->closing_transport) {
    /* closing: the peer's answer must be read even if the queue is full */
    p->reading_paused = 0;
    PyObject *rr = PyObject_CallMethodNoArgs(p->transport, wskpy_s.resume_reading);
    if (!rr)
      wskpy_stash_error(p);
    else
      Py_DECREF(rr);
  }
  wskpy_after_call(p);
  Py_INCREF(Py_None);
  return wskpy_finish(p, Py_None);
}

PyObject *wskpy_abort(WskProto *p, PyObject *unused) {
  (void)unused;
  if (p->conn && !p->closed) {
    wsk_conn_abort(p->conn, "aborted by the application");
    wskpy_after_call(p);
  }
  if (p->transport && !p->lost) {
    PyObject *r = PyObject_CallMethodNoArgs(p->transport, wskpy_s.abort);
    if (!r)
      wskpy_stash_error(p);
    else
      Py_DECREF(r);
  }
  Py_INCREF(Py_None);
  return wskpy_finish(p, Py_None);
}

/* _accept(subprotocol, headers): subprotocol None = the core's choice (the
 * first the client offered that we support), "" = none. */
PyObject *wskpy_accept(WskProto *p, PyObject *args) {
  PyObject *sp = Py_None, *headers = Py_None;
  if (!PyArg_ParseTuple(args, "|OO", &sp, &headers)) return NULL;
  if (!p->conn) return not_connected();
  PyObject *keep = PyList_New(0);
  if (!keep) return NULL;
  wsk_accept_t a;
  memset(&a, 0, sizeof a);
  wsk_http_header_t *h = NULL;
  Py_ssize_t nh = wskpy_headers_from_py(headers, keep, &h);
  if (nh < 0) goto fail;
  if (sp != Py_None) {
    if (!PyUnicode_Check(sp)) {
      PyErr_SetString(PyExc_TypeError, "subprotocol must be str or None");
      goto fail;
    }
    a.subprotocol = PyUnicode_AsUTF8(sp);
    if (!a.subprotocol) goto fail;
  }
  a.headers = h;
  a.nheaders = (size_t)nh;
  int r = wsk_conn_accept(p->conn, &a);
  PyMem_Free(h);
  h = NULL;
  Py_CLEAR(keep);
  if (r == WSK_ESTATE) Py_RETURN_FALSE; /* closed meanwhile, or the request was invalid */
  if (r == WSK_EINVAL) {
    PyErr_SetString(PyExc_ValueError,
                    "the client did not offer that subprotocol, or a header is invalid");
    return NULL;
  }
  if (r < 0) return wskpy_raise_code(r);
  p->keep_hs = 1; /* the 101 response is all the output there is now */
  wskpy_flush(p);
  wskpy_after_call(p);
  Py_INCREF(Py_True);
  return wskpy_finish(p, Py_True);
fail:
  PyMem_Free(h);
  Py_XDECREF(keep);
  return NULL;
}

/* _reject(status, headers, body): status 0 = what the core would answer. */
PyObject *wskpy_reject(WskProto *p, PyObject *args) {
  int status = 0;
  PyObject *headers = Py_None, *body = Py_None;
  if (!PyArg_ParseTuple(args, "|iOO", &status, &headers, &body)) return NULL;
  if (!p->conn) return not_connected();
  PyObject *keep = PyList_New(0);
  if (!keep) return NULL;
  wsk_http_header_t *h = NULL;
  Py_ssize_t nh = wskpy_headers_from_py(headers, keep, &h);
  payload_t pl = {NULL, 0, 1, {0}};
  int r;
  if (nh < 0 || (body != Py_None && payload_get(body, &pl) < 0)) {
    PyMem_Free(h);
    Py_DECREF(keep);
    return NULL;
  }
  r = wsk_conn_reject(p->conn, status, h, (size_t)nh, pl.data, (size_t)pl.len);
  if (body != Py_None) payload_release(&pl);
  PyMem_Free(h);
  Py_DECREF(keep);
  if (r == WSK_ESTATE) Py_RETURN_FALSE;
  if (r == WSK_EINVAL) {
    PyErr_SetString(PyExc_ValueError, "invalid status or header");
    return NULL;
  }
  if (r < 0) return wskpy_raise_code(r);
  p->keep_hs = 1;
  wskpy_flush(p);
  wskpy_after_call(p);
  Py_INCREF(Py_True);
  return wskpy_finish(p, Py_True);
}
