/* Hub: the core's channel hub (wsk_hub_t, hub.h) for one server.
 *
 * Subscribers are Python objects held by the Hub (a dict sub -> entry)
 * for as long as they have a subscription: the core keeps bare pointers.
 * Each subscriber has a mode, given when it subscribes:
 *
 *   JSON      a wskit Protocol on the channels path: each output's JSON
 *             protocol message is sent to it as a text frame, from C.
 *   CALLBACK  anything else (an SSE stream): callback(sub, kind, channel,
 *             epoch, seq, payload_kind, payload, json, from, to, reason,
 *             sse) is called for each output, kind 1 message, 2 subscribed,
 *             3 gap; sse is the output as an SSE event (wsk_sse_hub_event).
 *
 * The core calls our output function while it walks its tables, and it
 * must not be re-entered meanwhile; so during a hub call we only queue:
 * frames go into the connections' core output (wsk_conn_send, no Python),
 * callbacks into a list. Once the hub call returns, the touched
 * connections are flushed (their hooks may run and use the hub again) and
 * the callbacks are called.
 *
 * A JSON subscriber is never skipped (that would lose messages); one whose
 * transport holds more than max_lag bytes unsent is handed to
 * lagging(sub) instead, which closes it: its client resumes later. */
#include "binding.h"

#include <string.h>
#include <time.h>

enum { MODE_JSON = 0, MODE_CALLBACK = 1 };

typedef struct {
  PyObject_HEAD
  wsk_hub_t *h;
  int external;
  PyObject *subs;     /* dict: sub -> int (channels << 1 | mode) */
  PyObject *callback; /* for CALLBACK subscribers */
  PyObject *lagging;  /* lagging(sub): a JSON subscriber too far behind */
  Py_ssize_t max_lag;
  /* what one hub call produced */
  PyObject *touched;  /* list of Protocols written to */
  PyObject *pending;  /* list of callback argument tuples */
  int failed;         /* an allocation failed in the output function */
  int busy;           /* inside a hub call */
} WskHub;

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static PyObject *str_of(const char *s, size_t len) {
  if (!s) Py_RETURN_NONE;
  return PyUnicode_DecodeUTF8(s, (Py_ssize_t)len, "surrogateescape");
}

/* ---- outputs ---- */

/* The output as an SSE event, by the core (wsk_sse_hub_event): the same
 * bytes every driver sends (b"" for SUBSCRIBED). NULL with an exception. */
static PyObject *sse_bytes(const wsk_hub_out_t *o) {
  wsk_buf_t b;
  memset(&b, 0, sizeof b);
  int r = wsk_sse_hub_event(&b, o);
  PyObject *res = r < 0 ? wskpy_raise_code(r)
                        : PyBytes_FromStringAndSize((const char *)b.data + b.off,
                                                    (Py_ssize_t)wsk_buf_pending(&b));
  wsk_buf_free(&b);
  return res;
}

static void out_fn(void *ud, void *subp, const wsk_hub_out_t *o) {
  WskHub *self = ud;
  PyObject *sub = subp;
  if (self->failed) return;
  PyObject *entry = PyDict_GetItemWithError(self->subs, sub); /* borrowed */
  if (!entry) {
    PyErr_Clear();
    return; /* not ours (cannot happen): nothing to send */
  }
  long mode = PyLong_AsLong(entry) & 1;
  if (mode == MODE_JSON) {
    WskProto *p = (WskProto *)sub;
    if (!p->conn || p->closed || p->lost) return;
    int r = wsk_conn_send(p->conn, WSK_OP_TEXT, o->json, o->json_len);
    if (r == WSK_ENOMEM) self->failed = 1;
    if (r < 0) return; /* closing: it will not resume from here anyway */
    Py_ssize_t n = PyList_GET_SIZE(self->touched);
    if (n && PyList_GET_ITEM(self->touched, n - 1) == sub) return;
    if (PyList_Append(self->touched, sub) < 0) self->failed = 1;
    return;
  }
  char kind[2] = {0, 0};
  PyObject *payload = Py_None;
  if (o->kind == WSK_HUB_MESSAGE && o->msg) {
    kind[0] = (char)o->msg->kind;
    payload = PyBytes_FromStringAndSize((const char *)o->msg->payload,
                                        (Py_ssize_t)o->msg->payload_len);
  } else {
    Py_INCREF(payload);
  }
  PyObject *t = Py_BuildValue(
      "(OiNNKzNNKKzN)", sub, (int)o->kind, str_of(o->channel, o->channel_len),
      str_of(o->epoch, o->epoch_len), (unsigned long long)o->seq, kind[0] ? kind : NULL, payload,
      PyUnicode_DecodeUTF8(o->json, (Py_ssize_t)o->json_len, "surrogateescape"),
      (unsigned long long)o->from, (unsigned long long)o->to, o->reason, sse_bytes(o));
  if (!t || PyList_Append(self->pending, t) < 0) self->failed = 1;
  Py_XDECREF(t);
}

static int begin(WskHub *self) {
  if (!self->h) {
    PyErr_SetString(PyExc_RuntimeError, "Hub is not initialised");
    return -1;
  }
  if (self->busy) {
    PyErr_SetString(PyExc_RuntimeError, "the hub cannot be used from its own callback");
    return -1;
  }
  self->busy = 1;
  self->failed = 0;
  return 0;
}

/* After a hub call: flush the connections written to, then run the
 * callbacks. Returns 0, or -1 with an exception. */
static int finish(WskHub *self) {
  self->busy = 0;
  int rc = 0;
  if (self->failed) {
    PyErr_NoMemory();
    rc = -1;
  }
  PyObject *touched = self->touched, *pending = self->pending;
  self->touched = PyList_New(0);
  self->pending = PyList_New(0);
  if (!self->touched || !self->pending) {
    /* keep the old (cleared) lists rather than none */
    Py_XSETREF(self->touched, touched);
    Py_XSETREF(self->pending, pending);
    PyList_SetSlice(self->touched, 0, PY_SSIZE_T_MAX, NULL);
    PyList_SetSlice(self->pending, 0, PY_SSIZE_T_MAX, NULL);
    return -1;
  }
  for (Py_ssize_t i = 0; i < PyList_GET_SIZE(touched); i++) {
    WskProto *p = (WskProto *)PyList_GET_ITEM(touched, i);
    wskpy_after_call(p);
    PyObject *ok = wskpy_finish(p, Py_NewRef(Py_None));
    if (!ok) {
      if (!rc) rc = -1;
      else PyErr_Clear();
      continue;
    }
    Py_DECREF(ok);
    if (p->writing_paused && self->lagging && p->transport && !p->lost) {
      PyObject *n = PyObject_CallMethod(p->transport, "get_write_buffer_size", NULL);
      Py_ssize_t size = n ? PyLong_AsSsize_t(n) : -1;
      Py_XDECREF(n);
      if (size < 0) {
        PyErr_Clear();
      } else if (size > self->max_lag) {
        PyObject *r = PyObject_CallOneArg(self->lagging, (PyObject *)p);
        if (!r && rc == 0) rc = -1;
        else if (!r) PyErr_Clear();
        Py_XDECREF(r);
      }
    }
  }
  for (Py_ssize_t i = 0; i < PyList_GET_SIZE(pending); i++) {
    PyObject *r = PyObject_Call(self->callback, PyList_GET_ITEM(pending, i), NULL);
    if (!r) {
      if (rc == 0) rc = -1;
      else PyErr_Clear();
      continue;
    }
    Py_DECREF(r);
  }
  Py_DECREF(touched);
  Py_DECREF(pending);
  return rc;
}

/* ---- bookkeeping of held subscribers ---- */

static long entry_of(WskHub *self, PyObject *sub) {
  PyObject *e = PyDict_GetItemWithError(self->subs, sub);
  if (!e) return PyErr_Occurred() ? -2 : -1;
  return PyLong_AsLong(e);
}

static int set_entry(WskHub *self, PyObject *sub, long channels, long mode) {
  if (channels <= 0) return PyDict_DelItem(self->subs, sub);
  PyObject *v = PyLong_FromLong(channels << 1 | mode);
  if (!v) return -1;
  int r = PyDict_SetItem(self->subs, sub, v);
  Py_DECREF(v);
  return r;
}

static const char *chan_arg(PyObject *o, Py_ssize_t *len) {
  if (!PyUnicode_Check(o)) {
    PyErr_Format(PyExc_TypeError, "channel must be str, not %.100s", Py_TYPE(o)->tp_name);
    return NULL;
  }
  return PyUnicode_AsUTF8AndSize(o, len);
}

static PyObject *hub_error(int r) {
  if (r == WSK_E2BIG) {
    PyErr_SetString(PyExc_OverflowError, "too many channels for this subscriber");
    return NULL;
  }
  if (r == WSK_EINVAL) {
    PyErr_SetString(PyExc_ValueError, "invalid channel, epoch or payload");
    return NULL;
  }
  if (r == WSK_EUTF8) {
    PyErr_SetString(PyExc_ValueError, "text payload is not valid UTF-8");
    return NULL;
  }
  return wskpy_raise_code(r);
}

/* ---- type ---- */

static int hub_init(WskHub *self, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"callback", "history_size", "history_ttl", "history_bytes",
                           "max_channels", "max_subscriptions", "max_held", "external",
                           "lagging", "max_lag", NULL};
  wsk_hub_opts_t o;
  wsk_hub_opts_init(&o);
  PyObject *callback, *lagging = Py_None;
  Py_ssize_t hs = (Py_ssize_t)o.history_size, hb = (Py_ssize_t)o.history_bytes,
             mc = (Py_ssize_t)o.max_channels, ms = (Py_ssize_t)o.max_subscriptions,
             mh = (Py_ssize_t)o.max_held, lag = 8 << 20;
  double ttl = o.history_ttl_ms / 1000.0;
  int external = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "O|$ndnnnnpOn", kwlist, &callback, &hs, &ttl, &hb,
                                   &mc, &ms, &mh, &external, &lagging, &lag))
    return -1;
  if (self->h) {
    PyErr_SetString(PyExc_RuntimeError, "Hub is already initialised");
    return -1;
  }
  if (!PyCallable_Check(callback) || (lagging != Py_None && !PyCallable_Check(lagging))) {
    PyErr_SetString(PyExc_TypeError, "callback and lagging must be callable");
    return -1;
  }
  if (hs < 0 || hb < 0 || mc < 0 || ms < 0 || mh < 0 || lag < 0 || !(ttl >= 0) ||
      ttl > 4294967.0) {
    PyErr_SetString(PyExc_ValueError, "hub limits must be >= 0 (history_ttl in seconds)");
    return -1;
  }
  o.history_size = (size_t)hs;
  o.history_ttl_ms = (uint32_t)(ttl * 1000.0 + 0.5);
  o.history_bytes = (size_t)hb;
  o.max_channels = (size_t)mc;
  o.max_subscriptions = (size_t)ms;
  o.max_held = (size_t)mh;
  o.external = external;
  int err = 0;
  self->h = wsk_hub_new(&o, &err);
  if (!self->h) {
    wskpy_raise_code(err ? err : WSK_ENOMEM);
    return -1;
  }
  self->external = external;
  self->subs = PyDict_New();
  self->touched = PyList_New(0);
  self->pending = PyList_New(0);
  if (!self->subs || !self->touched || !self->pending) return -1;
  self->callback = Py_NewRef(callback);
  self->lagging = lagging == Py_None ? NULL : Py_NewRef(lagging);
  self->max_lag = lag;
  return 0;
}

static int hub_traverse(WskHub *self, visitproc visit, void *arg) {
  Py_VISIT(self->subs);
  Py_VISIT(self->callback);
  Py_VISIT(self->lagging);
  Py_VISIT(self->touched);
  Py_VISIT(self->pending);
  return 0;
}

static int hub_clear(WskHub *self) {
  if (self->h && self->subs) {
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (PyDict_Next(self->subs, &pos, &key, &value)) wsk_hub_drop(self->h, key);
  }
  Py_CLEAR(self->subs);
  Py_CLEAR(self->callback);
  Py_CLEAR(self->lagging);
  Py_CLEAR(self->touched);
  Py_CLEAR(self->pending);
  return 0;
}

static void hub_dealloc(WskHub *self) {
  PyObject_GC_UnTrack(self);
  hub_clear(self);
  if (self->h) wsk_hub_free(self->h);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

/* subscribe(sub, channel, since=None, epoch=None, id=None, json=True)
 * -> None (done) or the seq to fetch history after (external mode; -1 =
 * position only): then call recovered(). */
static PyObject *hub_subscribe(WskHub *self, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"sub", "channel", "since", "epoch", "id", "json", NULL};
  PyObject *sub, *chan, *since_o = Py_None;
  const char *epoch = NULL, *id = NULL;
  Py_ssize_t epl = 0, idl = 0, chl;
  int json = 1;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|Oz#z#p", kwlist, &sub, &chan, &since_o, &epoch,
                                   &epl, &id, &idl, &json))
    return NULL;
  const char *ch = chan_arg(chan, &chl);
  if (!ch) return NULL;
  if (json && !PyObject_TypeCheck(sub, &WskProto_Type)) {
    PyErr_SetString(PyExc_TypeError, "a JSON subscriber must be a wskit connection");
    return NULL;
  }
  wsk_hub_subscribe_t s = {ch, (size_t)chl, 0, 0, epoch, (size_t)epl, id, (size_t)idl};
  if (since_o != Py_None) {
    unsigned long long v = PyLong_AsUnsignedLongLong(since_o);
    if (v == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
    s.has_since = 1;
    s.since = v;
  }
  long e = entry_of(self, sub);
  if (e == -2) return NULL;
  int member = e >= 0 && wsk_hub_is_member(self->h, sub, ch, (size_t)chl);
  long mode = json ? MODE_JSON : MODE_CALLBACK;
  if (e >= 0 && (e & 1) != mode) {
    PyErr_SetString(PyExc_ValueError, "a subscriber keeps one mode (JSON or callback)");
    return NULL;
  }
  /* hold the reference before the core has the pointer */
  if (set_entry(self, sub, (e >= 0 ? e >> 1 : 0) + !member, mode) < 0) return NULL;
  if (begin(self) < 0) {
    if (!member) set_entry(self, sub, e >= 0 ? e >> 1 : 0, mode);
    return NULL;
  }
  int64_t fetch = -1;
  int r = wsk_hub_subscribe(self->h, sub, &s, now_ms(), &fetch, out_fn, self);
  if (r < 0 && r != WSK_EAGAIN && !member) set_entry(self, sub, e >= 0 ? e >> 1 : 0, mode);
  if (finish(self) < 0) return NULL;
  if (r == WSK_EAGAIN) return PyLong_FromLongLong(fetch);
  if (r < 0) return hub_error(r);
  Py_RETURN_NONE;
}

/* The envelopes of a recover script's answer -> an array of messages
 * (pointing into the bytes objects of the list); *n is how many parsed. */
static wsk_chan_msg_t *parse_envelopes(PyObject *list, Py_ssize_t *n) {
  PyObject *fast = PySequence_Fast(list, "messages must be a sequence of envelopes (bytes)");
  if (!fast) return NULL;
  *n = PySequence_Fast_GET_SIZE(fast);
  wsk_chan_msg_t *msgs = PyMem_Calloc((size_t)(*n ? *n : 1), sizeof *msgs);
  if (!msgs) {
    Py_DECREF(fast);
    PyErr_NoMemory();
    return NULL;
  }
  Py_ssize_t k = 0; /* envelopes kept */
  for (Py_ssize_t i = 0; i < *n; i++) {
    PyObject *b = PySequence_Fast_GET_ITEM(fast, i);
    const char *origin, *why = NULL;
    size_t olen;
    if (!PyBytes_Check(b)) {
      PyErr_SetString(PyExc_TypeError, "envelopes must be bytes");
      goto fail;
    }
    /* a bad entry is left out, as the C driver does: the core then sees
     * the hole in the seqs and reports it as a gap, and the rest of the
     * history still arrives */
    if (wsk_envelope_parse((const uint8_t *)PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(b),
                           &origin, &olen, &msgs[k], &why) == 0)
      k++;
  }
  *n = k;
  Py_DECREF(fast); /* the bytes stay alive in `list`, which the caller holds */
  return msgs;
fail:
  Py_DECREF(fast);
  PyMem_Free(msgs);
  return NULL;
}

/* recovered(sub_or_None, channel, epoch, top, envelopes) -> bool */
static PyObject *hub_recovered(WskHub *self, PyObject *args) {
  PyObject *sub, *chan, *list;
  const char *epoch;
  Py_ssize_t epl, chl, n = 0;
  unsigned long long top;
  if (!PyArg_ParseTuple(args, "OOs#KO", &sub, &chan, &epoch, &epl, &top, &list)) return NULL;
  const char *ch = chan_arg(chan, &chl);
  if (!ch) return NULL;
  wsk_chan_msg_t *msgs = parse_envelopes(list, &n);
  if (!msgs) return NULL;
  wsk_hub_history_t hist = {epoch, (size_t)epl, top, msgs, (size_t)n};
  if (begin(self) < 0) {
    PyMem_Free(msgs);
    return NULL;
  }
  int r = wsk_hub_recovered(self->h, sub == Py_None ? NULL : sub, ch, (size_t)chl, &hist,
                            now_ms(), out_fn, self);
  PyMem_Free(msgs);
  if (finish(self) < 0) return NULL;
  if (r == WSK_ENOTFOUND) Py_RETURN_FALSE;
  if (r < 0) return hub_error(r);
  Py_RETURN_TRUE;
}

/* resync(channel) -> (subscribers, fetch_since) */
static PyObject *hub_resync(WskHub *self, PyObject *chan) {
  Py_ssize_t chl;
  const char *ch = chan_arg(chan, &chl);
  if (!ch || !self->h) return NULL;
  int64_t fetch = -1;
  size_t n = wsk_hub_resync(self->h, ch, (size_t)chl, &fetch);
  return Py_BuildValue("(nL)", (Py_ssize_t)n, (long long)fetch);
}

static PyObject *hub_unsubscribe(WskHub *self, PyObject *const *args, Py_ssize_t nargs) {
  Py_ssize_t chl;
  if (nargs != 2) {
    PyErr_SetString(PyExc_TypeError, "unsubscribe(sub, channel)");
    return NULL;
  }
  const char *ch = chan_arg(args[1], &chl);
  if (!ch || !self->h) return NULL;
  long e = entry_of(self, args[0]);
  if (e == -2) return NULL;
  if (e < 0) Py_RETURN_FALSE;
  int r = wsk_hub_unsubscribe(self->h, args[0], ch, (size_t)chl);
  if (r == 1 && set_entry(self, args[0], (e >> 1) - 1, e & 1) < 0) return NULL;
  return PyBool_FromLong(r == 1);
}

static PyObject *hub_drop(WskHub *self, PyObject *sub) {
  if (!self->h) return NULL;
  long e = entry_of(self, sub);
  if (e == -2) return NULL;
  if (e < 0) return PyLong_FromLong(0);
  size_t n = wsk_hub_drop(self->h, sub);
  if (PyDict_DelItem(self->subs, sub) < 0) return NULL;
  return PyLong_FromSize_t(n);
}

/* A payload argument: str (text, or JSON text with kind 'j'), bytes-like. */
static int payload_arg(PyObject *data, PyObject *kind_o, wsk_chan_msg_t *m, Py_buffer *view,
                       int *has_view) {
  *has_view = 0;
  char kind = 0;
  if (kind_o && kind_o != Py_None) {
    const char *k = PyUnicode_Check(kind_o) ? PyUnicode_AsUTF8(kind_o) : NULL;
    if (!k || (strcmp(k, "t") && strcmp(k, "b") && strcmp(k, "j"))) {
      PyErr_Clear();
      PyErr_SetString(PyExc_ValueError, "kind must be 't', 'b' or 'j'");
      return -1;
    }
    kind = k[0];
  }
  if (PyUnicode_Check(data)) {
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(data, &n);
    if (!s) return -1;
    m->payload = (const uint8_t *)s;
    m->payload_len = (size_t)n;
    m->kind = kind ? (wsk_payload_kind_t)kind : WSK_PAYLOAD_TEXT;
    return 0;
  }
  if (PyObject_GetBuffer(data, view, PyBUF_SIMPLE) < 0) {
    PyErr_Format(PyExc_TypeError, "data must be str or bytes-like, not %.100s",
                 Py_TYPE(data)->tp_name);
    return -1;
  }
  *has_view = 1;
  m->payload = view->buf;
  m->payload_len = (size_t)view->len;
  m->kind = kind ? (wsk_payload_kind_t)kind : WSK_PAYLOAD_BINARY;
  return 0;
}

/* publish(channel, data, kind=None) -> seq (local mode) */
static PyObject *hub_publish(WskHub *self, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"channel", "data", "kind", NULL};
  PyObject *chan, *data, *kind = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|O", kwlist, &chan, &data, &kind)) return NULL;
  Py_ssize_t chl;
  const char *ch = chan_arg(chan, &chl);
  if (!ch) return NULL;
  wsk_chan_msg_t m;
  memset(&m, 0, sizeof m);
  m.channel = ch;
  m.channel_len = (size_t)chl;
  Py_buffer view;
  int has_view;
  if (payload_arg(data, kind, &m, &view, &has_view) < 0) return NULL;
  if (begin(self) < 0) {
    if (has_view) PyBuffer_Release(&view);
    return NULL;
  }
  int64_t seq = wsk_hub_publish(self->h, &m, now_ms(), out_fn, self);
  if (has_view) PyBuffer_Release(&view);
  if (finish(self) < 0) return NULL;
  if (seq < 0) return hub_error((int)seq);
  return PyLong_FromLongLong(seq);
}

/* dispatch(envelope) -> (origin, channel, seq, epoch, kind, payload):
 * a numbered message from the backplane to the channel's subscribers. */
static PyObject *hub_dispatch(WskHub *self, PyObject *env) {
  if (!PyBytes_Check(env)) {
    PyErr_SetString(PyExc_TypeError, "dispatch(envelope: bytes)");
    return NULL;
  }
  const char *origin, *why = NULL;
  size_t olen;
  wsk_chan_msg_t m;
  memset(&m, 0, sizeof m);
  if (wsk_envelope_parse((const uint8_t *)PyBytes_AS_STRING(env), (size_t)PyBytes_GET_SIZE(env),
                         &origin, &olen, &m, &why) < 0) {
    PyErr_Format(PyExc_ValueError, "bad envelope: %s", why ? why : "?");
    return NULL;
  }
  if (begin(self) < 0) return NULL;
  wsk_hub_dispatch(self->h, &m, now_ms(), out_fn, self);
  if (finish(self) < 0) return NULL;
  char kind[2] = {(char)m.kind, 0};
  return Py_BuildValue("(NNKNsy#)", str_of(origin, olen), str_of(m.channel, m.channel_len),
                       (unsigned long long)m.seq, str_of(m.epoch, m.epoch_len), kind, m.payload,
                       (Py_ssize_t)m.payload_len);
}

static PyObject *hub_count(WskHub *self, PyObject *chan) {
  Py_ssize_t chl;
  const char *ch = chan_arg(chan, &chl);
  if (!ch || !self->h) return NULL;
  return PyLong_FromSize_t(wsk_hub_count(self->h, ch, (size_t)chl));
}

static PyObject *hub_is_member(WskHub *self, PyObject *const *args, Py_ssize_t nargs) {
  Py_ssize_t chl;
  if (nargs != 2) {
    PyErr_SetString(PyExc_TypeError, "is_member(sub, channel)");
    return NULL;
  }
  const char *ch = chan_arg(args[1], &chl);
  if (!ch || !self->h) return NULL;
  long e = entry_of(self, args[0]);
  if (e == -2) return NULL;
  return PyBool_FromLong(e >= 0 && wsk_hub_is_member(self->h, args[0], ch, (size_t)chl));
}

static PyObject *hub_members(WskHub *self, PyObject *chan) {
  Py_ssize_t chl;
  const char *ch = chan_arg(chan, &chl);
  if (!ch || !self->h) return NULL;
  size_t total = wsk_hub_count(self->h, ch, (size_t)chl);
  void **arr = PyMem_Malloc((total ? total : 1) * sizeof *arr);
  if (!arr) return PyErr_NoMemory();
  size_t got = wsk_hub_members(self->h, ch, (size_t)chl, arr, total);
  if (got > total) got = total;
  PyObject *list = PyList_New((Py_ssize_t)got);
  if (list)
    for (size_t i = 0; i < got; i++) PyList_SET_ITEM(list, (Py_ssize_t)i, Py_NewRef((PyObject *)arr[i]));
  PyMem_Free(arr);
  return list;
}

typedef struct {
  PyObject *list;
  int failed;
} names_t;

static void add_name(void *ud, const char *name, size_t len) {
  names_t *c = ud;
  if (c->failed) return;
  PyObject *s = str_of(name, len);
  if (!s || PyList_Append(c->list, s) < 0) c->failed = 1;
  Py_XDECREF(s);
}

static PyObject *hub_channels(WskHub *self, PyObject *unused) {
  (void)unused;
  if (!self->h) return NULL;
  names_t c = {PyList_New(0), 0};
  if (!c.list) return NULL;
  wsk_hub_channels(self->h, add_name, &c);
  if (c.failed || PyList_Sort(c.list) < 0) Py_CLEAR(c.list);
  return c.list;
}

/* position(channel) -> (epoch, top) or None (local mode) */
static PyObject *hub_position(WskHub *self, PyObject *chan) {
  Py_ssize_t chl;
  const char *ch = chan_arg(chan, &chl);
  if (!ch || !self->h) return NULL;
  uint64_t top = 0;
  const char *ep = NULL;
  size_t epl = 0;
  if (!wsk_hub_position(self->h, ch, (size_t)chl, &top, &ep, &epl)) Py_RETURN_NONE;
  return Py_BuildValue("(NK)", str_of(ep, epl), (unsigned long long)top);
}

static PyObject *hub_subscribers(WskHub *self, void *c) {
  (void)c;
  return PyLong_FromSsize_t(self->subs ? PyDict_GET_SIZE(self->subs) : 0);
}

static PyObject *hub_external(WskHub *self, void *c) {
  (void)c;
  return PyBool_FromLong(self->external);
}

static PyMethodDef hub_methods[] = {
    {"subscribe", (PyCFunction)(void (*)(void))hub_subscribe, METH_VARARGS | METH_KEYWORDS,
     "subscribe(sub, channel, since=None, epoch=None, id=None, json=True) -> None, or\n"
     "(external mode) the seq to fetch history after (-1: position only), then recovered().\n"
     "OverflowError over max_subscriptions, ValueError for a bad channel/epoch"},
    {"recovered", (PyCFunction)hub_recovered, METH_VARARGS,
     "recovered(sub_or_None, channel, epoch, top, envelopes) -> bool: finish a recovering\n"
     "subscribe (None: every recovering subscriber of the channel, after resync)"},
    {"resync", (PyCFunction)hub_resync, METH_O,
     "resync(channel) -> (subscribers, fetch_since): hold live messages, fetch, recovered()"},
    {"unsubscribe", (PyCFunction)(void (*)(void))hub_unsubscribe, METH_FASTCALL,
     "unsubscribe(sub, channel) -> bool"},
    {"drop", (PyCFunction)hub_drop, METH_O, "drop(sub) -> int: forget it everywhere"},
    {"publish", (PyCFunction)(void (*)(void))hub_publish, METH_VARARGS | METH_KEYWORDS,
     "publish(channel, data, kind=None) -> seq: number, keep and dispatch (local mode)"},
    {"dispatch", (PyCFunction)hub_dispatch, METH_O,
     "dispatch(envelope) -> (origin, channel, seq, epoch, kind, payload)"},
    {"count", (PyCFunction)hub_count, METH_O, "count(channel) -> int"},
    {"is_member", (PyCFunction)(void (*)(void))hub_is_member, METH_FASTCALL,
     "is_member(sub, channel) -> bool"},
    {"members", (PyCFunction)hub_members, METH_O, "members(channel) -> list"},
    {"channels", (PyCFunction)hub_channels, METH_NOARGS,
     "channels() -> sorted list of channels with subscribers"},
    {"position", (PyCFunction)hub_position, METH_O,
     "position(channel) -> (epoch, newest seq), or None (local mode)"},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef hub_getset[] = {
    {"subscribers", (getter)hub_subscribers, NULL, "subscribers with a subscription", NULL},
    {"external", (getter)hub_external, NULL, "a backplane numbers messages", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

PyTypeObject WskHub_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "wskit._core.Hub",
    .tp_basicsize = sizeof(WskHub),
    .tp_dealloc = (destructor)hub_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Hub(callback, *, history_size, history_ttl, history_bytes, max_channels,\n"
              "max_subscriptions, max_held, external, lagging, max_lag): the core's channel\n"
              "hub (wsk_hub_t): subscribers, positions, history, resume.",
    .tp_traverse = (traverseproc)hub_traverse,
    .tp_clear = (inquiry)hub_clear,
    .tp_methods = hub_methods,
    .tp_getset = hub_getset,
    .tp_init = (initproc)hub_init,
    .tp_new = PyType_GenericNew,
};
