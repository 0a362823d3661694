/* libFuzzer: the response head parser and the client's check of it.
 * Input: byte 0 picks small or default limits, a split point and client
 * options; the rest is the bytes from the server.
 * Checked: consumed <= len and the bytes after the head are left alone;
 * whole, byte-by-byte and two-piece feeds agree; parsed strings are
 * NUL-terminated at their length; a 101 the client accepts really has
 * the right Accept, and what it chose was offered. */
#include "wskit/handshake.h"
#include "wskit/http.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

static long feed_split(wsk_http_parser_t *p, const uint8_t *d, size_t n, size_t step, size_t cut) {
  long total = 0;
  for (size_t at = 0; at < n;) {
    size_t len = step ? step : (at < cut ? cut - at : n - at);
    if (len > n - at) len = n - at;
    long r = wsk_http_parser_feed(p, d + at, len);
    if (r < 0) return r;
    total += r;
    if (wsk_http_parser_done(p)) break;
    if ((size_t)r != len) abort();
    at += len;
  }
  return total;
}

static void same(wsk_http_parser_t *a, long ra, wsk_http_parser_t *b, long rb) {
  if (ra != rb || wsk_http_parser_done(a) != wsk_http_parser_done(b) ||
      wsk_http_parser_status(a) != wsk_http_parser_status(b))
    abort();
  const wsk_http_head_t *ha = wsk_http_parser_head(a), *hb = wsk_http_parser_head(b);
  if (!ha) return;
  if (ha->status != hb->status || strcmp(ha->reason, hb->reason) || ha->nheaders != hb->nheaders) abort();
  for (size_t i = 0; i < ha->nheaders; i++)
    if (strcmp(ha->headers[i].name, hb->headers[i].name) || strcmp(ha->headers[i].value, hb->headers[i].value))
      abort();
}

static void client_check(const wsk_http_head_t *h, unsigned ctl) {
  static const char *const protos[] = { "chat", "superchat" };
  wsk_client_hs_opts_t co;
  wsk_client_hs_opts_init(&co);
  co.host = "h";
  if (ctl & 2) {
    co.subprotocols = protos;
    co.nsubprotocols = 2;
  }
  if (ctl & 4) co.deflate.enabled = 0;
  if (ctl & 8) co.deflate.server_max_window_bits = 10;
  if (ctl & 16) co.deflate.server_no_context_takeover = 1;
  if (ctl & 32) co.deflate.client_max_window_bits = 12;
  wsk_client_hs_result_t res;
  int r = wsk_client_response_check(&co, KEY, h, &res);
  if (res.status != h->status) abort();
  if (r == WSK_EHANDSHAKE) {
    if (!res.error || res.deflate.enabled || res.subprotocol[0]) abort();
    return;
  }
  if (r != 0 || h->status != 101) abort();
  const wsk_http_header_t *acc = wsk_http_head_find(h, "Sec-WebSocket-Accept");
  if (!acc || strcmp(acc->value, ACCEPT) != 0) abort();
  if (res.subprotocol[0] && (!(ctl & 2) || (strcmp(res.subprotocol, "chat") && strcmp(res.subprotocol, "superchat"))))
    abort();
  const wsk_deflate_params_t *d = &res.deflate;
  if (d->enabled) {
    if (ctl & 4) abort();
    if (d->server_max_window_bits < 8 || d->server_max_window_bits > ((ctl & 8) ? 10 : 15)) abort();
    if (d->client_max_window_bits < 8 || d->client_max_window_bits > ((ctl & 32) ? 12 : 15)) abort();
    if ((ctl & 16) && !d->server_no_context_takeover) abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  unsigned ctl = data[0];
  data++;
  size--;
  wsk_http_limits_t lim;
  wsk_http_limits_init(&lim);
  if (ctl & 1) {
    lim.max_line = 64;
    lim.max_head = 512;
    lim.max_headers = 6;
  }
  wsk_http_parser_t *whole = wsk_http_parser_new(WSK_HTTP_RESPONSE, &lim);
  wsk_http_parser_t *bytes = wsk_http_parser_new(WSK_HTTP_RESPONSE, &lim);
  wsk_http_parser_t *two = wsk_http_parser_new(WSK_HTTP_RESPONSE, &lim);
  if (!whole || !bytes || !two) abort();
  long rw = wsk_http_parser_feed(whole, data, size);
  if (rw > (long)size) abort();
  if (rw >= 0 && !wsk_http_parser_done(whole) && rw != (long)size) abort();
  same(whole, rw, bytes, feed_split(bytes, data, size, 1, 0));
  same(whole, rw, two, feed_split(two, data, size, 0, size ? (ctl * 7919u) % (size + 1) : 0));
  const wsk_http_head_t *h = wsk_http_parser_head(whole);
  if (h) {
    /* The head ends with LF right before the bytes it left. */
    if (rw < 1 || data[rw - 1] != '\n') abort();
    if (h->status < 100 || h->status > 599 || strlen(h->reason) > (size_t)rw) abort();
    for (size_t i = 0; i < h->nheaders; i++)
      if (strlen(h->headers[i].name) != h->headers[i].name_len ||
          strlen(h->headers[i].value) != h->headers[i].value_len)
        abort();
    long long cl = wsk_http_head_content_length(h);
    if (cl < -1 && cl != WSK_EHTTP) abort();
    client_check(h, ctl);
  }
  wsk_http_parser_free(whole);
  wsk_http_parser_free(bytes);
  wsk_http_parser_free(two);
  return 0;
}
