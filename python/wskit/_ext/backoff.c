/* The core's reconnect policy and URL parser for Python: Backoff (one per
 * reconnecting loop), failure_retryable / failure_should_retry, url_parse.
 * Delays and times are in ms, as in the core. */
#include "binding.h"

#include <string.h>

typedef struct {
  PyObject_HEAD
  wsk_backoff_t b;
} WskBackoff;

static int backoff_init(WskBackoff *self, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"initial_delay_ms", "min_delay_ms", "factor",         "max_delay_ms",
                           "jitter",           "max_attempts", "reset_after_ms", NULL};
  wsk_backoff_opts_t o;
  wsk_backoff_opts_init(&o);
  unsigned int init = o.initial_delay_ms, min = o.min_delay_ms, max = o.max_delay_ms;
  unsigned int attempts = o.max_attempts, reset = o.reset_after_ms;
  double factor = o.factor, jitter = o.jitter;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "|$IIdIdII", kwlist, &init, &min, &factor, &max,
                                   &jitter, &attempts, &reset))
    return -1;
  o.initial_delay_ms = init;
  o.min_delay_ms = min;
  o.factor = factor;
  o.max_delay_ms = max;
  o.jitter = jitter;
  o.max_attempts = attempts;
  o.reset_after_ms = reset;
  wsk_backoff_init(&self->b, &o);
  return 0;
}

static PyObject *backoff_next(WskBackoff *self, PyObject *unused) {
  (void)unused;
  return PyLong_FromLongLong(wsk_backoff_next(&self->b));
}

static PyObject *backoff_opened(WskBackoff *self, PyObject *now) {
  long long t = PyLong_AsLongLong(now);
  if (t == -1 && PyErr_Occurred()) return NULL;
  wsk_backoff_opened(&self->b, t);
  Py_RETURN_NONE;
}

static PyObject *backoff_closed(WskBackoff *self, PyObject *now) {
  long long t = PyLong_AsLongLong(now);
  if (t == -1 && PyErr_Occurred()) return NULL;
  wsk_backoff_closed(&self->b, t);
  Py_RETURN_NONE;
}

static PyObject *backoff_reset(WskBackoff *self, PyObject *unused) {
  (void)unused;
  wsk_backoff_reset(&self->b);
  Py_RETURN_NONE;
}

static PyObject *backoff_attempts(WskBackoff *self, void *c) {
  (void)c;
  return PyLong_FromUnsignedLong(self->b.attempts);
}

static PyMethodDef backoff_methods[] = {
    {"next", (PyCFunction)backoff_next, METH_NOARGS,
     "next() -> int: delay in ms before the next attempt, -1 when attempts are exhausted"},
    {"opened", (PyCFunction)backoff_opened, METH_O, "opened(now_ms): a connection opened"},
    {"closed", (PyCFunction)backoff_closed, METH_O,
     "closed(now_ms): it closed; resets the count if it stayed up reset_after_ms"},
    {"reset", (PyCFunction)backoff_reset, METH_NOARGS, "reset(): start over"},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef backoff_getset[] = {
    {"attempts", (getter)backoff_attempts, NULL, "consecutive failed attempts", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

PyTypeObject WskBackoff_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "wskit._core.Backoff",
    .tp_basicsize = sizeof(WskBackoff),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Backoff(*, initial_delay_ms, min_delay_ms, factor, max_delay_ms, jitter,\n"
              "max_attempts, reset_after_ms): exponential backoff with jitter (wsk_backoff_t).",
    .tp_methods = backoff_methods,
    .tp_getset = backoff_getset,
    .tp_init = (initproc)backoff_init,
    .tp_new = PyType_GenericNew,
};

/* ---- failure classification ---- */

typedef struct {
  PyObject *hook;
  PyObject *exc; /* the hook's exception, re-raised after the core returns */
} hook_ctx_t;

static int retry_trampoline(void *ud, const wsk_failure_t *f, int dflt) {
  hook_ctx_t *ctx = ud;
  if (ctx->exc) return dflt;
  PyObject *r = PyObject_CallFunction(ctx->hook, "iiO", (int)f->kind, f->detail,
                                      dflt ? Py_True : Py_False);
  int v = r ? PyObject_IsTrue(r) : -1;
  Py_XDECREF(r);
  if (v < 0) {
    PyObject *t, *tb;
    PyErr_Fetch(&t, &ctx->exc, &tb);
    PyErr_NormalizeException(&t, &ctx->exc, &tb);
    if (tb && ctx->exc) PyException_SetTraceback(ctx->exc, tb);
    Py_XDECREF(t);
    Py_XDECREF(tb);
    return dflt;
  }
  return v;
}

static PyObject *failure_retryable(PyObject *m, PyObject *args) {
  (void)m;
  int kind, detail = 0;
  if (!PyArg_ParseTuple(args, "i|i", &kind, &detail)) return NULL;
  wsk_failure_t f = {(wsk_fail_kind_t)kind, detail};
  return PyBool_FromLong(wsk_failure_retryable(&f));
}

static PyObject *failure_should_retry(PyObject *m, PyObject *args) {
  (void)m;
  int kind, detail = 0;
  PyObject *hook = Py_None;
  if (!PyArg_ParseTuple(args, "i|iO", &kind, &detail, &hook)) return NULL;
  wsk_failure_t f = {(wsk_fail_kind_t)kind, detail};
  if (hook == Py_None) return PyBool_FromLong(wsk_failure_should_retry(&f, NULL, NULL));
  hook_ctx_t ctx = {hook, NULL};
  int v = wsk_failure_should_retry(&f, retry_trampoline, &ctx);
  if (ctx.exc) {
    PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(ctx.exc)), ctx.exc,
                  PyException_GetTraceback(ctx.exc));
    return NULL;
  }
  return PyBool_FromLong(v);
}

static PyObject *url_parse(PyObject *m, PyObject *arg) {
  (void)m;
  const char *s = PyUnicode_Check(arg) ? PyUnicode_AsUTF8(arg) : NULL;
  if (!s) {
    if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "url must be str");
    return NULL;
  }
  wsk_url_t *u = PyMem_Malloc(sizeof *u); /* 5 KiB: not on the stack */
  if (!u) return PyErr_NoMemory();
  if (wsk_url_parse(s, u) < 0) {
    PyMem_Free(u);
    PyErr_Format(PyExc_ValueError, "invalid WebSocket URL: %R", arg);
    return NULL;
  }
  PyObject *r = Py_BuildValue("{s:O,s:s,s:O,s:I,s:O,s:s,s:y}", "secure", u->secure ? Py_True : Py_False,
                              "host", u->host, "ipv6", u->ipv6 ? Py_True : Py_False, "port", u->port,
                              "port_explicit", u->port_explicit ? Py_True : Py_False, "resource",
                              u->resource, "userinfo", u->userinfo);
  PyMem_Free(u);
  return r;
}

PyMethodDef wskpy_backoff_functions[] = {
    {"failure_retryable", failure_retryable, METH_VARARGS,
     "failure_retryable(kind, detail=0) -> bool: the core's default decision"},
    {"failure_should_retry", failure_should_retry, METH_VARARGS,
     "failure_should_retry(kind, detail=0, hook=None) -> bool: the default decision passed\n"
     "through hook(kind, detail, default) -> bool when given"},
    {"url_parse", url_parse, METH_O,
     "url_parse(url) -> dict(secure, host, ipv6, port, port_explicit, resource, userinfo\n"
     "as bytes); ValueError when invalid"},
    {NULL, NULL, 0, NULL}};
