/* libFuzzer target for wsk_conn in both roles: the fuzzer's bytes are a
 * script of feeds (split at its chosen points), clock ticks, sends and
 * EOF; flag 128 adds a message rate and first-message authentication.
 * Checks the event invariants: text is valid UTF-8, messages respect
 * max_message_size, CLOSED comes exactly once and last, and no message
 * comes while a first message waits for its judgement. */
#include <stdlib.h>
#include <string.h>

#include "wskit/proto.h"

#define CHECK(x) do { if (!(x)) __builtin_trap(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint8_t sink; /* makes the reads of event payloads observable */

static int fuzz_random(void *ud, uint8_t *out, size_t n) {
  (void)ud;
  for (size_t i = 0; i < n; i++) out[i] = (uint8_t)(i * 29 + 7);
  return 0;
}

typedef struct {
  wsk_conn_t *c;
  size_t max_message;
  int closed;
  int judging; /* a first message was delivered and awaits wsk_conn_authenticate */
} state_t;

/* First-message authentication: judge the message just delivered (its
 * first byte decides), or check that none comes before the judgement. */
static void judge(state_t *s, const wsk_event_t *ev) {
  if (wsk_conn_authenticated(s->c)) return;
  CHECK(!s->judging);
  s->judging = 1;
  if (ev->len & 1) return; /* odd lengths: judged later (by a tick, or never) */
  int ok = ev->len == 0 || !(ev->data[0] & 1);
  if (wsk_conn_authenticate(s->c, ok, ok ? NULL : "no") == 0) s->judging = 0;
}

static void drain(state_t *s) {
  wsk_event_t ev;
  while (wsk_conn_next_event(s->c, &ev)) {
    CHECK(!s->closed);
    for (size_t i = 0; i < ev.len; i++) sink ^= ev.data[i]; /* readable */
    switch (ev.type) {
    case WSK_EV_REQUEST:
      if (ev.status == 0 && (ev.head->nheaders & 1)) wsk_conn_accept(s->c, NULL);
      else wsk_conn_reject(s->c, ev.status ? 0 : 403, NULL, 0, NULL, 0);
      break;
    case WSK_EV_TEXT:
      CHECK(wsk_utf8_validate(ev.data, ev.len) == 0);
      /* fallthrough */
    case WSK_EV_BINARY:
      CHECK(!s->max_message || ev.len <= s->max_message);
      judge(s, &ev);
      break;
    case WSK_EV_FRAGMENT:
      if (ev.first) judge(s, &ev);
      break;
    case WSK_EV_RATE_LIMITED: /* not delivered, so not judged; nor parsed meanwhile */
      CHECK(wsk_conn_authenticated(s->c) || !s->judging);
      break;
    case WSK_EV_CLOSED:
      s->closed = 1;
      break;
    default:
      break;
    }
  }
  size_t n;
  wsk_conn_output(s->c, &n);
  wsk_conn_output_consume(s->c, n);
}

/* An open pair made in memory; returns the side under test. */
static wsk_conn_t *open_conn(wsk_conn_opts_t *co, wsk_conn_opts_t *so, int server) {
  wsk_conn_t *cli = wsk_conn_new(co, 0, NULL), *srv = wsk_conn_new(so, 0, NULL);
  wsk_event_t ev;
  size_t n;
  const uint8_t *p = wsk_conn_output(cli, &n);
  uint8_t *copy = malloc(n);
  memcpy(copy, p, n);
  wsk_conn_output_consume(cli, n);
  wsk_conn_feed(srv, copy, n);
  while (wsk_conn_next_event(srv, &ev)) {}
  free(copy);
  wsk_conn_accept(srv, NULL);
  while (wsk_conn_next_event(srv, &ev)) {}
  p = wsk_conn_output(srv, &n);
  copy = malloc(n);
  memcpy(copy, p, n);
  wsk_conn_output_consume(srv, n);
  wsk_conn_feed(cli, copy, n);
  while (wsk_conn_next_event(cli, &ev)) {}
  free(copy);
  CHECK(wsk_conn_state(cli) == WSK_STATE_OPEN && wsk_conn_state(srv) == WSK_STATE_OPEN);
  wsk_conn_free(server ? cli : srv);
  return server ? srv : cli;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  uint8_t flags = data[0], limits = data[1];
  data += 2;
  size -= 2;
  int server = flags & 1, raw = flags & 8;
  wsk_conn_opts_t co, so;
  wsk_conn_opts_init(&co, WSK_ROLE_CLIENT);
  wsk_conn_opts_init(&so, WSK_ROLE_SERVER);
  co.client.host = "fuzz.example";
  co.random = so.random = fuzz_random;
  co.client.deflate.enabled = so.server.deflate.enabled = (flags & 2) != 0;
  co.client.deflate.server_no_context_takeover = (flags & 16) != 0;
  co.client.deflate.client_no_context_takeover = (flags & 32) != 0;
  co.client.deflate.server_max_window_bits = (flags & 64) ? 8 + (limits & 7) : 0;
  co.client.deflate.threshold = so.server.deflate.threshold = 0;
  wsk_conn_opts_t *mine = server ? &so : &co;
  mine->stream_fragments = (flags & 4) != 0;
  mine->max_message_size = (size_t)1 << (6 + (limits >> 4)); /* 64 B .. 2 MiB */
  mine->max_fragments = 1 + (limits & 15);
  mine->http.max_head = 512 + 64 * (limits & 15);
  if (flags & 128) {
    mine->rate = 1 + (limits & 3);
    mine->rate_burst = 2;
    mine->rate_policy = (limits >> 2) % 3;
    mine->auth_timeout_ms = 1000;
  }

  state_t s = {0};
  s.max_message = mine->max_message_size;
  s.c = raw ? wsk_conn_new(mine, 0, NULL) : open_conn(&co, &so, server);
  if (!s.c) return 0;
  int64_t now = 0;
  size_t i = 0;
  while (i < size) {
    uint8_t op = data[i++];
    switch (op % 8) {
    default: { /* feed the next 1..256 bytes from an exact-size copy */
      size_t k = i < size ? (size_t)data[i++] + 1 : 1;
      if (k > size - i) k = size - i;
      uint8_t *chunk = malloc(k ? k : 1);
      memcpy(chunk, data + i, k);
      i += k;
      if (wsk_conn_feed(s.c, chunk, k) == 0) drain(&s);
      free(chunk);
      break;
    }
    case 5:
      now += 1 + (op >> 3) * 500;
      wsk_conn_tick(s.c, now);
      if (s.judging && (op & 8)) { /* a judgement that came later */
        if (wsk_conn_authenticate(s.c, (op >> 4) & 1, NULL) == 0) s.judging = 0;
      }
      break;
    case 6:
      switch ((op >> 3) & 7) {
      case 0: wsk_conn_send(s.c, WSK_OP_TEXT, "h\xc3\xa9llo", 6); break;
      case 1: wsk_conn_send(s.c, WSK_OP_BINARY, data, size < 300 ? size : 300); break;
      case 2: wsk_conn_send_fragment(s.c, WSK_OP_TEXT, "ab", 2, op >> 6); break;
      case 3: wsk_conn_ping(s.c, NULL, 0); break;
      case 4: wsk_conn_pong(s.c, "p", 1); break;
      case 5: wsk_conn_close(s.c, 1000 + (op >> 6), "bye", 3); break;
      case 6: {
        wsk_broadcast_t *b = wsk_broadcast_new(WSK_OP_TEXT, "all", 3, NULL);
        if (b) { wsk_conn_send_broadcast(s.c, b); wsk_broadcast_unref(b); }
        break;
      }
      default: wsk_conn_abort(s.c, "fuzz"); break;
      }
      break;
    case 7:
      wsk_conn_feed_eof(s.c);
      break;
    }
    drain(&s);
  }
  wsk_conn_feed_eof(s.c);
  drain(&s);
  CHECK(s.closed);
  wsk_event_t ev;
  CHECK(wsk_conn_next_event(s.c, &ev) == 0);
  wsk_conn_free(s.c);
  return 0;
}
