/* wskit._core module: types, constants, interned names and the hook the
 * Python package installs at import. */
#include "binding.h"

wskpy_names_t wskpy_s;
PyObject *wskpy_report_hook;

PyObject *wskpy_raise_code(int err) {
  PyObject *type = PyExc_RuntimeError;
  if (err == WSK_ENOMEM) return PyErr_NoMemory();
  if (err == WSK_EINVAL || err == WSK_EURL || err == WSK_EUTF8) type = PyExc_ValueError;
  PyErr_Format(type, "%s (%s)", wsk_strerror(err), wsk_err_name(err));
  return NULL;
}

static PyObject *set_hooks(PyObject *m, PyObject *args, PyObject *kw) {
  (void)m;
  static char *kwlist[] = {"report", NULL};
  PyObject *report = NULL;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "|$O", kwlist, &report)) return NULL;
  if (report) {
    Py_INCREF(report);
    Py_XSETREF(wskpy_report_hook, report == Py_None ? NULL : report);
    if (report == Py_None) Py_DECREF(report);
  }
  Py_RETURN_NONE;
}

static PyObject *strerror_(PyObject *m, PyObject *arg) {
  (void)m;
  long e = PyLong_AsLong(arg);
  if (e == -1 && PyErr_Occurred()) return NULL;
  return PyUnicode_FromString(wsk_strerror((int)e));
}

static PyObject *close_code_valid(PyObject *m, PyObject *arg) {
  (void)m;
  long c = PyLong_AsLong(arg);
  if (c == -1 && PyErr_Occurred()) return NULL;
  return PyBool_FromLong(c >= 0 && c <= 65535 && wsk_close_code_valid((unsigned)c));
}

static PyMethodDef module_functions[] = {
    {"_set_hooks", (PyCFunction)(void (*)(void))set_hooks, METH_VARARGS | METH_KEYWORDS,
     "_set_hooks(*, report): report(protocol, exc) logs a hook's exception"},
    {"strerror", strerror_, METH_O, "strerror(code) -> str: text of a WSK_E* code"},
    {"close_code_valid", close_code_valid, METH_O,
     "close_code_valid(code) -> bool: may the code appear in a close frame"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "wskit._core",
    "The wskit C core (csrc/proto) and its asyncio protocol.", -1, module_functions,
    NULL, NULL, NULL, NULL};

static int intern_names(void) {
#define N(field, text) \
  if (!(wskpy_s.field = PyUnicode_InternFromString(text))) return -1;
  N(on_made, "_on_made")
  N(on_request, "_on_request")
  N(on_open, "_on_open")
  N(on_rejected, "_on_rejected")
  N(on_message, "_on_message")
  N(on_ping, "_on_ping")
  N(on_pong, "_on_pong")
  N(on_closed, "_on_closed")
  N(on_lost, "_on_lost")
  N(on_writable, "_on_writable")
  N(closed_exc, "_closed_exc")
  N(on_rpc, "_on_rpc")
  N(on_rpc_expired, "_on_rpc_expired")
  N(on_fragment, "_on_fragment")
  N(time, "time")
  N(call_at, "call_at")
  N(cancel, "cancel")
  N(close, "close")
  N(abort, "abort")
  N(pause_reading, "pause_reading")
  N(resume_reading, "resume_reading")
  N(set_write_buffer_limits, "set_write_buffer_limits")
  N(write, "write")
  N(on_timer, "_on_timer")
  N(can_write_eof, "can_write_eof")
  N(write_eof, "write_eof")
#undef N
  return 0;
}

static int add_ints(PyObject *m) {
  static const struct {
    const char *name;
    long value;
  } ints[] = {
      {"ROLE_CLIENT", WSK_ROLE_CLIENT},
      {"ROLE_SERVER", WSK_ROLE_SERVER},
      {"STATE_CONNECTING", WSK_STATE_CONNECTING},
      {"STATE_OPEN", WSK_STATE_OPEN},
      {"STATE_CLOSING", WSK_STATE_CLOSING},
      {"STATE_CLOSED", WSK_STATE_CLOSED},
      {"FAIL_REFUSED", WSK_FAIL_REFUSED},
      {"FAIL_TIMEOUT", WSK_FAIL_TIMEOUT},
      {"FAIL_DNS", WSK_FAIL_DNS},
      {"FAIL_TLS_VERIFY", WSK_FAIL_TLS_VERIFY},
      {"FAIL_TLS", WSK_FAIL_TLS},
      {"FAIL_HTTP_STATUS", WSK_FAIL_HTTP_STATUS},
      {"FAIL_HANDSHAKE", WSK_FAIL_HANDSHAKE},
      {"FAIL_CLOSED", WSK_FAIL_CLOSED},
      {"FAIL_IO", WSK_FAIL_IO},
      {"RATE_ERROR", WSK_RATE_ERROR},
      {"RATE_DROP", WSK_RATE_DROP},
      {"RATE_CLOSE", WSK_RATE_CLOSE},
  };
  for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
    if (PyModule_AddIntConstant(m, ints[i].name, ints[i].value) < 0) return -1;
  return 0;
}

static int add_type(PyObject *m, PyTypeObject *t, const char *name) {
  if (PyType_Ready(t) < 0) return -1;
  Py_INCREF(t);
  if (PyModule_AddObject(m, name, (PyObject *)t) < 0) {
    Py_DECREF(t);
    return -1;
  }
  return 0;
}

PyMODINIT_FUNC PyInit__core(void) {
  if (intern_names() < 0) return NULL;
  PyObject *m = PyModule_Create(&module_def);
  if (!m) return NULL;
  if (add_type(m, &WskConfig_Type, "Config") < 0 || add_type(m, &WskProto_Type, "Protocol") < 0 ||
      add_type(m, &WskBackoff_Type, "Backoff") < 0 ||
      add_type(m, &WskRecvBuf_Type, "RecvBuffer") < 0 || add_type(m, &WskRpc_Type, "RpcTable") < 0 ||
      add_type(m, &WskChannels_Type, "Channels") < 0 || add_type(m, &WskHub_Type, "Hub") < 0 ||
      wskpy_chanproto_add(m) < 0 ||
      add_type(m, &WskChanClient_Type, "ChanClient") < 0 ||
      add_type(m, &WskSseParser_Type, "SseParser") < 0 ||
      add_type(m, &WskIpLimit_Type, "IpLimit") < 0 ||
      PyModule_AddFunctions(m, wskpy_guard_functions) < 0 ||
      PyModule_AddFunctions(m, wskpy_backoff_functions) < 0 ||
      PyModule_AddFunctions(m, wskpy_fanout_functions) < 0 ||
      PyModule_AddFunctions(m, wskpy_proxy_functions) < 0 || add_ints(m) < 0 ||
      PyModule_AddStringConstant(m, "__version__", WSK_VERSION_STRING) < 0) {
    Py_DECREF(m);
    return NULL;
  }
  return m;
}
