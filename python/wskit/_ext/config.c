/* Config: connection options built once and shared by every connection of
 * a server (or of one connect() call), so a connection carries a pointer
 * instead of its own copy. wsk_conn_new copies the struct; the strings it
 * points to live in `keep` for as long as the Config does. */
#include "binding.h"

#include <string.h>

static int keep_str(PyObject *keep, PyObject *s, const char **out) {
  if (s == Py_None) {
    *out = NULL;
    return 0;
  }
  if (!PyUnicode_Check(s)) {
    PyErr_Format(PyExc_TypeError, "expected str, got %.100s", Py_TYPE(s)->tp_name);
    return -1;
  }
  Py_ssize_t n;
  const char *u = PyUnicode_AsUTF8AndSize(s, &n);
  if (!u) return -1;
  if (strlen(u) != (size_t)n) {
    PyErr_SetString(PyExc_ValueError, "embedded NUL character");
    return -1;
  }
  if (PyList_Append(keep, s) < 0) return -1;
  *out = u;
  return 0;
}

/* A sequence of str -> PyMem array of pointers (NULL when empty). */
static Py_ssize_t str_array(PyObject *seq, PyObject *keep, const char ***out) {
  *out = NULL;
  if (seq == Py_None) return 0;
  PyObject *fast = PySequence_Fast(seq, "expected a sequence of str");
  if (!fast) return -1;
  Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
  if (n == 0) {
    Py_DECREF(fast);
    return 0;
  }
  const char **arr = PyMem_Calloc((size_t)n, sizeof *arr);
  if (!arr) {
    Py_DECREF(fast);
    PyErr_NoMemory();
    return -1;
  }
  for (Py_ssize_t i = 0; i < n; i++) {
    if (keep_str(keep, PySequence_Fast_GET_ITEM(fast, i), &arr[i]) < 0 || !arr[i]) {
      if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "expected str, got None");
      PyMem_Free(arr);
      Py_DECREF(fast);
      return -1;
    }
  }
  Py_DECREF(fast);
  *out = arr;
  return n;
}

Py_ssize_t wskpy_headers_from_py(PyObject *seq, PyObject *keep, wsk_http_header_t **out) {
  *out = NULL;
  if (seq == Py_None) return 0;
  PyObject *fast = PySequence_Fast(seq, "headers must be a sequence of (name, value) pairs");
  if (!fast) return -1;
  Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
  if (n == 0) {
    Py_DECREF(fast);
    return 0;
  }
  wsk_http_header_t *h = PyMem_Calloc((size_t)n, sizeof *h);
  if (!h) {
    Py_DECREF(fast);
    PyErr_NoMemory();
    return -1;
  }
  for (Py_ssize_t i = 0; i < n; i++) {
    PyObject *pair = PySequence_Fast_GET_ITEM(fast, i);
    PyObject *name, *value;
    if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
      PyErr_SetString(PyExc_TypeError, "headers must be (name, value) pairs of str");
      goto fail;
    }
    name = PyTuple_GET_ITEM(pair, 0);
    value = PyTuple_GET_ITEM(pair, 1);
    if (keep_str(keep, name, &h[i].name) < 0 || keep_str(keep, value, &h[i].value) < 0) goto fail;
    if (!h[i].name || !h[i].value) {
      PyErr_SetString(PyExc_TypeError, "header names and values must be str");
      goto fail;
    }
    h[i].name_len = strlen(h[i].name);
    h[i].value_len = strlen(h[i].value);
  }
  Py_DECREF(fast);
  *out = h;
  return n;
fail:
  PyMem_Free(h);
  Py_DECREF(fast);
  return -1;
}

static uint32_t seconds_to_ms(double s) {
  if (!(s > 0)) return 0; /* None, 0 and negatives disable the timer */
  double ms = s * 1000.0 + 0.5;
  return ms > 4e9 ? 4000000000u : (uint32_t)ms;
}

static int config_init(WskConfig *self, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"role",          "max_size",     "max_fragments", "write_limit",
                           "open_timeout",  "ping_interval", "ping_timeout",  "close_timeout",
                           "compression",   "host",          "port",          "secure",
                           "resource",      "origin",        "subprotocols",  "headers",
                           "user_agent",    "authorization", "origins",       "max_frame_size",
                           "streaming",     "max_line",      "max_head",      "max_headers",
                           "hosts",         "auth_timeout",  "rate",          "rate_burst",
                           "rate_policy",   NULL};
  int role = 0, compression = 1, secure = 0, streaming = 0;
  Py_ssize_t max_size = 1 << 20, max_fragments = 16384, write_limit = 32768;
  Py_ssize_t max_frame = 0, max_line = 0, max_head = 0, max_headers = 0; /* 0: the core's */
  double open_t = 10, ping_i = 20, ping_t = 20, close_t = 10;
  double auth_t = 0, rate = 0, rate_burst = 0; /* 0: off / the core's default */
  int rate_policy = WSK_RATE_ERROR;
  PyObject *hosts = Py_None;
  unsigned int port = 0;
  PyObject *host = Py_None, *resource = Py_None, *origin = Py_None, *subprotocols = Py_None,
           *headers = Py_None, *user_agent = NULL, *authorization = Py_None, *origins = Py_None;
  if (self->keep) {
    PyErr_SetString(PyExc_RuntimeError, "Config is immutable");
    return -1;
  }
  if (!PyArg_ParseTupleAndKeywords(args, kw, "i|$nnnddddpOIpOOOOOOOnpnnnOdddi", kwlist, &role,
                                   &max_size, &max_fragments, &write_limit, &open_t, &ping_i,
                                   &ping_t, &close_t, &compression, &host, &port, &secure,
                                   &resource, &origin, &subprotocols, &headers, &user_agent,
                                   &authorization, &origins, &max_frame, &streaming, &max_line,
                                   &max_head, &max_headers, &hosts, &auth_t, &rate, &rate_burst,
                                   &rate_policy))
    return -1;
  if (!(rate >= 0) || !(rate_burst >= 0) || rate_policy < WSK_RATE_ERROR ||
      rate_policy > WSK_RATE_CLOSE) {
    PyErr_SetString(PyExc_ValueError,
                    "rate and rate_burst must be >= 0, rate_policy RATE_ERROR, RATE_DROP or "
                    "RATE_CLOSE");
    return -1;
  }
  if (role != WSK_ROLE_CLIENT && role != WSK_ROLE_SERVER) {
    PyErr_SetString(PyExc_ValueError, "role must be ROLE_CLIENT or ROLE_SERVER");
    return -1;
  }
  if (max_size < 0 || max_fragments < 1 || write_limit < 0 || max_frame < 0 || max_line < 0 ||
      max_head < 0 || max_headers < 0) {
    PyErr_SetString(PyExc_ValueError, "limits must be positive");
    return -1;
  }
  self->keep = PyList_New(0);
  if (!self->keep) return -1;
  wsk_conn_opts_t *o = &self->opts;
  wsk_conn_opts_init(o, (wsk_role_t)role);
  o->max_message_size = (size_t)max_size;
  o->max_fragments = (size_t)max_fragments;
  o->max_frame_size = (size_t)max_frame;
  o->stream_fragments = streaming;
  if (max_line) o->http.max_line = (size_t)max_line;
  if (max_head) o->http.max_head = (size_t)max_head;
  if (max_headers) o->http.max_headers = (size_t)max_headers;
  o->write_limit = (size_t)write_limit;
  o->open_timeout_ms = seconds_to_ms(open_t);
  o->ping_interval_ms = seconds_to_ms(ping_i);
  o->ping_timeout_ms = seconds_to_ms(ping_t);
  o->close_timeout_ms = seconds_to_ms(close_t);
  o->auth_timeout_ms = seconds_to_ms(auth_t);
  o->rate = rate;
  if (rate_burst > 0) o->rate_burst = rate_burst; /* else the core's: max(rate, 1) */
  o->rate_policy = rate_policy;
  o->validate_utf8_out = 0; /* text comes from str, which encodes to valid UTF-8 */
  o->client.deflate.enabled = compression;
  o->server.deflate.enabled = compression;

  if (role == WSK_ROLE_CLIENT) {
    wsk_client_hs_opts_t *c = &o->client;
    Py_ssize_t n;
    if (keep_str(self->keep, host, &c->host) < 0 || keep_str(self->keep, origin, &c->origin) < 0 ||
        keep_str(self->keep, authorization, &c->authorization) < 0)
      return -1;
    if (resource != Py_None && keep_str(self->keep, resource, &c->resource) < 0) return -1;
    c->port = port;
    c->secure = secure;
    if (user_agent == Py_None)
      c->user_agent = ""; /* no User-Agent header */
    else if (user_agent && keep_str(self->keep, user_agent, &c->user_agent) < 0)
      return -1;
    if ((n = str_array(subprotocols, self->keep, &self->subprotocols)) < 0) return -1;
    c->subprotocols = self->subprotocols;
    c->nsubprotocols = (size_t)n;
    if ((n = wskpy_headers_from_py(headers, self->keep, &self->headers)) < 0) return -1;
    c->headers = self->headers;
    c->nheaders = (size_t)n;
    if (!c->host || !*c->host) {
      PyErr_SetString(PyExc_ValueError, "a client Config needs a host");
      return -1;
    }
  } else {
    wsk_server_hs_opts_t *s = &o->server;
    Py_ssize_t n;
    if ((n = str_array(subprotocols, self->keep, &self->subprotocols)) < 0) return -1;
    s->subprotocols = self->subprotocols;
    s->nsubprotocols = (size_t)n;
    if ((n = str_array(origins, self->keep, &self->origins)) < 0) return -1;
    s->origins = self->origins;
    s->norigins = (size_t)n;
    if ((n = str_array(hosts, self->keep, &self->hosts)) < 0) return -1;
    s->hosts = self->hosts;
    s->nhosts = (size_t)n;
  }
  return 0;
}

static void config_dealloc(WskConfig *self) {
  Py_XDECREF(self->keep);
  PyMem_Free(self->subprotocols);
  PyMem_Free(self->origins);
  PyMem_Free(self->hosts);
  PyMem_Free(self->headers);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *config_get_role(WskConfig *self, void *c) {
  (void)c;
  return PyLong_FromLong(self->opts.role);
}

static PyObject *config_get_max_size(WskConfig *self, void *c) {
  (void)c;
  return PyLong_FromSize_t(self->opts.max_message_size);
}

static PyObject *config_get_write_limit(WskConfig *self, void *c) {
  (void)c;
  return PyLong_FromSize_t(self->opts.write_limit);
}

static PyObject *config_get_close_timeout(WskConfig *self, void *c) {
  (void)c;
  return PyFloat_FromDouble(self->opts.close_timeout_ms / 1000.0);
}

static PyObject *config_get_max_frame_size(WskConfig *self, void *c) {
  (void)c;
  return PyLong_FromSize_t(self->opts.max_frame_size);
}

static PyObject *config_get_max_fragments(WskConfig *self, void *c) {
  (void)c;
  return PyLong_FromSize_t(self->opts.max_fragments);
}

static PyObject *config_get_streaming(WskConfig *self, void *c) {
  (void)c;
  return PyBool_FromLong(self->opts.stream_fragments);
}

static PyObject *config_get_http_limits(WskConfig *self, void *c) {
  (void)c;
  wsk_http_limits_t l = self->opts.http;
  wsk_http_limits_t d;
  wsk_http_limits_init(&d);
  return Py_BuildValue("(nnn)", (Py_ssize_t)(l.max_line ? l.max_line : d.max_line),
                       (Py_ssize_t)(l.max_head ? l.max_head : d.max_head),
                       (Py_ssize_t)(l.max_headers ? l.max_headers : d.max_headers));
}

static PyGetSetDef config_getset[] = {
    {"max_frame_size", (getter)config_get_max_frame_size, NULL,
     "largest frame accepted (0: max_size)", NULL},
    {"max_fragments", (getter)config_get_max_fragments, NULL, "frames per message", NULL},
    {"streaming", (getter)config_get_streaming, NULL, "messages are delivered in pieces", NULL},
    {"http_limits", (getter)config_get_http_limits, NULL,
     "(max_line, max_head, max_headers) of the handshake head", NULL},
    {"role", (getter)config_get_role, NULL, "ROLE_CLIENT or ROLE_SERVER", NULL},
    {"max_size", (getter)config_get_max_size, NULL, "largest message accepted (0: none)", NULL},
    {"write_limit", (getter)config_get_write_limit, NULL, "write buffer high-water mark", NULL},
    {"close_timeout", (getter)config_get_close_timeout, NULL, "seconds", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

PyTypeObject WskConfig_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "wskit._core.Config",
    .tp_basicsize = sizeof(WskConfig),
    .tp_dealloc = (destructor)config_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Config(role, *, max_size, ..., host, port, ...): connection options shared by\n"
              "many connections. Timeouts are in seconds (0 disables). Immutable.",
    .tp_getset = config_getset,
    .tp_init = (initproc)config_init,
    .tp_new = PyType_GenericNew,
};
