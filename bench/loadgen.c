/* loadgen: an echo load generator on the wskit libuv driver.
 *
 *   loadgen [options] URL
 *
 * N connections each keep `depth` messages in flight: every echo that
 * comes back is timed and answered with the next message. After the
 * connections are open and a warm-up has passed, it measures for
 * `duration` seconds and prints round trips per second, payload MB/s
 * (one direction: round trips x size) and the latency of the round trips
 * (p50, p99, max) from a log-linear histogram (no allocation per sample).
 *
 * Modes:
 *   ws (default)  URL ws://host:port/path; one wsk_uv_client_t per
 *                 connection, messages sent with wsk_uv_conn_send from the
 *                 client's on_message.
 *   --raw         plain TCP to the URL's host:port (tcp://host:port or a ws
 *                 URL): send size-byte blocks, count the same bytes back.
 *                 Drives a raw TCP echo server, the ceiling.
 *   --lean        WebSocket, but with the cost of --raw on this side: the
 *                 opening handshake through the core (wsk_conn_t on a uv
 *                 TCP stream), then one masked frame built at start sent
 *                 as is and the echoes counted as bytes (their length is
 *                 known: no compression, no fragmentation). Measures a
 *                 server with a client that costs what the raw one costs.
 *   --idle        open N WebSocket connections (at most 256 handshakes at a
 *                 time), print "idle open=N" once they are open, then hold
 *                 them, silent, until the duration passes or SIGINT/SIGTERM.
 *
 * Always bounded: connecting gets 10 s (--connect-timeout), then warm-up
 * and duration, then at most 3 s to close; whatever is left is aborted and
 * the program ends.
 *
 * The last line is machine-readable: "RESULT key=value ...". It reports the
 * CPU we used in the measured window (getrusage) and, with --server-pid PID,
 * the server's (/proc/PID/stat) and what every other process on the machine
 * used (/proc/stat minus both), so a run says which side was the bottleneck
 * and whether other work disturbed it. */
#include <netdb.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "wskit/uv.h"

#define CLOSE_GRACE_MS 3000
#define IDLE_CONCURRENCY 256
#define READ_BUF (256 * 1024)

/* ---- latency histogram: log-linear, 64 sub-buckets per power of two ---- */

#define SUB_BITS 6
#define SUB (1u << SUB_BITS)
#define NBUCKETS ((64 - SUB_BITS + 1) * SUB)

typedef struct hist {
  uint64_t n[NBUCKETS];
  uint64_t count, max;
} hist_t;

static unsigned hist_index(uint64_t v) {
  if (v < SUB) return (unsigned)v;
  unsigned lg = 63u - (unsigned)__builtin_clzll(v); /* >= SUB_BITS */
  unsigned shift = lg - SUB_BITS;
  return (shift + 1) * SUB + (unsigned)((v >> shift) - SUB);
}

/* The middle of a bucket's range. */
static uint64_t hist_value(unsigned i) {
  unsigned k = i >> SUB_BITS, m = i & (SUB - 1);
  if (k == 0) return m;
  uint64_t lo = (uint64_t)(SUB + m) << (k - 1);
  return lo + ((uint64_t)1 << (k - 1)) / 2;
}

static void hist_add(hist_t *h, uint64_t v) {
  h->n[hist_index(v)]++;
  h->count++;
  if (v > h->max) h->max = v;
}

static uint64_t hist_pct(const hist_t *h, double p) {
  if (!h->count) return 0;
  uint64_t want = (uint64_t)(p / 100.0 * (double)h->count);
  if (want >= h->count) want = h->count - 1;
  uint64_t seen = 0;
  for (unsigned i = 0; i < NBUCKETS; i++) {
    seen += h->n[i];
    if (seen > want) {
      uint64_t v = hist_value(i);
      return v > h->max ? h->max : v;
    }
  }
  return h->max;
}

/* ---- state ---- */

enum phase { PH_CONNECT, PH_WARMUP, PH_MEASURE, PH_CLOSING };
enum mode { MODE_WS, MODE_RAW, MODE_LEAN, MODE_IDLE };

typedef struct wfree {
  struct wfree *next;
} wfree_t;

typedef struct lconn {
  unsigned idx;
  int opened, ended;
  wsk_uv_client_t *cl;  /* ws / idle */
  wsk_uv_conn_t *c;     /* ws: the open connection */
  uv_tcp_t tcp;         /* raw, lean */
  uv_connect_t creq;
  wsk_conn_t *hs;       /* lean: the core during the handshake */
  uint64_t *ts;         /* send times of the messages in flight (ring of `depth`) */
  unsigned head, inflight;
  size_t rx;            /* raw, lean: bytes of the current unit already back */
  wfree_t *wfree;       /* raw: spare write requests */
} lconn_t;

typedef struct rawwr {
  uv_write_t req;
  lconn_t *lc;
  uint8_t *owned;
} rawwr_t;

static struct {
  enum mode mode;
  enum phase phase;
  const char *url;
  unsigned nconns, depth;
  size_t size;
  double duration, warmup;
  int text, deflate, verify, quiet;
  long server_pid;
  unsigned connect_timeout_ms;
  struct sockaddr_storage addr; /* raw */
  uv_loop_t *loop;
  uv_timer_t timer;
  uv_signal_t sigint, sigterm;
  lconn_t *conns;
  uint64_t *ts_all;
  uint8_t *payload;   /* one message */
  uint8_t *sbuf;      /* raw, lean: depth units to send (k in one write) */
  uint8_t *expect;    /* raw, lean: one unit as it comes back */
  size_t sunit, runit;
  uint8_t rbuf[READ_BUF];
  unsigned started, opened, failed, ended, connecting;
  int sending;
  uint64_t errors, bad_len;
  hist_t hist;
  uint64_t t0, t1;
  double cpu0, cpu1, scpu0, scpu1, mcpu0, mcpu1;
  char first_error[256];
  wsk_uv_callbacks_t cbs;
  wsk_uv_client_opts_t copts;
} G;

static void fail_note(const char *what) {
  G.errors++;
  if (!G.first_error[0]) snprintf(G.first_error, sizeof G.first_error, "%s", what);
}

static double self_cpu(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* utime + stime of a process in seconds, -1 when unreadable. */
static double proc_cpu(long pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  if (!p) return -1;
  unsigned long long ut = 0, st = 0;
  /* after ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15) */
  if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
    return -1;
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* CPU time every CPU of the machine spent busy, in seconds (-1 when
 * unknown): what the others ran is this minus us and the server. */
static double machine_cpu(void) {
  FILE *f = fopen("/proc/stat", "r");
  if (!f) return -1;
  unsigned long long v[8] = { 0 };
  int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                 &v[4], &v[5], &v[6], &v[7]);
  fclose(f);
  if (n < 5) return -1;
  /* user nice system idle iowait irq softirq steal: busy = all but idle, iowait */
  unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
  return (double)busy / (double)sysconf(_SC_CLK_TCK);
}

/* ---- phases ---- */

static void timer_cb(uv_timer_t *t);
static void start_closing(void);

static void close_noop(uv_handle_t *h) { (void)h; }

static void maybe_finish(void) {
  if (G.phase != PH_CLOSING || G.ended < G.started) return;
  if (!uv_is_closing((uv_handle_t *)&G.timer)) {
    uv_close((uv_handle_t *)&G.timer, close_noop);
    uv_close((uv_handle_t *)&G.sigint, close_noop);
    uv_close((uv_handle_t *)&G.sigterm, close_noop);
  }
}

static void begin_measure(void) {
  G.phase = PH_MEASURE;
  memset(&G.hist, 0, sizeof G.hist);
  G.t0 = uv_hrtime();
  G.cpu0 = self_cpu();
  G.scpu0 = G.server_pid ? proc_cpu(G.server_pid) : -1;
  G.mcpu0 = machine_cpu();
  uv_timer_start(&G.timer, timer_cb, (uint64_t)(G.duration * 1000.0 + 0.5), 0);
}

static void all_connected(void) {
  if (G.phase != PH_CONNECT) return;
  if (G.mode == MODE_IDLE) {
    printf("idle open=%u failed=%u\n", G.opened, G.failed);
    fflush(stdout);
    G.phase = PH_MEASURE;
    G.t0 = uv_hrtime();
    uv_timer_start(&G.timer, timer_cb, (uint64_t)(G.duration * 1000.0 + 0.5), 0);
    return;
  }
  if (!G.opened) {
    start_closing();
    return;
  }
  G.phase = PH_WARMUP;
  if (G.warmup > 0)
    uv_timer_start(&G.timer, timer_cb, (uint64_t)(G.warmup * 1000.0 + 0.5), 0);
  else
    begin_measure();
}

static void check_connected(void) {
  if (G.phase == PH_CONNECT && G.opened + G.failed >= G.nconns) all_connected();
}

/* ---- timing of messages in flight ---- */

static void push_ts(lconn_t *lc, uint64_t now) {
  lc->ts[(lc->head + lc->inflight) % G.depth] = now;
  lc->inflight++;
}

static void pop_done(lconn_t *lc, uint64_t now) {
  if (!lc->inflight) {
    fail_note("echo without a message in flight");
    return;
  }
  uint64_t sent = lc->ts[lc->head];
  lc->head = (lc->head + 1) % G.depth;
  lc->inflight--;
  if (G.phase == PH_MEASURE) hist_add(&G.hist, now - sent);
}

/* ---- WebSocket connections (the driver's client) ---- */

static void idle_next(void);

static void ws_send(lconn_t *lc, uint64_t now) {
  int r = wsk_uv_conn_send(lc->c, G.text ? WSK_OP_TEXT : WSK_OP_BINARY, G.payload, G.size);
  if (r < 0) {
    fail_note(wsk_strerror(r));
    return;
  }
  push_ts(lc, now);
}

static lconn_t *lc_of(wsk_uv_conn_t *c) {
  return wsk_uv_client_data(wsk_uv_conn_client(c));
}

static void on_open(wsk_uv_conn_t *c) {
  lconn_t *lc = lc_of(c);
  lc->opened = 1;
  lc->c = c;
  G.opened++;
  if (G.mode == MODE_IDLE) {
    G.connecting--;
    idle_next();
  } else if (G.sending) {
    uint64_t now = uv_hrtime();
    for (unsigned i = 0; i < G.depth; i++) ws_send(lc, now);
  }
  check_connected();
}

static void on_message(wsk_uv_conn_t *c, const wsk_uv_message_t *m) {
  lconn_t *lc = lc_of(c);
  uint64_t now = uv_hrtime();
  if (m->len != G.size || (G.verify && memcmp(m->data, G.payload, G.size) != 0)) {
    G.bad_len++;
    fail_note("echo differs from the message sent");
  }
  pop_done(lc, now);
  if (G.sending) ws_send(lc, now);
}

static void on_close(wsk_uv_conn_t *c, const wsk_uv_close_info_t *i) {
  lconn_t *lc = lc_of(c);
  lc->c = NULL;
  if (!lc->opened) {
    G.failed++;
    if (G.mode == MODE_IDLE) G.connecting--;
    char msg[256];
    snprintf(msg, sizeof msg, "connect: %s", i->error && i->error[0] ? i->error : wsk_strerror(i->err));
    fail_note(msg);
  } else if (G.phase != PH_CLOSING) {
    char msg[256];
    snprintf(msg, sizeof msg, "closed early: code %u %s", i->code, i->error ? i->error : "");
    fail_note(msg);
  }
  if (!lc->ended) {
    lc->ended = 1;
    G.ended++;
  }
  wsk_uv_client_t *cl = lc->cl;
  lc->cl = NULL;
  if (cl) wsk_uv_client_free(cl); /* allowed inside its own callbacks */
  if (G.mode == MODE_IDLE && G.phase == PH_CONNECT) idle_next();
  check_connected();
  maybe_finish();
}

static int ws_start(lconn_t *lc) {
  int r = wsk_uv_client_new(G.loop, G.url, &G.copts, &lc->cl);
  if (r < 0) {
    fprintf(stderr, "loadgen: %s: %s\n", G.url, wsk_strerror(r));
    return r;
  }
  wsk_uv_client_set_data(lc->cl, lc);
  G.started++;
  return 0;
}

/* Idle mode: keep IDLE_CONCURRENCY handshakes going until all are started. */
static void idle_next(void) {
  while (G.phase == PH_CONNECT && G.started < G.nconns && G.connecting < IDLE_CONCURRENCY) {
    if (ws_start(&G.conns[G.started]) < 0) {
      G.failed += G.nconns - G.started;
      G.started = G.nconns;
      break;
    }
    G.connecting++;
  }
}

/* ---- raw TCP and lean WebSocket connections ----
 * Both send fixed units (raw: the block; lean: one masked frame built once)
 * and count fixed units back (raw: the block; lean: the server's unmasked
 * frame), so their per-message cost on this side is the same. Lean mode does
 * the opening handshake with the core (wsk_conn_t) on the TCP stream, then
 * drops it. */

static void raw_closed(uv_handle_t *h) {
  lconn_t *lc = h->data;
  while (lc->wfree) {
    wfree_t *w = lc->wfree;
    lc->wfree = w->next;
    free(w);
  }
  wsk_conn_free(lc->hs);
  lc->hs = NULL;
  lc->ended = 1;
  G.ended++;
  check_connected();
  maybe_finish();
}

static void raw_end(lconn_t *lc, const char *why, int err) {
  if (uv_is_closing((uv_handle_t *)&lc->tcp)) return;
  if (why) {
    char msg[256];
    snprintf(msg, sizeof msg, "%s: %s", why, err ? uv_strerror(err) : "failed");
    fail_note(msg);
    if (!lc->opened) G.failed++;
  }
  uv_close((uv_handle_t *)&lc->tcp, raw_closed);
}

static void raw_write_cb(uv_write_t *req, int status) {
  rawwr_t *w = (rawwr_t *)req;
  lconn_t *lc = w->lc;
  if (w->owned) wsk_free(w->owned);
  wfree_t *f = (wfree_t *)w;
  f->next = lc->wfree;
  lc->wfree = f;
  if (status < 0 && status != UV_ECANCELED) raw_end(lc, "write", status);
}

/* Write len bytes at p (owned: freed with wsk_free when written). */
static int raw_write(lconn_t *lc, const uint8_t *p, size_t len, uint8_t *owned) {
  rawwr_t *w;
  if (lc->wfree) {
    w = (rawwr_t *)lc->wfree;
    lc->wfree = lc->wfree->next;
  } else {
    w = malloc(sizeof(rawwr_t) > sizeof(wfree_t) ? sizeof(rawwr_t) : sizeof(wfree_t));
    if (!w) {
      wsk_free(owned);
      fail_note("out of memory");
      return -1;
    }
  }
  w->lc = lc;
  w->owned = owned;
  uv_buf_t b = uv_buf_init((char *)p, (unsigned)len);
  int r = uv_write(&w->req, (uv_stream_t *)&lc->tcp, &b, 1, raw_write_cb);
  if (r < 0) {
    wsk_free(owned);
    free(w);
    raw_end(lc, "write", r);
    return -1;
  }
  return 0;
}

/* Send k units in one write: straight to the kernel when nothing is
 * queued (no request, no callback), the rest through uv_write. */
static void raw_send(lconn_t *lc, unsigned k, uint64_t now) {
  size_t len = k * G.sunit, off = 0;
  if (uv_stream_get_write_queue_size((uv_stream_t *)&lc->tcp) == 0) {
    uv_buf_t b = uv_buf_init((char *)G.sbuf, (unsigned)len);
    int n = uv_try_write((uv_stream_t *)&lc->tcp, &b, 1);
    if (n < 0 && n != UV_EAGAIN) {
      raw_end(lc, "write", n);
      return;
    }
    off = n > 0 ? (size_t)n : 0;
  }
  if (off < len && raw_write(lc, G.sbuf + off, len - off, NULL) < 0) return;
  for (unsigned i = 0; i < k; i++) push_ts(lc, now);
}

static void raw_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  *buf = uv_buf_init((char *)G.rbuf, READ_BUF);
}

static void raw_opened(lconn_t *lc) {
  lc->opened = 1;
  G.opened++;
  if (G.sending) raw_send(lc, G.depth, uv_hrtime());
  check_connected();
}

/* Lean mode: the handshake through the core. */
static void lean_handshake(lconn_t *lc, uint8_t *data, size_t n) {
  wsk_event_t ev;
  if (n) wsk_conn_feed(lc->hs, data, n);
  while (lc->hs && wsk_conn_next_event(lc->hs, &ev)) {
    if (ev.type == WSK_EV_OPEN) {
      if (wsk_conn_input_pending(lc->hs) || wsk_conn_deflate(lc->hs)->enabled) {
        raw_end(lc, "lean mode needs a server that sends nothing first and no compression", 0);
        return;
      }
      wsk_conn_free(lc->hs);
      lc->hs = NULL;
      raw_opened(lc);
      return;
    }
    if (ev.type == WSK_EV_REJECTED || ev.type == WSK_EV_CLOSED) {
      char msg[256];
      snprintf(msg, sizeof msg, "handshake: %s", wsk_conn_error(lc->hs));
      raw_end(lc, msg, 0);
      return;
    }
  }
  uint8_t *d;
  size_t len;
  if (lc->hs && wsk_conn_output_take(lc->hs, &d, &len) == 0 && len) raw_write(lc, d, len, d);
}

static void raw_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  lconn_t *lc = s->data;
  if (n == 0) return;
  if (n < 0) {
    raw_end(lc, G.phase == PH_CLOSING ? NULL : "read", (int)n);
    return;
  }
  if (lc->hs) {
    lean_handshake(lc, (uint8_t *)buf->base, (size_t)n);
    return;
  }
  uint64_t now = uv_hrtime();
  if (G.verify) { /* the stream repeats the unit: compare up to each unit's end */
    size_t off = 0, pos = lc->rx;
    while (off < (size_t)n) {
      size_t k = G.runit - pos < (size_t)n - off ? G.runit - pos : (size_t)n - off;
      if (memcmp(buf->base + off, G.expect + pos, k) != 0) {
        G.bad_len++;
        fail_note("echo differs from the bytes sent");
        break;
      }
      off += k;
      pos = 0;
    }
  }
  lc->rx += (size_t)n;
  unsigned k = 0;
  while (lc->rx >= G.runit) {
    lc->rx -= G.runit;
    pop_done(lc, now);
    k++;
  }
  if (k && G.sending) raw_send(lc, k, now);
}

static void raw_connected(uv_connect_t *req, int status) {
  lconn_t *lc = req->data;
  if (status < 0) {
    raw_end(lc, "connect", status);
    return;
  }
  uv_tcp_nodelay(&lc->tcp, 1);
  int r = uv_read_start((uv_stream_t *)&lc->tcp, raw_alloc, raw_read);
  if (r < 0) {
    raw_end(lc, "read", r);
    return;
  }
  if (G.mode == MODE_LEAN) {
    int err;
    lc->hs = wsk_conn_new(&G.copts.conn, (int64_t)uv_now(G.loop), &err);
    if (!lc->hs) {
      raw_end(lc, wsk_strerror(err), 0);
      return;
    }
    lean_handshake(lc, NULL, 0);
  } else {
    raw_opened(lc);
  }
}

static int raw_start(lconn_t *lc) {
  uv_tcp_init(G.loop, &lc->tcp);
  lc->tcp.data = lc;
  lc->creq.data = lc;
  G.started++;
  int r = uv_tcp_connect(&lc->creq, &lc->tcp, (const struct sockaddr *)&G.addr, raw_connected);
  if (r < 0) {
    raw_end(lc, "connect", r);
    return r;
  }
  return 0;
}

/* ---- ending ---- */

static void start_closing(void) {
  if (G.phase == PH_CLOSING) return;
  G.phase = PH_CLOSING;
  G.sending = 0;
  uv_timer_start(&G.timer, timer_cb, CLOSE_GRACE_MS, 0);
  for (unsigned i = 0; i < G.started; i++) {
    lconn_t *lc = &G.conns[i];
    if (lc->ended) continue;
    if (G.mode == MODE_RAW || G.mode == MODE_LEAN)
      raw_end(lc, NULL, 0);
    else if (lc->cl)
      wsk_uv_client_close(lc->cl, 1000, NULL);
  }
  maybe_finish();
}

static void abort_all(void) {
  for (unsigned i = 0; i < G.started; i++) {
    lconn_t *lc = &G.conns[i];
    if (lc->ended) continue;
    if (G.mode == MODE_RAW || G.mode == MODE_LEAN) {
      raw_end(lc, NULL, 0);
      continue;
    }
    wsk_uv_client_t *cl = lc->cl;
    lc->cl = NULL;
    if (cl) wsk_uv_client_free(cl); /* runs on_close when an attempt is on */
    if (!lc->ended) {
      lc->ended = 1;
      G.ended++;
    }
  }
}

static void timer_cb(uv_timer_t *t) {
  (void)t;
  switch (G.phase) {
  case PH_CONNECT: /* connect timeout: go on with what is open */
    fprintf(stderr, "loadgen: %u of %u connections open after %u ms\n", G.opened, G.nconns,
            G.connect_timeout_ms);
    G.failed = G.nconns - G.opened;
    all_connected();
    break;
  case PH_WARMUP:
    begin_measure();
    break;
  case PH_MEASURE:
    G.t1 = uv_hrtime();
    G.cpu1 = self_cpu();
    G.scpu1 = G.server_pid ? proc_cpu(G.server_pid) : -1;
    G.mcpu1 = machine_cpu();
    start_closing();
    break;
  case PH_CLOSING: /* grace period over */
    abort_all();
    G.ended = G.started;
    maybe_finish();
    uv_stop(G.loop);
    break;
  }
}

static void on_signal(uv_signal_t *h, int signum) {
  (void)h;
  (void)signum;
  if (G.phase == PH_MEASURE && !G.t1) {
    G.t1 = uv_hrtime();
    G.cpu1 = self_cpu();
    G.scpu1 = G.server_pid ? proc_cpu(G.server_pid) : -1;
    G.mcpu1 = machine_cpu();
  }
  if (G.phase == PH_CLOSING) {
    abort_all();
    uv_stop(G.loop);
    return;
  }
  start_closing();
}

/* ---- setup ---- */

static int parse_raw_addr(const char *url) {
  char host[256];
  const char *p = strstr(url, "://");
  p = p ? p + 3 : url;
  const char *hs = p, *he;
  if (*p == '[') {
    hs = p + 1;
    he = strchr(hs, ']');
    if (!he) return -1;
    p = he + 1;
  } else {
    he = p;
    while (*he && *he != ':' && *he != '/') he++;
    p = he;
  }
  if ((size_t)(he - hs) >= sizeof host) return -1;
  memcpy(host, hs, (size_t)(he - hs));
  host[he - hs] = 0;
  const char *port = *p == ':' ? p + 1 : "80";
  char ports[16];
  size_t pl = strcspn(port, "/");
  if (pl == 0 || pl >= sizeof ports) return -1;
  memcpy(ports, port, pl);
  ports[pl] = 0;
  struct addrinfo hints, *res;
  memset(&hints, 0, sizeof hints);
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(host, ports, &hints, &res) != 0) return -1;
  memcpy(&G.addr, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  return 0;
}

static void usage(const char *argv0) {
  fprintf(stderr,
          "usage: %s [options] URL\n"
          "  -c, --conns N       connections (64)\n"
          "  -s, --size BYTES    message size (32); k/K and m/M suffixes\n"
          "  -p, --depth N       messages in flight per connection (1)\n"
          "  -d, --duration SEC  measured time (3)\n"
          "  -w, --warmup SEC    after all are open, before measuring (0.5)\n"
          "  --text | --binary   message type (binary)\n"
          "  --deflate           offer permessage-deflate (off)\n"
          "  --raw               plain TCP echo (tcp://host:port)\n"
          "  --lean              WebSocket with the cost of --raw on this side: handshake\n"
          "                      by the core, then prebuilt frames out, bytes counted back\n"
          "  --idle              open -c connections and hold them for the duration\n"
          "  --verify            compare every echo with what was sent\n"
          "  --server-pid PID    also report that process's CPU use\n"
          "  --connect-timeout SEC  for opening all connections (10)\n"
          "  -q, --quiet         only the RESULT line\n",
          argv0);
}

static size_t parse_size(const char *s) {
  char *end;
  double v = strtod(s, &end);
  if (*end == 'k' || *end == 'K') v *= 1024;
  else if (*end == 'm' || *end == 'M') v *= 1024 * 1024;
  return v < 0 ? 0 : (size_t)v;
}

int main(int argc, char **argv) {
  G.nconns = 64;
  G.size = 32;
  G.depth = 1;
  G.duration = 3;
  G.warmup = 0.5;
  G.connect_timeout_ms = 10000;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(s, l) (!strcmp(a, s) || !strcmp(a, l))
#define NEEDV() do { if (!v) { usage(argv[0]); return 2; } i++; } while (0)
    if (ARG("-c", "--conns")) { NEEDV(); G.nconns = (unsigned)atol(v); }
    else if (ARG("-s", "--size")) { NEEDV(); G.size = parse_size(v); }
    else if (ARG("-p", "--depth")) { NEEDV(); G.depth = (unsigned)atol(v); }
    else if (ARG("-d", "--duration")) { NEEDV(); G.duration = atof(v); }
    else if (ARG("-w", "--warmup")) { NEEDV(); G.warmup = atof(v); }
    else if (!strcmp(a, "--text")) G.text = 1;
    else if (!strcmp(a, "--binary")) G.text = 0;
    else if (!strcmp(a, "--deflate")) G.deflate = 1;
    else if (!strcmp(a, "--raw")) G.mode = MODE_RAW;
    else if (!strcmp(a, "--lean")) G.mode = MODE_LEAN;
    else if (!strcmp(a, "--idle")) G.mode = MODE_IDLE;
    else if (!strcmp(a, "--verify")) G.verify = 1;
    else if (!strcmp(a, "--server-pid")) { NEEDV(); G.server_pid = atol(v); }
    else if (!strcmp(a, "--connect-timeout")) { NEEDV(); G.connect_timeout_ms = (unsigned)(atof(v) * 1000); }
    else if (ARG("-q", "--quiet")) G.quiet = 1;
    else if (ARG("-h", "--help")) { usage(argv[0]); return 0; }
    else if (a[0] == '-') { fprintf(stderr, "unknown option %s\n", a); usage(argv[0]); return 2; }
    else G.url = a;
#undef ARG
#undef NEEDV
  }
  if (!G.url || !G.nconns || !G.depth || G.duration <= 0 || (G.mode != MODE_IDLE && !G.size) ||
      G.depth > 65536 || G.size > ((size_t)1 << 30) / G.depth) {
    usage(argv[0]);
    return 2;
  }
  if (G.mode == MODE_IDLE) G.depth = 1;
  if ((G.mode == MODE_RAW || G.mode == MODE_LEAN) && parse_raw_addr(G.url) < 0) {
    fprintf(stderr, "loadgen: cannot resolve %s\n", G.url);
    return 2;
  }

  /* the payload: ASCII letters for text, fixed pseudo-random bytes for binary */
  G.payload = malloc(G.size ? G.size : 1);
  G.conns = calloc(G.nconns, sizeof *G.conns);
  G.ts_all = calloc((size_t)G.nconns * G.depth, sizeof *G.ts_all);
  if (!G.payload || !G.conns || !G.ts_all) {
    fprintf(stderr, "loadgen: out of memory\n");
    return 1;
  }
  uint32_t x = 2463534242u;
  for (size_t i = 0; i < G.size; i++) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    G.payload[i] = G.text ? (uint8_t)('a' + x % 26) : (uint8_t)x;
  }
  if (G.mode == MODE_RAW || G.mode == MODE_LEAN) {
    /* units: raw, the block both ways; lean, a masked frame out and the
     * server's unmasked frame back */
    uint8_t hdr[WSK_FRAME_MAX_HEADER], rhdr[WSK_FRAME_MAX_HEADER];
    const uint8_t mask[4] = { 0x37, 0xfa, 0x21, 0x3d };
    unsigned op = G.text ? WSK_OP_TEXT : WSK_OP_BINARY;
    size_t sh = G.mode == MODE_LEAN ? wsk_frame_header_encode(hdr, 1, 0, op, G.size, mask) : 0;
    G.sunit = sh + G.size;
    G.sbuf = malloc(G.sunit * G.depth);
    size_t rh = G.mode == MODE_LEAN ? wsk_frame_header_encode(rhdr, 1, 0, op, G.size, NULL) : 0;
    G.runit = rh + G.size;
    G.expect = malloc(G.runit);
    if (!G.sbuf || !G.expect) {
      fprintf(stderr, "loadgen: out of memory\n");
      return 1;
    }
    memcpy(G.sbuf, hdr, sh);
    if (G.mode == MODE_LEAN)
      wsk_mask_copy(G.sbuf + sh, G.payload, G.size, mask, 0);
    else
      memcpy(G.sbuf, G.payload, G.size);
    for (unsigned i = 1; i < G.depth; i++) memcpy(G.sbuf + (size_t)i * G.sunit, G.sbuf, G.sunit);
    memcpy(G.expect, rhdr, rh);
    memcpy(G.expect + rh, G.payload, G.size);
  }
  for (unsigned i = 0; i < G.nconns; i++) {
    G.conns[i].idx = i;
    G.conns[i].ts = G.ts_all + (size_t)i * G.depth;
  }

  G.cbs.on_open = on_open;
  G.cbs.on_message = on_message;
  G.cbs.on_close = on_close;
  wsk_uv_client_opts_init(&G.copts);
  G.copts.callbacks = &G.cbs;
  G.copts.reconnect = 0;
  G.copts.conn.max_message_size = G.size > (1u << 20) ? G.size : (1u << 20);
  G.copts.conn.client.deflate.enabled = G.deflate;
  G.copts.conn.validate_utf8_out = 0; /* our own payload: known to be valid */
  G.copts.conn.open_timeout_ms = G.connect_timeout_ms;
  G.copts.conn.ping_interval_ms = 0; /* no keepalive traffic in the measurement */
  G.copts.conn.close_timeout_ms = CLOSE_GRACE_MS;
  G.copts.proxy = "";
  static wsk_url_t u; /* lean mode: the handshake's Host and resource */
  if (G.mode == MODE_LEAN) {
    if (wsk_url_parse(G.url, &u) < 0 || u.secure) {
      fprintf(stderr, "loadgen: --lean needs a ws:// URL\n");
      return 2;
    }
    G.copts.conn.client.host = u.host;
    G.copts.conn.client.port = u.port;
    G.copts.conn.client.resource = u.resource;
  }

  G.loop = wsk_uv_default_loop();
  uv_timer_init(G.loop, &G.timer);
  uv_signal_init(G.loop, &G.sigint);
  uv_signal_init(G.loop, &G.sigterm);
  uv_signal_start(&G.sigint, on_signal, SIGINT);
  uv_signal_start(&G.sigterm, on_signal, SIGTERM);
  G.phase = PH_CONNECT;
  G.sending = G.mode != MODE_IDLE;
  uv_timer_start(&G.timer, timer_cb, G.connect_timeout_ms, 0);
  if (G.mode == MODE_IDLE) {
    idle_next();
  } else {
    for (unsigned i = 0; i < G.nconns; i++) {
      int r = G.mode == MODE_WS ? ws_start(&G.conns[i]) : raw_start(&G.conns[i]);
      if (r < 0 && G.mode == MODE_WS) {
        G.failed += G.nconns - i;
        break;
      }
    }
  }
  check_connected();
  uv_run(G.loop, UV_RUN_DEFAULT);
  /* after uv_stop: let libuv finish closing what is left */
  maybe_finish();
  uv_run(G.loop, UV_RUN_NOWAIT);

  const char *mname = G.mode == MODE_RAW    ? "raw"
                      : G.mode == MODE_LEAN ? "lean"
                      : G.mode == MODE_IDLE ? "idle"
                                            : "ws";
  if (G.mode == MODE_IDLE) {
    printf("RESULT mode=idle conns=%u open=%u failed=%u errors=%llu\n", G.nconns, G.opened,
           G.failed, (unsigned long long)G.errors);
    if (G.first_error[0] && !G.quiet) fprintf(stderr, "loadgen: first error: %s\n", G.first_error);
    return G.opened == G.nconns ? 0 : 1;
  }
  double secs = G.t1 > G.t0 ? (double)(G.t1 - G.t0) / 1e9 : 0;
  double rps = secs > 0 ? (double)G.hist.count / secs : 0;
  double mbps = rps * (double)G.size / 1e6;
  double cpu = secs > 0 ? 100.0 * (G.cpu1 - G.cpu0) / secs : 0;
  double scpu = secs > 0 && G.scpu0 >= 0 && G.scpu1 >= 0 ? 100.0 * (G.scpu1 - G.scpu0) / secs : -1;
  /* the rest of the machine: all CPUs' busy time minus ours and the server's */
  double other = secs > 0 && G.mcpu0 >= 0 && G.mcpu1 >= 0 && scpu >= 0
                     ? 100.0 * (G.mcpu1 - G.mcpu0) / secs - cpu - scpu
                     : -1;
  if (other < 0 && other > -10) other = 0; /* tick granularity */
  double p50 = (double)hist_pct(&G.hist, 50) / 1e3, p99 = (double)hist_pct(&G.hist, 99) / 1e3;
  double mx = (double)G.hist.max / 1e3;
  if (!G.quiet) {
    printf("loadgen %s %s: %u connections (%u open), %zu B %s, depth %u, %.2f s measured%s\n",
           mname, G.url, G.nconns, G.opened, G.size, G.mode == MODE_RAW ? "blocks" : G.text ? "text" : "binary",
           G.depth, secs, G.deflate ? ", deflate offered" : "");
    printf("  round trips/s %.0f   MB/s %.2f   latency p50 %.1f us  p99 %.1f us  max %.1f us\n", rps,
           mbps, p50, p99, mx);
    printf("  cpu: loadgen %.0f %%", cpu);
    if (scpu >= 0) printf(", server %.0f %%, other processes %.0f %%", scpu, other);
    printf("   errors %llu\n", (unsigned long long)G.errors);
    if (G.first_error[0]) printf("  first error: %s\n", G.first_error);
  }
  printf("RESULT mode=%s conns=%u open=%u size=%zu depth=%u secs=%.3f count=%llu rps=%.1f mbps=%.3f "
         "p50_us=%.1f p99_us=%.1f max_us=%.1f cpu=%.1f server_cpu=%.1f other_cpu=%.1f errors=%llu\n",
         mname, G.nconns, G.opened, G.size, G.depth, secs, (unsigned long long)G.hist.count, rps, mbps,
         p50, p99, mx, cpu, scpu, other, (unsigned long long)G.errors);
  fflush(stdout);
  return G.hist.count > 0 && G.bad_len == 0 ? 0 : 1;
}
