/* ChanClient: the client's side of the JSON channel protocol
 * (chanproto.h) for wskit.ClientConnection: it parses a server frame
 * (wsk_chan_parse), feeds it to the resume tracker (wsk_chan_client_t,
 * which decides deliver / duplicate / ignore) and builds the client's
 * messages (subscribe with since/epoch, unsubscribe, publish, the
 * resubscriptions after a reconnect). One ChanClient lives on a connect()
 * object, so positions survive reconnects. Python only routes results. */
#include "binding.h"

#include <stdio.h>
#include <string.h>

typedef struct {
  PyObject_HEAD
  wsk_chan_client_t *cc;
} WskChanClient;

static PyObject *cc_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
  if (!PyArg_ParseTuple(args, ":ChanClient") || (kw && PyDict_Size(kw))) {
    if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "ChanClient() takes no arguments");
    return NULL;
  }
  WskChanClient *self = (WskChanClient *)type->tp_alloc(type, 0);
  if (!self) return NULL;
  self->cc = wsk_chan_client_new();
  if (!self->cc) {
    Py_DECREF(self);
    return PyErr_NoMemory();
  }
  return (PyObject *)self;
}

static void cc_dealloc(WskChanClient *self) {
  if (self->cc) wsk_chan_client_free(self->cc);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

static const char *channel_arg(PyObject *o, Py_ssize_t *len) {
  if (!PyUnicode_Check(o)) {
    PyErr_Format(PyExc_TypeError, "channel must be str, not %.100s", Py_TYPE(o)->tp_name);
    return NULL;
  }
  const char *s = PyUnicode_AsUTF8AndSize(o, len);
  if (s && *len == 0) {
    PyErr_SetString(PyExc_ValueError, "channel must not be empty");
    return NULL;
  }
  return s;
}

/* An int id (or None) as the raw JSON the builders take. */
static int id_arg(PyObject *o, char *buf, size_t size, size_t *len) {
  *len = 0;
  if (o == Py_None) return 0;
  unsigned long long v = PyLong_AsUnsignedLongLong(o);
  if (v == (unsigned long long)-1 && PyErr_Occurred()) return -1;
  *len = (size_t)snprintf(buf, size, "%llu", v);
  return 0;
}

static PyObject *buf_to_str(wsk_buf_t *b, int r) {
  PyObject *s = NULL;
  if (r < 0)
    wskpy_raise_code(r);
  else
    s = PyUnicode_DecodeUTF8((const char *)b->data + b->off, (Py_ssize_t)wsk_buf_pending(b),
                             NULL);
  wsk_buf_free(b);
  return s;
}

static PyObject *cc_add(WskChanClient *self, PyObject *arg) {
  Py_ssize_t n;
  const char *s = channel_arg(arg, &n);
  if (!s) return NULL;
  int r = wsk_chan_client_add(self->cc, s, (size_t)n);
  if (r < 0) return wskpy_raise_code(r);
  Py_RETURN_NONE;
}

static PyObject *cc_remove(WskChanClient *self, PyObject *arg) {
  Py_ssize_t n;
  const char *s = channel_arg(arg, &n);
  if (!s) return NULL;
  return PyBool_FromLong(wsk_chan_client_remove(self->cc, s, (size_t)n) == 1);
}

/* position(channel) -> None (untracked) or (seq, epoch) */
static PyObject *cc_position(WskChanClient *self, PyObject *arg) {
  Py_ssize_t n;
  const char *s = channel_arg(arg, &n);
  if (!s) return NULL;
  uint64_t seq = 0;
  const char *ep = NULL;
  size_t eplen = 0;
  if (!wsk_chan_client_position(self->cc, s, (size_t)n, &seq, &ep, &eplen)) Py_RETURN_NONE;
  return Py_BuildValue("(Ks#)", (unsigned long long)seq, ep ? ep : "", (Py_ssize_t)eplen);
}

/* subscribe(channel, id=None) -> str: with since/epoch when the tracker
 * has seen something of the channel (so a re-subscribe resumes). */
static PyObject *cc_subscribe(WskChanClient *self, PyObject *args) {
  PyObject *ch, *idobj = Py_None;
  if (!PyArg_ParseTuple(args, "O|O:subscribe", &ch, &idobj)) return NULL;
  Py_ssize_t n;
  const char *s = channel_arg(ch, &n);
  if (!s) return NULL;
  char idb[32];
  size_t idlen;
  if (id_arg(idobj, idb, sizeof idb, &idlen) < 0) return NULL;
  uint64_t seq = 0;
  const char *ep = NULL;
  size_t eplen = 0;
  int has = wsk_chan_client_position(self->cc, s, (size_t)n, &seq, &ep, &eplen) && eplen > 0;
  wsk_buf_t b = {0};
  int r = wsk_chan_build_subscribe(&b, s, (size_t)n, has, seq, has ? ep : NULL, has ? eplen : 0,
                                   idlen ? idb : NULL, idlen);
  return buf_to_str(&b, r);
}

static PyObject *cc_unsubscribe(WskChanClient *self, PyObject *args) {
  PyObject *ch, *idobj = Py_None;
  if (!PyArg_ParseTuple(args, "O|O:unsubscribe", &ch, &idobj)) return NULL;
  Py_ssize_t n;
  const char *s = channel_arg(ch, &n);
  if (!s) return NULL;
  char idb[32];
  size_t idlen;
  if (id_arg(idobj, idb, sizeof idb, &idlen) < 0) return NULL;
  wsk_buf_t b = {0};
  int r = wsk_chan_build_unsubscribe(&b, s, (size_t)n, idlen ? idb : NULL, idlen);
  return buf_to_str(&b, r);
}

/* publish(channel, kind, payload, id=None) -> str. kind 't' (payload str),
 * 'b' (bytes-like) or 'j' (payload: JSON text as str). */
static PyObject *cc_publish(WskChanClient *self, PyObject *args) {
  (void)self;
  PyObject *ch, *payload, *idobj = Py_None;
  int kind;
  if (!PyArg_ParseTuple(args, "OCO|O:publish", &ch, &kind, &payload, &idobj)) return NULL;
  Py_ssize_t n;
  const char *s = channel_arg(ch, &n);
  if (!s) return NULL;
  char idb[32];
  size_t idlen;
  if (id_arg(idobj, idb, sizeof idb, &idlen) < 0) return NULL;
  wsk_chan_msg_t m;
  memset(&m, 0, sizeof m);
  m.channel = s;
  m.channel_len = (size_t)n;
  Py_buffer view;
  int have_view = 0;
  if (kind == 'b') {
    if (PyObject_GetBuffer(payload, &view, PyBUF_SIMPLE) < 0) return NULL;
    have_view = 1;
    m.kind = WSK_PAYLOAD_BINARY;
    m.payload = view.buf;
    m.payload_len = (size_t)view.len;
  } else if (kind == 't' || kind == 'j') {
    Py_ssize_t plen;
    const char *p = PyUnicode_Check(payload) ? PyUnicode_AsUTF8AndSize(payload, &plen) : NULL;
    if (!p) {
      if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "payload must be str");
      return NULL;
    }
    m.kind = kind == 't' ? WSK_PAYLOAD_TEXT : WSK_PAYLOAD_JSON;
    m.payload = (const uint8_t *)p;
    m.payload_len = (size_t)plen;
  } else {
    PyErr_SetString(PyExc_ValueError, "kind must be 't', 'b' or 'j'");
    return NULL;
  }
  wsk_buf_t b = {0};
  int r = wsk_chan_build_publish(&b, &m, idlen ? idb : NULL, idlen);
  if (have_view) PyBuffer_Release(&view);
  return buf_to_str(&b, r);
}

/* resubscribe() -> [str]: one subscribe per tracked channel, with since and
 * epoch where something was seen (wsk_chan_client_resubscribe). */
static PyObject *cc_resubscribe(WskChanClient *self, PyObject *unused) {
  (void)unused;
  wsk_buf_t b = {0};
  int r = wsk_chan_client_resubscribe(self->cc, &b);
  if (r < 0) {
    wsk_buf_free(&b);
    return wskpy_raise_code(r);
  }
  PyObject *list = PyList_New(0);
  const char *p = (const char *)b.data + b.off, *end = p + wsk_buf_pending(&b);
  while (list && p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl) nl = end;
    if (nl > p) {
      PyObject *s = PyUnicode_DecodeUTF8(p, nl - p, NULL);
      if (!s || PyList_Append(list, s) < 0) Py_CLEAR(list);
      Py_XDECREF(s);
    }
    p = nl + 1;
  }
  wsk_buf_free(&b);
  return list;
}

static const char *type_name(wsk_chan_type_t t) {
  switch (t) {
    case WSK_CHAN_SUBSCRIBE: return "subscribe";
    case WSK_CHAN_UNSUBSCRIBE: return "unsubscribe";
    case WSK_CHAN_PUBLISH: return "publish";
    case WSK_CHAN_SUBSCRIBED: return "subscribed";
    case WSK_CHAN_MESSAGE: return "message";
    case WSK_CHAN_GAP: return "gap";
    case WSK_CHAN_UNSUBSCRIBED: return "unsubscribed";
    case WSK_CHAN_PUBLISHED: return "published";
    case WSK_CHAN_ERROR: return "error";
  }
  return "?";
}

static int set_str(PyObject *d, const char *key, const char *s, size_t n) {
  PyObject *v = PyUnicode_DecodeUTF8(s ? s : "", (Py_ssize_t)(s ? n : 0), "replace");
  if (!v) return -1;
  int r = PyDict_SetItemString(d, key, v);
  Py_DECREF(v);
  return r;
}

static int set_u64(PyObject *d, const char *key, uint64_t x) {
  PyObject *v = PyLong_FromUnsignedLongLong((unsigned long long)x);
  if (!v) return -1;
  int r = PyDict_SetItemString(d, key, v);
  Py_DECREF(v);
  return r;
}

/* feed(text) -> None when text is not a frame of the protocol (the caller
 * delivers it as a plain message), else a dict: type, verdict ("deliver",
 * "duplicate", "ignore"), channel, and per type: epoch, seq, recovered,
 * from, to, reason, kind ('t'/'b'/'j') and data (str, bytes, or the JSON
 * text as str), id (int or the raw JSON text, None if absent), code,
 * message. The tracker has seen the frame when this returns. */
static PyObject *cc_feed(WskChanClient *self, PyObject *arg) {
  Py_ssize_t n;
  if (!PyUnicode_Check(arg)) {
    PyErr_SetString(PyExc_TypeError, "feed() takes str");
    return NULL;
  }
  const char *json = PyUnicode_AsUTF8AndSize(arg, &n);
  if (!json) return NULL;
  uint8_t small[512];
  uint8_t *scratch = (size_t)n <= sizeof small ? small : PyMem_Malloc((size_t)n + 1);
  if (!scratch) return PyErr_NoMemory();
  wsk_chan_frame_t f;
  memset(&f, 0, sizeof f);
  const char *why = NULL;
  PyObject *d = NULL;
  if (wsk_chan_parse(json, (size_t)n, scratch, &f, &why) < 0) {
    d = Py_NewRef(Py_None);
    goto done;
  }
  wsk_chan_verdict_t v = wsk_chan_client_on_frame(self->cc, &f);
  d = PyDict_New();
  if (!d) goto done;
  static const char *verdicts[] = {"deliver", "duplicate", "ignore"};
  if (set_str(d, "type", type_name(f.type), strlen(type_name(f.type))) < 0 ||
      set_str(d, "verdict", verdicts[v <= WSK_CHAN_IGNORE ? v : WSK_CHAN_IGNORE],
              strlen(verdicts[v <= WSK_CHAN_IGNORE ? v : WSK_CHAN_IGNORE])) < 0 ||
      (f.channel && set_str(d, "channel", f.channel, f.channel_len) < 0) ||
      (f.epoch && set_str(d, "epoch", f.epoch, f.epoch_len) < 0) ||
      set_u64(d, "seq", f.seq) < 0)
    goto fail;
  switch (f.type) {
    case WSK_CHAN_SUBSCRIBED:
      if (PyDict_SetItemString(d, "recovered", f.recovered ? Py_True : Py_False) < 0) goto fail;
      break;
    case WSK_CHAN_GAP:
      if (set_u64(d, "from", f.from) < 0 || set_u64(d, "to", f.to) < 0 ||
          set_str(d, "reason", f.reason, f.reason_len) < 0)
        goto fail;
      break;
    case WSK_CHAN_MESSAGE:
    case WSK_CHAN_PUBLISH: {
      char k = (char)f.kind;
      PyObject *data = f.kind == WSK_PAYLOAD_BINARY
                           ? PyBytes_FromStringAndSize((const char *)f.payload,
                                                       (Py_ssize_t)f.payload_len)
                           : PyUnicode_DecodeUTF8((const char *)f.payload,
                                                  (Py_ssize_t)f.payload_len, "replace");
      if (!data) goto fail;
      int r = PyDict_SetItemString(d, "data", data);
      Py_DECREF(data);
      if (r < 0 || set_str(d, "kind", &k, 1) < 0) goto fail;
      break;
    }
    case WSK_CHAN_ERROR:
      if (set_str(d, "code", f.code, f.code_len) < 0 ||
          set_str(d, "message", f.message, f.message_len) < 0)
        goto fail;
      break;
    default:
      break;
  }
  if (f.id && f.id_len) {
    /* our ids are decimal integers; anything else stays raw JSON text */
    PyObject *id = NULL;
    char tmp[32];
    if (f.id_len < sizeof tmp && f.id[0] >= '0' && f.id[0] <= '9') {
      memcpy(tmp, f.id, f.id_len);
      tmp[f.id_len] = 0;
      id = PyLong_FromString(tmp, NULL, 10);
      if (!id) PyErr_Clear();
    }
    if (!id) id = PyUnicode_DecodeUTF8(f.id, (Py_ssize_t)f.id_len, "replace");
    if (!id) goto fail;
    int r = PyDict_SetItemString(d, "id", id);
    Py_DECREF(id);
    if (r < 0) goto fail;
  }
  goto done;
fail:
  Py_CLEAR(d);
done:
  if (scratch != small) PyMem_Free(scratch);
  return d;
}

static Py_ssize_t cc_len(WskChanClient *self) { return (Py_ssize_t)wsk_chan_client_count(self->cc); }

static PySequenceMethods cc_as_sequence = {.sq_length = (lenfunc)cc_len};

static PyMethodDef cc_methods[] = {
    {"add", (PyCFunction)cc_add, METH_O, "add(channel): track a channel"},
    {"remove", (PyCFunction)cc_remove, METH_O, "remove(channel) -> bool: stop tracking"},
    {"position", (PyCFunction)cc_position, METH_O,
     "position(channel) -> None or (seq, epoch): the last message seen"},
    {"subscribe", (PyCFunction)cc_subscribe, METH_VARARGS,
     "subscribe(channel, id=None) -> str: the subscribe message (resuming when seen)"},
    {"unsubscribe", (PyCFunction)cc_unsubscribe, METH_VARARGS,
     "unsubscribe(channel, id=None) -> str"},
    {"publish", (PyCFunction)cc_publish, METH_VARARGS,
     "publish(channel, kind, payload, id=None) -> str; kind 't', 'b' or 'j'"},
    {"resubscribe", (PyCFunction)cc_resubscribe, METH_NOARGS,
     "resubscribe() -> [str]: a subscribe (with since/epoch) per tracked channel"},
    {"feed", (PyCFunction)cc_feed, METH_O,
     "feed(text) -> None (not a protocol frame) or a dict describing the frame,\n"
     "with 'verdict': deliver / duplicate / ignore"},
    {NULL, NULL, 0, NULL}};

PyTypeObject WskChanClient_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "wskit._core.ChanClient",
    .tp_basicsize = sizeof(WskChanClient),
    .tp_dealloc = (destructor)cc_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "ChanClient(): the channel protocol's client side (wsk_chan_client_t);\n"
              "len() is the number of tracked channels.",
    .tp_as_sequence = &cc_as_sequence,
    .tp_methods = cc_methods,
    .tp_new = cc_new,
};
