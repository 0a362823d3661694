/* Bindings of the channel protocol's pure functions: the JSON channel
 * protocol (chanproto.h), the Redis envelope, key names and scripts
 * (backplane.h) and the SSE formatting (sse.h). Stateless: each call
 * converts Python objects, calls the core once and converts back.
 *
 *   chan_parse(data) -> dict            chan_build(type, **fields) -> str
 *   json_valid(text) -> bool
 *   envelope_parse(bytes) -> tuple      envelope_build(...) -> bytes
 *   backplane_key(prefix, which, channel) -> str
 *   backplane_channel_of(prefix, name) -> str | None
 *   backplane_new_origin() -> str
 *   sse_head(headers) / sse_event(data, id, event) / sse_comment(text) /
 *   sse_retry(ms) -> bytes;  sse_format_id(epoch, seq) -> str;
 *   sse_parse_id(text) -> (epoch, seq) | None
 *   REDIS_PUBLISH_SCRIPT, REDIS_RECOVER_SCRIPT: str constants */
#include "binding.h"

#include <string.h>

/* ---- conversions ---- */

static PyObject *str_or_none(const char *s, size_t len) {
  if (!s) Py_RETURN_NONE;
  return PyUnicode_DecodeUTF8(s, (Py_ssize_t)len, "surrogateescape");
}

/* bytes-like or str (UTF-8) -> pointer and length; release with buf_release. */
typedef struct {
  const char *data;
  Py_ssize_t len;
  int is_text;
  Py_buffer view;
} inbuf_t;

static int buf_get(PyObject *o, inbuf_t *b, const char *what) {
  if (PyUnicode_Check(o)) {
    b->is_text = 1;
    b->data = PyUnicode_AsUTF8AndSize(o, &b->len);
    return b->data ? 0 : -1;
  }
  b->is_text = 0;
  if (PyObject_GetBuffer(o, &b->view, PyBUF_SIMPLE) < 0) {
    PyErr_Format(PyExc_TypeError, "%s must be str or bytes-like, not %.100s", what,
                 Py_TYPE(o)->tp_name);
    return -1;
  }
  b->data = b->view.buf;
  b->len = b->view.len;
  return 0;
}

static void buf_release(inbuf_t *b) {
  if (!b->is_text) PyBuffer_Release(&b->view);
}

static PyObject *buf_to_str(wsk_buf_t *b) {
  PyObject *s = PyUnicode_DecodeUTF8((const char *)b->data + b->off,
                                     (Py_ssize_t)wsk_buf_pending(b), "surrogateescape");
  wsk_buf_free(b);
  return s;
}

static PyObject *buf_to_bytes(wsk_buf_t *b) {
  PyObject *s =
      PyBytes_FromStringAndSize((const char *)b->data + b->off, (Py_ssize_t)wsk_buf_pending(b));
  wsk_buf_free(b);
  return s;
}

static PyObject *build_failed(wsk_buf_t *b, int err) {
  wsk_buf_free(b);
  return wskpy_raise_code(err);
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
  return "unknown";
}

/* ---- chan_parse ---- */

static int set_item(PyObject *d, const char *key, PyObject *v) {
  if (!v) return -1;
  int r = PyDict_SetItemString(d, key, v);
  Py_DECREF(v);
  return r;
}

static PyObject *chan_frame_dict(const wsk_chan_frame_t *f) {
  PyObject *d = PyDict_New();
  if (!d) return NULL;
  int is_payload = f->type == WSK_CHAN_PUBLISH || f->type == WSK_CHAN_MESSAGE;
  char kind[2] = {(char)f->kind, 0};
  if (set_item(d, "type", PyUnicode_FromString(type_name(f->type))) < 0 ||
      set_item(d, "channel", str_or_none(f->channel, f->channel_len)) < 0 ||
      set_item(d, "since", f->has_since ? PyLong_FromUnsignedLongLong(f->since)
                                        : Py_NewRef(Py_None)) < 0 ||
      set_item(d, "epoch", str_or_none(f->epoch, f->epoch_len)) < 0 ||
      set_item(d, "seq", PyLong_FromUnsignedLongLong(f->seq)) < 0 ||
      set_item(d, "recovered", PyBool_FromLong(f->recovered)) < 0 ||
      set_item(d, "from", PyLong_FromUnsignedLongLong(f->from)) < 0 ||
      set_item(d, "to", PyLong_FromUnsignedLongLong(f->to)) < 0 ||
      set_item(d, "reason", str_or_none(f->reason, f->reason_len)) < 0 ||
      set_item(d, "kind", is_payload ? PyUnicode_FromString(kind) : Py_NewRef(Py_None)) < 0 ||
      set_item(d, "payload", is_payload ? PyBytes_FromStringAndSize((const char *)f->payload,
                                                                    (Py_ssize_t)f->payload_len)
                                        : Py_NewRef(Py_None)) < 0 ||
      set_item(d, "id", f->id_len ? PyUnicode_DecodeUTF8(f->id, (Py_ssize_t)f->id_len, "replace")
                                  : Py_NewRef(Py_None)) < 0 ||
      set_item(d, "code", str_or_none(f->code, f->code_len)) < 0 ||
      set_item(d, "message", str_or_none(f->message, f->message_len)) < 0) {
    Py_DECREF(d);
    return NULL;
  }
  return d;
}

/* Parse into *f with a PyMem scratch (*scratch, free it). -1 with ValueError. */
static int chan_parse_frame(const char *data, size_t len, uint8_t **scratch, wsk_chan_frame_t *f) {
  *scratch = PyMem_Malloc(len ? len : 1);
  if (!*scratch) {
    PyErr_NoMemory();
    return -1;
  }
  const char *why = NULL;
  memset(f, 0, sizeof *f);
  int r = wsk_chan_parse(data, len, *scratch, f, &why);
  if (r < 0) {
    PyErr_Format(PyExc_ValueError, "bad channel message: %s", why ? why : wsk_strerror(r));
    return -1;
  }
  return 0;
}

static PyObject *chan_parse(PyObject *m, PyObject *arg) {
  (void)m;
  inbuf_t in;
  if (buf_get(arg, &in, "data") < 0) return NULL;
  uint8_t *scratch = NULL;
  wsk_chan_frame_t f;
  PyObject *d = NULL;
  if (chan_parse_frame(in.data, (size_t)in.len, &scratch, &f) == 0) d = chan_frame_dict(&f);
  PyMem_Free(scratch);
  buf_release(&in);
  return d;
}

/* ---- chan_build ---- */

typedef struct {
  PyObject *kw;
  PyObject *keep; /* list: objects whose UTF-8 we point into */
} fields_t;

static PyObject *field(fields_t *fs, const char *name) {
  if (!fs->kw) return NULL;
  PyObject *v = PyDict_GetItemString(fs->kw, name); /* borrowed */
  return v == Py_None ? NULL : v;
}

/* A str field as UTF-8; *s NULL when absent (and not required). */
static int field_str(fields_t *fs, const char *name, int required, const char **s, size_t *len) {
  PyObject *v = field(fs, name);
  *s = NULL;
  *len = 0;
  if (!v) {
    if (required) PyErr_Format(PyExc_TypeError, "chan_build: %s is required", name);
    return required ? -1 : 0;
  }
  if (!PyUnicode_Check(v)) {
    PyErr_Format(PyExc_TypeError, "chan_build: %s must be str", name);
    return -1;
  }
  Py_ssize_t n;
  *s = PyUnicode_AsUTF8AndSize(v, &n);
  *len = (size_t)n;
  return *s ? 0 : -1;
}

static int field_u64(fields_t *fs, const char *name, int required, int *has, uint64_t *out) {
  PyObject *v = field(fs, name);
  *out = 0;
  if (has) *has = v != NULL;
  if (!v) {
    if (required) PyErr_Format(PyExc_TypeError, "chan_build: %s is required", name);
    return required ? -1 : 0;
  }
  unsigned long long x = PyLong_AsUnsignedLongLong(v);
  if (x == (unsigned long long)-1 && PyErr_Occurred()) return -1;
  *out = x;
  return 0;
}

/* id: raw JSON (str), or an int turned into its decimal text. */
static int field_id(fields_t *fs, const char **s, size_t *len) {
  PyObject *v = field(fs, "id");
  *s = NULL;
  *len = 0;
  if (!v) return 0;
  if (PyLong_Check(v)) {
    v = PyObject_Str(v);
    if (!v) return -1;
    int r = PyList_Append(fs->keep, v);
    Py_DECREF(v);
    if (r < 0) return -1;
  } else if (!PyUnicode_Check(v)) {
    PyErr_SetString(PyExc_TypeError, "chan_build: id must be raw JSON (str) or int");
    return -1;
  }
  Py_ssize_t n;
  *s = PyUnicode_AsUTF8AndSize(v, &n);
  *len = (size_t)n;
  return *s ? 0 : -1;
}

/* The payload of publish/message: kind= ('t', 'b', 'j') with payload=, or
 * data= (str: text, bytes-like: binary). Fills m's kind and payload; *in
 * must be released when *held. */
static int field_payload(fields_t *fs, wsk_chan_msg_t *m, inbuf_t *in, int *held) {
  PyObject *kind = field(fs, "kind"), *payload = field(fs, "payload"), *data = field(fs, "data");
  *held = 0;
  if (!payload) payload = data;
  if (!payload) {
    PyErr_SetString(PyExc_TypeError, "chan_build: payload (or data) is required");
    return -1;
  }
  if (buf_get(payload, in, "payload") < 0) return -1;
  *held = 1;
  if (kind) {
    Py_ssize_t kl;
    const char *k = PyUnicode_Check(kind) ? PyUnicode_AsUTF8AndSize(kind, &kl) : NULL;
    if (!k || kl != 1 || (k[0] != 't' && k[0] != 'b' && k[0] != 'j')) {
      PyErr_Clear();
      PyErr_SetString(PyExc_ValueError, "chan_build: kind must be 't', 'b' or 'j'");
      return -1;
    }
    m->kind = (wsk_payload_kind_t)k[0];
  } else {
    m->kind = in->is_text ? WSK_PAYLOAD_TEXT : WSK_PAYLOAD_BINARY;
  }
  m->payload = (const uint8_t *)in->data;
  m->payload_len = (size_t)in->len;
  return 0;
}

static PyObject *chan_build(PyObject *mod, PyObject *args, PyObject *kw) {
  (void)mod;
  const char *type;
  if (!PyArg_ParseTuple(args, "s", &type)) return NULL;
  fields_t fs = {kw, PyList_New(0)};
  if (!fs.keep) return NULL;
  wsk_buf_t out = {0};
  const char *ch = NULL, *ep = NULL, *id = NULL, *s1 = NULL, *s2 = NULL;
  size_t chl = 0, epl = 0, idl = 0, l1 = 0, l2 = 0;
  uint64_t u1 = 0, u2 = 0;
  int has = 0, held = 0, r = WSK_EINVAL;
  inbuf_t in;
  wsk_chan_msg_t msg;
  memset(&msg, 0, sizeof msg);
  PyObject *result = NULL;
  if (field_id(&fs, &id, &idl) < 0) goto done;
  int need_channel = strcmp(type, "error") != 0;
  if (field_str(&fs, "channel", need_channel, &ch, &chl) < 0) goto done;
  if (!strcmp(type, "subscribe")) {
    if (field_u64(&fs, "since", 0, &has, &u1) < 0 || field_str(&fs, "epoch", 0, &ep, &epl) < 0)
      goto done;
    r = wsk_chan_build_subscribe(&out, ch, chl, has, u1, ep, epl, id, idl);
  } else if (!strcmp(type, "unsubscribe")) {
    r = wsk_chan_build_unsubscribe(&out, ch, chl, id, idl);
  } else if (!strcmp(type, "unsubscribed")) {
    r = wsk_chan_build_unsubscribed(&out, ch, chl, id, idl);
  } else if (!strcmp(type, "publish") || !strcmp(type, "message")) {
    if (field_payload(&fs, &msg, &in, &held) < 0) goto done;
    msg.channel = ch;
    msg.channel_len = chl;
    if (type[0] == 'p') {
      r = wsk_chan_build_publish(&out, &msg, id, idl);
    } else {
      if (field_u64(&fs, "seq", 1, NULL, &msg.seq) < 0 ||
          field_str(&fs, "epoch", 1, &msg.epoch, &msg.epoch_len) < 0)
        goto done;
      r = wsk_chan_build_message(&out, &msg);
    }
  } else if (!strcmp(type, "subscribed")) {
    PyObject *rec = field(&fs, "recovered");
    int recovered = rec ? PyObject_IsTrue(rec) : 0;
    if (recovered < 0 || field_str(&fs, "epoch", 1, &ep, &epl) < 0 ||
        field_u64(&fs, "seq", 1, NULL, &u1) < 0)
      goto done;
    r = wsk_chan_build_subscribed(&out, ch, chl, ep, epl, u1, recovered, id, idl);
  } else if (!strcmp(type, "gap")) {
    if (field_str(&fs, "epoch", 1, &ep, &epl) < 0 || field_u64(&fs, "from", 1, NULL, &u1) < 0 ||
        field_u64(&fs, "to", 1, NULL, &u2) < 0 || field_str(&fs, "reason", 1, &s1, &l1) < 0)
      goto done;
    r = wsk_chan_build_gap(&out, ch, chl, ep, epl, u1, u2, s1);
  } else if (!strcmp(type, "published")) {
    if (field_u64(&fs, "seq", 1, NULL, &u1) < 0) goto done;
    r = wsk_chan_build_published(&out, ch, chl, u1, id, idl);
  } else if (!strcmp(type, "error")) {
    if (field_str(&fs, "code", 1, &s1, &l1) < 0 || field_str(&fs, "message", 0, &s2, &l2) < 0)
      goto done;
    r = wsk_chan_build_error(&out, s1, s2 ? s2 : "", ch, chl, id, idl);
  } else {
    PyErr_Format(PyExc_ValueError, "chan_build: unknown type %.50s", type);
    goto done;
  }
  if (r < 0) {
    build_failed(&out, r);
    goto done;
  }
  result = buf_to_str(&out);
done:
  wsk_buf_free(&out);
  if (held) buf_release(&in);
  Py_DECREF(fs.keep);
  (void)l2;
  return result;
}

static PyObject *json_valid(PyObject *m, PyObject *arg) {
  (void)m;
  inbuf_t in;
  if (buf_get(arg, &in, "text") < 0) return NULL;
  int ok = wsk_json_valid(in.data, (size_t)in.len);
  buf_release(&in);
  return PyBool_FromLong(ok);
}

/* ---- backplane ---- */

/* envelope_parse(bytes) -> (origin, channel, seq, epoch, kind, payload) */
static PyObject *envelope_parse(PyObject *m, PyObject *arg) {
  (void)m;
  inbuf_t in;
  if (buf_get(arg, &in, "envelope") < 0) return NULL;
  const char *origin = NULL, *why = NULL;
  size_t olen = 0;
  wsk_chan_msg_t msg;
  memset(&msg, 0, sizeof msg);
  PyObject *res = NULL;
  int r = wsk_envelope_parse((const uint8_t *)in.data, (size_t)in.len, &origin, &olen, &msg, &why);
  if (r < 0) {
    PyErr_Format(PyExc_ValueError, "bad envelope: %s", why ? why : wsk_strerror(r));
  } else {
    char kind[2] = {(char)msg.kind, 0};
    res = Py_BuildValue("(NNKNsy#)", str_or_none(origin, olen),
                        str_or_none(msg.channel, msg.channel_len), (unsigned long long)msg.seq,
                        str_or_none(msg.epoch, msg.epoch_len), kind, msg.payload,
                        (Py_ssize_t)msg.payload_len);
  }
  buf_release(&in);
  return res;
}

/* envelope_build(origin, channel, seq, epoch, kind, payload) -> bytes */
static PyObject *envelope_build(PyObject *m, PyObject *args) {
  (void)m;
  const char *origin, *channel, *epoch, *kind;
  Py_ssize_t chl, epl, kl;
  unsigned long long seq;
  PyObject *payload;
  if (!PyArg_ParseTuple(args, "ss#Ks#s#O", &origin, &channel, &chl, &seq, &epoch, &epl, &kind,
                        &kl, &payload))
    return NULL;
  if (kl != 1) {
    PyErr_SetString(PyExc_ValueError, "kind must be 't', 'b' or 'j'");
    return NULL;
  }
  inbuf_t in;
  if (buf_get(payload, &in, "payload") < 0) return NULL;
  wsk_chan_msg_t msg = {channel, (size_t)chl, seq, epoch, (size_t)epl, (wsk_payload_kind_t)kind[0],
                        (const uint8_t *)in.data, (size_t)in.len};
  wsk_buf_t out = {0};
  int r = wsk_envelope_build(&out, origin, &msg);
  buf_release(&in);
  if (r < 0) return build_failed(&out, r);
  return buf_to_bytes(&out);
}

static PyObject *backplane_key(PyObject *m, PyObject *args) {
  (void)m;
  const char *prefix, *which, *channel;
  Py_ssize_t chl;
  if (!PyArg_ParseTuple(args, "zss#", &prefix, &which, &channel, &chl)) return NULL;
  wsk_backplane_key_t k;
  if (!strcmp(which, "meta"))
    k = WSK_KEY_META;
  else if (!strcmp(which, "hist"))
    k = WSK_KEY_HIST;
  else if (!strcmp(which, "msg"))
    k = WSK_KEY_MSG;
  else {
    PyErr_SetString(PyExc_ValueError, "which must be 'meta', 'hist' or 'msg'");
    return NULL;
  }
  wsk_buf_t out = {0};
  int r = wsk_backplane_key(&out, prefix, k, channel, (size_t)chl);
  if (r < 0) return build_failed(&out, r);
  return buf_to_str(&out);
}

static PyObject *backplane_channel_of(PyObject *m, PyObject *args) {
  (void)m;
  const char *prefix, *ch = NULL;
  size_t chl = 0;
  PyObject *name;
  if (!PyArg_ParseTuple(args, "zO", &prefix, &name)) return NULL;
  inbuf_t in;
  if (buf_get(name, &in, "name") < 0) return NULL;
  int ok = wsk_backplane_channel_of(prefix, in.data, (size_t)in.len, &ch, &chl);
  PyObject *res = ok ? str_or_none(ch, chl) : Py_NewRef(Py_None);
  buf_release(&in);
  return res;
}

static PyObject *backplane_new_origin(PyObject *m, PyObject *unused) {
  (void)m;
  (void)unused;
  char out[17];
  int r = wsk_backplane_new_origin(NULL, NULL, out);
  if (r < 0) return wskpy_raise_code(r);
  return PyUnicode_FromString(out);
}

/* ---- SSE ---- */

static PyObject *sse_head(PyObject *m, PyObject *const *args, Py_ssize_t nargs) {
  (void)m;
  if (nargs > 1) {
    PyErr_SetString(PyExc_TypeError, "sse_head(headers=None)");
    return NULL;
  }
  PyObject *keep = PyList_New(0);
  if (!keep) return NULL;
  wsk_http_header_t *h = NULL;
  Py_ssize_t nh = wskpy_headers_from_py(nargs ? args[0] : Py_None, keep, &h);
  PyObject *res = NULL;
  if (nh >= 0) {
    wsk_buf_t out = {0};
    int r = wsk_sse_head(&out, h, (size_t)nh);
    res = r < 0 ? build_failed(&out, r) : buf_to_bytes(&out);
  }
  PyMem_Free(h);
  Py_DECREF(keep);
  return res;
}

static PyObject *sse_event(PyObject *m, PyObject *args, PyObject *kw) {
  (void)m;
  static char *kwlist[] = {"data", "id", "event", NULL};
  PyObject *data;
  const char *id = NULL, *event = NULL;
  Py_ssize_t idl = 0, evl = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "O|z#z#", kwlist, &data, &id, &idl, &event, &evl))
    return NULL;
  inbuf_t in;
  if (buf_get(data, &in, "data") < 0) return NULL;
  wsk_buf_t out = {0};
  int r = wsk_sse_event(&out, id, (size_t)idl, event, (size_t)evl, in.data, (size_t)in.len);
  buf_release(&in);
  return r < 0 ? build_failed(&out, r) : buf_to_bytes(&out);
}

static PyObject *sse_comment(PyObject *m, PyObject *const *args, Py_ssize_t nargs) {
  (void)m;
  const char *text = NULL;
  if (nargs > 1) {
    PyErr_SetString(PyExc_TypeError, "sse_comment(text=None)");
    return NULL;
  }
  if (nargs && args[0] != Py_None && !(text = PyUnicode_AsUTF8(args[0]))) return NULL;
  wsk_buf_t out = {0};
  int r = wsk_sse_comment(&out, text);
  return r < 0 ? build_failed(&out, r) : buf_to_bytes(&out);
}

static PyObject *sse_retry(PyObject *m, PyObject *arg) {
  (void)m;
  unsigned long ms = PyLong_AsUnsignedLong(arg);
  if (ms == (unsigned long)-1 && PyErr_Occurred()) return NULL;
  if (ms > UINT32_MAX) {
    PyErr_SetString(PyExc_ValueError, "retry is at most 2**32-1 ms");
    return NULL;
  }
  wsk_buf_t out = {0};
  int r = wsk_sse_retry(&out, (uint32_t)ms);
  return r < 0 ? build_failed(&out, r) : buf_to_bytes(&out);
}

static PyObject *sse_format_id(PyObject *m, PyObject *args) {
  (void)m;
  const char *epoch;
  Py_ssize_t epl;
  unsigned long long seq;
  if (!PyArg_ParseTuple(args, "s#K", &epoch, &epl, &seq)) return NULL;
  char out[WSK_SSE_MAX_ID];
  int n = wsk_sse_format_id(out, epoch, (size_t)epl, seq);
  if (n < 0) return wskpy_raise_code(n);
  return PyUnicode_DecodeUTF8(out, n, NULL);
}

static PyObject *sse_parse_id(PyObject *m, PyObject *arg) {
  (void)m;
  inbuf_t in;
  if (buf_get(arg, &in, "id") < 0) return NULL;
  const char *ep = NULL;
  size_t epl = 0;
  uint64_t seq = 0;
  int r = wsk_sse_parse_id(in.data, (size_t)in.len, &ep, &epl, &seq);
  PyObject *res = r < 0 ? Py_NewRef(Py_None)
                        : Py_BuildValue("(NK)", str_or_none(ep, epl), (unsigned long long)seq);
  buf_release(&in);
  return res;
}

static PyMethodDef functions[] = {
    {"chan_parse", chan_parse, METH_O,
     "chan_parse(data: str | bytes) -> dict: one JSON channel-protocol message (keys type,\n"
     "channel, since, epoch, seq, recovered, from, to, reason, kind, payload, id, code,\n"
     "message); ValueError naming what is wrong"},
    {"chan_build", (PyCFunction)(void (*)(void))chan_build, METH_VARARGS | METH_KEYWORDS,
     "chan_build(type, **fields) -> str: one channel-protocol message. Fields: channel,\n"
     "since, epoch, seq, recovered, from, to, reason, code, message, id (raw JSON str or\n"
     "int); publish/message payload: data= (str text, bytes binary) or kind= and payload="},
    {"json_valid", json_valid, METH_O, "json_valid(text) -> bool: exactly one JSON value"},
    {"envelope_parse", envelope_parse, METH_O,
     "envelope_parse(bytes) -> (origin, channel, seq, epoch, kind, payload)"},
    {"envelope_build", envelope_build, METH_VARARGS,
     "envelope_build(origin, channel, seq, epoch, kind, payload) -> bytes"},
    {"backplane_key", backplane_key, METH_VARARGS,
     "backplane_key(prefix, which, channel) -> str: which is 'meta', 'hist' or 'msg'"},
    {"backplane_channel_of", backplane_channel_of, METH_VARARGS,
     "backplane_channel_of(prefix, pubsub_name) -> str | None"},
    {"backplane_new_origin", backplane_new_origin, METH_NOARGS,
     "backplane_new_origin() -> str: a fresh instance id"},
    {"sse_head", (PyCFunction)(void (*)(void))sse_head, METH_FASTCALL,
     "sse_head(headers=None) -> bytes: the 200 text/event-stream response head"},
    {"sse_event", (PyCFunction)(void (*)(void))sse_event, METH_VARARGS | METH_KEYWORDS,
     "sse_event(data, id=None, event=None) -> bytes: one event"},
    {"sse_comment", (PyCFunction)(void (*)(void))sse_comment, METH_FASTCALL,
     "sse_comment(text=None) -> bytes: a comment (heartbeat)"},
    {"sse_retry", sse_retry, METH_O, "sse_retry(ms) -> bytes"},
    {"sse_format_id", sse_format_id, METH_VARARGS, "sse_format_id(epoch, seq) -> str"},
    {"sse_parse_id", sse_parse_id, METH_O,
     "sse_parse_id(text) -> (epoch, seq), or None when it is not an event id of ours"},
    {NULL, NULL, 0, NULL}};

int wskpy_chanproto_add(PyObject *m) {
  if (PyModule_AddFunctions(m, functions) < 0 ||
      PyModule_AddStringConstant(m, "REDIS_PUBLISH_SCRIPT", WSK_REDIS_PUBLISH_SCRIPT) < 0 ||
      PyModule_AddStringConstant(m, "REDIS_RECOVER_SCRIPT", WSK_REDIS_RECOVER_SCRIPT) < 0 ||
      PyModule_AddStringConstant(m, "BACKPLANE_PREFIX", WSK_BACKPLANE_PREFIX) < 0)
    return -1;
  return 0;
}
