/* Server-Sent Events: the server's formatting, event ids, and the client
 * parser against the WHATWG rules (its examples included), chunked
 * bodies, BOM, limits, and every split of the input. */
#include "testlib.h"
#include "wskit/sse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- parsing helpers ---- */

typedef struct got {
  int n;
  char type[8][32], data[8][256], id[8][64];
  int64_t retry[8];
} got_t;

static void collect(wsk_sse_parser_t *p, got_t *g) {
  wsk_sse_event_t ev;
  while (wsk_sse_parser_next(p, &ev)) {
    if (g->n >= 8) continue;
    snprintf(g->type[g->n], 32, "%.*s", (int)ev.type_len, ev.type);
    snprintf(g->data[g->n], 256, "%.*s", (int)ev.data_len, ev.data);
    snprintf(g->id[g->n], 64, "%.*s", (int)ev.id_len, ev.id);
    g->retry[g->n] = ev.retry_ms;
    g->n++;
  }
}

/* Parse s fed in pieces of `step` bytes (0 = at once). */
static int parse_steps(const char *s, size_t len, size_t step, int chunked, got_t *g) {
  memset(g, 0, sizeof *g);
  wsk_sse_parser_t *p = wsk_sse_parser_new(0, chunked);
  if (!p) return WSK_ENOMEM;
  int r = 0;
  if (!step) step = len ? len : 1;
  for (size_t i = 0; i < len && r == 0; i += step) {
    size_t n = len - i < step ? len - i : step;
    r = wsk_sse_parser_feed(p, s + i, n);
    collect(p, g);
  }
  wsk_sse_parser_free(p);
  return r;
}

static int parse_str(const char *s, got_t *g) { return parse_steps(s, strlen(s), 0, 0, g); }

/* The same events, whatever the split of the input. */
static void check_all_splits(const char *s, size_t len, int chunked) {
  got_t whole, part;
  CHECK_INT(parse_steps(s, len, 0, chunked, &whole), 0);
  for (size_t step = 1; step <= 7; step++) {
    CHECK_INT(parse_steps(s, len, step, chunked, &part), 0);
    CHECK_INT(part.n, whole.n);
    for (int i = 0; i < whole.n; i++) {
      CHECK_STR(part.type[i], whole.type[i]);
      CHECK_STR(part.data[i], whole.data[i]);
      CHECK_STR(part.id[i], whole.id[i]);
      CHECK_INT(part.retry[i], whole.retry[i]);
    }
  }
}

/* ---- server ---- */

TEST(head_is_an_event_stream_response) {
  wsk_buf_t b = { 0 };
  wsk_http_header_t extra[] = { { "Access-Control-Allow-Origin", 0, "*", 0 } };
  CHECK_INT(wsk_sse_head(&b, extra, 1), 0);
  const char *want = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                     "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\nConnection: close\r\n"
                     "Access-Control-Allow-Origin: *\r\n\r\n";
  CHECK_INT(b.len, strlen(want));
  CHECK_MEM(b.data, want, b.len);
  /* it parses as a response head */
  wsk_http_parser_t *hp = wsk_http_parser_new(WSK_HTTP_RESPONSE, NULL);
  CHECK_INT(wsk_http_parser_feed(hp, b.data, b.len), (long)b.len);
  CHECK(wsk_http_parser_done(hp));
  CHECK_INT(wsk_http_head_content_length(wsk_http_parser_head(hp)), -1);
  wsk_http_parser_free(hp);
  wsk_buf_free(&b);
}

TEST(head_refuses_owned_and_split_headers_leaving_nothing) {
  wsk_buf_t b = { 0 };
  wsk_buf_append_str(&b, "x");
  wsk_http_header_t ct[] = { { "Content-Type", 0, "text/plain", 0 } };
  wsk_http_header_t cl[] = { { "content-length", 0, "5", 0 } };
  wsk_http_header_t crlf[] = { { "X-A", 0, "a\r\nInjected: 1", 0 } };
  CHECK_INT(wsk_sse_head(&b, ct, 1), WSK_EINVAL);
  CHECK_INT(wsk_sse_head(&b, cl, 1), WSK_EINVAL);
  CHECK_INT(wsk_sse_head(&b, crlf, 1), WSK_EINVAL);
  CHECK_INT(wsk_sse_head(&b, NULL, 1), WSK_EINVAL);
  CHECK_INT(b.len, 1);
  wsk_buf_free(&b);
}

TEST(event_formats_fields_and_data_lines) {
  wsk_buf_t b = { 0 };
  CHECK_INT(wsk_sse_event(&b, "e:1", 3, "gap", 3, "a\nb\r\nc\rd", 8), 0);
  const char *want = "id: e:1\nevent: gap\ndata: a\ndata: b\ndata: c\ndata: d\n\n";
  CHECK_INT(b.len, strlen(want));
  CHECK_MEM(b.data, want, b.len);
  b.len = 0;
  CHECK_INT(wsk_sse_event(&b, NULL, 0, NULL, 0, "", 0), 0); /* empty data: one empty line */
  CHECK_INT(b.len, 8);
  CHECK_MEM(b.data, "data: \n\n", 8);
  b.len = 0;
  CHECK_INT(wsk_sse_event(&b, NULL, 0, NULL, 0, "x\n", 2), 0); /* a trailing line end */
  CHECK_MEM(b.data, "data: x\ndata: \n\n", b.len);
  wsk_buf_free(&b);
}

TEST(event_refuses_line_breaks_in_id_and_event) {
  wsk_buf_t b = { 0 };
  CHECK_INT(wsk_sse_event(&b, "a\nb", 3, NULL, 0, "x", 1), WSK_EINVAL);
  CHECK_INT(wsk_sse_event(&b, "a\rb", 3, NULL, 0, "x", 1), WSK_EINVAL);
  CHECK_INT(wsk_sse_event(&b, "a\0b", 3, NULL, 0, "x", 1), WSK_EINVAL);
  CHECK_INT(wsk_sse_event(&b, NULL, 0, "e\n", 2, "x", 1), WSK_EINVAL);
  CHECK_INT(wsk_sse_event(&b, NULL, 0, "e\r", 2, "x", 1), WSK_EINVAL);
  CHECK_INT(wsk_sse_event(&b, NULL, 0, NULL, 0, NULL, 1), WSK_EINVAL);
  CHECK_INT(b.len, 0);
  wsk_buf_free(&b);
}

TEST(retry_and_comment) {
  wsk_buf_t b = { 0 };
  CHECK_INT(wsk_sse_retry(&b, 2000), 0);
  CHECK_INT(wsk_sse_comment(&b, "hb"), 0);
  CHECK_INT(wsk_sse_comment(&b, NULL), 0);
  const char *want = "retry: 2000\n\n:hb\n\n:\n\n";
  CHECK_INT(b.len, strlen(want));
  CHECK_MEM(b.data, want, b.len);
  CHECK_INT(wsk_sse_comment(&b, "a\nb"), WSK_EINVAL);
  CHECK_INT(wsk_sse_comment(&b, "a\rb"), WSK_EINVAL);
  CHECK_INT(b.len, strlen(want));
  wsk_buf_free(&b);
}

TEST(ids_format_and_parse_back) {
  char id[WSK_SSE_MAX_ID];
  CHECK_INT(wsk_sse_format_id(id, "0123456789abcdef", 16, 42), 19);
  CHECK_STR(id, "0123456789abcdef:42");
  const char *ep;
  size_t el;
  uint64_t seq;
  CHECK_INT(wsk_sse_parse_id(id, strlen(id), &ep, &el, &seq), 0);
  CHECK_INT(el, 16);
  CHECK_MEM(ep, "0123456789abcdef", 16);
  CHECK(seq == 42);
  /* the longest epoch and seq fit */
  char e64[65];
  memset(e64, 'e', 64);
  e64[64] = 0;
  int n = wsk_sse_format_id(id, e64, 64, UINT64_MAX);
  CHECK_INT(n, 64 + 1 + 20);
  CHECK_INT(strlen(id), (size_t)n);
  CHECK(n < WSK_SSE_MAX_ID);
  CHECK_INT(wsk_sse_parse_id(id, (size_t)n, &ep, &el, &seq), 0);
  CHECK(seq == UINT64_MAX);
  /* an epoch may hold ':' (the seq is after the last one) */
  CHECK_INT(wsk_sse_parse_id("a:b:7", 5, &ep, &el, &seq), 0);
  CHECK_INT(el, 3);
  CHECK(seq == 7);
  CHECK_INT(wsk_sse_parse_id("e:0", 3, &ep, &el, &seq), 0);
  CHECK(seq == 0);
}

TEST(ids_invalid_are_refused) {
  char id[WSK_SSE_MAX_ID];
  char e65[66];
  memset(e65, 'e', 65);
  CHECK_INT(wsk_sse_format_id(id, "", 0, 1), WSK_EINVAL);
  CHECK_INT(wsk_sse_format_id(id, e65, 65, 1), WSK_EINVAL);
  CHECK_INT(wsk_sse_format_id(id, "a b", 3, 1), WSK_EINVAL);
  CHECK_INT(wsk_sse_format_id(id, "a\n", 2, 1), WSK_EINVAL);
  const char *bad[] = { "", "abc", ":5", "e:", "e:x", "e:-1", "e:01", "e:1.5", "e: 1",
                        "e:18446744073709551616", "e:99999999999999999999", "a b:1" };
  const char *ep;
  size_t el;
  uint64_t seq;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK_INT(wsk_sse_parse_id(bad[i], strlen(bad[i]), &ep, &el, &seq), WSK_EINVAL);
  CHECK_INT(wsk_sse_parse_id(e65, 65, &ep, &el, &seq), WSK_EINVAL);
}

/* ---- client parser ---- */

TEST(parser_whatwg_examples) {
  got_t g;
  /* three data lines joined with LF */
  CHECK_INT(parse_str("data: YHOO\ndata: +2\ndata: 10\n\n", &g), 0);
  CHECK_INT(g.n, 1);
  CHECK_STR(g.type[0], "message");
  CHECK_STR(g.data[0], "YHOO\n+2\n10");
  /* comments, ids, an empty id field resetting it, an unterminated event */
  CHECK_INT(parse_str(": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\n"
                      "data:  third event\n", &g), 0);
  CHECK_INT(g.n, 2);
  CHECK_STR(g.data[0], "first event");
  CHECK_STR(g.id[0], "1");
  CHECK_STR(g.data[1], "second event");
  CHECK_STR(g.id[1], "");
  /* a field without a colon, empty data lines */
  CHECK_INT(parse_str("data\n\ndata\ndata\n\ndata:", &g), 0);
  CHECK_INT(g.n, 2);
  CHECK_STR(g.data[0], "");
  CHECK_STR(g.data[1], "\n");
  /* one space after the colon is removed, not two */
  CHECK_INT(parse_str("data:test\n\ndata: test\n\ndata:  test\n\n", &g), 0);
  CHECK_INT(g.n, 3);
  CHECK_STR(g.data[0], "test");
  CHECK_STR(g.data[1], "test");
  CHECK_STR(g.data[2], " test");
}

TEST(parser_line_ends_cr_lf_crlf) {
  got_t g;
  CHECK_INT(parse_str("data: a\rdata: b\r\ndata: c\n\r\ndata: d\r\rdata: e\n\n", &g), 0);
  CHECK_INT(g.n, 3);
  CHECK_STR(g.data[0], "a\nb\nc");
  CHECK_STR(g.data[1], "d");
  CHECK_STR(g.data[2], "e");
  const char *s = "data: a\rdata: b\r\ndata: c\n\r\nid: 7\revent: x\r\ndata: d\r\r";
  check_all_splits(s, strlen(s), 0);
}

TEST(parser_event_type_and_default) {
  got_t g;
  CHECK_INT(parse_str("event: add\ndata: 1\n\ndata: 2\n\nevent\ndata: 3\n\n", &g), 0);
  CHECK_INT(g.n, 3);
  CHECK_STR(g.type[0], "add");
  CHECK_STR(g.type[1], "message"); /* the type does not carry over */
  CHECK_STR(g.type[2], "message"); /* an empty type is the default */
}

TEST(parser_events_without_data_not_dispatched_but_id_and_retry_count) {
  got_t g;
  CHECK_INT(parse_str("id: 5\nretry: 3000\nevent: x\n\ndata: y\n\ndata: z\n\n", &g), 0);
  CHECK_INT(g.n, 2);
  CHECK_STR(g.data[0], "y");
  CHECK_STR(g.type[0], "message"); /* the type of the undispatched event went with it */
  CHECK_STR(g.id[0], "5");
  CHECK_INT(g.retry[0], 3000);
  CHECK_STR(g.id[1], "5"); /* the last id stays in force */
  CHECK_INT(g.retry[1], -1); /* retry only on the event after it */
}

TEST(parser_id_with_nul_ignored_retry_digits_only) {
  got_t g;
  static const char s[] = "id: 1\ndata: a\n\nid: 2\0x\ndata: b\n\nretry: 12a\ndata: c\n\n"
                          "retry:\ndata: d\n\nretry: 0\ndata: e\n\nretry:  5\ndata: f\n\n";
  CHECK_INT(parse_steps(s, sizeof s - 1, 0, 0, &g), 0);
  CHECK_INT(g.n, 6);
  CHECK_STR(g.id[1], "1"); /* the NUL id was ignored */
  CHECK_INT(g.retry[2], -1);
  CHECK_INT(g.retry[3], -1);
  CHECK_INT(g.retry[4], 0);
  CHECK_INT(g.retry[5], -1); /* " 5" after the one space removed is not digits */
}

TEST(parser_unknown_fields_and_comments_ignored) {
  got_t g;
  CHECK_INT(parse_str(":comment\nfoo: bar\nData: no\ndata: yes\n: another\n\n", &g), 0);
  CHECK_INT(g.n, 1);
  CHECK_STR(g.data[0], "yes"); /* field names are case-sensitive */
}

TEST(parser_skips_a_leading_bom_only) {
  got_t g;
  CHECK_INT(parse_str("\xEF\xBB\xBF" "data: a\n\n", &g), 0);
  CHECK_INT(g.n, 1);
  CHECK_STR(g.data[0], "a");
  /* split across feeds */
  const char *s = "\xEF\xBB\xBF" "data: a\n\n";
  check_all_splits(s, strlen(s), 0);
  CHECK_INT(parse_steps(s, strlen(s), 1, 0, &g), 0);
  CHECK_STR(g.data[0], "a");
  /* a second BOM is data; the first bytes of a BOM then something else are data */
  CHECK_INT(parse_str("\xEF\xBB\xBF" "data: \xEF\xBB\xBF" "b\n\n", &g), 0);
  CHECK_STR(g.data[0], "\xEF\xBB\xBF" "b");
  CHECK_INT(parse_str("\xEF\xBB" "data: c\n\n", &g), 0);
  CHECK_INT(g.n, 0); /* "\xEF\xBB" "data" is an unknown field */
  CHECK_INT(parse_steps("\xEF\xBB\n" "data: c\n\n", 12, 1, 0, &g), 0);
  CHECK_INT(g.n, 1);
  CHECK_STR(g.data[0], "c");
}

TEST(parser_round_trips_server_events) {
  wsk_buf_t b = { 0 };
  CHECK_INT(wsk_sse_retry(&b, 1500), 0);
  CHECK_INT(wsk_sse_comment(&b, "hello"), 0);
  CHECK_INT(wsk_sse_event(&b, "ep:1", 4, NULL, 0, "{\"a\":1}", 7), 0);
  CHECK_INT(wsk_sse_event(&b, "ep:2", 4, "gap", 3, "line1\nline2", 11), 0);
  CHECK_INT(wsk_sse_event(&b, "ep:3", 4, NULL, 0, "", 0), 0);
  CHECK_INT(wsk_sse_event(&b, "ep:4", 4, NULL, 0, " lead\r\n", 7), 0);
  got_t g;
  CHECK_INT(parse_steps((const char *)b.data, b.len, 0, 0, &g), 0);
  CHECK_INT(g.n, 4);
  CHECK_STR(g.data[0], "{\"a\":1}");
  CHECK_STR(g.id[0], "ep:1");
  CHECK_INT(g.retry[0], 1500);
  CHECK_STR(g.type[1], "gap");
  CHECK_STR(g.data[1], "line1\nline2");
  CHECK_INT(g.retry[1], -1);
  CHECK_STR(g.data[2], "");
  CHECK_STR(g.data[3], " lead\n");
  check_all_splits((const char *)b.data, b.len, 0);
  wsk_buf_free(&b);
}

TEST(parser_max_event_met_and_crossed) {
  /* one event of exactly 100 buffered bytes is fine */
  char s[300];
  memset(s, 'x', sizeof s);
  memcpy(s, "data:", 5);
  wsk_sse_parser_t *p = wsk_sse_parser_new(100, 0);
  CHECK_INT(wsk_sse_parser_feed(p, s, 100), 0); /* a 100-byte incomplete line */
  CHECK_INT(wsk_sse_parser_feed(p, "\n\n", 2), 0);
  wsk_sse_event_t ev;
  CHECK_INT(wsk_sse_parser_next(p, &ev), 1);
  CHECK_INT(ev.data_len, 95);
  wsk_sse_parser_free(p);
  /* 101: over */
  p = wsk_sse_parser_new(100, 0);
  CHECK_INT(wsk_sse_parser_feed(p, s, 101), WSK_E2BIG);
  CHECK_INT(wsk_sse_parser_feed(p, "\n\n", 2), WSK_E2BIG); /* sticky */
  CHECK_INT(wsk_sse_parser_next(p, &ev), 0);
  wsk_sse_parser_free(p);
  /* many short data lines adding up past the bound */
  p = wsk_sse_parser_new(100, 0);
  int r = 0;
  for (int i = 0; i < 30 && r == 0; i++) r = wsk_sse_parser_feed(p, "data: 0123456789\n", 17);
  CHECK_INT(r, WSK_E2BIG);
  wsk_sse_parser_free(p);
  /* but many small events fed at once are not one big event */
  p = wsk_sse_parser_new(100, 0);
  wsk_buf_t b = { 0 };
  for (int i = 0; i < 1000; i++) wsk_buf_append_str(&b, "data: 0123456789\n\n");
  CHECK_INT(wsk_sse_parser_feed(p, b.data, b.len), 0);
  int n = 0;
  while (wsk_sse_parser_next(p, &ev)) n++;
  CHECK_INT(n, 1000);
  wsk_buf_free(&b);
  wsk_sse_parser_free(p);
  /* the default bound is 1 MiB */
  p = wsk_sse_parser_new(0, 0);
  char *big = malloc((1 << 20) + 2);
  memset(big, 'y', (1 << 20) + 2);
  CHECK_INT(wsk_sse_parser_feed(p, big, 1 << 20), 0);
  CHECK_INT(wsk_sse_parser_feed(p, big, 1), WSK_E2BIG);
  free(big);
  wsk_sse_parser_free(p);
}

/* Wrap a body in chunks of `size` bytes, each with an extension when ext. */
static void chunk(wsk_buf_t *out, const char *s, size_t len, size_t size, int ext) {
  char line[64];
  for (size_t i = 0; i < len; i += size) {
    size_t n = len - i < size ? len - i : size;
    snprintf(line, sizeof line, ext ? "%zX;name=val\r\n" : "%zx\r\n", n);
    wsk_buf_append_str(out, line);
    wsk_buf_append(out, s + i, n);
    wsk_buf_append(out, "\r\n", 2);
  }
  wsk_buf_append_str(out, ext ? "0\r\nX-Trailer: t\r\n\r\n" : "0\r\n\r\n");
}

TEST(parser_removes_chunked_coding) {
  const char *body = "retry: 10\n\nid: e:1\ndata: one\n\ndata: two\ndata: lines\n\n";
  for (size_t size = 1; size <= 9; size += 4)
    for (int ext = 0; ext <= 1; ext++) {
      wsk_buf_t b = { 0 };
      chunk(&b, body, strlen(body), size, ext);
      got_t g;
      CHECK_INT(parse_steps((const char *)b.data, b.len, 0, 1, &g), 0);
      CHECK_INT(g.n, 2);
      CHECK_STR(g.data[0], "one");
      CHECK_STR(g.id[0], "e:1");
      CHECK_INT(g.retry[0], 10);
      CHECK_STR(g.data[1], "two\nlines");
      check_all_splits((const char *)b.data, b.len, 1);
      /* done after the last chunk, not before */
      wsk_sse_parser_t *p = wsk_sse_parser_new(0, 1);
      CHECK_INT(wsk_sse_parser_feed(p, b.data, b.len - 1), 0);
      CHECK_INT(wsk_sse_parser_done(p), 0);
      CHECK_INT(wsk_sse_parser_feed(p, b.data + b.len - 1, 1), 0);
      CHECK_INT(wsk_sse_parser_done(p), 1);
      CHECK_INT(wsk_sse_parser_feed(p, "junk", 4), 0); /* after the body: not ours */
      wsk_sse_parser_free(p);
      wsk_buf_free(&b);
    }
  /* as nginx sends it: uppercase hex, bare LF line ends are tolerated */
  got_t g;
  const char *s = "A\r\ndata: abc\n\r\n1\n\n\n0\r\n\r\n";
  CHECK_INT(parse_steps(s, strlen(s), 0, 1, &g), 0);
  CHECK_INT(g.n, 1);
  CHECK_STR(g.data[0], "abc");
  check_all_splits(s, strlen(s), 1);
}

TEST(parser_bad_chunk_framing_is_eproto) {
  const char *bad[] = {
    "x\r\n",                 /* not hex */
    "\r\n",                  /* no size */
    "3\r\nabcX",             /* no CRLF after the data */
    "3\r\nabc\rX",           /* CR without LF */
    "3x\r\n",                /* junk after the size */
    "3\rX",                  /* CR without LF after the size */
    "FFFFFFFFFFFFFFFFF\r\n", /* absurd size */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    wsk_sse_parser_t *p = wsk_sse_parser_new(0, 1);
    CHECK_INT(wsk_sse_parser_feed(p, bad[i], strlen(bad[i])), WSK_EPROTO);
    CHECK_INT(wsk_sse_parser_feed(p, "0\r\n\r\n", 5), WSK_EPROTO); /* sticky */
    wsk_sse_parser_free(p);
  }
  /* a trailer section without end is bounded */
  wsk_sse_parser_t *p = wsk_sse_parser_new(0, 1);
  CHECK_INT(wsk_sse_parser_feed(p, "0\r\n", 3), 0);
  int r = 0;
  for (int i = 0; i < 2000 && r == 0; i++) r = wsk_sse_parser_feed(p, "X-T: yyyyyyyyyyyy\r\n", 19);
  CHECK_INT(r, WSK_EPROTO);
  wsk_sse_parser_free(p);
  /* so is a chunk extension */
  p = wsk_sse_parser_new(0, 1);
  CHECK_INT(wsk_sse_parser_feed(p, "1;", 2), 0);
  r = 0;
  for (int i = 0; i < 1000 && r == 0; i++) r = wsk_sse_parser_feed(p, "aaaaaaaa", 8);
  CHECK_INT(r, WSK_EPROTO);
  wsk_sse_parser_free(p);
}

TEST(parser_events_stay_valid_until_the_next_call) {
  wsk_sse_parser_t *p = wsk_sse_parser_new(0, 0);
  CHECK_INT(wsk_sse_parser_feed(p, "data: a\n\ndata: b\n\n", 18), 0);
  wsk_sse_event_t e1, e2;
  CHECK_INT(wsk_sse_parser_next(p, &e1), 1);
  CHECK_INT(e1.data_len, 1);
  CHECK(e1.data[0] == 'a');
  CHECK_INT(wsk_sse_parser_next(p, &e2), 1);
  CHECK(e2.data[0] == 'b');
  CHECK_INT(wsk_sse_parser_next(p, &e2), 0);
  CHECK_INT(wsk_sse_parser_next(p, &e2), 0);
  CHECK_INT(wsk_sse_parser_done(p), 0); /* not chunked: never "done" */
  wsk_sse_parser_free(p);
}

/* ---- hub outputs as events ---- */

static int hub_event(wsk_buf_t *b, wsk_hub_out_kind_t kind, wsk_payload_kind_t pk,
                     const char *payload, size_t n) {
  wsk_chan_msg_t m = { "news", 4, 7, "ep1", 3, pk, (const uint8_t *)payload, n };
  wsk_hub_out_t o;
  memset(&o, 0, sizeof o);
  o.kind = kind;
  o.channel = "news";
  o.channel_len = 4;
  o.epoch = "ep1";
  o.epoch_len = 3;
  o.msg = &m;
  o.seq = 7;
  o.from = 3;
  o.to = 5;
  o.reason = "expired";
  o.json = "{\"type\":\"gap\"}";
  o.json_len = strlen(o.json);
  b->len = 0;
  return wsk_sse_hub_event(b, &o);
}

#define OUT_IS(b, lit) ((b).len == sizeof(lit) - 1 && memcmp((b).data, lit, (b).len) == 0)

TEST(hub_event_message_of_each_kind) {
  wsk_buf_t b = { 0 };
  const char text[] = "h\xc3\xa9llo\nworld";
  CHECK_INT(hub_event(&b, WSK_HUB_MESSAGE, WSK_PAYLOAD_TEXT, text, sizeof text - 1), (int)b.len);
  CHECK(OUT_IS(b, "id: ep1:7\ndata: h\xc3\xa9llo\ndata: world\n\n"));
  CHECK_INT(hub_event(&b, WSK_HUB_MESSAGE, WSK_PAYLOAD_JSON, "{\"a\":[1,2]}", 11), (int)b.len);
  CHECK(OUT_IS(b, "id: ep1:7\ndata: {\"a\":[1,2]}\n\n"));
  CHECK_INT(hub_event(&b, WSK_HUB_MESSAGE, WSK_PAYLOAD_BINARY, "\0\xff\r\n", 4), (int)b.len);
  CHECK(OUT_IS(b, "id: ep1:7\ndata: AP8NCg==\n\n"));
  CHECK_INT(hub_event(&b, WSK_HUB_MESSAGE, WSK_PAYLOAD_BINARY, "", 0), (int)b.len);
  CHECK(OUT_IS(b, "id: ep1:7\ndata: \n\n"));
  /* what the client parser reads back */
  CHECK_INT(hub_event(&b, WSK_HUB_MESSAGE, WSK_PAYLOAD_BINARY, "hi!", 3), (int)b.len);
  got_t g;
  CHECK_INT(parse_steps((char *)b.data, b.len, 0, 0, &g), 0);
  CHECK_INT(g.n, 1);
  CHECK_STR(g.type[0], "message");
  CHECK_STR(g.data[0], "aGkh");
  CHECK_STR(g.id[0], "ep1:7");
  wsk_buf_free(&b);
}

TEST(hub_event_gap_and_subscribed) {
  wsk_buf_t b = { 0 };
  CHECK_INT(hub_event(&b, WSK_HUB_GAP, WSK_PAYLOAD_TEXT, "", 0), (int)b.len);
  CHECK(OUT_IS(b, "id: ep1:5\nevent: gap\ndata: {\"type\":\"gap\"}\n\n"));
  got_t g;
  CHECK_INT(parse_steps((char *)b.data, b.len, 0, 0, &g), 0);
  CHECK_INT(g.n, 1);
  CHECK_STR(g.type[0], "gap");
  CHECK_STR(g.id[0], "ep1:5");
  /* SUBSCRIBED is not an event: 0 bytes, buffer untouched */
  CHECK_INT(wsk_buf_append(&b, "x", 1), 0);
  wsk_hub_out_t o;
  memset(&o, 0, sizeof o);
  o.kind = WSK_HUB_SUBSCRIBED;
  size_t before = b.len;
  CHECK_INT(wsk_sse_hub_event(&b, &o), 0);
  CHECK_INT(b.len, before);
  wsk_buf_free(&b);
}

TEST(hub_event_refuses_bad_outputs_leaving_nothing) {
  wsk_buf_t b = { 0 };
  wsk_chan_msg_t m = { "c", 1, 1, "e", 1, WSK_PAYLOAD_TEXT, (const uint8_t *)"x", 1 };
  wsk_hub_out_t o;
  memset(&o, 0, sizeof o);
  o.kind = WSK_HUB_MESSAGE;
  o.msg = &m;
  o.seq = 1;
  o.epoch = "bad epoch"; /* a space cannot travel in Last-Event-ID */
  o.epoch_len = 9;
  CHECK_INT(wsk_sse_hub_event(&b, &o), WSK_EINVAL);
  o.epoch = "";
  o.epoch_len = 0;
  CHECK_INT(wsk_sse_hub_event(&b, &o), WSK_EINVAL);
  o.epoch = "e";
  o.epoch_len = 1;
  o.msg = NULL;
  CHECK_INT(wsk_sse_hub_event(&b, &o), WSK_EINVAL);
  o.msg = &m;
  m.kind = (wsk_payload_kind_t)'?';
  CHECK_INT(wsk_sse_hub_event(&b, &o), WSK_EINVAL);
  o.kind = (wsk_hub_out_kind_t)99;
  CHECK_INT(wsk_sse_hub_event(&b, &o), WSK_EINVAL);
  CHECK_INT(wsk_sse_hub_event(&b, NULL), WSK_EINVAL);
  CHECK_INT(b.len, 0);
  wsk_buf_free(&b);
}

int main(void) {
  RUN(head_is_an_event_stream_response);
  RUN(hub_event_message_of_each_kind);
  RUN(hub_event_gap_and_subscribed);
  RUN(hub_event_refuses_bad_outputs_leaving_nothing);
  RUN(head_refuses_owned_and_split_headers_leaving_nothing);
  RUN(event_formats_fields_and_data_lines);
  RUN(event_refuses_line_breaks_in_id_and_event);
  RUN(retry_and_comment);
  RUN(ids_format_and_parse_back);
  RUN(ids_invalid_are_refused);
  RUN(parser_whatwg_examples);
  RUN(parser_line_ends_cr_lf_crlf);
  RUN(parser_event_type_and_default);
  RUN(parser_events_without_data_not_dispatched_but_id_and_retry_count);
  RUN(parser_id_with_nul_ignored_retry_digits_only);
  RUN(parser_unknown_fields_and_comments_ignored);
  RUN(parser_skips_a_leading_bom_only);
  RUN(parser_round_trips_server_events);
  RUN(parser_max_event_met_and_crossed);
  RUN(parser_removes_chunked_coding);
  RUN(parser_bad_chunk_framing_is_eproto);
  RUN(parser_events_stay_valid_until_the_next_call);
  return test_summary();
}
