/* Fan-out: one message framed once for many connections.
 *
 *   broadcast(connections, message) -> [skipped]   (wsk_broadcast_new once,
 *                                                   wsk_conn_send_broadcast each)
 *   Channels: the core's channel registry (wsk_channels_*), one per server,
 *             with publish(name, message) -> [skipped]
 *
 * A connection that cannot take the message now is skipped, never
 * buffered for: not open, a fragmented message of its own on the way, or
 * over its write limit (the transport paused writing, or the core's output
 * is over write_limit). The caller gets the skipped ones back to drop or
 * retry as it likes. */
#include "binding.h"

#include <string.h>

static unsigned long long broadcasts_made; /* wsk_broadcast_new calls: the tests check "once" */

static wsk_broadcast_t *frame_once(PyObject *message) {
  const char *data;
  Py_ssize_t len;
  wsk_opcode_t op;
  Py_buffer view;
  int is_text = PyUnicode_Check(message);
  if (is_text) {
    data = PyUnicode_AsUTF8AndSize(message, &len);
    if (!data) return NULL;
    op = WSK_OP_TEXT;
  } else {
    if (PyObject_GetBuffer(message, &view, PyBUF_SIMPLE) < 0) {
      PyErr_Format(PyExc_TypeError, "message must be str or bytes-like, not %.100s",
                   Py_TYPE(message)->tp_name);
      return NULL;
    }
    data = view.buf;
    len = view.len;
    op = WSK_OP_BINARY;
  }
  int err = 0;
  wsk_broadcast_t *b = wsk_broadcast_new(op, data, (size_t)len, &err);
  if (!is_text) PyBuffer_Release(&view);
  if (!b) {
    wskpy_raise_code(err);
    return NULL;
  }
  broadcasts_made++;
  return b;
}

/* Send b to each of conns[0..n) (strong references held by the caller).
 * Appends the ones skipped to `skipped`. Returns 0, or -1 with an
 * exception (a non-Protocol item, or KeyboardInterrupt from a hook). */
static int send_each(wsk_broadcast_t *b, PyObject *const *conns, Py_ssize_t n, PyObject *skipped) {
  for (Py_ssize_t i = 0; i < n; i++) {
    PyObject *o = conns[i];
    if (!PyObject_TypeCheck(o, &WskProto_Type)) {
      PyErr_Format(PyExc_TypeError, "broadcast to a %.100s, not a wskit connection",
                   Py_TYPE(o)->tp_name);
      return -1;
    }
    WskProto *p = (WskProto *)o;
    int r = WSK_ECLOSED;
    if (p->conn && !p->closed && !p->lost)
      r = p->writing_paused ? WSK_EBUSY : wsk_conn_send_broadcast(p->conn, b);
    if (r < 0) {
      if (r == WSK_ENOMEM) {
        PyErr_NoMemory();
        return -1;
      }
      if (PyList_Append(skipped, o) < 0) return -1;
      continue;
    }
    wskpy_after_call(p);
    PyObject *ok = wskpy_finish(p, Py_NewRef(Py_None));
    if (!ok) return -1;
    Py_DECREF(ok);
  }
  return 0;
}

static PyObject *broadcast(PyObject *m, PyObject *const *args, Py_ssize_t nargs) {
  (void)m;
  if (nargs != 2) {
    PyErr_SetString(PyExc_TypeError, "broadcast(connections, message)");
    return NULL;
  }
  /* a snapshot: hooks run while sending may change the caller's set */
  PyObject *seq = PySequence_Fast(args[0], "connections must be iterable");
  if (!seq) return NULL;
  PyObject *skipped = PyList_New(0);
  wsk_broadcast_t *b = skipped ? frame_once(args[1]) : NULL;
  if (!b) {
    Py_DECREF(seq);
    Py_XDECREF(skipped);
    return NULL;
  }
  int r = send_each(b, PySequence_Fast_ITEMS(seq), PySequence_Fast_GET_SIZE(seq), skipped);
  wsk_broadcast_unref(b);
  Py_DECREF(seq);
  if (r < 0) {
    Py_DECREF(skipped);
    return NULL;
  }
  return skipped;
}

static PyObject *broadcast_count(PyObject *m, PyObject *unused) {
  (void)m;
  (void)unused;
  return PyLong_FromUnsignedLongLong(broadcasts_made);
}

PyMethodDef wskpy_fanout_functions[] = {
    {"broadcast", (PyCFunction)(void (*)(void))broadcast, METH_FASTCALL,
     "broadcast(connections, message) -> list: frame message once (str: text, bytes-like:\n"
     "binary) and send it to each connection; returns the connections skipped (not open,\n"
     "or over their write limit)."},
    {"_broadcast_count", broadcast_count, METH_NOARGS,
     "_broadcast_count() -> int: messages framed by broadcast/publish so far"},
    {NULL, NULL, 0, NULL}};

/* ---- Channels ---- */

typedef struct {
  PyObject_HEAD
  wsk_channels_t *r;
  PyObject *held; /* set: the connections with at least one subscription. The
                     registry stores bare pointers; these references keep
                     them valid until the connection is dropped. */
} WskChannels;

static int ch_init(WskChannels *self, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {NULL};
  if (!PyArg_ParseTupleAndKeywords(args, kw, "", kwlist)) return -1;
  if (self->r) {
    PyErr_SetString(PyExc_RuntimeError, "Channels is already initialised");
    return -1;
  }
  self->r = wsk_channels_new();
  self->held = PySet_New(NULL);
  if (!self->r || !self->held) {
    if (!PyErr_Occurred()) PyErr_NoMemory();
    return -1;
  }
  return 0;
}

static int ch_traverse(WskChannels *self, visitproc visit, void *arg) {
  Py_VISIT(self->held);
  return 0;
}

/* Drop every connection from the registry, then our references to them. */
static int ch_clear(WskChannels *self) {
  if (self->held && self->r) {
    PyObject *it = PyObject_GetIter(self->held), *o;
    if (it) {
      while ((o = PyIter_Next(it))) {
        wsk_channels_drop(self->r, o);
        Py_DECREF(o);
      }
      Py_DECREF(it);
    }
    PyErr_Clear();
  }
  Py_CLEAR(self->held);
  return 0;
}

static void ch_dealloc(WskChannels *self) {
  PyObject_GC_UnTrack(self);
  ch_clear(self);
  if (self->r) wsk_channels_free(self->r);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

static int ch_ready(WskChannels *self) {
  if (self->r && self->held) return 1;
  PyErr_SetString(PyExc_RuntimeError, "Channels is not initialised");
  return 0;
}

static const char *ch_name(PyObject *o, Py_ssize_t *len) {
  if (!PyUnicode_Check(o)) {
    PyErr_Format(PyExc_TypeError, "channel name must be str, not %.100s", Py_TYPE(o)->tp_name);
    return NULL;
  }
  const char *s = PyUnicode_AsUTF8AndSize(o, len);
  if (s && (*len == 0 || *len > WSK_CHANNEL_MAX_NAME)) {
    PyErr_Format(PyExc_ValueError, "channel name must be 1 to %d bytes of UTF-8",
                 WSK_CHANNEL_MAX_NAME);
    return NULL;
  }
  return s;
}

static int ch_args(WskChannels *self, PyObject *const *args, Py_ssize_t nargs, const char *usage,
                   const char **name, Py_ssize_t *len) {
  if (nargs != 2) {
    PyErr_SetString(PyExc_TypeError, usage);
    return -1;
  }
  if (!ch_ready(self)) return -1;
  if (!PyObject_TypeCheck(args[1], &WskProto_Type)) {
    PyErr_Format(PyExc_TypeError, "channels hold wskit connections, not %.100s",
                 Py_TYPE(args[1])->tp_name);
    return -1;
  }
  *name = ch_name(args[0], len);
  return *name ? 0 : -1;
}

static PyObject *ch_subscribe(WskChannels *self, PyObject *const *args, Py_ssize_t nargs) {
  const char *name;
  Py_ssize_t len;
  if (ch_args(self, args, nargs, "subscribe(name, connection)", &name, &len) < 0) return NULL;
  /* hold the reference first, so the registry never has a pointer we do not */
  if (PySet_Add(self->held, args[1]) < 0) return NULL;
  int r = wsk_channels_subscribe(self->r, name, (size_t)len, args[1]);
  if (r < 0) {
    if (wsk_channels_of(self->r, args[1], NULL, NULL) == 0) PySet_Discard(self->held, args[1]);
    return wskpy_raise_code(r);
  }
  return PyBool_FromLong(r);
}

static PyObject *ch_unsubscribe(WskChannels *self, PyObject *const *args, Py_ssize_t nargs) {
  const char *name;
  Py_ssize_t len;
  if (ch_args(self, args, nargs, "unsubscribe(name, connection)", &name, &len) < 0) return NULL;
  int r = wsk_channels_unsubscribe(self->r, name, (size_t)len, args[1]);
  if (r < 0) return wskpy_raise_code(r);
  if (r && wsk_channels_of(self->r, args[1], NULL, NULL) == 0 &&
      PySet_Discard(self->held, args[1]) < 0)
    return NULL;
  return PyBool_FromLong(r);
}

static PyObject *ch_drop(WskChannels *self, PyObject *conn) {
  if (!ch_ready(self)) return NULL;
  size_t n = wsk_channels_drop(self->r, conn);
  if (PySet_Discard(self->held, conn) < 0) return NULL;
  return PyLong_FromSize_t(n);
}

static PyObject *ch_is_member(WskChannels *self, PyObject *const *args, Py_ssize_t nargs) {
  const char *name;
  Py_ssize_t len;
  if (ch_args(self, args, nargs, "is_member(name, connection)", &name, &len) < 0) return NULL;
  return PyBool_FromLong(wsk_channels_is_member(self->r, name, (size_t)len, args[1]));
}

static PyObject *ch_count(WskChannels *self, PyObject *arg) {
  Py_ssize_t len;
  if (!ch_ready(self)) return NULL;
  const char *name = ch_name(arg, &len);
  if (!name) return NULL;
  return PyLong_FromSize_t(wsk_channels_count(self->r, name, (size_t)len));
}

/* The members of a channel as a C array of new references (*n of them). */
static PyObject **snapshot(WskChannels *self, const char *name, Py_ssize_t len, Py_ssize_t *n) {
  size_t total = wsk_channels_count(self->r, name, (size_t)len);
  *n = 0;
  PyObject **arr = PyMem_Malloc((total ? total : 1) * sizeof *arr);
  if (!arr) {
    PyErr_NoMemory();
    return NULL;
  }
  size_t got = wsk_channels_members(self->r, name, (size_t)len, (void **)arr, total);
  if (got > total) got = total;
  for (size_t i = 0; i < got; i++) Py_INCREF(arr[i]);
  *n = (Py_ssize_t)got;
  return arr;
}

static void release(PyObject **arr, Py_ssize_t n) {
  for (Py_ssize_t i = 0; i < n; i++) Py_DECREF(arr[i]);
  PyMem_Free(arr);
}

static PyObject *ch_members(WskChannels *self, PyObject *arg) {
  Py_ssize_t len, n;
  if (!ch_ready(self)) return NULL;
  const char *name = ch_name(arg, &len);
  if (!name) return NULL;
  PyObject **arr = snapshot(self, name, len, &n);
  if (!arr) return NULL;
  PyObject *list = PyList_New(n);
  if (list)
    for (Py_ssize_t i = 0; i < n; i++) PyList_SET_ITEM(list, i, Py_NewRef(arr[i]));
  release(arr, n);
  return list;
}

typedef struct {
  PyObject *list;
  int failed;
} names_t;

static void add_name(void *ud, const char *name, size_t len) {
  names_t *c = ud;
  if (c->failed) return;
  PyObject *s = PyUnicode_DecodeUTF8(name, (Py_ssize_t)len, "surrogateescape");
  if (!s || PyList_Append(c->list, s) < 0) c->failed = 1;
  Py_XDECREF(s);
}

static PyObject *ch_channels_of(WskChannels *self, PyObject *conn) {
  if (!ch_ready(self)) return NULL;
  names_t c = {PyList_New(0), 0};
  if (!c.list) return NULL;
  wsk_channels_of(self->r, conn, add_name, &c);
  if (c.failed) {
    Py_CLEAR(c.list);
  } else if (PyList_Sort(c.list) < 0) { /* a stable order for users and tests */
    Py_CLEAR(c.list);
  }
  return c.list;
}

static PyObject *ch_publish(WskChannels *self, PyObject *const *args, Py_ssize_t nargs) {
  if (nargs != 2) {
    PyErr_SetString(PyExc_TypeError, "publish(name, message)");
    return NULL;
  }
  Py_ssize_t len, n;
  if (!ch_ready(self)) return NULL;
  const char *name = ch_name(args[0], &len);
  if (!name) return NULL;
  PyObject *skipped = PyList_New(0);
  if (!skipped) return NULL;
  if (wsk_channels_count(self->r, name, (size_t)len) == 0) return skipped; /* nothing to frame */
  wsk_broadcast_t *b = frame_once(args[1]);
  if (!b) {
    Py_DECREF(skipped);
    return NULL;
  }
  /* a snapshot with references: hooks run while sending may unsubscribe */
  PyObject **arr = snapshot(self, name, len, &n);
  int r = arr ? send_each(b, arr, n, skipped) : -1;
  if (arr) release(arr, n);
  wsk_broadcast_unref(b);
  if (r < 0) Py_CLEAR(skipped);
  return skipped;
}

static Py_ssize_t ch_len(WskChannels *self) {
  return self->r ? (Py_ssize_t)wsk_channels_size(self->r) : 0;
}

static PyMethodDef ch_methods[] = {
    {"subscribe", (PyCFunction)(void (*)(void))ch_subscribe, METH_FASTCALL,
     "subscribe(name, connection) -> bool: True when added, False when already there"},
    {"unsubscribe", (PyCFunction)(void (*)(void))ch_unsubscribe, METH_FASTCALL,
     "unsubscribe(name, connection) -> bool: True when removed"},
    {"drop", (PyCFunction)ch_drop, METH_O,
     "drop(connection) -> int: leave every channel (when it closes); how many"},
    {"is_member", (PyCFunction)(void (*)(void))ch_is_member, METH_FASTCALL,
     "is_member(name, connection) -> bool"},
    {"count", (PyCFunction)ch_count, METH_O, "count(name) -> int: subscribers of a channel"},
    {"members", (PyCFunction)ch_members, METH_O, "members(name) -> list of connections"},
    {"channels_of", (PyCFunction)ch_channels_of, METH_O,
     "channels_of(connection) -> sorted list of channel names"},
    {"publish", (PyCFunction)(void (*)(void))ch_publish, METH_FASTCALL,
     "publish(name, message) -> list: broadcast to the channel's subscribers; returns\n"
     "the ones skipped (not open, or over their write limit)"},
    {NULL, NULL, 0, NULL}};

static PySequenceMethods ch_as_sequence = {.sq_length = (lenfunc)ch_len};

PyTypeObject WskChannels_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "wskit._core.Channels",
    .tp_basicsize = sizeof(WskChannels),
    .tp_dealloc = (destructor)ch_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Channels(): named channels of connections (the core's wsk_channels_t);\n"
              "len() is the number of channels with at least one subscriber.",
    .tp_traverse = (traverseproc)ch_traverse,
    .tp_clear = (inquiry)ch_clear,
    .tp_as_sequence = &ch_as_sequence,
    .tp_methods = ch_methods,
    .tp_init = (initproc)ch_init,
    .tp_new = PyType_GenericNew,
};
