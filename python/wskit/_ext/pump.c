/* The driver loop of a connection: pull the core's events and turn each
 * into one call of a Python hook, and hand the output to transport.write.
 * (The timer is in timer.c, the exception boundary in boundary.c.)
 *
 * Hooks called on the Protocol (implemented in Python):
 *   _on_made()                 connection_made: the transport is there
 *   _on_request(method, target, headers, status)   server: a request head
 *   _on_open(headers)          handshake done; client: the 101's headers, server: None
 *   _on_rejected(status, headers, body)            client: not a 101
 *   _on_message(str | bytes)   a whole message
 *   _on_rpc(str) -> bool       with _rpc_enable: text that looks like JSON-RPC,
 *                              before _on_message (True: claimed)
 *   _on_fragment(data, first, fin)  streaming: a piece of a message that did
 *                              not arrive whole
 *   _on_ping(bytes)            (already answered)
 *   _on_pong(bytes, ping_id, latency_ms)
 *   _on_closed()               the end; close_code etc. are set
 *   _on_auth(str | bytes)      auth_timeout: the first message, to be judged
 *                              with _authenticate(ok, reason) (guard.c)
 * headers are lists of (name, value) str pairs. */
#include "binding.h"

#include <string.h>

/* ---- output ---- */

void wskpy_flush(WskProto *p) {
  size_t n;
  if (!p->conn) return;
  const uint8_t *d = wsk_conn_output(p->conn, &n);
  if (!n) return;
  if (!p->write || p->lost) { /* nowhere to write: drop it */
    wsk_conn_output_consume(p->conn, n);
    return;
  }
  PyObject *b = PyBytes_FromStringAndSize((const char *)d, (Py_ssize_t)n);
  if (!b) {
    wskpy_stash_error(p);
    return;
  }
  wsk_conn_output_consume(p->conn, n);
  if (p->keep_hs) {
    p->keep_hs = 0;
    Py_INCREF(b);
    Py_XSETREF(p->hs_bytes, b);
  }
  PyObject *r = PyObject_CallOneArg(p->write, b);
  Py_DECREF(b);
  if (!r)
    wskpy_stash_error(p);
  else
    Py_DECREF(r);
}

/* ---- events ---- */

static PyObject *latin1(const char *s) {
  if (!s) Py_RETURN_NONE;
  return PyUnicode_DecodeLatin1(s, (Py_ssize_t)strlen(s), NULL);
}

PyObject *wskpy_headers_to_py(const wsk_http_head_t *head) {
  if (!head) Py_RETURN_NONE;
  PyObject *list = PyList_New((Py_ssize_t)head->nheaders);
  if (!list) return NULL;
  for (size_t i = 0; i < head->nheaders; i++) {
    const wsk_http_header_t *h = &head->headers[i];
    PyObject *pair = Py_BuildValue("(NN)", PyUnicode_DecodeLatin1(h->name, (Py_ssize_t)h->name_len, NULL),
                                   PyUnicode_DecodeLatin1(h->value, (Py_ssize_t)h->value_len, NULL));
    if (!pair) {
      Py_DECREF(list);
      return NULL;
    }
    PyList_SET_ITEM(list, (Py_ssize_t)i, pair);
  }
  return list;
}

/* self.<name>(*args) without a bound method object. Steals nothing. */
static PyObject *call_hook(WskProto *p, PyObject *name, PyObject *const *args, size_t n) {
  PyObject *stack[6];
  stack[0] = (PyObject *)p;
  for (size_t i = 0; i < n; i++) stack[i + 1] = args[i];
  return PyObject_VectorcallMethod(name, stack, (n + 1) | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
}

static PyObject *on_request(WskProto *p, const wsk_event_t *ev) {
  PyObject *a[4] = {latin1(ev->head->method), latin1(ev->head->target),
                    wskpy_headers_to_py(ev->head), PyLong_FromLong(ev->status)};
  PyObject *r = NULL;
  if (a[0] && a[1] && a[2] && a[3]) r = call_hook(p, wskpy_s.on_request, a, 4);
  for (int i = 0; i < 4; i++) Py_XDECREF(a[i]);
  return r;
}

static PyObject *on_rejected(WskProto *p, const wsk_event_t *ev) {
  PyObject *a[3] = {PyLong_FromLong(ev->status), wskpy_headers_to_py(ev->head),
                    PyBytes_FromStringAndSize((const char *)ev->data, (Py_ssize_t)ev->len)};
  PyObject *r = NULL;
  if (a[0] && a[1] && a[2]) r = call_hook(p, wskpy_s.on_rejected, a, 3);
  for (int i = 0; i < 3; i++) Py_XDECREF(a[i]);
  return r;
}

static PyObject *on_pong(WskProto *p, const wsk_event_t *ev) {
  PyObject *a[3] = {PyBytes_FromStringAndSize((const char *)ev->data, (Py_ssize_t)ev->len),
                    PyLong_FromUnsignedLong(ev->ping_id), PyLong_FromLongLong(ev->latency_ms)};
  PyObject *r = NULL;
  if (a[0] && a[1] && a[2]) r = call_hook(p, wskpy_s.on_pong, a, 3);
  for (int i = 0; i < 3; i++) Py_XDECREF(a[i]);
  return r;
}

/* A whole text message: to _on_rpc first when request/response is on and
 * the text looks like JSON-RPC (rpc.c); to _on_message unless claimed. */
static PyObject *on_text(WskProto *p, const uint8_t *d, size_t n) {
  PyObject *s = PyUnicode_DecodeUTF8((const char *)d, (Py_ssize_t)n, NULL);
  if (!s) return NULL;
  if (p->rpc_filter && wskpy_rpc_candidate(d, n)) {
    PyObject *r = call_hook(p, wskpy_s.on_rpc, &s, 1);
    int claimed = r ? PyObject_IsTrue(r) : -1;
    Py_XDECREF(r);
    if (claimed != 0) {
      Py_DECREF(s);
      return claimed < 0 ? NULL : Py_NewRef(Py_None);
    }
  }
  PyObject *r = call_hook(p, wskpy_s.on_message, &s, 1);
  Py_DECREF(s);
  return r;
}

/* Length of the longest prefix of d[0..n) that ends on a UTF-8 character
 * boundary (the core has validated the bytes; only the end can be cut). */
static size_t utf8_boundary(const uint8_t *d, size_t n) {
  size_t i = n, k = 0;
  while (i > 0 && k < 3 && (d[i - 1] & 0xC0) == 0x80) {
    i--;
    k++;
  }
  if (i == 0) return n;
  uint8_t lead = d[i - 1];
  size_t need = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
  return n - (i - 1) < need ? i - 1 : n;
}

/* stream_fragments: a piece of a message that did not arrive whole.
 * _on_fragment(str | bytes, first, fin); a text piece never splits a
 * character (the cut bytes wait in u8carry for the next piece). */
static PyObject *on_fragment(WskProto *p, const wsk_event_t *ev) {
  PyObject *data;
  if (ev->opcode == WSK_OP_TEXT) {
    const uint8_t *d = ev->data;
    size_t n = ev->len;
    uint8_t *joined = NULL;
    if (ev->first) p->u8carry_len = 0;
    if (p->u8carry_len) {
      joined = PyMem_Malloc(p->u8carry_len + n);
      if (!joined) return PyErr_NoMemory();
      memcpy(joined, p->u8carry, p->u8carry_len);
      if (n) memcpy(joined + p->u8carry_len, d, n);
      n += p->u8carry_len;
      d = joined;
      p->u8carry_len = 0;
    }
    size_t cut = ev->fin ? n : utf8_boundary(d, n);
    memcpy(p->u8carry, d + cut, n - cut);
    p->u8carry_len = (uint8_t)(n - cut);
    data = PyUnicode_DecodeUTF8((const char *)d, (Py_ssize_t)cut, NULL);
    PyMem_Free(joined);
    if (data && cut == 0 && !ev->first && !ev->fin) {
      Py_DECREF(data); /* only part of a character: nothing to hand out yet */
      return Py_NewRef(Py_None);
    }
  } else {
    data = PyBytes_FromStringAndSize((const char *)ev->data, (Py_ssize_t)ev->len);
  }
  if (!data) return NULL;
  PyObject *a[3] = {data, ev->first ? Py_True : Py_False, ev->fin ? Py_True : Py_False};
  PyObject *r = call_hook(p, wskpy_s.on_fragment, a, 3);
  Py_DECREF(data);
  return r;
}

/* auth_timeout: the first message goes to _on_auth (guard.c), never to
 * _on_message or _on_rpc; the core holds the rest until it is judged. */
static PyObject *auth_message(WskProto *p, const wsk_event_t *ev) {
  if (ev->type == WSK_EV_FRAGMENT && !(ev->first && ev->fin)) return wskpy_auth_message(p, NULL);
  int text = ev->type == WSK_EV_TEXT || (ev->type == WSK_EV_FRAGMENT && ev->opcode == WSK_OP_TEXT);
  PyObject *m = text ? PyUnicode_DecodeUTF8((const char *)ev->data, (Py_ssize_t)ev->len, NULL)
                     : PyBytes_FromStringAndSize((const char *)ev->data, (Py_ssize_t)ev->len);
  if (!m) return NULL;
  PyObject *r = wskpy_auth_message(p, m);
  Py_DECREF(m);
  return r;
}

/* One call per event. The payload is copied into a Python object before
 * any Python code runs, so nothing Python does can see the shared
 * receive buffer or the core's reassembly buffer. */
static void dispatch(WskProto *p, const wsk_event_t *ev) {
  PyObject *arg = NULL, *r = NULL;
  if ((ev->type == WSK_EV_TEXT || ev->type == WSK_EV_BINARY || ev->type == WSK_EV_FRAGMENT) &&
      !wsk_conn_authenticated(p->conn)) {
    r = auth_message(p, ev);
    if (!r)
      wskpy_stash_error(p);
    else
      Py_DECREF(r);
    return;
  }
  switch (ev->type) {
  case WSK_EV_TEXT:
    r = on_text(p, ev->data, ev->len);
    break;
  case WSK_EV_BINARY:
    arg = PyBytes_FromStringAndSize((const char *)ev->data, (Py_ssize_t)ev->len);
    if (arg) r = call_hook(p, wskpy_s.on_message, &arg, 1);
    break;
  case WSK_EV_REQUEST:
    r = on_request(p, ev);
    break;
  case WSK_EV_OPEN:
    arg = wskpy_headers_to_py(ev->head); /* None for a server */
    if (arg) r = call_hook(p, wskpy_s.on_open, &arg, 1);
    break;
  case WSK_EV_REJECTED:
    r = on_rejected(p, ev);
    break;
  case WSK_EV_PING:
    arg = PyBytes_FromStringAndSize((const char *)ev->data, (Py_ssize_t)ev->len);
    if (arg) r = call_hook(p, wskpy_s.on_ping, &arg, 1);
    break;
  case WSK_EV_PONG:
    r = on_pong(p, ev);
    break;
  case WSK_EV_CLOSE:
    Py_XSETREF(p->close_reason,
               PyUnicode_DecodeUTF8((const char *)ev->data, (Py_ssize_t)ev->len, "replace"));
    r = p->close_reason ? Py_NewRef(Py_None) : NULL;
    break;
  case WSK_EV_CLOSED:
    p->closed = 1;
    p->close_code = ev->code;
    p->sent_code = ev->sent_code;
    p->clean = (uint8_t)ev->clean;
    r = call_hook(p, wskpy_s.on_closed, NULL, 0);
    break;
  case WSK_EV_FRAGMENT:
    if (ev->first && ev->fin) { /* arrived whole: an ordinary message */
      if (ev->opcode == WSK_OP_TEXT) {
        r = on_text(p, ev->data, ev->len);
      } else {
        arg = PyBytes_FromStringAndSize((const char *)ev->data, (Py_ssize_t)ev->len);
        if (arg) r = call_hook(p, wskpy_s.on_message, &arg, 1);
      }
    } else {
      r = on_fragment(p, ev);
    }
    break;
  case WSK_EV_RATE_LIMITED: /* policy "error": answered in C, no Python per message */
    wskpy_rate_limited(p, ev);
    r = Py_NewRef(Py_None);
    break;
  default:
    r = Py_NewRef(Py_None);
    break;
  }
  Py_XDECREF(arg);
  if (!r)
    wskpy_stash_error(p);
  else
    Py_DECREF(r);
}

/* Pull events until there are none, or until the application pauses
 * reading while the connection is open (then the core keeps its place in
 * the input: see input.c). Once closing, everything is pulled: the peer's
 * close frame may sit behind the messages. */
void wskpy_pump(WskProto *p) {
  if (p->in_pump || !p->conn) return;
  p->in_pump = 1;
  wsk_event_t ev;
  for (;;) {
    if (p->reading_paused && wsk_conn_state(p->conn) == WSK_STATE_OPEN) break;
    if (wsk_conn_next_event(p->conn, &ev)) {
      dispatch(p, &ev);
      continue;
    }
    wskpy_input_release(p); /* the core copied what it keeps */
    if (!wskpy_input_backlog(p)) break;
  }
  p->in_pump = 0;
  wskpy_flush(p);
  if (p->closed) wskpy_close_transport(p);
  wskpy_rearm(p);
}

void wskpy_after_call(WskProto *p) {
  if (!p->in_pump) wskpy_pump(p); /* inside a pump, the pump does it when the hook returns */
}
