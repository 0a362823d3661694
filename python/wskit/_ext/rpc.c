/* Request/response correlation for Python: RpcTable wraps the core's
 * wsk_rpc_table_t (ids, O(1) resolve, deadlines in a heap, cancel_all),
 * and a Protocol that has one drives its deadlines with the connection's
 * own timer (timer.c asks wskpy_rpc_deadline, and calls wskpy_rpc_expire
 * when it fires), so a pending request costs no loop timer of its own.
 *
 * Each pending request holds one reference to its `ud` (any object but
 * None), handed back exactly once: by resolve, expire or cancel_all. The
 * JSON-RPC envelope is Python's (wskit/rpc.py): the core only correlates. */
#include "binding.h"

#include <string.h>

static int rpc_init(WskRpc *self, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {NULL};
  if (!PyArg_ParseTupleAndKeywords(args, kw, "", kwlist)) return -1;
  if (self->t) {
    PyErr_SetString(PyExc_RuntimeError, "RpcTable is already initialised");
    return -1;
  }
  self->t = wsk_rpc_new();
  if (!self->t) {
    PyErr_NoMemory();
    return -1;
  }
  return 0;
}

/* Collects (id, ud) pairs; the table's reference to ud moves into the list. */
typedef struct {
  PyObject *list;
  int failed;
} collect_t;

static void collect(void *ctx, uint64_t id, void *ud, int reason) {
  (void)reason;
  collect_t *c = ctx;
  PyObject *obj = ud;
  PyObject *pair = c->failed ? NULL : Py_BuildValue("(KO)", (unsigned long long)id, obj);
  if (!pair || PyList_Append(c->list, pair) < 0) c->failed = 1;
  Py_XDECREF(pair);
  Py_DECREF(obj);
}

/* Drop every pending ud without telling anyone (dealloc). */
static void drop(void *ctx, uint64_t id, void *ud, int reason) {
  (void)ctx;
  (void)id;
  (void)reason;
  Py_DECREF((PyObject *)ud);
}

static void rpc_dealloc(WskRpc *self) {
  if (self->t) {
    wsk_rpc_cancel_all(self->t, drop, NULL);
    wsk_rpc_free(self->t);
  }
  Py_TYPE(self)->tp_free((PyObject *)self);
}

static int ready(WskRpc *self) {
  if (self->t) return 1;
  PyErr_SetString(PyExc_RuntimeError, "RpcTable was not initialised");
  return 0;
}

static PyObject *rpc_next_id(WskRpc *self, PyObject *unused) {
  (void)unused;
  if (!ready(self)) return NULL;
  return PyLong_FromUnsignedLongLong(wsk_rpc_next_id(self->t));
}

/* add(id, deadline_ms, ud): deadline None or < 0 means none. */
int wskpy_rpc_add(WskRpc *self, uint64_t id, int64_t deadline, PyObject *ud) {
  if (!ready(self)) return -1;
  if (ud == Py_None) {
    PyErr_SetString(PyExc_TypeError, "a pending request's object cannot be None");
    return -1;
  }
  Py_INCREF(ud);
  int r = wsk_rpc_add(self->t, id, deadline, ud);
  if (r < 0) {
    Py_DECREF(ud);
    if (r == WSK_EEXIST)
      PyErr_Format(PyExc_KeyError, "request %llu is already pending", (unsigned long long)id);
    else
      wskpy_raise_code(r);
    return -1;
  }
  return 0;
}

static PyObject *rpc_add(WskRpc *self, PyObject *const *args, Py_ssize_t nargs) {
  if (nargs != 3) {
    PyErr_SetString(PyExc_TypeError, "add(id, deadline_ms, ud)");
    return NULL;
  }
  unsigned long long id = PyLong_AsUnsignedLongLong(args[0]);
  if (id == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
  long long deadline = -1;
  if (args[1] != Py_None) {
    deadline = PyLong_AsLongLong(args[1]);
    if (deadline == -1 && PyErr_Occurred()) return NULL;
  }
  if (wskpy_rpc_add(self, id, deadline < 0 ? -1 : deadline, args[2]) < 0) return NULL;
  Py_RETURN_NONE;
}

/* resolve(id) -> ud, or None when the id is not pending (late, duplicate,
 * unknown): the reply then answers nothing. */
static PyObject *rpc_resolve(WskRpc *self, PyObject *arg) {
  if (!ready(self)) return NULL;
  unsigned long long id = PyLong_AsUnsignedLongLong(arg);
  if (id == (unsigned long long)-1 && PyErr_Occurred()) {
    /* a negative or huge id is simply not one of ours */
    if (!PyErr_ExceptionMatches(PyExc_OverflowError)) return NULL;
    PyErr_Clear();
    Py_RETURN_NONE;
  }
  void *ud = NULL;
  if (wsk_rpc_resolve(self->t, id, &ud) < 0) Py_RETURN_NONE;
  return (PyObject *)ud; /* the table's reference becomes the caller's */
}

PyObject *wskpy_rpc_expire(WskRpc *self, int64_t now) {
  collect_t c = {PyList_New(0), 0};
  if (!c.list) return NULL;
  wsk_rpc_expire(self->t, now, collect, &c);
  if (c.failed) {
    Py_DECREF(c.list);
    if (!PyErr_Occurred()) PyErr_NoMemory();
    return NULL;
  }
  return c.list;
}

static PyObject *rpc_expire(WskRpc *self, PyObject *arg) {
  if (!ready(self)) return NULL;
  long long now = PyLong_AsLongLong(arg);
  if (now == -1 && PyErr_Occurred()) return NULL;
  return wskpy_rpc_expire(self, now);
}

static PyObject *rpc_cancel_all(WskRpc *self, PyObject *unused) {
  (void)unused;
  if (!ready(self)) return NULL;
  collect_t c = {PyList_New(0), 0};
  if (!c.list) return NULL;
  wsk_rpc_cancel_all(self->t, collect, &c);
  if (c.failed) {
    Py_DECREF(c.list);
    if (!PyErr_Occurred()) PyErr_NoMemory();
    return NULL;
  }
  return c.list;
}

static PyObject *rpc_get_next_deadline(WskRpc *self, void *c) {
  (void)c;
  return PyLong_FromLongLong(self->t ? wsk_rpc_next_deadline(self->t) : -1);
}

static Py_ssize_t rpc_len(WskRpc *self) { return self->t ? (Py_ssize_t)wsk_rpc_count(self->t) : 0; }

static PyMethodDef rpc_methods[] = {
    {"next_id", (PyCFunction)rpc_next_id, METH_NOARGS,
     "next_id() -> int: a fresh id (1, 2, 3 ...) that is not pending"},
    {"add", (PyCFunction)(void (*)(void))rpc_add, METH_FASTCALL,
     "add(id, deadline_ms, ud): a pending request; deadline None or < 0: none.\n"
     "KeyError when the id is already pending."},
    {"resolve", (PyCFunction)rpc_resolve, METH_O,
     "resolve(id) -> ud, or None when that id is not pending"},
    {"expire", (PyCFunction)rpc_expire, METH_O,
     "expire(now_ms) -> [(id, ud)]: end the requests whose deadline is <= now, earliest first"},
    {"cancel_all", (PyCFunction)rpc_cancel_all, METH_NOARGS,
     "cancel_all() -> [(id, ud)]: end every pending request"},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef rpc_getset[] = {
    {"next_deadline", (getter)rpc_get_next_deadline, NULL, "earliest deadline in ms, -1 if none",
     NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PySequenceMethods rpc_as_sequence = {.sq_length = (lenfunc)rpc_len};

PyTypeObject WskRpc_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "wskit._core.RpcTable",
    .tp_basicsize = sizeof(WskRpc),
    .tp_dealloc = (destructor)rpc_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "RpcTable(): pending requests by 64-bit id with deadlines in ms (the core's\n"
              "wsk_rpc_table_t). Each request ends once: resolve, expire or cancel_all.",
    .tp_as_sequence = &rpc_as_sequence,
    .tp_methods = rpc_methods,
    .tp_getset = rpc_getset,
    .tp_init = (initproc)rpc_init,
    .tp_new = PyType_GenericNew,
};

/* ---- the Protocol's side ---- */

/* _rpc_enable(): give the connection a table (once) and route text
 * messages that look like JSON-RPC through _on_rpc. Returns the table. */
PyObject *wskpy_rpc_enable(WskProto *p, PyObject *unused) {
  (void)unused;
  if (!p->rpc) {
    WskRpc *t = (WskRpc *)PyObject_CallNoArgs((PyObject *)&WskRpc_Type);
    if (!t) return NULL;
    p->rpc = t;
  }
  p->rpc_filter = 1;
  Py_INCREF(p->rpc);
  return (PyObject *)p->rpc;
}

/* _rpc_add(ud, timeout) -> id: a fresh id, pending until its reply, the
 * deadline (now + timeout seconds; None: none) or cancel_all. */
PyObject *wskpy_rpc_add_method(WskProto *p, PyObject *const *args, Py_ssize_t nargs) {
  if (nargs != 2) {
    PyErr_SetString(PyExc_TypeError, "_rpc_add(ud, timeout)");
    return NULL;
  }
  if (!p->rpc) {
    PyErr_SetString(PyExc_RuntimeError, "request/response is not enabled (_rpc_enable)");
    return NULL;
  }
  int64_t deadline = -1;
  if (args[1] != Py_None) {
    double s = PyFloat_AsDouble(args[1]);
    if (s == -1.0 && PyErr_Occurred()) return NULL;
    if (!(s >= 0) || s > 1e9) {
      PyErr_SetString(PyExc_ValueError, "timeout must be None or between 0 and 1e9 seconds");
      return NULL;
    }
    deadline = wskpy_now(p) + (int64_t)(s * 1000.0 + 0.5);
  }
  uint64_t id = wsk_rpc_next_id(p->rpc->t);
  if (wskpy_rpc_add(p->rpc, id, deadline, args[0]) < 0) return NULL;
  if (deadline >= 0) wskpy_rearm(p);
  return wskpy_finish(p, PyLong_FromUnsignedLongLong(id));
}

int64_t wskpy_rpc_deadline(WskProto *p) {
  return p->rpc && p->rpc->t ? wsk_rpc_next_deadline(p->rpc->t) : -1;
}

/* The timer fired: end what is due and tell Python, once per batch. */
void wskpy_rpc_timer(WskProto *p, int64_t now) {
  if (!p->rpc || !p->rpc->t || wsk_rpc_next_deadline(p->rpc->t) < 0 ||
      wsk_rpc_next_deadline(p->rpc->t) > now)
    return;
  PyObject *list = wskpy_rpc_expire(p->rpc, now);
  PyObject *r = list ? PyObject_CallMethodOneArg((PyObject *)p, wskpy_s.on_rpc_expired, list)
                     : NULL;
  Py_XDECREF(list);
  if (!r)
    wskpy_stash_error(p);
  else
    Py_DECREF(r);
}

/* Does a text message look like JSON-RPC: its first non-blank byte is {
 * or [ and "jsonrpc" (quotes included) appears in it. Only those cost a
 * Python call while request/response is enabled. */
int wskpy_rpc_candidate(const uint8_t *d, size_t n) {
  static const char key[] = "\"jsonrpc\"";
  const size_t klen = sizeof key - 1;
  size_t i = 0;
  while (i < n && (d[i] == ' ' || d[i] == '\t' || d[i] == '\n' || d[i] == '\r')) i++;
  if (i == n || (d[i] != '{' && d[i] != '[')) return 0;
  for (; i + klen <= n; i++) {
    const uint8_t *q = memchr(d + i, '"', n - i - klen + 1);
    if (!q) return 0;
    i = (size_t)(q - d);
    if (memcmp(q, key, klen) == 0) return 1;
  }
  return 0;
}
