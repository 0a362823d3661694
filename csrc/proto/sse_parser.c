/* The client's event stream parser (WHATWG HTML "Server-sent events",
 * 9.2.6 Interpreting an event stream), with optional removal of HTTP/1.1
 * chunked transfer coding (RFC 9112 7.1) in front of it.
 *
 * Feeding does all the work: bytes are de-chunked, split into lines and
 * interpreted at once; complete events are queued as records in `queue`
 * and next() hands them out. Only the current line and the event being
 * built are bounded by max_event: a caller that feeds a lot at once owns
 * that choice, since the queue never holds more than what was fed. */
#include "wskit/sse.h"

#include <stdlib.h>
#include <string.h>

enum { CH_SIZE, CH_EXT, CH_SIZE_LF, CH_DATA, CH_DATA_END, CH_DATA_LF, CH_TRAILER, CH_DONE };

#define CH_MAX_LINE 4096  /* a chunk-size line or a trailer line */
#define CH_MAX_TRAILER (16 * 1024)

struct wsk_sse_parser {
  size_t max_event;
  int err;             /* sticky */
  /* chunked */
  int chunked, ch_state, ch_digits;
  uint64_t ch_left;
  size_t ch_line, ch_trailer;
  /* stream */
  int bom;             /* bytes of the BOM matched so far; -1 once past it */
  int after_cr;        /* the last line ended in CR: a following LF is part of it */
  wsk_buf_t line;      /* the incomplete line */
  wsk_buf_t data, type, id;
  int64_t retry;       /* a retry field since the last event, -1 */
  /* queued events: [hdr][type][data][id] records */
  wsk_buf_t queue;
  size_t taken;        /* size of the record handed out by the last next() */
};

typedef struct rec_hdr {
  size_t type_len, data_len, id_len;
  int64_t retry;
} rec_hdr_t;

wsk_sse_parser_t *wsk_sse_parser_new(size_t max_event, int chunked) {
  wsk_sse_parser_t *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->max_event = max_event ? max_event : 1 << 20;
  p->chunked = chunked ? 1 : 0;
  p->ch_state = CH_SIZE;
  p->retry = -1;
  return p;
}

void wsk_sse_parser_free(wsk_sse_parser_t *p) {
  if (!p) return;
  wsk_buf_free(&p->line);
  wsk_buf_free(&p->data);
  wsk_buf_free(&p->type);
  wsk_buf_free(&p->id);
  wsk_buf_free(&p->queue);
  free(p);
}

int wsk_sse_parser_done(const wsk_sse_parser_t *p) { return p->chunked && p->ch_state == CH_DONE; }

static int set(wsk_buf_t *b, const uint8_t *s, size_t n) {
  b->off = b->len = 0;
  return wsk_buf_append(b, s, n);
}

static int dispatch(wsk_sse_parser_t *p) {
  size_t dl = wsk_buf_pending(&p->data);
  if (dl == 0) { /* no data line: nothing is dispatched, the type is reset */
    p->type.off = p->type.len = 0;
    return 0;
  }
  dl--; /* the LF after the last line */
  static const char dflt[] = "message";
  size_t tl = wsk_buf_pending(&p->type);
  const void *t = tl ? (const void *)(p->type.data + p->type.off) : dflt;
  if (!tl) tl = sizeof dflt - 1;
  rec_hdr_t h = { tl, dl, wsk_buf_pending(&p->id), p->retry };
  /* Room for the whole record first, so a record is never half written. */
  if (!wsk_buf_reserve(&p->queue, sizeof h + tl + dl + h.id_len)) return WSK_ENOMEM;
  if (wsk_buf_append(&p->queue, &h, sizeof h) < 0 || wsk_buf_append(&p->queue, t, tl) < 0 ||
      wsk_buf_append(&p->queue, p->data.data + p->data.off, dl) < 0 ||
      wsk_buf_append(&p->queue, p->id.data ? p->id.data + p->id.off : NULL, h.id_len) < 0)
    return WSK_ENOMEM;
  p->data.off = p->data.len = 0;
  p->type.off = p->type.len = 0;
  p->retry = -1;
  return 0;
}

/* One whole line, without its end. */
static int line(wsk_sse_parser_t *p, const uint8_t *s, size_t n) {
  if (n == 0) return dispatch(p);
  if (s[0] == ':') return 0; /* comment */
  const uint8_t *colon = memchr(s, ':', n);
  size_t fl = colon ? (size_t)(colon - s) : n;
  const uint8_t *v = colon ? colon + 1 : s + n;
  size_t vl = colon ? n - fl - 1 : 0;
  if (vl && *v == ' ') {
    v++;
    vl--;
  }
  if (fl == 5 && memcmp(s, "event", 5) == 0) return set(&p->type, v, vl);
  if (fl == 4 && memcmp(s, "data", 4) == 0) {
    if (wsk_buf_append(&p->data, v, vl) < 0 || wsk_buf_append(&p->data, "\n", 1) < 0)
      return WSK_ENOMEM;
    return 0;
  }
  if (fl == 2 && memcmp(s, "id", 2) == 0) {
    if (vl && memchr(v, '\0', vl)) return 0; /* ids with NUL are ignored */
    return set(&p->id, v, vl);
  }
  if (fl == 5 && memcmp(s, "retry", 5) == 0) {
    if (vl == 0) return 0;
    int64_t r = 0;
    for (size_t i = 0; i < vl; i++) {
      if (v[i] < '0' || v[i] > '9') return 0; /* digits only, else ignored */
      if (r < INT64_MAX / 10 - 10) r = r * 10 + (v[i] - '0');
    }
    p->retry = r;
  }
  return 0; /* other fields are ignored */
}

static size_t pending_event(const wsk_sse_parser_t *p) {
  return wsk_buf_pending(&p->line) + wsk_buf_pending(&p->data) + wsk_buf_pending(&p->type);
}

/* De-chunked body bytes: split into lines. */
static int stream(wsk_sse_parser_t *p, const uint8_t *s, size_t n) {
  size_t i = 0;
  /* A UTF-8 BOM at the very start is skipped; bytes that only looked like
   * its beginning are put back in front. */
  while (p->bom >= 0 && i < n) {
    static const uint8_t bom[3] = { 0xEF, 0xBB, 0xBF };
    if (s[i] == bom[p->bom]) {
      i++;
      if (++p->bom == 3) p->bom = -1;
      continue;
    }
    int matched = p->bom;
    p->bom = -1;
    if (matched) {
      int r = stream(p, bom, (size_t)matched);
      if (r < 0) return r;
    }
  }
  while (i < n) {
    if (p->after_cr) {
      p->after_cr = 0;
      if (s[i] == '\n') {
        i++;
        continue;
      }
    }
    size_t j = i;
    while (j < n && s[j] != '\r' && s[j] != '\n') j++;
    if (j == n) { /* incomplete line: keep it */
      if (wsk_buf_append(&p->line, s + i, n - i) < 0) return WSK_ENOMEM;
      return pending_event(p) > p->max_event ? WSK_E2BIG : 0;
    }
    int r;
    if (wsk_buf_pending(&p->line)) {
      if (wsk_buf_append(&p->line, s + i, j - i) < 0) return WSK_ENOMEM;
      if (pending_event(p) > p->max_event) return WSK_E2BIG;
      r = line(p, p->line.data + p->line.off, wsk_buf_pending(&p->line));
      wsk_buf_consume(&p->line, wsk_buf_pending(&p->line), 4096);
    } else {
      if (pending_event(p) + (j - i) > p->max_event) return WSK_E2BIG;
      r = line(p, s + i, j - i);
    }
    if (r < 0) return r;
    if (pending_event(p) > p->max_event) return WSK_E2BIG;
    p->after_cr = s[j] == '\r';
    i = j + 1;
  }
  return 0;
}

static int hexval(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Remove the chunked framing, passing chunk data on to stream(). */
static int dechunk(wsk_sse_parser_t *p, const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    switch (p->ch_state) {
    case CH_SIZE: {
      int h = hexval(c);
      if (h >= 0) {
        if (p->ch_left >> 58) return WSK_EPROTO; /* absurd size */
        p->ch_left = p->ch_left * 16 + (uint64_t)h;
        p->ch_digits++;
        i++;
        break;
      }
      if (!p->ch_digits) return WSK_EPROTO;
      p->ch_state = CH_EXT;
      p->ch_line = 0;
      break; /* same byte again, as the end of the size */
    }
    case CH_EXT: /* chunk extensions (ignored) up to the line end */
      i++;
      if (c == '\n' || c == '\r') {
        p->ch_state = c == '\r' ? CH_SIZE_LF : CH_DATA;
        if (c == '\n') goto size_done;
        break;
      }
      if (p->ch_line == 0 && c != ';' && c != ' ' && c != '\t') return WSK_EPROTO;
      if (++p->ch_line > CH_MAX_LINE || c == '\0') return WSK_EPROTO;
      break;
    case CH_SIZE_LF:
      if (c != '\n') return WSK_EPROTO;
      i++;
    size_done:
      p->ch_digits = 0;
      if (p->ch_left == 0) {
        p->ch_state = CH_TRAILER;
        p->ch_line = p->ch_trailer = 0;
      } else {
        p->ch_state = CH_DATA;
      }
      break;
    case CH_DATA: {
      size_t take = n - i;
      if (take > p->ch_left) take = (size_t)p->ch_left;
      int r = stream(p, s + i, take);
      if (r < 0) return r;
      i += take;
      p->ch_left -= take;
      if (p->ch_left == 0) p->ch_state = CH_DATA_END;
      break;
    }
    case CH_DATA_END: /* CRLF (or a bare LF) after the chunk's data */
      i++;
      if (c == '\r') p->ch_state = CH_DATA_LF;
      else if (c == '\n') p->ch_state = CH_SIZE;
      else return WSK_EPROTO;
      break;
    case CH_DATA_LF:
      if (c != '\n') return WSK_EPROTO;
      i++;
      p->ch_state = CH_SIZE;
      break;
    case CH_TRAILER: /* trailer fields (ignored) until an empty line */
      i++;
      if (++p->ch_trailer > CH_MAX_TRAILER) return WSK_EPROTO;
      if (c == '\r') break;
      if (c == '\n') {
        if (p->ch_line == 0) p->ch_state = CH_DONE;
        p->ch_line = 0;
        break;
      }
      if (c == '\0') return WSK_EPROTO;
      p->ch_line++;
      break;
    default: /* CH_DONE: anything after the body is not ours */
      return 0;
    }
  }
  return 0;
}

int wsk_sse_parser_feed(wsk_sse_parser_t *p, const void *data, size_t len) {
  if (p->err) return p->err;
  if (len && !data) return WSK_EINVAL;
  if (len == 0) return 0;
  int r = p->chunked ? dechunk(p, data, len) : stream(p, data, len);
  if (r < 0) p->err = r;
  return r;
}

int wsk_sse_parser_next(wsk_sse_parser_t *p, wsk_sse_event_t *ev) {
  /* The record handed out last time is no longer needed. */
  wsk_buf_consume(&p->queue, p->taken, 64 * 1024);
  p->taken = 0;
  if (wsk_buf_pending(&p->queue) < sizeof(rec_hdr_t)) return 0;
  const uint8_t *q = p->queue.data + p->queue.off;
  rec_hdr_t h;
  memcpy(&h, q, sizeof h); /* records are not aligned */
  q += sizeof h;
  ev->type = (const char *)q;
  ev->type_len = h.type_len;
  ev->data = (const char *)q + h.type_len;
  ev->data_len = h.data_len;
  ev->id = (const char *)q + h.type_len + h.data_len;
  ev->id_len = h.id_len;
  ev->retry_ms = h.retry;
  p->taken = sizeof h + h.type_len + h.data_len + h.id_len;
  return 1;
}
