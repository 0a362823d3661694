/* libFuzzer: the request head parser and the server handshake.
 * Input: byte 0 picks small or default limits and a split point, the rest
 * is the bytes from the client.
 * Checked: consumed <= len; whole, byte-by-byte and two-piece feeds give
 * the same result; every parsed string is NUL-terminated at its length
 * and free of CR/LF/NUL; a request the server accepts yields a 101 that
 * parses and passes the client's check with the same choices. */
#include "wskit/handshake.h"
#include "wskit/http.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int str_ok(const char *s, size_t n) {
  return strlen(s) == n && !memchr(s, '\r', n) && !memchr(s, '\n', n);
}

static long feed_split(wsk_http_parser_t *p, const uint8_t *d, size_t n, size_t step, size_t cut) {
  long total = 0;
  for (size_t at = 0; at < n;) {
    size_t len = step ? step : (at < cut ? cut - at : n - at);
    if (len > n - at) len = n - at;
    long r = wsk_http_parser_feed(p, d + at, len);
    if (r < 0) return r;
    total += r;
    if (wsk_http_parser_done(p)) break;
    if ((size_t)r != len) abort(); /* not done: everything must be taken */
    at += len;
  }
  return total;
}

static void same(wsk_http_parser_t *a, long ra, wsk_http_parser_t *b, long rb) {
  if (ra != rb || wsk_http_parser_done(a) != wsk_http_parser_done(b) ||
      wsk_http_parser_status(a) != wsk_http_parser_status(b) ||
      strcmp(wsk_http_parser_error(a), wsk_http_parser_error(b)) != 0)
    abort();
  const wsk_http_head_t *ha = wsk_http_parser_head(a), *hb = wsk_http_parser_head(b);
  if (!ha) return;
  if (strcmp(ha->method, hb->method) || strcmp(ha->target, hb->target) ||
      ha->version_minor != hb->version_minor || ha->nheaders != hb->nheaders)
    abort();
  for (size_t i = 0; i < ha->nheaders; i++)
    if (strcmp(ha->headers[i].name, hb->headers[i].name) || strcmp(ha->headers[i].value, hb->headers[i].value))
      abort();
}

static void check_head(const wsk_http_head_t *h) {
  if (!str_ok(h->method, strlen(h->method)) || !str_ok(h->target, strlen(h->target))) abort();
  if (!wsk_http_head_find(h, "Host")) abort();
  for (size_t i = 0; i < h->nheaders; i++) {
    const wsk_http_header_t *f = &h->headers[i];
    if (f->name_len == 0 || !str_ok(f->name, f->name_len) || !str_ok(f->value, f->value_len)) abort();
  }
}

/* Answer an accepted request and check that our client agrees. */
static void answer(const wsk_server_hs_opts_t *so, const wsk_server_hs_request_t *req) {
  wsk_buf_t out = { 0 };
  if (wsk_server_response_build(req->key, req->key_len, req->subprotocol, &req->deflate, NULL, 0, &out) < 0)
    abort();
  wsk_http_parser_t *p = wsk_http_parser_new(WSK_HTTP_RESPONSE, NULL);
  if (wsk_http_parser_feed(p, out.data, out.len) != (long)out.len || !wsk_http_parser_done(p)) abort();
  wsk_client_hs_opts_t co;
  wsk_client_hs_opts_init(&co);
  co.host = "h";
  co.subprotocols = so->subprotocols;
  co.nsubprotocols = so->nsubprotocols;
  char key[25];
  memcpy(key, req->key, 24);
  key[24] = '\0';
  wsk_client_hs_result_t res;
  if (wsk_client_response_check(&co, key, wsk_http_parser_head(p), &res) != 0) abort();
  if (strcmp(res.subprotocol, req->subprotocol ? req->subprotocol : "") != 0) abort();
  res.deflate.server_bits_asked = req->deflate.server_bits_asked; /* not part of the agreement */
  if (memcmp(&res.deflate, &req->deflate, sizeof res.deflate) != 0) abort();
  wsk_http_parser_free(p);
  wsk_buf_free(&out);
}

static void server_check(const wsk_http_head_t *h, unsigned variant) {
  static const char *const protos[] = { "chat", "superchat", "v2.x" };
  static const char *const origins[] = { "http://example.com" };
  wsk_server_hs_opts_t so;
  wsk_server_hs_opts_init(&so);
  so.subprotocols = protos;
  so.nsubprotocols = 3;
  if (variant & 2) {
    so.origins = origins;
    so.norigins = 1;
  }
  if (variant & 4) so.deflate.server_max_window_bits = 10;
  if (variant & 8) so.deflate.client_max_window_bits = 9;
  wsk_server_hs_request_t req;
  if (wsk_server_request_check(&so, h, &req) < 0) return;
  switch (req.status) {
  case 0:
    if (!req.is_upgrade || !req.key || req.error) abort();
    answer(&so, &req);
    if (req.subprotocol && !wsk_server_request_offers(h, req.subprotocol)) abort();
    break;
  case 400: case 403: case 426:
    if (!req.error) abort();
    break;
  default:
    abort();
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
  wsk_http_parser_t *whole = wsk_http_parser_new(WSK_HTTP_REQUEST, &lim);
  wsk_http_parser_t *bytes = wsk_http_parser_new(WSK_HTTP_REQUEST, &lim);
  wsk_http_parser_t *two = wsk_http_parser_new(WSK_HTTP_REQUEST, &lim);
  if (!whole || !bytes || !two) abort();
  long rw = wsk_http_parser_feed(whole, data, size);
  if (rw > (long)size) abort();
  if (rw >= 0 && !wsk_http_parser_done(whole) && rw != (long)size) abort();
  if (rw < 0 && wsk_http_parser_status(whole) != 400 && wsk_http_parser_status(whole) != 431) abort();
  same(whole, rw, bytes, feed_split(bytes, data, size, 1, 0));
  same(whole, rw, two, feed_split(two, data, size, 0, size ? (ctl * 7919u) % (size + 1) : 0));
  const wsk_http_head_t *h = wsk_http_parser_head(whole);
  if (h) {
    check_head(h);
    (void)wsk_http_head_content_length(h);
    server_check(h, ctl);
  }
  /* After reset the parser must parse the same bytes the same way. */
  wsk_http_parser_reset(whole);
  if (wsk_http_parser_feed(whole, data, size) != rw) abort();
  wsk_http_parser_free(whole);
  wsk_http_parser_free(bytes);
  wsk_http_parser_free(two);
  return 0;
}
