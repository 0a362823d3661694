/* RecvBuffer: the receive buffer a thread's connections share (one per
 * thread, made by wskit/_buffer.py).
 *
 * A connection feeds the core from it and pulls events until the core has
 * none, after which the core has copied what it keeps. If the application
 * pauses reading mid-way (its queue is full), the core still points into
 * the buffer: the connection then takes the buffer for itself
 * (wskpy_rbuf_take) and the thread's connections go on with a fresh one.
 * When the connection has drained its input it gives the buffer back as a
 * spare (wskpy_rbuf_give), so a stall costs an allocation at most once. */
#include "binding.h"

static PyObject *new_view(Py_ssize_t size) {
  PyObject *ba = PyByteArray_FromStringAndSize(NULL, size);
  if (!ba) return NULL;
  PyObject *mv = PyMemoryView_FromObject(ba); /* pins the bytearray: it cannot resize */
  Py_DECREF(ba);
  return mv;
}

static int set_current(WskRecvBuf *rb, PyObject *view) {
  Py_buffer b;
  if (PyObject_GetBuffer(view, &b, PyBUF_WRITABLE) < 0) return -1;
  rb->ptr = b.buf;
  rb->len = b.len;
  PyBuffer_Release(&b);
  Py_XSETREF(rb->view, view);
  return 0;
}

static int rbuf_init(WskRecvBuf *rb, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"size", NULL};
  Py_ssize_t size = 256 * 1024;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "|n", kwlist, &size)) return -1;
  if (size < 1024) {
    PyErr_SetString(PyExc_ValueError, "receive buffer size must be at least 1024");
    return -1;
  }
  PyObject *v = new_view(size);
  if (!v || set_current(rb, v) < 0) {
    Py_XDECREF(v);
    return -1;
  }
  rb->size = size;
  return 0;
}

PyObject *wskpy_rbuf_take(WskRecvBuf *rb, uint8_t **ptr, Py_ssize_t *len) {
  PyObject *next = rb->spare;
  rb->spare = NULL;
  if (!next && !(next = new_view(rb->size))) return NULL;
  PyObject *taken = rb->view;
  *ptr = rb->ptr;
  *len = rb->len;
  Py_INCREF(taken);
  if (set_current(rb, next) < 0) {
    Py_DECREF(next);
    Py_DECREF(taken);
    return NULL;
  }
  return taken;
}

void wskpy_rbuf_give(WskRecvBuf *rb, PyObject *view) {
  if (!rb->spare && view != rb->view)
    rb->spare = view; /* steals */
  else
    Py_DECREF(view);
}

static void rbuf_dealloc(WskRecvBuf *rb) {
  Py_XDECREF(rb->view);
  Py_XDECREF(rb->spare);
  Py_TYPE(rb)->tp_free((PyObject *)rb);
}

static PyObject *rbuf_get_size(WskRecvBuf *rb, void *c) {
  (void)c;
  return PyLong_FromSsize_t(rb->size);
}

static PyObject *rbuf_get_has_spare(WskRecvBuf *rb, void *c) {
  (void)c;
  return PyBool_FromLong(rb->spare != NULL);
}

static PyGetSetDef rbuf_getset[] = {
    {"size", (getter)rbuf_get_size, NULL, "bytes per read", NULL},
    {"_has_spare", (getter)rbuf_get_has_spare, NULL, "a buffer given back after a stall", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

PyTypeObject WskRecvBuf_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "wskit._core.RecvBuffer",
    .tp_basicsize = sizeof(WskRecvBuf),
    .tp_dealloc = (destructor)rbuf_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "RecvBuffer(size=262144): the receive buffer one thread's connections share.",
    .tp_getset = rbuf_getset,
    .tp_init = (initproc)rbuf_init,
    .tp_new = PyType_GenericNew,
};
