/* Leaving WebSocket behind: a server connection whose request is answered
 * by a stream other than a WebSocket (Server-Sent Events, wskit/sse.py)
 * drops its core connection and keeps only the transport. Afterwards
 * input is ignored (buffer_updated sees no core), the timer is off, the
 * peer's EOF closes the transport and connection_lost still reaches
 * _on_lost; the Python side writes to the transport itself. */
#include "binding.h"

PyObject *wskpy_detach(WskProto *p, PyObject *unused) {
  (void)unused;
  if (p->in_pump) {
    PyErr_SetString(PyExc_RuntimeError, "_detach() cannot run inside a hook: use call_soon");
    return NULL;
  }
  if (!p->conn || p->closed || p->lost || wsk_conn_role(p->conn) != WSK_ROLE_SERVER ||
      wsk_conn_state(p->conn) != WSK_STATE_CONNECTING) {
    PyErr_SetString(PyExc_RuntimeError, "_detach() needs a server connection with a request");
    return NULL;
  }
  wskpy_input_release(p); /* the core no longer reads driver memory */
  Py_CLEAR(p->backlog);
  wsk_conn_free(p->conn);
  p->conn = NULL;
  p->reading_paused = 0;
  wskpy_rearm(p); /* no core: cancels the timer */
  Py_INCREF(Py_None);
  return wskpy_finish(p, Py_None);
}

/* _host_allowed(host) -> bool: does the server's Host allowlist admit
 * this Host value? For the plain GET requests the server answers itself
 * (SSE); the handshake check applies it to upgrades. */
PyObject *wskpy_host_allowed(WskProto *p, PyObject *arg) {
  if (!p->config) {
    PyErr_SetString(PyExc_RuntimeError, "protocol was not set up");
    return NULL;
  }
  Py_ssize_t n;
  const char *host = PyUnicode_Check(arg) ? PyUnicode_AsUTF8AndSize(arg, &n) : NULL;
  if (!host) {
    if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "host must be str");
    return NULL;
  }
  return PyBool_FromLong(wsk_server_host_allowed(&p->config->opts.server, host, (size_t)n));
}
