/* HTTP head parser, header lists and response builder. */
#include "testlib.h"
#include "wskit/http.h"

#include <stdlib.h>
#include <string.h>

/* Parse `s` whole; returns the feed result, fills *status on error. */
static long parse_whole(wsk_http_kind_t kind, const char *s, size_t len,
                        const wsk_http_limits_t *lim, wsk_http_parser_t **out) {
  wsk_http_parser_t *p = wsk_http_parser_new(kind, lim);
  long r = wsk_http_parser_feed(p, (const uint8_t *)s, len);
  if (out) *out = p;
  else wsk_http_parser_free(p);
  return r;
}

/* The parser's status for a request string (0 when it parsed). */
static int req_status(const char *s) {
  wsk_http_parser_t *p;
  long r = parse_whole(WSK_HTTP_REQUEST, s, strlen(s), NULL, &p);
  int st = r < 0 ? wsk_http_parser_status(p) : wsk_http_parser_done(p) ? 0 : -1;
  wsk_http_parser_free(p);
  return st;
}

static int resp_status(const char *s) {
  wsk_http_parser_t *p;
  long r = parse_whole(WSK_HTTP_RESPONSE, s, strlen(s), NULL, &p);
  int st = r < 0 ? wsk_http_parser_status(p) : wsk_http_parser_done(p) ? 0 : -1;
  wsk_http_parser_free(p);
  return st;
}

#define REQ(extra) "GET /chat HTTP/1.1\r\nHost: example.com\r\n" extra "\r\n"

TEST(request_parses_line_and_headers) {
  const char *s = "GET /chat?x=1 HTTP/1.1\r\nHost:  server.example.com \r\nUpgrade:\twebsocket\t\r\n"
                  "X-Empty:\r\n\r\n";
  wsk_http_parser_t *p;
  CHECK_INT(parse_whole(WSK_HTTP_REQUEST, s, strlen(s), NULL, &p), strlen(s));
  CHECK(wsk_http_parser_done(p));
  const wsk_http_head_t *h = wsk_http_parser_head(p);
  CHECK(h != NULL);
  CHECK_INT(h->kind, WSK_HTTP_REQUEST);
  CHECK_STR(h->method, "GET");
  CHECK_STR(h->target, "/chat?x=1");
  CHECK_INT(h->version_minor, 1);
  CHECK_INT(h->nheaders, 3);
  CHECK_STR(h->headers[0].name, "Host");
  CHECK_STR(h->headers[0].value, "server.example.com");
  CHECK_INT(h->headers[0].value_len, 18);
  CHECK_STR(h->headers[1].value, "websocket");
  CHECK_STR(h->headers[2].value, "");
  CHECK_INT(h->headers[2].value_len, 0);
  wsk_http_parser_free(p);
}

TEST(response_parses_status_and_reason) {
  const char *s = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
  wsk_http_parser_t *p;
  CHECK_INT(parse_whole(WSK_HTTP_RESPONSE, s, strlen(s), NULL, &p), strlen(s));
  const wsk_http_head_t *h = wsk_http_parser_head(p);
  CHECK_INT(h->status, 101);
  CHECK_STR(h->reason, "Switching Protocols");
  CHECK_INT(h->version_minor, 1);
  wsk_http_parser_free(p);
}

TEST(response_accepts_empty_reason) {
  CHECK_INT(resp_status("HTTP/1.1 200 \r\n\r\n"), 0);
  CHECK_INT(resp_status("HTTP/1.1 200\r\n\r\n"), 0);
}

TEST(head_is_null_until_done) {
  wsk_http_parser_t *p = wsk_http_parser_new(WSK_HTTP_REQUEST, NULL);
  CHECK(wsk_http_parser_head(p) == NULL);
  CHECK_INT(wsk_http_parser_feed(p, (const uint8_t *)"GET / HTTP/1.1\r\n", 16), 16);
  CHECK(!wsk_http_parser_done(p));
  CHECK(wsk_http_parser_head(p) == NULL);
  wsk_http_parser_free(p);
}

TEST(header_names_are_case_insensitive) {
  const char *s = "GET / HTTP/1.1\r\nhOsT: a\r\nsec-websocket-key: k\r\n\r\n";
  wsk_http_parser_t *p;
  CHECK(parse_whole(WSK_HTTP_REQUEST, s, strlen(s), NULL, &p) > 0);
  const wsk_http_head_t *h = wsk_http_parser_head(p);
  CHECK(wsk_http_head_find(h, "Host") != NULL);
  CHECK_STR(wsk_http_head_find(h, "SEC-WEBSOCKET-KEY")->value, "k");
  CHECK(wsk_http_head_find(h, "Origin") == NULL);
  wsk_http_parser_free(p);
}

TEST(request_accepts_bare_lf_line_endings) {
  CHECK_INT(req_status("GET / HTTP/1.1\nHost: a\n\n"), 0);
  CHECK_INT(req_status("GET / HTTP/1.1\r\nHost: a\n\r\n"), 0);
}

TEST(request_rejects_bare_cr) {
  CHECK_INT(req_status("GET / HTTP/1.1\rHost: a\r\n\r\n"), 400);
  CHECK_INT(req_status("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n"), 400);
  CHECK_INT(req_status("GET / HTTP/1.1\r\nHost: a\r\n\r\r\n"), 400);
}

TEST(request_rejects_obs_fold) {
  CHECK_INT(req_status(REQ("X-A: one\r\n two\r\n")), 400);
  CHECK_INT(req_status(REQ("X-A: one\r\n\ttwo\r\n")), 400);
}

TEST(request_rejects_nul) {
  const char s[] = "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n";
  wsk_http_parser_t *p;
  CHECK_INT(parse_whole(WSK_HTTP_REQUEST, s, sizeof s - 1, NULL, &p), WSK_EHTTP);
  CHECK_INT(wsk_http_parser_status(p), 400);
  CHECK(strlen(wsk_http_parser_error(p)) > 0);
  wsk_http_parser_free(p);
}

TEST(request_rejects_control_chars) {
  CHECK_INT(req_status(REQ("X: a\x01z\r\n")), 400);
  CHECK_INT(req_status(REQ("X: a\x7fz\r\n")), 400);
  CHECK_INT(req_status("GET /\x1b HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
}

TEST(request_accepts_tab_and_obs_text_in_values) {
  CHECK_INT(req_status(REQ("X: a\tb \xc3\xa9\r\n")), 0);
}

TEST(request_rejects_space_before_colon) {
  CHECK_INT(req_status(REQ("X-A : b\r\n")), 400);
  CHECK_INT(req_status(REQ("X-A\t: b\r\n")), 400);
}

TEST(request_rejects_empty_header_name) { CHECK_INT(req_status(REQ(": b\r\n")), 400); }

TEST(request_rejects_invalid_name_chars) {
  CHECK_INT(req_status(REQ("X(A): b\r\n")), 400);
  CHECK_INT(req_status(REQ("X\xc3\xa9: b\r\n")), 400);
  CHECK_INT(req_status(REQ("X\"A: b\r\n")), 400);
}

TEST(request_rejects_line_without_colon) { CHECK_INT(req_status(REQ("X-A b\r\n")), 400); }

TEST(request_rejects_missing_host) {
  CHECK_INT(req_status("GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"), 400);
}

TEST(response_does_not_need_host) { CHECK_INT(resp_status("HTTP/1.1 101 OK\r\n\r\n"), 0); }

TEST(request_rejects_duplicate_single_headers) {
  CHECK_INT(req_status(REQ("Host: b\r\n")), 400);
  CHECK_INT(req_status(REQ("host: example.com\r\n")), 400);
  CHECK_INT(req_status(REQ("Content-Length: 0\r\nContent-Length: 0\r\n")), 400);
  CHECK_INT(req_status(REQ("Sec-WebSocket-Key: a\r\nSec-WebSocket-Key: a\r\n")), 400);
  CHECK_INT(req_status(REQ("Sec-WebSocket-Version: 13\r\nsec-websocket-version: 13\r\n")), 400);
  CHECK_INT(req_status(REQ("Origin: a\r\nOrigin: b\r\n")), 400);
  CHECK_INT(req_status(REQ("Sec-WebSocket-Accept: a\r\nSec-WebSocket-Accept: a\r\n")), 400);
}

TEST(request_allows_repeated_list_headers) {
  CHECK_INT(req_status(REQ("Sec-WebSocket-Protocol: a\r\nSec-WebSocket-Protocol: b\r\n"
                           "Sec-WebSocket-Extensions: x\r\nSec-WebSocket-Extensions: y\r\n")), 0);
}

TEST(response_rejects_duplicate_accept) {
  CHECK_INT(resp_status("HTTP/1.1 101 OK\r\nSec-WebSocket-Accept: a\r\nSec-WebSocket-Accept: a\r\n\r\n"),
            400);
}

TEST(response_allows_repeated_version) {
  CHECK_INT(resp_status("HTTP/1.1 400 Bad\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Version: 8\r\n"
                        "\r\n"), 0);
}

TEST(request_rejects_bad_request_line) {
  CHECK_INT(req_status("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
  CHECK_INT(req_status("GET /  HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
  CHECK_INT(req_status("GET / HTTP/1.1 \r\nHost: a\r\n\r\n"), 400);
  CHECK_INT(req_status("GET /\r\nHost: a\r\n\r\n"), 400);
  CHECK_INT(req_status(" / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
  CHECK_INT(req_status("G(T / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
  CHECK_INT(req_status("GET / http/1.1\r\nHost: a\r\n\r\n"), 400);
  CHECK_INT(req_status("GET / HTTP/1.10\r\nHost: a\r\n\r\n"), 400);
  CHECK_INT(req_status("GET / HTTP/1.x\r\nHost: a\r\n\r\n"), 400);
  CHECK_INT(req_status("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
}

TEST(request_rejects_empty_request_line) {
  CHECK_INT(req_status("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
}

TEST(request_rejects_non_ascii_target) {
  CHECK_INT(req_status("GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
}

TEST(request_rejects_http_version_other_than_1) {
  CHECK_INT(req_status("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 400);
  CHECK_INT(req_status("GET / HTTP/0.9\r\nHost: a\r\n\r\n"), 400);
  CHECK_INT(resp_status("HTTP/2.0 101 OK\r\n\r\n"), 400);
}

TEST(request_accepts_http_1_0_and_minor_versions) {
  wsk_http_parser_t *p;
  const char *s = "GET / HTTP/1.0\r\nHost: a\r\n\r\n";
  CHECK(parse_whole(WSK_HTTP_REQUEST, s, strlen(s), NULL, &p) > 0);
  CHECK_INT(wsk_http_parser_head(p)->version_minor, 0);
  wsk_http_parser_free(p);
}

TEST(response_rejects_bad_status_line) {
  CHECK_INT(resp_status("HTTP/1.1 10 OK\r\n\r\n"), 400);
  CHECK_INT(resp_status("HTTP/1.1 1011 OK\r\n\r\n"), 400);
  CHECK_INT(resp_status("HTTP/1.1 600 OK\r\n\r\n"), 400);
  CHECK_INT(resp_status("HTTP/1.1 099 OK\r\n\r\n"), 400);
  CHECK_INT(resp_status("HTTP/1.1  101 OK\r\n\r\n"), 400);
  CHECK_INT(resp_status("HTTP/1.1 1a1 OK\r\n\r\n"), 400);
  CHECK_INT(resp_status("HTTP/1.1101 OK\r\n\r\n"), 400);
  CHECK_INT(resp_status("HTTP/1.1\r\n\r\n"), 400);
  CHECK_INT(resp_status("\r\n\r\n"), 400);
  CHECK_INT(resp_status("ICY 200 OK\r\n\r\n"), 400);
}

TEST(request_rejects_malformed_content_length) {
  CHECK_INT(req_status(REQ("Content-Length: 12a\r\n")), 400);
  CHECK_INT(req_status(REQ("Content-Length: -1\r\n")), 400);
  CHECK_INT(req_status(REQ("Content-Length: 99999999999999999999999\r\n")), 400);
  CHECK_INT(req_status(REQ("Content-Length:\r\n")), 400);
  CHECK_INT(req_status(REQ("Content-Length: 5\r\n")), 0);
}

TEST(content_length_values) {
  wsk_http_parser_t *p;
  const char *s = "HTTP/1.1 403 Forbidden\r\nContent-Length: 42\r\n\r\n";
  CHECK(parse_whole(WSK_HTTP_RESPONSE, s, strlen(s), NULL, &p) > 0);
  CHECK_INT(wsk_http_head_content_length(wsk_http_parser_head(p)), 42);
  wsk_http_parser_free(p);
  s = "HTTP/1.1 403 Forbidden\r\n\r\n";
  CHECK(parse_whole(WSK_HTTP_RESPONSE, s, strlen(s), NULL, &p) > 0);
  CHECK_INT(wsk_http_head_content_length(wsk_http_parser_head(p)), -1);
  wsk_http_parser_free(p);
}

TEST(head_count_counts_repeats) {
  wsk_http_parser_t *p;
  const char *s = REQ("X-A: 1\r\nx-a: 2\r\n");
  CHECK(parse_whole(WSK_HTTP_REQUEST, s, strlen(s), NULL, &p) > 0);
  CHECK_INT(wsk_http_head_count(wsk_http_parser_head(p), "X-A"), 2);
  CHECK_INT(wsk_http_head_count(wsk_http_parser_head(p), "X-B"), 0);
  wsk_http_parser_free(p);
}

/* ---- limits ---- */

static char *head_with_line(size_t value_len) {
  /* "GET / HTTP/1.1\r\nHost: a\r\nX: <value>\r\n\r\n"; the X line is 3 + value_len */
  char *s = malloc(64 + value_len);
  strcpy(s, "GET / HTTP/1.1\r\nHost: a\r\nX: ");
  size_t n = strlen(s);
  memset(s + n, 'v', value_len);
  strcpy(s + n + value_len, "\r\n\r\n");
  return s;
}

TEST(line_limit_just_under_accepted_over_is_431) {
  wsk_http_limits_t lim;
  wsk_http_limits_init(&lim);
  CHECK_INT(lim.max_line, 8192);
  char *ok = head_with_line(8192 - 3), *bad = head_with_line(8192 - 2);
  CHECK_INT(req_status(ok), 0);
  CHECK_INT(req_status(bad), 431);
  wsk_http_parser_t *p;
  CHECK_INT(parse_whole(WSK_HTTP_REQUEST, bad, strlen(bad), NULL, &p), WSK_E2BIG);
  CHECK_INT(wsk_http_parser_status(p), 431);
  wsk_http_parser_free(p);
  free(ok);
  free(bad);
}

TEST(line_limit_applies_to_request_line) {
  wsk_http_limits_t lim;
  wsk_http_limits_init(&lim);
  lim.max_line = 20;
  const char *ok = "GET /12345 HTTP/1.1\r\nHost: a\r\n\r\n"; /* 19 */
  const char *ok2 = "GET /123456 HTTP/1.1\r\nHost: a\r\n\r\n"; /* 20 */
  const char *bad = "GET /1234567 HTTP/1.1\r\nHost: a\r\n\r\n"; /* 21 */
  CHECK(parse_whole(WSK_HTTP_REQUEST, ok, strlen(ok), &lim, NULL) > 0);
  CHECK(parse_whole(WSK_HTTP_REQUEST, ok2, strlen(ok2), &lim, NULL) > 0);
  CHECK_INT(parse_whole(WSK_HTTP_REQUEST, bad, strlen(bad), &lim, NULL), WSK_E2BIG);
}

TEST(head_limit_just_under_accepted_over_is_431) {
  wsk_http_limits_t lim;
  wsk_http_limits_init(&lim);
  lim.max_head = 100;
  /* total = 25 + 3 + v + 4 */
  char *ok = head_with_line(100 - 32), *bad = head_with_line(100 - 31);
  CHECK_INT(strlen(ok), 100);
  CHECK_INT(parse_whole(WSK_HTTP_REQUEST, ok, strlen(ok), &lim, NULL), 100);
  wsk_http_parser_t *p;
  CHECK_INT(parse_whole(WSK_HTTP_REQUEST, bad, strlen(bad), &lim, &p), WSK_E2BIG);
  CHECK_INT(wsk_http_parser_status(p), 431);
  wsk_http_parser_free(p);
  free(ok);
  free(bad);
}

TEST(default_head_limit_is_16k) {
  /* Many 8000-byte lines: the third one crosses 16384. */
  size_t n = 3 * 8010 + 100;
  char *s = malloc(n);
  strcpy(s, "GET / HTTP/1.1\r\nHost: a\r\n");
  for (int i = 0; i < 3; i++) {
    size_t l = strlen(s);
    memcpy(s + l, "X: ", 3);
    memset(s + l + 3, 'v', 8000);
    strcpy(s + l + 8003, "\r\n");
  }
  strcat(s, "\r\n");
  CHECK_INT(req_status(s), 431);
  free(s);
}

static char *head_with_headers(size_t count) {
  char *s = malloc(64 + count * 8);
  strcpy(s, "GET / HTTP/1.1\r\nHost: a\r\n");
  for (size_t i = 1; i < count; i++) strcat(s, "X: y\r\n");
  strcat(s, "\r\n");
  return s;
}

TEST(header_count_limit_just_under_accepted_over_is_431) {
  char *ok = head_with_headers(128), *bad = head_with_headers(129);
  CHECK_INT(req_status(ok), 0);
  CHECK_INT(req_status(bad), 431);
  free(ok);
  free(bad);
  wsk_http_limits_t lim;
  wsk_http_limits_init(&lim);
  lim.max_headers = 3;
  ok = head_with_headers(3);
  bad = head_with_headers(4);
  CHECK(parse_whole(WSK_HTTP_REQUEST, ok, strlen(ok), &lim, NULL) > 0);
  CHECK_INT(parse_whole(WSK_HTTP_REQUEST, bad, strlen(bad), &lim, NULL), WSK_E2BIG);
  free(ok);
  free(bad);
}

TEST(zero_limits_mean_defaults) {
  wsk_http_limits_t lim = { 0, 0, 0 };
  const char *s = REQ("");
  CHECK(parse_whole(WSK_HTTP_REQUEST, s, strlen(s), &lim, NULL) > 0);
}

/* ---- incremental feeding ---- */

/* A summary of the parse result to compare feeding strategies. */
static void describe(wsk_http_parser_t *p, long consumed, char *out, size_t cap) {
  const wsk_http_head_t *h = wsk_http_parser_head(p);
  size_t n = (size_t)snprintf(out, cap, "%ld|%d|%d|", consumed, wsk_http_parser_status(p),
                              wsk_http_parser_done(p));
  if (!h) return;
  n += (size_t)snprintf(out + n, cap - n, "%s|%s|%d|%d|%s|", h->method, h->target,
                        h->version_minor, h->status, h->reason);
  for (size_t i = 0; i < h->nheaders && n < cap; i++) {
    n += (size_t)snprintf(out + n, cap - n, "%s=%s;", h->headers[i].name, h->headers[i].value);
    if (n >= cap) n = cap - 1;
  }
}

/* Feed s in pieces cut at `cuts`; returns the total consumed or the error. */
static long feed_pieces(wsk_http_parser_t *p, const char *s, size_t len, const size_t *cuts,
                        size_t ncuts) {
  size_t at = 0;
  long total = 0;
  for (size_t i = 0; i <= ncuts; i++) {
    size_t end = i < ncuts ? cuts[i] : len;
    long r = wsk_http_parser_feed(p, (const uint8_t *)s + at, end - at);
    if (r < 0) return r;
    total += r;
    if (wsk_http_parser_done(p)) return total;
    at = end;
  }
  return total;
}

static void check_splits(wsk_http_kind_t kind, const char *s) {
  size_t len = strlen(s);
  char whole[4096], piece[4096];
  wsk_http_parser_t *p = wsk_http_parser_new(kind, NULL);
  describe(p, wsk_http_parser_feed(p, (const uint8_t *)s, len), whole, sizeof whole);
  wsk_http_parser_free(p);
  /* byte by byte */
  size_t *cuts = malloc(len * sizeof *cuts);
  for (size_t i = 0; i < len; i++) cuts[i] = i + 1;
  p = wsk_http_parser_new(kind, NULL);
  describe(p, feed_pieces(p, s, len, cuts, len ? len - 1 : 0), piece, sizeof piece);
  wsk_http_parser_free(p);
  CHECK_STR(piece, whole);
  /* one cut at every point */
  for (size_t c = 0; c <= len; c++) {
    p = wsk_http_parser_new(kind, NULL);
    describe(p, feed_pieces(p, s, len, &c, 1), piece, sizeof piece);
    wsk_http_parser_free(p);
    CHECK_STR(piece, whole);
  }
  free(cuts);
}

TEST(whole_bytewise_and_split_feeds_agree) {
  check_splits(WSK_HTTP_REQUEST, "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
                                 "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                 "Sec-WebSocket-Version: 13\r\n\r\n");
  check_splits(WSK_HTTP_RESPONSE, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                  "Connection: Upgrade\r\n\r\n\x81\x05hello");
  check_splits(WSK_HTTP_REQUEST, "GET / HTTP/1.1\nHost: a\n\nGET / HTTP/1.1\n");
  check_splits(WSK_HTTP_REQUEST, "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n");
  check_splits(WSK_HTTP_REQUEST, "GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n");
  check_splits(WSK_HTTP_RESPONSE, "HTTP/1.1 999 x\r\n\r\n");
  check_splits(WSK_HTTP_REQUEST, "GET / HTTP/1.1\r\n");
}

TEST(bytes_after_head_are_not_consumed) {
  const char head[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
  const char all[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello";
  wsk_http_parser_t *p = wsk_http_parser_new(WSK_HTTP_RESPONSE, NULL);
  CHECK_INT(wsk_http_parser_feed(p, (const uint8_t *)all, sizeof all - 1), sizeof head - 1);
  CHECK(wsk_http_parser_done(p));
  /* Once done, the parser takes nothing more. */
  CHECK_INT(wsk_http_parser_feed(p, (const uint8_t *)"\x81", 1), 0);
  wsk_http_parser_free(p);
}

TEST(two_heads_at_once_parse_one_at_a_time) {
  const char *s = "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: b\r\n\r\n";
  wsk_http_parser_t *p = wsk_http_parser_new(WSK_HTTP_REQUEST, NULL);
  long n = wsk_http_parser_feed(p, (const uint8_t *)s, strlen(s));
  CHECK_INT(n, strlen(s) / 2);
  CHECK_STR(wsk_http_parser_head(p)->target, "/a");
  wsk_http_parser_reset(p);
  CHECK(!wsk_http_parser_done(p));
  CHECK_INT(wsk_http_parser_feed(p, (const uint8_t *)s + n, strlen(s) - (size_t)n), strlen(s) / 2);
  CHECK_STR(wsk_http_parser_head(p)->target, "/b");
  CHECK_STR(wsk_http_head_find(wsk_http_parser_head(p), "host")->value, "b");
  wsk_http_parser_free(p);
}

TEST(errors_are_sticky) {
  wsk_http_parser_t *p = wsk_http_parser_new(WSK_HTTP_REQUEST, NULL);
  CHECK_INT(wsk_http_parser_feed(p, (const uint8_t *)"GET / HTTP/1.1\r\n X", 19), WSK_EHTTP);
  CHECK_INT(wsk_http_parser_feed(p, (const uint8_t *)"\r\n", 2), WSK_EHTTP);
  CHECK_INT(wsk_http_parser_status(p), 400);
  wsk_http_parser_reset(p);
  CHECK_INT(wsk_http_parser_status(p), 0);
  CHECK_STR(wsk_http_parser_error(p), "");
  wsk_http_parser_free(p);
}

/* ---- lists ---- */

TEST(ieq_compares_case_insensitively) {
  CHECK(wsk_http_ieq("WebSocket", 9, "websocket"));
  CHECK(!wsk_http_ieq("WebSocket", 8, "websocket"));
  CHECK(!wsk_http_ieq("WebSockets", 10, "websocket"));
  CHECK(wsk_http_ieq("", 0, ""));
}

TEST(list_splits_elements_and_params) {
  const char *v = " permessage-deflate; client_max_window_bits ;server_max_window_bits=10 ,, x ,";
  char scratch[128];
  wsk_http_element_t el;
  size_t pos = 0;
  CHECK_INT(wsk_http_list_next(v, strlen(v), &pos, &el, scratch), 1);
  CHECK(wsk_http_ieq(el.token, el.token_len, "permessage-deflate"));
  CHECK_INT(el.nparams, 2);
  CHECK(wsk_http_ieq(el.params[0].name, el.params[0].name_len, "client_max_window_bits"));
  CHECK(el.params[0].value == NULL);
  CHECK(wsk_http_ieq(el.params[1].value, el.params[1].value_len, "10"));
  CHECK_INT(wsk_http_list_next(v, strlen(v), &pos, &el, scratch), 1);
  CHECK(wsk_http_ieq(el.token, el.token_len, "x"));
  CHECK_INT(el.nparams, 0);
  CHECK_INT(wsk_http_list_next(v, strlen(v), &pos, &el, scratch), 0);
  CHECK_INT(wsk_http_list_next(v, strlen(v), &pos, &el, scratch), 0);
}

TEST(list_unquotes_quoted_strings) {
  const char *v = "a; p=\"1\\\"0\"; q = \"x,y\\\\\"; r=\"\", b";
  char scratch[64];
  wsk_http_element_t el;
  size_t pos = 0;
  CHECK_INT(wsk_http_list_next(v, strlen(v), &pos, &el, scratch), 1);
  CHECK_INT(el.nparams, 3);
  CHECK(wsk_http_ieq(el.params[0].value, el.params[0].value_len, "1\"0"));
  CHECK(wsk_http_ieq(el.params[1].value, el.params[1].value_len, "x,y\\"));
  CHECK(el.params[2].value != NULL);
  CHECK_INT(el.params[2].value_len, 0);
  CHECK_INT(wsk_http_list_next(v, strlen(v), &pos, &el, scratch), 1);
  CHECK(wsk_http_ieq(el.token, el.token_len, "b"));
  /* Without scratch the raw text between the quotes is given. */
  pos = 0;
  CHECK_INT(wsk_http_list_next(v, strlen(v), &pos, &el, NULL), 1);
  CHECK(wsk_http_ieq(el.params[0].value, el.params[0].value_len, "1\\\"0"));
}

TEST(list_rejects_malformed) {
  const char *bad[] = { "a b", "; a", "a;", "a; =1", "a; p=", "a; p=\"open", "a; p=1 2",
                        "a; p=\"x\"y", "a/", "\"a\"", "a;p=\"\x01\"", "a; p==1" };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    wsk_http_element_t el;
    size_t pos = 0;
    char scratch[32];
    CHECK_INT(wsk_http_list_next(bad[i], strlen(bad[i]), &pos, &el, scratch), WSK_EHTTP);
  }
}

TEST(list_accepts_protocol_versions) {
  CHECK_INT(wsk_http_list_has("HTTP/2.0, websocket", 19, "websocket"), 1);
  CHECK_INT(wsk_http_list_has("HTTP/2.0", 8, "http"), 0);
}

TEST(list_limits_params) {
  char v[256] = "a";
  for (int i = 0; i < WSK_HTTP_MAX_PARAMS; i++) strcat(v, ";p");
  wsk_http_element_t el;
  size_t pos = 0;
  CHECK_INT(wsk_http_list_next(v, strlen(v), &pos, &el, NULL), 1);
  CHECK_INT(el.nparams, WSK_HTTP_MAX_PARAMS);
  strcat(v, ";p");
  pos = 0;
  CHECK_INT(wsk_http_list_next(v, strlen(v), &pos, &el, NULL), WSK_EHTTP);
}

TEST(list_has_finds_tokens) {
  CHECK_INT(wsk_http_list_has("keep-alive, Upgrade", 19, "upgrade"), 1);
  CHECK_INT(wsk_http_list_has("keep-alive", 10, "upgrade"), 0);
  CHECK_INT(wsk_http_list_has("", 0, "upgrade"), 0);
  CHECK_INT(wsk_http_list_has("upgrade, a b", 12, "upgrade"), WSK_EHTTP);
  CHECK_INT(wsk_http_list_has("upgraded", 8, "upgrade"), 0);
}

/* ---- building ---- */

TEST(response_build_writes_head_and_body) {
  wsk_buf_t b = { 0 };
  wsk_http_header_t h[] = { { "X-A", 3, "1", 1 }, { "X-B", 0, "two", 0 } };
  CHECK_INT(wsk_http_response_build(&b, 404, NULL, h, 2, "nope", 4), 0);
  const char *want = "HTTP/1.1 404 Not Found\r\nX-A: 1\r\nX-B: two\r\nContent-Length: 4\r\n\r\nnope";
  CHECK_INT(b.len, strlen(want));
  CHECK_MEM(b.data, want, b.len);
  wsk_buf_free(&b);
}

TEST(response_build_101_has_no_content_length) {
  wsk_buf_t b = { 0 };
  CHECK_INT(wsk_http_response_build(&b, 101, NULL, NULL, 0, NULL, 0), 0);
  const char *want = "HTTP/1.1 101 Switching Protocols\r\n\r\n";
  CHECK_INT(b.len, strlen(want));
  CHECK_MEM(b.data, want, b.len);
  wsk_buf_free(&b);
  CHECK_INT(wsk_http_response_build(&b, 200, "Fine", NULL, 0, NULL, 0), 0);
  want = "HTTP/1.1 200 Fine\r\nContent-Length: 0\r\n\r\n";
  CHECK_MEM(b.data, want, strlen(want));
  wsk_buf_free(&b);
}

TEST(response_build_rejects_crlf_nul_and_owned) {
  wsk_buf_t b = { 0 };
  wsk_buf_append_str(&b, "keep");
  wsk_http_header_t crlf = { "X-A", 3, "a\r\nX-B: b", 9 };
  wsk_http_header_t nul = { "X-A", 3, "a\0b", 3 };
  wsk_http_header_t name = { "X A", 3, "a", 1 };
  wsk_http_header_t cl = { "content-length", 14, "3", 1 };
  CHECK_INT(wsk_http_response_build(&b, 400, NULL, &crlf, 1, NULL, 0), WSK_EINVAL);
  CHECK_INT(wsk_http_response_build(&b, 400, NULL, &nul, 1, NULL, 0), WSK_EINVAL);
  CHECK_INT(wsk_http_response_build(&b, 400, NULL, &name, 1, NULL, 0), WSK_EINVAL);
  CHECK_INT(wsk_http_response_build(&b, 400, NULL, &cl, 1, NULL, 0), WSK_EINVAL);
  CHECK_INT(wsk_http_response_build(&b, 400, "bad\r\n", NULL, 0, NULL, 0), WSK_EINVAL);
  CHECK_INT(wsk_http_response_build(&b, 42, NULL, NULL, 0, NULL, 0), WSK_EINVAL);
  CHECK_INT(wsk_http_response_build(&b, 101, NULL, NULL, 0, "x", 1), WSK_EINVAL);
  CHECK_INT(b.len, 4); /* nothing half-written */
  wsk_buf_free(&b);
}

TEST(reason_phrases) {
  CHECK_STR(wsk_http_reason(101), "Switching Protocols");
  CHECK_STR(wsk_http_reason(400), "Bad Request");
  CHECK_STR(wsk_http_reason(426), "Upgrade Required");
  CHECK_STR(wsk_http_reason(431), "Request Header Fields Too Large");
  CHECK_STR(wsk_http_reason(799), "Unknown");
}

TEST(built_response_parses_back) {
  wsk_buf_t b = { 0 };
  wsk_http_header_t h[] = { { "Retry-After", 0, "5", 0 } };
  CHECK_INT(wsk_http_response_build(&b, 503, NULL, h, 1, "busy", 4), 0);
  wsk_http_parser_t *p = wsk_http_parser_new(WSK_HTTP_RESPONSE, NULL);
  CHECK_INT(wsk_http_parser_feed(p, b.data, b.len), b.len - 4);
  const wsk_http_head_t *head = wsk_http_parser_head(p);
  CHECK_INT(head->status, 503);
  CHECK_STR(head->reason, "Service Unavailable");
  CHECK_INT(wsk_http_head_content_length(head), 4);
  wsk_http_parser_free(p);
  wsk_buf_free(&b);
}

/* The redacted form of a target, as a C string (static buffer). */
static const char *redacted(const char *t) {
  static char out[512];
  wsk_buf_t b = { 0 };
  int r = wsk_http_redact_target(&b, t, strlen(t));
  snprintf(out, sizeof out, "%.*s", r == 0 ? (int)b.len : 0, r == 0 ? (const char *)b.data : "");
  wsk_buf_free(&b);
  return r == 0 ? out : "(error)";
}

TEST(redact_target_hides_credential_parameters) {
  CHECK_STR(redacted("/chat"), "/chat");
  CHECK_STR(redacted("/chat?room=1"), "/chat?room=1");
  CHECK_STR(redacted("/chat?token=abc.def"), "/chat?token=***");
  CHECK_STR(redacted("/ws?room=a&access_token=xyz&x=1"), "/ws?room=a&access_token=***&x=1");
  CHECK_STR(redacted("/ws?TOKEN=1&Api_Key=2&password=3&sig=4"), "/ws?TOKEN=***&Api_Key=***&password=***&sig=***");
  const char *names[] = { "id_token", "refresh_token", "auth", "authorization", "key", "apikey",
                          "passwd", "secret", "jwt", "session", "sessionid", "signature", "ticket" };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    char in[64], want[64];
    snprintf(in, sizeof in, "/?%s=v", names[i]);
    snprintf(want, sizeof want, "/?%s=***", names[i]);
    CHECK_STR(redacted(in), want);
  }
  /* percent-encoded names are seen through; look-alikes are kept */
  CHECK_STR(redacted("/?%74oken=s"), "/?%74oken=***");
  CHECK_STR(redacted("/?tokens=s&my_token=t&token"), "/?tokens=s&my_token=t&token");
  /* empty values, empty pairs, repeated names, a trailing fragment */
  CHECK_STR(redacted("/?token=&&token=b&"), "/?token=***&&token=***&");
  CHECK_STR(redacted("/p?key=v#frag"), "/p?key=***#frag");
  CHECK_STR(redacted("/?"), "/?");
  CHECK_STR(redacted(""), "");
}

TEST(redact_target_appends_and_rejects_null) {
  wsk_buf_t b = { 0 };
  CHECK_INT(wsk_buf_append_str(&b, "GET "), 0);
  CHECK_INT(wsk_http_redact_target(&b, "/a?jwt=x", 8), 0);
  CHECK_INT(b.len, 14);
  CHECK_MEM(b.data, "GET /a?jwt=***", 14);
  CHECK_INT(wsk_http_redact_target(&b, NULL, 3), WSK_EINVAL);
  CHECK_INT(b.len, 14);
  /* the length is honoured: bytes after it are not read */
  b.len = 0;
  CHECK_INT(wsk_http_redact_target(&b, "/x?token=abc", 8), 0);
  CHECK_INT(b.len, 8);
  CHECK_MEM(b.data, "/x?token", 8);
  wsk_buf_free(&b);
}

int main(void) {
  RUN(request_parses_line_and_headers);
  RUN(response_parses_status_and_reason);
  RUN(response_accepts_empty_reason);
  RUN(head_is_null_until_done);
  RUN(header_names_are_case_insensitive);
  RUN(request_accepts_bare_lf_line_endings);
  RUN(request_rejects_bare_cr);
  RUN(request_rejects_obs_fold);
  RUN(request_rejects_nul);
  RUN(request_rejects_control_chars);
  RUN(request_accepts_tab_and_obs_text_in_values);
  RUN(request_rejects_space_before_colon);
  RUN(request_rejects_empty_header_name);
  RUN(request_rejects_invalid_name_chars);
  RUN(request_rejects_line_without_colon);
  RUN(request_rejects_missing_host);
  RUN(response_does_not_need_host);
  RUN(request_rejects_duplicate_single_headers);
  RUN(request_allows_repeated_list_headers);
  RUN(response_rejects_duplicate_accept);
  RUN(response_allows_repeated_version);
  RUN(request_rejects_bad_request_line);
  RUN(request_rejects_empty_request_line);
  RUN(request_rejects_non_ascii_target);
  RUN(request_rejects_http_version_other_than_1);
  RUN(request_accepts_http_1_0_and_minor_versions);
  RUN(response_rejects_bad_status_line);
  RUN(request_rejects_malformed_content_length);
  RUN(content_length_values);
  RUN(head_count_counts_repeats);
  RUN(line_limit_just_under_accepted_over_is_431);
  RUN(line_limit_applies_to_request_line);
  RUN(head_limit_just_under_accepted_over_is_431);
  RUN(default_head_limit_is_16k);
  RUN(header_count_limit_just_under_accepted_over_is_431);
  RUN(zero_limits_mean_defaults);
  RUN(whole_bytewise_and_split_feeds_agree);
  RUN(bytes_after_head_are_not_consumed);
  RUN(two_heads_at_once_parse_one_at_a_time);
  RUN(errors_are_sticky);
  RUN(ieq_compares_case_insensitively);
  RUN(list_splits_elements_and_params);
  RUN(list_unquotes_quoted_strings);
  RUN(list_rejects_malformed);
  RUN(list_accepts_protocol_versions);
  RUN(list_limits_params);
  RUN(list_has_finds_tokens);
  RUN(response_build_writes_head_and_body);
  RUN(response_build_101_has_no_content_length);
  RUN(response_build_rejects_crlf_nul_and_owned);
  RUN(reason_phrases);
  RUN(built_response_parses_back);
  RUN(redact_target_hides_credential_parameters);
  RUN(redact_target_appends_and_rejects_null);
  return test_summary();
}
