/* The exception boundary: a hook's exception is stored while the core is
 * being driven (wskpy_stash_error) and handled when control returns to the
 * method Python called (wskpy_finish), as httptools does. */
#include "binding.h"

void wskpy_stash_error(WskProto *p) {
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  if (!type) return;
  PyErr_NormalizeException(&type, &value, &tb);
  if (tb && value) PyException_SetTraceback(value, tb);
  Py_XDECREF(type);
  Py_XDECREF(tb);
  if (!value) return;
  if (!p->exc) {
    p->exc = value; /* the first one decides; handled by wskpy_finish */
    return;
  }
  /* A later one: report it now so it is not lost. */
  if (wskpy_report_hook) {
    PyObject *r = PyObject_CallFunctionObjArgs(wskpy_report_hook, (PyObject *)p, value, NULL);
    if (!r) PyErr_WriteUnraisable(wskpy_report_hook);
    Py_XDECREF(r);
  }
  Py_DECREF(value);
}

static void report(WskProto *p, PyObject *exc) {
  if (wskpy_report_hook) {
    PyObject *r = PyObject_CallFunctionObjArgs(wskpy_report_hook, (PyObject *)p, exc, NULL);
    if (r) {
      Py_DECREF(r);
      return;
    }
    PyErr_WriteUnraisable(wskpy_report_hook);
    return;
  }
  Py_INCREF(exc);
  PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(exc)), exc, PyException_GetTraceback(exc));
  PyErr_WriteUnraisable((PyObject *)p);
}

PyObject *wskpy_finish(WskProto *p, PyObject *ret) {
  if (p->in_pump || !p->exc) return ret;
  PyObject *et = NULL, *ev = NULL, *etb = NULL;
  if (!ret) PyErr_Fetch(&et, &ev, &etb); /* the method's own error stays the result */
  while (p->exc) {
    PyObject *exc = p->exc;
    p->exc = NULL;
    int fatal = PyErr_GivenExceptionMatches(exc, PyExc_KeyboardInterrupt) ||
                PyErr_GivenExceptionMatches(exc, PyExc_SystemExit);
    if (!fatal) report(p, exc);
    if (p->conn && !p->closed) {
      /* a hook failed: the application can no longer be trusted with the
       * connection's state, so fail it as RFC 6455 7.4.1 allows */
      wsk_conn_close(p->conn, WSK_CLOSE_INTERNAL_ERROR, "internal error", 14);
      wskpy_pump(p);
    }
    if (fatal) {
      /* asyncio lets these two stop the loop: raise them from here */
      Py_XDECREF(ret);
      Py_XDECREF(et);
      Py_XDECREF(ev);
      Py_XDECREF(etb);
      PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(exc)), exc, PyException_GetTraceback(exc));
      Py_CLEAR(p->exc);
      return NULL;
    }
    Py_DECREF(exc);
  }
  if (!ret) PyErr_Restore(et, ev, etb);
  return ret;
}
