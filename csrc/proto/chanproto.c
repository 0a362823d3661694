/* The JSON channel protocol (chanproto.h, docs/protocol.md): parse one
 * message into a frame without allocating, and build each message.
 *
 * Parsing is two passes over the top-level object: the first records
 * where each known key's value is (refusing duplicates, validating every
 * value including unknown keys), the second, once the type is known,
 * converts the fields that type uses. Each known field is unescaped at
 * most once and unescaping never grows a string, so the strings of one
 * message fit in `len` bytes of scratch. */
#include "wskit/chanproto.h"

#include <stdlib.h>
#include <string.h>

#include "json_internal.h"
#include "wskit/channels.h" /* WSK_CHANNEL_MAX_NAME */
#include "wskit/utf8.h"

#define MAX_SAFE_INT ((UINT64_C(1) << 53) - 1) /* JSON numbers are exact below 2^53 */

enum { K_TYPE, K_CHANNEL, K_SINCE, K_EPOCH, K_SEQ, K_RECOVERED, K_FROM, K_TO, K_REASON,
       K_DATA, K_BINARY, K_ID, K_CODE, K_MESSAGE, K_COUNT };

static const char *const key_names[K_COUNT] = {
  "type", "channel", "since", "epoch", "seq", "recovered", "from", "to", "reason",
  "data", "binary", "id", "code", "message"
};

static const struct { const char *name; wsk_chan_type_t type; } types[] = {
  { "subscribe", WSK_CHAN_SUBSCRIBE },   { "unsubscribe", WSK_CHAN_UNSUBSCRIBE },
  { "publish", WSK_CHAN_PUBLISH },       { "subscribed", WSK_CHAN_SUBSCRIBED },
  { "message", WSK_CHAN_MESSAGE },       { "gap", WSK_CHAN_GAP },
  { "unsubscribed", WSK_CHAN_UNSUBSCRIBED }, { "published", WSK_CHAN_PUBLISHED },
  { "error", WSK_CHAN_ERROR },
};

typedef struct {
  const char *s;
  size_t len;
  size_t at[K_COUNT], end[K_COUNT]; /* value spans; at == SIZE_MAX: absent */
  uint8_t *scratch;
  size_t used;
  const char *why;
} parser_t;

#define FAIL(p, text) ((p)->why = (text), WSK_EPROTO)

/* A key as a known-key index, or -1. Keys are compared unescaped; a known
 * key is at most 9 bytes, each at most 6 raw, so longer keys are unknown. */
static int key_index(const char *s, size_t at, size_t end) {
  uint8_t buf[64];
  size_t n;
  if (end - at > sizeof buf) return -1;
  if (wsk_json_string(s, end, at, buf, &n, &end) != 0) return -1;
  for (int k = 0; k < K_COUNT; k++)
    if (strlen(key_names[k]) == n && memcmp(key_names[k], buf, n) == 0) return k;
  return -1;
}

static int scan_object(parser_t *p) {
  const char *s = p->s;
  size_t len = p->len;
  size_t i = wsk_json_skip_ws(s, len, 0);
  for (int k = 0; k < K_COUNT; k++) p->at[k] = SIZE_MAX;
  if (i >= len) return FAIL(p, "empty message");
  if (s[i] != '{') {
    size_t e;
    if (wsk_json_value(s, len, i, 0, &e) != 0 || wsk_json_skip_ws(s, len, e) != len)
      return FAIL(p, "not JSON");
    return FAIL(p, "not a JSON object");
  }
  i = wsk_json_skip_ws(s, len, i + 1);
  if (i < len && s[i] == '}') {
    i++;
  } else {
    for (;;) {
      size_t kat = i, kend;
      if (wsk_json_string(s, len, i, NULL, NULL, &kend) != 0) return FAIL(p, "not JSON");
      int k = key_index(s, kat, kend);
      i = wsk_json_skip_ws(s, len, kend);
      if (i >= len || s[i] != ':') return FAIL(p, "not JSON");
      i = wsk_json_skip_ws(s, len, i + 1);
      size_t vat = i;
      if (wsk_json_value(s, len, i, 1, &i) != 0) return FAIL(p, "not JSON");
      if (k >= 0) {
        if (p->at[k] != SIZE_MAX) return FAIL(p, "duplicate key");
        p->at[k] = vat;
        p->end[k] = i;
      }
      i = wsk_json_skip_ws(s, len, i);
      if (i >= len) return FAIL(p, "not JSON");
      if (s[i] == '}') {
        i++;
        break;
      }
      if (s[i] != ',') return FAIL(p, "not JSON");
      i = wsk_json_skip_ws(s, len, i + 1);
    }
  }
  if (wsk_json_skip_ws(s, len, i) != len) return FAIL(p, "not JSON");
  return 0;
}

static int has(const parser_t *p, int k) { return p->at[k] != SIZE_MAX; }

/* Unescape string field k into scratch. 1 found, 0 absent, <0 error. */
static int get_string(parser_t *p, int k, const char **out, size_t *out_len, const char *ill) {
  if (!has(p, k)) return 0;
  if (p->s[p->at[k]] != '"') return FAIL(p, ill);
  uint8_t *dst = p->scratch + p->used;
  size_t n, e;
  if (wsk_json_string(p->s, p->end[k], p->at[k], dst, &n, &e) != 0) return FAIL(p, ill);
  p->used += n;
  *out = (const char *)dst;
  *out_len = n;
  return 1;
}

static int need_string(parser_t *p, int k, const char **out, size_t *out_len, const char *missing,
                       const char *ill) {
  int r = get_string(p, k, out, out_len, ill);
  if (r == 0) return FAIL(p, missing);
  return r < 0 ? r : 0;
}

/* An integer in [0, 2^53): digits only, no sign, fraction or exponent. */
static int get_uint(parser_t *p, int k, uint64_t *v, const char *ill) {
  if (!has(p, k)) return 0;
  const char *s = p->s + p->at[k];
  size_t n = p->end[k] - p->at[k];
  if (n == 0 || n > 16 || (n > 1 && s[0] == '0')) return FAIL(p, ill);
  uint64_t x = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return FAIL(p, ill);
    x = x * 10 + (uint64_t)(s[i] - '0');
  }
  if (x > MAX_SAFE_INT) return FAIL(p, ill);
  *v = x;
  return 1;
}

static int need_uint(parser_t *p, int k, uint64_t *v, const char *missing, const char *ill) {
  int r = get_uint(p, k, v, ill);
  if (r == 0) return FAIL(p, missing);
  return r < 0 ? r : 0;
}

static int get_bool(parser_t *p, int k, int *v, const char *ill) {
  if (!has(p, k)) return 0;
  size_t n = p->end[k] - p->at[k];
  const char *s = p->s + p->at[k];
  if (n == 4 && memcmp(s, "true", 4) == 0) *v = 1;
  else if (n == 5 && memcmp(s, "false", 5) == 0) *v = 0;
  else return FAIL(p, ill);
  return 1;
}

int wsk_chan_name_ok(const char *s, size_t n) {
  if (!s || n == 0 || n > WSK_CHANNEL_MAX_NAME) return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f) return 0;
  return 1;
}

static int get_channel(parser_t *p, wsk_chan_frame_t *f, int required) {
  int r = get_string(p, K_CHANNEL, &f->channel, &f->channel_len, "channel must be a string");
  if (r < 0) return r;
  if (r == 0) {
    f->channel = NULL;
    return required ? FAIL(p, "missing channel") : 0;
  }
  if (f->channel_len == 0) return FAIL(p, "empty channel");
  if (f->channel_len > WSK_CHANNEL_MAX_NAME) return FAIL(p, "channel too long");
  if (!wsk_chan_name_ok(f->channel, f->channel_len))
    return FAIL(p, "control character in channel");
  return 0;
}

static int get_epoch(parser_t *p, wsk_chan_frame_t *f, int required) {
  int r = get_string(p, K_EPOCH, &f->epoch, &f->epoch_len, "epoch must be a string");
  if (r < 0) return r;
  if (r == 0) {
    f->epoch = NULL;
    return required ? FAIL(p, "missing epoch") : 0;
  }
  if (f->epoch_len > WSK_CHAN_MAX_EPOCH) return FAIL(p, "epoch too long");
  return 0;
}

/* "id": a number or a string, kept as its raw JSON text. */
static int get_id(parser_t *p, wsk_chan_frame_t *f) {
  if (!has(p, K_ID)) return 0;
  char c = p->s[p->at[K_ID]];
  if (c != '"' && c != '-' && !(c >= '0' && c <= '9'))
    return FAIL(p, "id must be a number or a string");
  f->id = p->s + p->at[K_ID];
  f->id_len = p->end[K_ID] - p->at[K_ID];
  return 0;
}

/* "data" (+ "binary") of publish and message. */
static int get_payload(parser_t *p, wsk_chan_frame_t *f) {
  int binary = 0;
  if (get_bool(p, K_BINARY, &binary, "binary must be a boolean") < 0) return WSK_EPROTO;
  if (!has(p, K_DATA)) return FAIL(p, "missing data");
  if (p->s[p->at[K_DATA]] != '"') {
    if (binary) return FAIL(p, "binary data must be a base64 string");
    f->kind = WSK_PAYLOAD_JSON;
    f->payload = (const uint8_t *)p->s + p->at[K_DATA];
    f->payload_len = p->end[K_DATA] - p->at[K_DATA];
    return 0;
  }
  const char *str;
  size_t n;
  if (get_string(p, K_DATA, &str, &n, "data must be a string") < 0) return WSK_EPROTO;
  f->payload = (const uint8_t *)str;
  f->payload_len = n;
  f->kind = WSK_PAYLOAD_TEXT;
  if (binary) {
    /* decode in place: base64 output never overtakes its input */
    long m = wsk_base64_decode_strict(str, n, (uint8_t *)str);
    if (m < 0) return FAIL(p, "binary data is not base64");
    f->payload_len = (size_t)m;
    f->kind = WSK_PAYLOAD_BINARY;
  }
  return 0;
}

static int parse_fields(parser_t *p, wsk_chan_frame_t *f) {
  const char *t;
  size_t tn;
  int r = get_string(p, K_TYPE, &t, &tn, "type must be a string");
  if (r < 0) return r;
  if (r == 0) return FAIL(p, "missing type");
  p->used -= tn; /* the type name needs no scratch afterwards */
  f->type = 0;
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
    if (strlen(types[i].name) == tn && memcmp(types[i].name, t, tn) == 0) f->type = types[i].type;
  if (f->type == 0) return FAIL(p, "unknown type");

  if (get_id(p, f) < 0) return WSK_EPROTO;
  switch (f->type) {
  case WSK_CHAN_SUBSCRIBE:
    if (get_channel(p, f, 1) < 0) return WSK_EPROTO;
    r = get_uint(p, K_SINCE, &f->since, "since must be an integer in [0, 2^53)");
    if (r < 0) return r;
    f->has_since = r;
    return get_epoch(p, f, 0);
  case WSK_CHAN_UNSUBSCRIBE:
  case WSK_CHAN_UNSUBSCRIBED:
    return get_channel(p, f, 1);
  case WSK_CHAN_PUBLISH:
    if (get_channel(p, f, 1) < 0) return WSK_EPROTO;
    return get_payload(p, f);
  case WSK_CHAN_SUBSCRIBED:
    if (get_channel(p, f, 1) < 0 || get_epoch(p, f, 1) < 0) return WSK_EPROTO;
    if (need_uint(p, K_SEQ, &f->seq, "missing seq", "seq must be an integer in [0, 2^53)") < 0)
      return WSK_EPROTO;
    r = get_bool(p, K_RECOVERED, &f->recovered, "recovered must be a boolean");
    if (r == 0) return FAIL(p, "missing recovered");
    return r < 0 ? r : 0;
  case WSK_CHAN_MESSAGE:
    if (get_channel(p, f, 1) < 0 || get_epoch(p, f, 1) < 0) return WSK_EPROTO;
    if (need_uint(p, K_SEQ, &f->seq, "missing seq", "seq must be an integer in [0, 2^53)") < 0)
      return WSK_EPROTO;
    return get_payload(p, f);
  case WSK_CHAN_GAP:
    if (get_channel(p, f, 1) < 0 || get_epoch(p, f, 1) < 0) return WSK_EPROTO;
    if (need_uint(p, K_FROM, &f->from, "missing from", "from must be an integer in [0, 2^53)") < 0 ||
        need_uint(p, K_TO, &f->to, "missing to", "to must be an integer in [0, 2^53)") < 0)
      return WSK_EPROTO;
    return need_string(p, K_REASON, &f->reason, &f->reason_len, "missing reason",
                       "reason must be a string");
  case WSK_CHAN_PUBLISHED:
    if (get_channel(p, f, 1) < 0) return WSK_EPROTO;
    return need_uint(p, K_SEQ, &f->seq, "missing seq", "seq must be an integer in [0, 2^53)");
  case WSK_CHAN_ERROR:
    if (need_string(p, K_CODE, &f->code, &f->code_len, "missing code", "code must be a string") < 0 ||
        need_string(p, K_MESSAGE, &f->message, &f->message_len, "missing message",
                    "message must be a string") < 0)
      return WSK_EPROTO;
    return get_channel(p, f, 0);
  }
  return FAIL(p, "unknown type");
}

int wsk_chan_parse(const char *json, size_t len, uint8_t *scratch, wsk_chan_frame_t *out,
                   const char **why) {
  parser_t p;
  memset(out, 0, sizeof *out);
  p.s = json;
  p.len = len;
  p.scratch = scratch;
  p.used = 0;
  p.why = NULL;
  int r = json ? scan_object(&p) : FAIL(&p, "empty message");
  if (r == 0) r = parse_fields(&p, out);
  if (r != 0) {
    memset(out, 0, sizeof *out);
    if (why) *why = p.why ? p.why : "bad message";
    return WSK_EPROTO;
  }
  if (why) *why = NULL;
  return 0;
}

/* ---- builders ---- */

/* Appenders that check what they write, so a built message always parses. */
static int put(wsk_buf_t *b, const char *lit) { return wsk_buf_append_str(b, lit); }

static int put_str(wsk_buf_t *b, const void *s, size_t n) {
  if (n && !s) return WSK_EINVAL;
  if (wsk_utf8_validate(s, n) != 0) return WSK_EUTF8;
  return wsk_json_append_string(b, s, n);
}

static int put_channel(wsk_buf_t *b, const char *ch, size_t n) {
  if (!wsk_chan_name_ok(ch, n)) return WSK_EINVAL;
  int r = put(b, ",\"channel\":");
  return r ? r : put_str(b, ch, n);
}

static int put_epoch(wsk_buf_t *b, const char *e, size_t n) {
  if ((!e && n) || n > WSK_CHAN_MAX_EPOCH) return WSK_EINVAL;
  int r = put(b, ",\"epoch\":");
  return r ? r : put_str(b, e ? e : "", n);
}

static int put_uint(wsk_buf_t *b, const char *key, uint64_t v) {
  if (v > MAX_SAFE_INT) return WSK_EINVAL;
  int r = put(b, key);
  return r ? r : wsk_json_append_u64(b, v);
}

static int put_id(wsk_buf_t *b, const char *id, size_t n) {
  if (!id || n == 0) return 0;
  /* the parser only accepts a number or a string */
  if (!wsk_json_valid(id, n) || !(id[0] == '"' || id[0] == '-' || (id[0] >= '0' && id[0] <= '9')))
    return WSK_EINVAL;
  int r = put(b, ",\"id\":");
  return r ? r : wsk_buf_append(b, id, n);
}

/* ,"data":D[,"binary":true] */
static int put_payload(wsk_buf_t *b, const wsk_chan_msg_t *m) {
  int r;
  if (m->payload_len && !m->payload) return WSK_EINVAL;
  switch (m->kind) {
  case WSK_PAYLOAD_TEXT:
    if (wsk_utf8_validate(m->payload, m->payload_len) != 0) return WSK_EUTF8;
    if ((r = put(b, ",\"data\":")) != 0) return r;
    return wsk_json_append_string(b, m->payload, m->payload_len);
  case WSK_PAYLOAD_BINARY:
    if ((r = put(b, ",\"data\":\"")) != 0) return r;
    if ((r = wsk_base64_append(b, m->payload, m->payload_len)) != 0) return r;
    return put(b, "\",\"binary\":true");
  case WSK_PAYLOAD_JSON: {
    const char *j = (const char *)m->payload;
    size_t n = m->payload_len;
    if (!wsk_json_valid(j, n)) return WSK_EINVAL;
    size_t a = wsk_json_skip_ws(j, n, 0);
    while (n > a && (j[n - 1] == ' ' || j[n - 1] == '\t' || j[n - 1] == '\n' || j[n - 1] == '\r'))
      n--;
    if ((r = put(b, ",\"data\":")) != 0) return r;
    return wsk_buf_append(b, j + a, n - a);
  }
  }
  return WSK_EINVAL;
}

/* Each builder runs its steps through STEP; on any error the buffer is
 * put back as it was, so a caller never sends half a message. */
#define STEP(x) do { if ((r = (x)) != 0) goto fail; } while (0)
#define BEGIN(type) size_t start = out->len; int r; STEP(put(out, "{\"type\":\"" type "\""))
#define END() STEP(put(out, "}")); return 0; fail: out->len = start; return r

int wsk_chan_build_message(wsk_buf_t *out, const wsk_chan_msg_t *m) {
  BEGIN("message");
  STEP(put_channel(out, m->channel, m->channel_len));
  STEP(put_uint(out, ",\"seq\":", m->seq));
  STEP(put_epoch(out, m->epoch, m->epoch_len));
  STEP(put_payload(out, m));
  END();
}

int wsk_chan_build_subscribe(wsk_buf_t *out, const char *channel, size_t channel_len,
                             int has_since, uint64_t since, const char *epoch, size_t epoch_len,
                             const char *id, size_t id_len) {
  BEGIN("subscribe");
  STEP(put_channel(out, channel, channel_len));
  if (has_since) STEP(put_uint(out, ",\"since\":", since));
  if (epoch) STEP(put_epoch(out, epoch, epoch_len));
  STEP(put_id(out, id, id_len));
  END();
}

int wsk_chan_build_unsubscribe(wsk_buf_t *out, const char *channel, size_t channel_len,
                               const char *id, size_t id_len) {
  BEGIN("unsubscribe");
  STEP(put_channel(out, channel, channel_len));
  STEP(put_id(out, id, id_len));
  END();
}

int wsk_chan_build_publish(wsk_buf_t *out, const wsk_chan_msg_t *m, const char *id, size_t id_len) {
  BEGIN("publish");
  STEP(put_channel(out, m->channel, m->channel_len));
  STEP(put_payload(out, m));
  STEP(put_id(out, id, id_len));
  END();
}

int wsk_chan_build_subscribed(wsk_buf_t *out, const char *channel, size_t channel_len,
                              const char *epoch, size_t epoch_len, uint64_t seq, int recovered,
                              const char *id, size_t id_len) {
  BEGIN("subscribed");
  STEP(put_channel(out, channel, channel_len));
  STEP(put_epoch(out, epoch, epoch_len));
  STEP(put_uint(out, ",\"seq\":", seq));
  STEP(put(out, recovered ? ",\"recovered\":true" : ",\"recovered\":false"));
  STEP(put_id(out, id, id_len));
  END();
}

int wsk_chan_build_gap(wsk_buf_t *out, const char *channel, size_t channel_len, const char *epoch,
                       size_t epoch_len, uint64_t from, uint64_t to, const char *reason) {
  BEGIN("gap");
  if (!reason) STEP(WSK_EINVAL);
  STEP(put_channel(out, channel, channel_len));
  STEP(put_epoch(out, epoch, epoch_len));
  STEP(put_uint(out, ",\"from\":", from));
  STEP(put_uint(out, ",\"to\":", to));
  STEP(put(out, ",\"reason\":"));
  STEP(put_str(out, reason, strlen(reason)));
  END();
}

int wsk_chan_build_unsubscribed(wsk_buf_t *out, const char *channel, size_t channel_len,
                                const char *id, size_t id_len) {
  BEGIN("unsubscribed");
  STEP(put_channel(out, channel, channel_len));
  STEP(put_id(out, id, id_len));
  END();
}

int wsk_chan_build_published(wsk_buf_t *out, const char *channel, size_t channel_len,
                             uint64_t seq, const char *id, size_t id_len) {
  BEGIN("published");
  STEP(put_channel(out, channel, channel_len));
  STEP(put_uint(out, ",\"seq\":", seq));
  STEP(put_id(out, id, id_len));
  END();
}

int wsk_chan_build_error(wsk_buf_t *out, const char *code, const char *message,
                         const char *channel, size_t channel_len, const char *id, size_t id_len) {
  BEGIN("error");
  if (!code) STEP(WSK_EINVAL);
  if (!message) message = "";
  STEP(put(out, ",\"code\":"));
  STEP(put_str(out, code, strlen(code)));
  STEP(put(out, ",\"message\":"));
  STEP(put_str(out, message, strlen(message)));
  if (channel) STEP(put_channel(out, channel, channel_len));
  STEP(put_id(out, id, id_len));
  END();
}

/* The parse needs `len` bytes of scratch; it is allocated (a refusal is
 * rare enough), and when that fails the error simply goes without id and
 * channel: it is still an answer. */
int wsk_chan_build_refusal(wsk_buf_t *out, const char *code, const char *message,
                           const void *request, size_t len) {
  wsk_chan_frame_t f;
  memset(&f, 0, sizeof f);
  uint8_t *scratch = NULL;
  if (request && len > 0 && (scratch = malloc(len)) != NULL &&
      wsk_chan_parse(request, len, scratch, &f, NULL) != 0)
    memset(&f, 0, sizeof f);
  int r = wsk_chan_build_error(out, code, message, f.channel, f.channel_len, f.id, f.id_len);
  free(scratch);
  return r;
}
