/* Guards of a server: first-message authentication, the message rate's
 * error reply, per-connection counts, per-address connection counts and
 * request targets fit for logs. The decisions are the core's (conn.h
 * auth_timeout_ms / rate, ratelimit.h, http.h); this file only exposes them.
 *
 *   Protocol._authenticate(ok, reason=None)  wsk_conn_authenticate
 *   Protocol._authenticated                  wsk_conn_authenticated
 *   Protocol.stats                           wsk_conn_stats as a dict
 *   IpLimit(max_per_addr)                    wsk_iplimit_t
 *   redact_target(target) -> str             wsk_http_redact_target
 *
 * pump.c calls wskpy_rate_limited(p, ev) for WSK_EV_RATE_LIMITED and
 * wskpy_auth_message for the message that awaits a judgement. */
#include "binding.h"

#include <string.h>

/* ---- first-message authentication ---- */

/* _on_auth(message): the message the core holds everything else behind.
 * A message that did not arrive whole (streaming) cannot be judged: it
 * fails the authentication. */
PyObject *wskpy_auth_message(WskProto *p, PyObject *message) {
  static PyObject *name;
  if (!message) {
    (void)wsk_conn_authenticate(p->conn, 0, "authentication message must arrive whole");
    return Py_NewRef(Py_None);
  }
  if (!name && !(name = PyUnicode_InternFromString("_on_auth"))) return NULL;
  PyObject *args[2] = {(PyObject *)p, message};
  return PyObject_VectorcallMethod(name, args, 2 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
}

PyObject *wskpy_authenticate(WskProto *p, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"ok", "reason", NULL};
  int ok = 0;
  const char *reason = NULL;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "p|z", kwlist, &ok, &reason)) return NULL;
  if (reason && strlen(reason) > 123) {
    PyErr_SetString(PyExc_ValueError, "a close reason is at most 123 bytes");
    return NULL;
  }
  if (!p->conn || p->closed) Py_RETURN_FALSE;
  int r = wsk_conn_authenticate(p->conn, ok, reason);
  if (r == WSK_ESTATE) Py_RETURN_FALSE; /* timed out or closed meanwhile: nothing awaited */
  if (r < 0) return wskpy_raise_code(r);
  wskpy_after_call(p); /* the messages held behind the judgement, or the close */
  Py_INCREF(Py_True);
  return wskpy_finish(p, Py_True);
}

PyObject *wskpy_get_authenticated(WskProto *p, void *c) {
  (void)c;
  return PyBool_FromLong(p->conn ? wsk_conn_authenticated(p->conn) : 0);
}

PyObject *wskpy_get_stats(WskProto *p, void *c) {
  (void)c;
  wsk_conn_stats_t s;
  memset(&s, 0, sizeof s);
  if (p->conn) wsk_conn_stats(p->conn, &s);
  return Py_BuildValue("{s:K,s:K,s:K,s:K,s:K}", "messages_in", (unsigned long long)s.messages_in,
                       "messages_out", (unsigned long long)s.messages_out, "bytes_in",
                       (unsigned long long)s.bytes_in, "bytes_out",
                       (unsigned long long)s.bytes_out, "rate_limited",
                       (unsigned long long)s.rate_limited);
}

/* ---- message rate, policy "error" ---- */

/* The reply is built in C by the core's channel protocol builder: no
 * Python runs per message over the rate (that is what a flood would cost
 * us). For a text message it is wsk_chan_build_refusal, which copies the
 * refused request's "id" and "channel" when it is a protocol frame (so a
 * channel client's publish gets its answer, not a timeout); otherwise, and
 * for binary messages, the same error without them. When the peer does not
 * read our replies (over write_limit) none is added: the message was
 * refused either way. */
#define RATE_CODE "rate_limited"
#define RATE_TEXT "message rate exceeded"

void wskpy_rate_limited(WskProto *p, const wsk_event_t *ev) {
  static wsk_buf_t plain, scratch;
  if (wsk_conn_over_limit(p->conn) || p->writing_paused) return;
  if (ev->opcode == WSK_OP_TEXT && ev->fin) { /* whole: it may name an id */
    int r = wsk_chan_build_refusal(&scratch, RATE_CODE, RATE_TEXT, ev->data, ev->len);
    if (r >= 0)
      (void)wsk_conn_send(p->conn, WSK_OP_TEXT, scratch.data + scratch.off,
                          wsk_buf_pending(&scratch));
    wsk_buf_consume(&scratch, wsk_buf_pending(&scratch), 4096); /* no big buffer kept */
    if (r >= 0) return;
  }
  if (!plain.len && wsk_chan_build_error(&plain, RATE_CODE, RATE_TEXT, NULL, 0, NULL, 0) < 0)
    return;
  (void)wsk_conn_send(p->conn, WSK_OP_TEXT, plain.data + plain.off, wsk_buf_pending(&plain));
}

/* ---- request targets for logs ---- */

static PyObject *redact_target(PyObject *m, PyObject *arg) {
  (void)m;
  Py_ssize_t n;
  const char *t = PyUnicode_AsUTF8AndSize(arg, &n);
  if (!t) return NULL;
  wsk_buf_t out;
  memset(&out, 0, sizeof out);
  int r = wsk_http_redact_target(&out, t, (size_t)n);
  if (r < 0) {
    wsk_buf_free(&out);
    return wskpy_raise_code(r);
  }
  PyObject *s = PyUnicode_DecodeUTF8((const char *)out.data + out.off,
                                     (Py_ssize_t)wsk_buf_pending(&out), "replace");
  wsk_buf_free(&out);
  return s;
}

PyMethodDef wskpy_guard_functions[] = {
    {"redact_target", redact_target, METH_O,
     "redact_target(target) -> str: the request target with the values of credential-like\n"
     "query parameters (token, access_token, key, password, ...) replaced by ***"},
    {NULL, NULL, 0, NULL}};

/* ---- connections per address ---- */

typedef struct {
  PyObject_HEAD
  wsk_iplimit_t *l;
  Py_ssize_t max;
} WskIpLimit;

static int iplimit_init(WskIpLimit *self, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"max_per_addr", NULL};
  Py_ssize_t max = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "|n", kwlist, &max)) return -1;
  if (max < 0) {
    PyErr_SetString(PyExc_ValueError, "max_per_addr must be >= 0 (0: no limit)");
    return -1;
  }
  if (self->l) {
    PyErr_SetString(PyExc_RuntimeError, "IpLimit is already initialized");
    return -1;
  }
  self->l = wsk_iplimit_new((size_t)max);
  if (!self->l) {
    PyErr_NoMemory();
    return -1;
  }
  self->max = max;
  return 0;
}

static void iplimit_dealloc(WskIpLimit *self) {
  if (self->l) wsk_iplimit_free(self->l);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

static const char *addr_of(WskIpLimit *self, PyObject *addr, Py_ssize_t *n) {
  if (!self->l) {
    PyErr_SetString(PyExc_RuntimeError, "IpLimit is not initialized");
    return NULL;
  }
  return PyUnicode_AsUTF8AndSize(addr, n);
}

static PyObject *iplimit_acquire(WskIpLimit *self, PyObject *addr) {
  Py_ssize_t n;
  const char *a = addr_of(self, addr, &n);
  if (!a) return NULL;
  int r = wsk_iplimit_acquire(self->l, a, (size_t)n);
  if (r < 0) return wskpy_raise_code(r);
  return PyBool_FromLong(r);
}

static PyObject *iplimit_release(WskIpLimit *self, PyObject *addr) {
  Py_ssize_t n;
  const char *a = addr_of(self, addr, &n);
  if (!a) return NULL;
  wsk_iplimit_release(self->l, a, (size_t)n);
  Py_RETURN_NONE;
}

static PyObject *iplimit_count(WskIpLimit *self, PyObject *addr) {
  Py_ssize_t n;
  const char *a = addr_of(self, addr, &n);
  if (!a) return NULL;
  return PyLong_FromSize_t(wsk_iplimit_count(self->l, a, (size_t)n));
}

static Py_ssize_t iplimit_len(WskIpLimit *self) {
  return self->l ? (Py_ssize_t)wsk_iplimit_size(self->l) : 0;
}

static PyObject *iplimit_get_max(WskIpLimit *self, void *c) {
  (void)c;
  return PyLong_FromSsize_t(self->max);
}

static PyMethodDef iplimit_methods[] = {
    {"acquire", (PyCFunction)iplimit_acquire, METH_O,
     "acquire(addr) -> bool: count one more connection from addr; False (not counted)\n"
     "when addr is at its limit"},
    {"release", (PyCFunction)iplimit_release, METH_O, "release(addr): one connection ended"},
    {"count", (PyCFunction)iplimit_count, METH_O, "count(addr) -> int: open connections"},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef iplimit_getset[] = {
    {"max_per_addr", (getter)iplimit_get_max, NULL, "the limit (0: none)", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PySequenceMethods iplimit_seq = {.sq_length = (lenfunc)iplimit_len};

PyTypeObject WskIpLimit_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "wskit._core.IpLimit",
    .tp_basicsize = sizeof(WskIpLimit),
    .tp_dealloc = (destructor)iplimit_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "IpLimit(max_per_addr=0): open connections per client address (wsk_iplimit_t);\n"
              "len() is the number of addresses with at least one.",
    .tp_as_sequence = &iplimit_seq,
    .tp_methods = iplimit_methods,
    .tp_getset = iplimit_getset,
    .tp_init = (initproc)iplimit_init,
    .tp_new = PyType_GenericNew,
};
