/* Helpers for the driver's C tests: a loop per test with a watchdog, a
 * server on a free port, raw sockets, and records of what callbacks saw.
 * Callbacks only record; CHECKs run after the loop returns (a longjmp out
 * of a libuv callback would leave the loop broken). */
#ifndef WSK_UV_HELPERS_H
#define WSK_UV_HELPERS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wskit/uv.h"
#include "../c/testlib.h"

static uv_loop_t *L;
static uv_timer_t watchdog;
static int timed_out;
static int soft_fail;

/* For use inside callbacks: note a failure without leaving the loop. */
#define EXPECT(cond)                                                                  \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      fprintf(stderr, "  expectation failed (%s:%d): %s\n", __FILE__, __LINE__, #cond); \
      soft_fail = 1;                                                                  \
    }                                                                                 \
  } while (0)

static inline void watchdog_cb(uv_timer_t *t) {
  (void)t;
  timed_out = 1;
  uv_stop(L);
}

static inline void noop_close(uv_handle_t *h) { (void)h; }

/* A fresh loop with a watchdog of `ms`. */
static inline void loop_begin(uint64_t ms) {
  static uv_loop_t loop;
  L = &loop;
  uv_loop_init(L);
  timed_out = 0;
  soft_fail = 0;
  uv_timer_init(L, &watchdog);
  uv_timer_start(&watchdog, watchdog_cb, ms, 0);
  uv_unref((uv_handle_t *)&watchdog); /* the loop ends when the test's handles do */
}

static inline void walk_close(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h)) uv_close(h, noop_close);
}

/* Run until nothing is left (or the watchdog fires), then close what is
 * left and release the loop. */
static inline void loop_end(void) {
  uv_run(L, UV_RUN_DEFAULT);
  uv_walk(L, walk_close, NULL);
  uv_run(L, UV_RUN_DEFAULT);
  if (uv_loop_close(L) != 0) TL_FAIL("handles left open on the loop");
  if (soft_fail) TL_FAIL("an expectation inside a callback failed");
  if (timed_out) TL_FAIL("timed out");
}

/* Run a loop step by step until *flag or timeout. */
static inline void run_until(volatile int *flag) {
  while (!*flag && !timed_out) uv_run(L, UV_RUN_ONCE);
}

static inline wsk_uv_server_t *server_on(const wsk_uv_server_opts_t *o, int *port) {
  wsk_uv_server_t *s = NULL;
  if (wsk_uv_server_new(L, o, &s) != 0) return NULL;
  if (wsk_uv_server_listen(s, "127.0.0.1", port ? (unsigned)*port : 0) != 0) {
    fprintf(stderr, "listen: %s\n", wsk_uv_server_error(s));
    wsk_uv_server_free(s);
    return NULL;
  }
  if (port) *port = wsk_uv_server_port(s);
  return s;
}

static inline wsk_uv_client_t *client_to(int port, const char *path, const wsk_uv_client_opts_t *o) {
  char url[128];
  snprintf(url, sizeof url, "ws://127.0.0.1:%d%s", port, path ? path : "/");
  wsk_uv_client_t *cl = NULL;
  return wsk_uv_client_new(L, url, o, &cl) == 0 ? cl : NULL;
}

/* ---- a raw TCP peer: connect, write bytes, collect what comes back ---- */
typedef struct raw {
  uv_tcp_t tcp;
  uv_connect_t creq;
  char in[8192];
  size_t in_len;
  int eof, connected;
  const char *send;
} raw_t;

static inline void raw_alloc(uv_handle_t *h, size_t s, uv_buf_t *b) {
  raw_t *r = h->data;
  (void)s;
  *b = uv_buf_init(r->in + r->in_len, (unsigned)(sizeof r->in - 1 - r->in_len));
}

static inline void raw_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
  raw_t *r = st->data;
  (void)b;
  if (n > 0) {
    r->in_len += (size_t)n;
    r->in[r->in_len] = 0;
  } else if (n < 0) {
    r->eof = 1;
    uv_read_stop(st);
    if (!uv_is_closing((uv_handle_t *)st)) uv_close((uv_handle_t *)st, noop_close);
  }
}

static inline void raw_written(uv_write_t *w, int status) {
  (void)status;
  free(w);
}

static inline void raw_write(raw_t *r, const void *p, size_t n) {
  uv_write_t *w = malloc(sizeof *w);
  uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
  uv_write(w, (uv_stream_t *)&r->tcp, &b, 1, raw_written);
}

static inline void raw_connected(uv_connect_t *req, int status) {
  raw_t *r = req->data;
  if (status < 0) {
    r->eof = 1;
    return;
  }
  r->connected = 1;
  uv_read_start((uv_stream_t *)&r->tcp, raw_alloc, raw_read);
  if (r->send) raw_write(r, r->send, strlen(r->send));
}

static inline void raw_open(raw_t *r, int port, const char *send) {
  memset(r, 0, sizeof *r);
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", port, &a);
  uv_tcp_init(L, &r->tcp);
  r->tcp.data = r;
  r->creq.data = r;
  r->send = send;
  uv_tcp_connect(&r->creq, &r->tcp, (const struct sockaddr *)&a, raw_connected);
}

static inline void raw_close(raw_t *r) {
  if (!uv_is_closing((uv_handle_t *)&r->tcp)) uv_close((uv_handle_t *)&r->tcp, noop_close);
}

#define UPGRADE_REQUEST                                                      \
  "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" \
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

#endif
