/* HTTP CONNECT proxies for the Python client: which proxy a URL uses
 * (wsk_proxy_resolve, with the environment read by the caller), the
 * CONNECT request (wsk_proxy_connect_build) and the proxy's answer (the
 * core's bounded HTTP parser plus wsk_proxy_connect_check). The socket
 * work is wskit/proxy.py's. */
#include "binding.h"

#include <string.h>

static const char *opt_str(PyObject *o, const char *what) {
  if (o == Py_None) return NULL;
  if (!PyUnicode_Check(o)) {
    PyErr_Format(PyExc_TypeError, "%s must be str or None", what);
    return NULL;
  }
  Py_ssize_t n;
  const char *s = PyUnicode_AsUTF8AndSize(o, &n);
  if (s && strlen(s) != (size_t)n) {
    PyErr_Format(PyExc_ValueError, "%s contains a NUL character", what);
    return NULL;
  }
  return s;
}

/* proxy_resolve(uri, explicit, https_proxy, http_proxy, no_proxy)
 *   -> None | (host, port, authorization) */
static PyObject *proxy_resolve(PyObject *m, PyObject *const *args, Py_ssize_t nargs) {
  (void)m;
  if (nargs != 5) {
    PyErr_SetString(PyExc_TypeError,
                    "proxy_resolve(uri, explicit, https_proxy, http_proxy, no_proxy)");
    return NULL;
  }
  const char *s[5];
  static const char *what[5] = {"uri", "proxy", "https_proxy", "http_proxy", "no_proxy"};
  for (int i = 0; i < 5; i++) {
    s[i] = opt_str(args[i], what[i]);
    if (!s[i] && PyErr_Occurred()) return NULL;
  }
  if (!s[0]) {
    PyErr_SetString(PyExc_TypeError, "uri must be str");
    return NULL;
  }
  wsk_url_t *u = PyMem_Malloc(sizeof *u); /* 5 KiB: not on the stack */
  wsk_proxy_t *px = PyMem_Malloc(sizeof *px);
  PyObject *ret = NULL;
  if (!u || !px) {
    PyErr_NoMemory();
    goto done;
  }
  if (wsk_url_parse(s[0], u) < 0) {
    PyErr_Format(PyExc_ValueError, "invalid WebSocket URL: %R", args[0]);
    goto done;
  }
  int r = wsk_proxy_resolve(u, s[1], s[2], s[3], s[4], px);
  if (r < 0) {
    PyErr_SetString(PyExc_ValueError,
                    "invalid proxy URL (only http://[user:password@]host[:port] is supported)");
    goto done;
  }
  if (r == 0) {
    ret = Py_NewRef(Py_None);
    goto done;
  }
  ret = Py_BuildValue("(sIs)", px->host, px->port, px->auth);
done:
  PyMem_Free(u);
  PyMem_Free(px);
  return ret;
}

/* proxy_connect_request(host, port, authorization="") -> bytes */
static PyObject *proxy_connect_request(PyObject *m, PyObject *args) {
  (void)m;
  const char *host, *auth = "";
  unsigned int port;
  if (!PyArg_ParseTuple(args, "sI|s", &host, &port, &auth)) return NULL;
  wsk_proxy_t px;
  memset(&px, 0, sizeof px);
  if (strlen(auth) >= sizeof px.auth) {
    PyErr_SetString(PyExc_ValueError, "proxy credentials are too long");
    return NULL;
  }
  memcpy(px.auth, auth, strlen(auth) + 1);
  wsk_buf_t out = {0};
  int r = wsk_proxy_connect_build(&px, host, port, &out);
  if (r < 0) {
    wsk_buf_free(&out);
    if (r == WSK_EINVAL) {
      PyErr_Format(PyExc_ValueError, "cannot ask a proxy for %s:%u", host, port);
      return NULL;
    }
    return wskpy_raise_code(r);
  }
  PyObject *b = PyBytes_FromStringAndSize((const char *)out.data + out.off,
                                          (Py_ssize_t)wsk_buf_pending(&out));
  wsk_buf_free(&out);
  return b;
}

/* proxy_parse_answer(data) -> None while the head is incomplete, else
 * (status, reason, headers, head_length, tunnel_open). ValueError for a
 * malformed or over-long head. */
static PyObject *proxy_parse_answer(PyObject *m, PyObject *arg) {
  (void)m;
  Py_buffer view;
  if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
  wsk_http_parser_t *hp = wsk_http_parser_new(WSK_HTTP_RESPONSE, NULL);
  PyObject *ret = NULL;
  if (!hp) {
    PyErr_NoMemory();
    goto done;
  }
  long n = wsk_http_parser_feed(hp, view.buf, (size_t)view.len);
  if (n < 0) {
    PyErr_Format(PyExc_ValueError, "invalid answer from the proxy: %s",
                 wsk_http_parser_error(hp));
    goto done;
  }
  if (!wsk_http_parser_done(hp)) {
    ret = Py_NewRef(Py_None);
    goto done;
  }
  const wsk_http_head_t *head = wsk_http_parser_head(hp);
  PyObject *headers = wskpy_headers_to_py(head);
  if (!headers) goto done;
  ret = Py_BuildValue("(iNNlO)", head->status,
                      PyUnicode_DecodeLatin1(head->reason, (Py_ssize_t)strlen(head->reason), NULL),
                      headers, n, wsk_proxy_connect_check(head) == 0 ? Py_True : Py_False);
done:
  if (hp) wsk_http_parser_free(hp);
  PyBuffer_Release(&view);
  return ret;
}

PyMethodDef wskpy_proxy_functions[] = {
    {"proxy_resolve", (PyCFunction)(void (*)(void))proxy_resolve, METH_FASTCALL,
     "proxy_resolve(uri, explicit, https_proxy, http_proxy, no_proxy) -> None or\n"
     "(host, port, authorization): the proxy for uri. explicit (a proxy URL) wins;\n"
     "'' means none; otherwise the environment values the caller read (curl's rules)."},
    {"proxy_connect_request", proxy_connect_request, METH_VARARGS,
     "proxy_connect_request(host, port, authorization='') -> bytes: the CONNECT request"},
    {"proxy_parse_answer", proxy_parse_answer, METH_O,
     "proxy_parse_answer(data) -> None (incomplete) or (status, reason, headers,\n"
     "head_length, tunnel_open); ValueError when malformed"},
    {NULL, NULL, 0, NULL}};
