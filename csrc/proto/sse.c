/* Server-Sent Events: the server's formatting and event ids (sse.h). The
 * client's stream parser is in sse_parser.c. */
#include "wskit/sse.h"
#include "http_internal.h"
#include "json_internal.h" /* base64 */

#include <stdio.h>
#include <string.h>

int wsk_sse_head(wsk_buf_t *out, const wsk_http_header_t *headers, size_t nheaders) {
  /* Headers whose value the stream depends on are ours. */
  static const char *const owned[] = {
    "Content-Type", "Content-Length", "Transfer-Encoding", "Connection", NULL,
  };
  if (nheaders && !headers) return WSK_EINVAL;
  size_t mark = out->len;
  int r = WSK_ENOMEM;
  if (wsk_buf_append_str(out, "HTTP/1.1 200 OK\r\n"
                              "Content-Type: text/event-stream\r\n"
                              "Cache-Control: no-cache\r\n"
                              "X-Accel-Buffering: no\r\n"
                              "Connection: close\r\n") < 0)
    goto fail;
  if ((r = wsk_http_fields_append(out, headers, nheaders, owned)) < 0) goto fail;
  r = WSK_ENOMEM;
  if (wsk_buf_append(out, "\r\n", 2) < 0) goto fail;
  return 0;
fail:
  out->len = mark;
  return r;
}

static int has_any(const char *s, size_t n, int nul) {
  for (size_t i = 0; i < n; i++)
    if (s[i] == '\r' || s[i] == '\n' || (nul && s[i] == '\0')) return 1;
  return 0;
}

static int event(wsk_buf_t *out, const char *id, size_t id_len, const char *ev, size_t ev_len,
                 const uint8_t *p, size_t len) {
  if (id_len && (wsk_buf_append(out, "id: ", 4) < 0 || wsk_buf_append(out, id, id_len) < 0 ||
                 wsk_buf_append(out, "\n", 1) < 0))
    return WSK_ENOMEM;
  if (ev_len && (wsk_buf_append(out, "event: ", 7) < 0 || wsk_buf_append(out, ev, ev_len) < 0 ||
                 wsk_buf_append(out, "\n", 1) < 0))
    return WSK_ENOMEM;
  /* One data line per line of the payload; CR, LF and CRLF all end one,
   * as they do for the reader, so the payload's own line ends come back
   * as LF. */
  size_t i = 0;
  for (;;) {
    size_t j = i;
    while (j < len && p[j] != '\r' && p[j] != '\n') j++;
    if (wsk_buf_append(out, "data: ", 6) < 0 || wsk_buf_append(out, p + i, j - i) < 0 ||
        wsk_buf_append(out, "\n", 1) < 0)
      return WSK_ENOMEM;
    if (j == len) break;
    i = j + (p[j] == '\r' && j + 1 < len && p[j + 1] == '\n' ? 2 : 1);
  }
  return wsk_buf_append(out, "\n", 1) < 0 ? WSK_ENOMEM : 0;
}

int wsk_sse_event(wsk_buf_t *out, const char *id, size_t id_len, const char *ev, size_t ev_len,
                  const void *data, size_t len) {
  if ((id_len && (!id || has_any(id, id_len, 1))) || (ev_len && (!ev || has_any(ev, ev_len, 0))) ||
      (len && !data))
    return WSK_EINVAL;
  size_t mark = out->len;
  int r = event(out, id, id_len, ev, ev_len, data ? data : "", len);
  if (r < 0) out->len = mark;
  return r;
}

int wsk_sse_retry(wsk_buf_t *out, uint32_t ms) {
  char line[32];
  int n = snprintf(line, sizeof line, "retry: %lu\n\n", (unsigned long)ms);
  return wsk_buf_append(out, line, (size_t)n) < 0 ? WSK_ENOMEM : 0;
}

int wsk_sse_comment(wsk_buf_t *out, const char *text) {
  size_t n = text ? strlen(text) : 0;
  if (has_any(text ? text : "", n, 0)) return WSK_EINVAL;
  size_t mark = out->len;
  if (wsk_buf_append(out, ":", 1) < 0 || wsk_buf_append(out, text ? text : "", n) < 0 ||
      wsk_buf_append(out, "\n\n", 2) < 0) {
    out->len = mark;
    return WSK_ENOMEM;
  }
  return 0;
}

/* An epoch in an id: 1..64 visible ASCII bytes (it travels in a header). */
static int epoch_ok(const char *e, size_t n) {
  if (!e || n == 0 || n > 64) return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)e[i] <= 0x20 || (unsigned char)e[i] >= 0x7F) return 0;
  return 1;
}

int wsk_sse_format_id(char *out, const char *epoch, size_t epoch_len, uint64_t seq) {
  if (!epoch_ok(epoch, epoch_len)) return WSK_EINVAL;
  memcpy(out, epoch, epoch_len);
  int n = snprintf(out + epoch_len, WSK_SSE_MAX_ID - epoch_len, ":%llu", (unsigned long long)seq);
  return (int)epoch_len + n;
}

int wsk_sse_parse_id(const char *s, size_t len, const char **epoch, size_t *epoch_len,
                     uint64_t *seq) {
  if (!s) return WSK_EINVAL;
  size_t colon = len;
  while (colon > 0 && s[colon - 1] != ':') colon--;
  if (colon == 0) return WSK_EINVAL; /* no ':' */
  size_t elen = colon - 1, dlen = len - colon;
  const char *d = s + colon;
  if (!epoch_ok(s, elen) || dlen == 0 || dlen > 20 || (dlen > 1 && d[0] == '0')) return WSK_EINVAL;
  uint64_t v = 0;
  for (size_t i = 0; i < dlen; i++) {
    if (d[i] < '0' || d[i] > '9') return WSK_EINVAL;
    unsigned dig = (unsigned)(d[i] - '0');
    if (v > (UINT64_MAX - dig) / 10) return WSK_EINVAL;
    v = v * 10 + dig;
  }
  *epoch = s;
  *epoch_len = elen;
  *seq = v;
  return 0;
}

/* One hub output as an event (sse.h). Binary goes as base64, which has no
 * line ends, so it is written straight into `out` as one data line. */
int wsk_sse_hub_event(wsk_buf_t *out, const wsk_hub_out_t *o) {
  if (!out || !o) return WSK_EINVAL;
  if (o->kind == WSK_HUB_SUBSCRIBED) return 0;
  char id[WSK_SSE_MAX_ID];
  size_t mark = out->len;
  int n, r;
  if (o->kind == WSK_HUB_GAP) {
    if (o->json_len && !o->json) return WSK_EINVAL;
    if ((n = wsk_sse_format_id(id, o->epoch, o->epoch_len, o->to)) < 0) return n;
    r = wsk_sse_event(out, id, (size_t)n, "gap", 3, o->json, o->json_len);
    return r < 0 ? r : (int)(out->len - mark);
  }
  if (o->kind != WSK_HUB_MESSAGE || !o->msg) return WSK_EINVAL;
  const wsk_chan_msg_t *m = o->msg;
  if (m->payload_len && !m->payload) return WSK_EINVAL;
  if ((n = wsk_sse_format_id(id, o->epoch, o->epoch_len, o->seq)) < 0) return n;
  switch (m->kind) {
  case WSK_PAYLOAD_TEXT:
  case WSK_PAYLOAD_JSON:
    r = wsk_sse_event(out, id, (size_t)n, NULL, 0, m->payload, m->payload_len);
    return r < 0 ? r : (int)(out->len - mark);
  case WSK_PAYLOAD_BINARY:
    if (wsk_buf_append(out, "id: ", 4) < 0 || wsk_buf_append(out, id, (size_t)n) < 0 ||
        wsk_buf_append(out, "\ndata: ", 7) < 0 ||
        wsk_base64_append(out, m->payload, m->payload_len) < 0 ||
        wsk_buf_append(out, "\n\n", 2) < 0) {
      out->len = mark;
      return WSK_ENOMEM;
    }
    return (int)(out->len - mark);
  }
  return WSK_EINVAL;
}
