/* SseParser: the core's event-stream parser (sse.h, wsk_sse_parser_t) for
 * wskit.sse_connect(): body bytes in (chunked coding removed when asked),
 * whole events out. Event ids are split by chanproto.c's sse_parse_id;
 * the socket, the response head (proxy_parse_answer's HTTP parser) and
 * the reconnect loop are wskit/sse_client.py's. */
#include "binding.h"

#include <string.h>

typedef struct {
  PyObject_HEAD
  wsk_sse_parser_t *p;
  int broken; /* a feed failed: the parser is unusable */
} WskSseParser;

static PyObject *sp_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"max_event", "chunked", NULL};
  Py_ssize_t max_event = 0;
  int chunked = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "|np:SseParser", kwlist, &max_event, &chunked))
    return NULL;
  if (max_event < 0) {
    PyErr_SetString(PyExc_ValueError, "max_event must be >= 0");
    return NULL;
  }
  WskSseParser *self = (WskSseParser *)type->tp_alloc(type, 0);
  if (!self) return NULL;
  self->p = wsk_sse_parser_new((size_t)max_event, chunked);
  if (!self->p) {
    Py_DECREF(self);
    return PyErr_NoMemory();
  }
  return (PyObject *)self;
}

static void sp_dealloc(WskSseParser *self) {
  if (self->p) wsk_sse_parser_free(self->p);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

/* feed(data): ValueError for bad chunk framing, or an event over max_event */
static PyObject *sp_feed(WskSseParser *self, PyObject *arg) {
  if (self->broken) {
    PyErr_SetString(PyExc_ValueError, "the event stream was already invalid");
    return NULL;
  }
  Py_buffer view;
  if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
  int r = wsk_sse_parser_feed(self->p, view.buf, (size_t)view.len);
  PyBuffer_Release(&view);
  if (r < 0) {
    self->broken = 1;
    if (r == WSK_E2BIG)
      PyErr_SetString(PyExc_ValueError, "an event is over max_event bytes");
    else if (r == WSK_EPROTO)
      PyErr_SetString(PyExc_ValueError, "invalid chunked framing in the event stream");
    else
      return wskpy_raise_code(r);
    return NULL;
  }
  Py_RETURN_NONE;
}

/* next() -> None, or (type, data, id, retry_ms) with retry_ms -1 when the
 * stream set none since the previous event */
static PyObject *sp_next(WskSseParser *self, PyObject *unused) {
  (void)unused;
  if (self->broken) Py_RETURN_NONE;
  wsk_sse_event_t ev;
  memset(&ev, 0, sizeof ev);
  if (wsk_sse_parser_next(self->p, &ev) != 1) Py_RETURN_NONE;
  return Py_BuildValue("(NNNL)",
                       PyUnicode_DecodeUTF8(ev.type ? ev.type : "", (Py_ssize_t)ev.type_len,
                                            "replace"),
                       PyUnicode_DecodeUTF8(ev.data ? ev.data : "", (Py_ssize_t)ev.data_len,
                                            "replace"),
                       PyUnicode_DecodeUTF8(ev.id ? ev.id : "", (Py_ssize_t)ev.id_len, "replace"),
                       (long long)ev.retry_ms);
}

static PyObject *sp_done(WskSseParser *self, void *closure) {
  (void)closure;
  return PyBool_FromLong(wsk_sse_parser_done(self->p));
}

static PyMethodDef sp_methods[] = {
    {"feed", (PyCFunction)sp_feed, METH_O, "feed(data): body bytes (ValueError when invalid)"},
    {"next", (PyCFunction)sp_next, METH_NOARGS,
     "next() -> None or (type, data, id, retry_ms): the next complete event"},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef sp_getset[] = {
    {"done", (getter)sp_done, NULL, "a chunked body has ended", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

PyTypeObject WskSseParser_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "wskit._core.SseParser",
    .tp_basicsize = sizeof(WskSseParser),
    .tp_dealloc = (destructor)sp_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "SseParser(max_event=0, chunked=False): text/event-stream parser (wsk_sse_parser_t)",
    .tp_methods = sp_methods,
    .tp_getset = sp_getset,
    .tp_new = sp_new,
};
