/* libFuzzer: wsk_chan_parse on any bytes. Checked: it accepts only valid
 * JSON (wsk_json_valid agrees), every pointer it returns lies in the input
 * or the len bytes of scratch (exact-size copies let ASan catch the rest),
 * and each accepted frame rebuilt with its builder parses back to the same
 * fields. Accepted channels have no control character. A refusal of any
 * input is an error that parses, carrying the input's id and channel
 * exactly when the input parsed. Also: escaping any UTF-8 input and
 * unescaping it is identity. */
#include "wskit/chanproto.h"

#include <stdlib.h>
#include <string.h>

#include "../../csrc/proto/json_internal.h"
#include "wskit/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same(const void *a, size_t an, const void *b, size_t bn) {
  return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

static void in_range(const void *p, size_t n, const char *in, size_t len, const uint8_t *scr) {
  if (!p) {
    if (n) abort();
    return;
  }
  const char *c = p;
  int ok = (c >= in && c + n <= in + len) ||
           (c >= (const char *)scr && c + n <= (const char *)scr + len);
  if (!ok) abort();
}

/* Rebuild f, parse the result into g. */
static int rebuild(const wsk_chan_frame_t *f, wsk_buf_t *b) {
  wsk_chan_msg_t m = { f->channel, f->channel_len, f->seq, f->epoch, f->epoch_len, f->kind,
                       f->payload, f->payload_len };
  char reason[256], code[256], msg[256];
  switch (f->type) {
  case WSK_CHAN_SUBSCRIBE:
    return wsk_chan_build_subscribe(b, f->channel, f->channel_len, f->has_since, f->since,
                                    f->epoch, f->epoch_len, f->id, f->id_len);
  case WSK_CHAN_UNSUBSCRIBE:
    return wsk_chan_build_unsubscribe(b, f->channel, f->channel_len, f->id, f->id_len);
  case WSK_CHAN_PUBLISH: return wsk_chan_build_publish(b, &m, f->id, f->id_len);
  case WSK_CHAN_SUBSCRIBED:
    return wsk_chan_build_subscribed(b, f->channel, f->channel_len, f->epoch, f->epoch_len, f->seq,
                                     f->recovered, f->id, f->id_len);
  case WSK_CHAN_MESSAGE: return wsk_chan_build_message(b, &m);
  case WSK_CHAN_GAP:
    /* reason is NUL-terminated for the builder: skip ones with NUL bytes */
    if (f->reason_len >= sizeof reason || memchr(f->reason, 0, f->reason_len)) return 1;
    memcpy(reason, f->reason, f->reason_len);
    reason[f->reason_len] = 0;
    return wsk_chan_build_gap(b, f->channel, f->channel_len, f->epoch, f->epoch_len, f->from,
                              f->to, reason);
  case WSK_CHAN_UNSUBSCRIBED:
    return wsk_chan_build_unsubscribed(b, f->channel, f->channel_len, f->id, f->id_len);
  case WSK_CHAN_PUBLISHED:
    return wsk_chan_build_published(b, f->channel, f->channel_len, f->seq, f->id, f->id_len);
  case WSK_CHAN_ERROR:
    if (f->code_len >= sizeof code || memchr(f->code, 0, f->code_len)) return 1;
    if (f->message_len >= sizeof msg || memchr(f->message, 0, f->message_len)) return 1;
    memcpy(code, f->code, f->code_len);
    code[f->code_len] = 0;
    memcpy(msg, f->message, f->message_len);
    msg[f->message_len] = 0;
    return wsk_chan_build_error(b, code, msg, f->channel, f->channel_len, f->id, f->id_len);
  }
  abort();
}

static void check_same(const wsk_chan_frame_t *f, const wsk_chan_frame_t *g) {
  if (f->type != g->type) abort();
  if (!same(f->channel, f->channel_len, g->channel, g->channel_len)) abort();
  if (f->has_since != g->has_since || f->since != g->since) abort();
  if (!same(f->epoch, f->epoch_len, g->epoch, g->epoch_len)) abort();
  if ((f->epoch == NULL) != (g->epoch == NULL)) abort();
  if (f->seq != g->seq || f->recovered != g->recovered) abort();
  if (f->from != g->from || f->to != g->to) abort();
  if (!same(f->reason, f->reason_len, g->reason, g->reason_len)) abort();
  if (f->kind != g->kind || !same(f->payload, f->payload_len, g->payload, g->payload_len)) abort();
  if (!same(f->id, f->id_len, g->id, g->id_len)) abort();
  if (!same(f->code, f->code_len, g->code, g->code_len)) abort();
  if (!same(f->message, f->message_len, g->message, g->message_len)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *in = malloc(size ? size : 1);
  uint8_t *scr = malloc(size ? size : 1);
  if (!in || !scr) abort();
  if (size) memcpy(in, data, size);

  wsk_chan_frame_t f;
  const char *why = NULL;
  int r = wsk_chan_parse(in, size, scr, &f, &why);
  int valid = wsk_json_valid(in, size);
  if (r == 0) {
    if (!valid || why != NULL) abort();
    in_range(f.channel, f.channel_len, in, size, scr);
    in_range(f.epoch, f.epoch_len, in, size, scr);
    in_range(f.reason, f.reason_len, in, size, scr);
    in_range(f.payload, f.payload_len, in, size, scr);
    in_range(f.id, f.id_len, in, size, scr);
    in_range(f.code, f.code_len, in, size, scr);
    in_range(f.message, f.message_len, in, size, scr);
    if (f.channel && (f.channel_len == 0 || f.channel_len > 1024)) abort();
    for (size_t i = 0; i < f.channel_len; i++)
      if ((uint8_t)f.channel[i] < 0x20 || (uint8_t)f.channel[i] == 0x7f) abort();
    if (f.epoch_len > WSK_CHAN_MAX_EPOCH) abort();
    if (f.kind == WSK_PAYLOAD_TEXT && wsk_utf8_validate(f.payload, f.payload_len) != 0) abort();
    if (f.kind == WSK_PAYLOAD_JSON && !wsk_json_valid((const char *)f.payload, f.payload_len)) abort();

    wsk_buf_t b = { 0 };
    int br = rebuild(&f, &b);
    if (br < 0) abort(); /* every parsed frame can be built again */
    if (br == 0) {
      uint8_t *scr2 = malloc(b.len ? b.len : 1);
      wsk_chan_frame_t g;
      if (!scr2 || wsk_chan_parse((const char *)b.data, b.len, scr2, &g, &why) != 0) abort();
      check_same(&f, &g);
      free(scr2);
    }
    wsk_buf_free(&b);
  } else {
    if (r != WSK_EPROTO || why == NULL) abort();
  }

  /* the refusal answering this input */
  {
    wsk_chan_frame_t f2, e;
    uint8_t *scr2 = malloc(size ? size : 1);
    if (!scr2) abort();
    int ok = wsk_chan_parse(in, size, scr2, &f2, NULL) == 0;
    wsk_buf_t b = { 0 };
    if (wsk_chan_build_refusal(&b, "rate_limited", "slow", in, size) != 0) abort();
    uint8_t *scr3 = malloc(b.len);
    if (!scr3 || wsk_chan_parse((const char *)b.data, b.len, scr3, &e, NULL) != 0 ||
        e.type != WSK_CHAN_ERROR)
      abort();
    if (ok && (!same(e.id, e.id_len, f2.id, f2.id_len) ||
               !same(e.channel, e.channel_len, f2.channel, f2.channel_len)))
      abort();
    if (!ok && (e.id || e.channel)) abort();
    free(scr3);
    free(scr2);
    wsk_buf_free(&b);
  }

  /* escape then unescape is identity on UTF-8 */
  if (wsk_utf8_validate(data, size) == 0) {
    wsk_buf_t b = { 0 };
    if (wsk_json_append_string(&b, data, size) != 0) abort();
    if (!wsk_json_valid((const char *)b.data, b.len)) abort();
    size_t n, end;
    if (wsk_json_string((const char *)b.data, b.len, 0, scr, &n, &end) != 0 || end != b.len ||
        !same(scr, n, data, size))
      abort();
    wsk_buf_free(&b);
  }
  free(in);
  free(scr);
  return 0;
}
