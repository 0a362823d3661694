/* libFuzzer: the SSE client parser (optionally with chunked coding).
 * Input: byte 0 picks chunked (bit 0) and a split point, the rest is the
 * response body.
 * Checked: whole, byte-by-byte and two-piece feeds give the same events
 * and the same final result; events never hold CR in data, CR/LF in the
 * type, CR/LF/NUL in the id; each event re-formatted with wsk_sse_event
 * parses back to the same type and data (and id when it had one). */
#include "wskit/sse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_EVENT 4096

/* Events of one run, concatenated as records "type\0data\0id\0" with lengths. */
typedef struct run {
  wsk_buf_t ev;
  size_t n;
  int result;
} run_t;

static void put(wsk_buf_t *b, const char *s, size_t n) {
  uint64_t len = n;
  if (wsk_buf_append(b, &len, sizeof len) < 0 || wsk_buf_append(b, s, n) < 0) abort();
}

static void check_event(const wsk_sse_event_t *e) {
  if (e->type_len == 0 || memchr(e->type, '\r', e->type_len) || memchr(e->type, '\n', e->type_len))
    abort();
  if (e->data_len && memchr(e->data, '\r', e->data_len)) abort();
  if (e->id_len && (memchr(e->id, '\r', e->id_len) || memchr(e->id, '\n', e->id_len) ||
                    memchr(e->id, '\0', e->id_len)))
    abort();
  if (e->retry_ms < -1) abort();
}

static void drain(wsk_sse_parser_t *p, run_t *r) {
  wsk_sse_event_t e;
  while (wsk_sse_parser_next(p, &e)) {
    check_event(&e);
    put(&r->ev, e.type, e.type_len);
    put(&r->ev, e.data, e.data_len);
    put(&r->ev, e.id, e.id_len);
    uint64_t retry = (uint64_t)e.retry_ms;
    if (wsk_buf_append(&r->ev, &retry, sizeof retry) < 0) abort();
    r->n++;
  }
}

static void run(const uint8_t *d, size_t n, int chunked, size_t step, size_t cut, run_t *r) {
  memset(r, 0, sizeof *r);
  wsk_sse_parser_t *p = wsk_sse_parser_new(MAX_EVENT, chunked);
  if (!p) abort();
  for (size_t at = 0; at < n && r->result == 0;) {
    size_t len = step ? step : (at < cut ? cut - at : n - at);
    if (len > n - at) len = n - at;
    r->result = wsk_sse_parser_feed(p, d + at, len);
    drain(p, r);
    at += len;
  }
  wsk_sse_parser_free(p);
}

static void same(const run_t *a, const run_t *b) {
  if (a->result != b->result || a->n != b->n || a->ev.len != b->ev.len ||
      (a->ev.len && memcmp(a->ev.data, b->ev.data, a->ev.len) != 0))
    abort();
}

/* Each event, written back by the server side, reads back the same. */
static void round_trip(const uint8_t *d, size_t n, int chunked) {
  wsk_sse_parser_t *p = wsk_sse_parser_new(MAX_EVENT, chunked);
  wsk_buf_t out = { 0 };
  if (wsk_sse_parser_feed(p, d, n) < 0) {
    /* fine: the events before the error are still checked */
  }
  wsk_sse_event_t e;
  while (wsk_sse_parser_next(p, &e)) {
    int dflt = e.type_len == 7 && memcmp(e.type, "message", 7) == 0;
    out.len = out.off = 0;
    if (wsk_sse_event(&out, e.id, e.id_len, dflt ? NULL : e.type, dflt ? 0 : e.type_len, e.data,
                      e.data_len) != 0)
      abort();
    wsk_sse_parser_t *q = wsk_sse_parser_new(MAX_EVENT * 2, 0);
    if (wsk_sse_parser_feed(q, out.data, out.len) != 0) abort();
    wsk_sse_event_t f;
    if (!wsk_sse_parser_next(q, &f)) abort();
    if (f.type_len != e.type_len || memcmp(f.type, e.type, e.type_len) != 0) abort();
    if (f.data_len != e.data_len || (e.data_len && memcmp(f.data, e.data, e.data_len) != 0))
      abort();
    if (e.id_len && (f.id_len != e.id_len || memcmp(f.id, e.id, e.id_len) != 0)) abort();
    if (wsk_sse_parser_next(q, &f)) abort();
    wsk_sse_parser_free(q);
  }
  wsk_buf_free(&out);
  wsk_sse_parser_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int chunked = data[0] & 1;
  size_t n = size - 1;
  /* exact-size copy so ASan sees any read past n */
  uint8_t *p = malloc(n ? n : 1);
  if (!p) return 0;
  memcpy(p, data + 1, n);
  size_t cut = n ? (size_t)(data[0] >> 1) * n / 127 : 0;

  run_t whole, bytes, two;
  run(p, n, chunked, 0, n, &whole);
  run(p, n, chunked, 1, 0, &bytes);
  run(p, n, chunked, 0, cut, &two);
  same(&whole, &bytes);
  same(&whole, &two);
  wsk_buf_free(&whole.ev);
  wsk_buf_free(&bytes.ev);
  wsk_buf_free(&two.ev);
  round_trip(p, n, chunked);
  free(p);
  return 0;
}
