/* One connection: its stream, its timer and its core connection. Bytes
 * in go to wsk_conn_feed, events come out as callbacks, output goes to
 * uv_write, and the timer is armed at wsk_conn_deadline. Nothing here
 * decides anything about the protocol. */
#include "uv_internal.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { WSK_UVF_HCLOSING = 1 << 16, /* uv_close called on the handles */
       WSK_UVF_LINGER = 1 << 18 };  /* ended: FIN sent, reading until the peer's */

/* A buffer being written: freed in the write callback. */
typedef struct wreq {
  uv_write_t req;
  uint8_t *data;
  size_t len;
} wreq_t;

#define GRACE_MS 2000 /* after CLOSED: how long the last bytes may take to leave */

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void timer_cb(uv_timer_t *t);
static void end(wsk_uv_conn_t *c);

static uv_loop_t *loop_of(const wsk_uv_conn_t *c) { return c->owner->loop; }
static int64_t now_ms(const wsk_uv_conn_t *c) { return (int64_t)uv_now(loop_of(c)); }

wsk_uv_conn_t *wsk__uv_conn_alloc(wsk_uv_owner_t *owner, int pipe) {
  size_t size = offsetof(wsk_uv_conn_t, io) + (pipe ? sizeof(uv_pipe_t) : sizeof(uv_tcp_t));
  if (size < sizeof(wsk_uv_conn_t) - sizeof(((wsk_uv_conn_t *)0)->io) + sizeof(uv_handle_t))
    size = sizeof(wsk_uv_conn_t);
  wsk_uv_conn_t *c = calloc(1, size);
  if (!c) return NULL;
  c->owner = owner;
  c->refs = 1; /* dropped when the handles start closing */
  c->flags = (owner->is_client ? WSK_UVF_CLIENT : 0) | (pipe ? WSK_UVF_PIPE : 0);
  return c;
}

int wsk__uv_conn_init(wsk_uv_conn_t *c, uv_loop_t *loop, const wsk_conn_opts_t *o,
                      const wsk_uv_callbacks_t *cbs) {
  int err;
  c->cbs = cbs;
  if (uv_timer_init(loop, &c->timer) != 0) return WSK_EIO;
  c->timer.data = c;
  c->flags |= WSK_UVF_TIMER;
  c->refs++;
  c->ws = wsk_conn_new(o, (int64_t)uv_now(loop), &err);
  if (!c->ws) return err;
  wsk_conn_set_data(c->ws, c);
  return 0;
}

wsk_uv_extra_t *wsk__uv_extra(wsk_uv_conn_t *c) {
  if (!c->x) c->x = calloc(1, sizeof *c->x);
  return c->x;
}

/* ---- reference counting of the memory ---- */

void wsk__uv_conn_release(wsk_uv_conn_t *c) {
  if (c->x) {
    wsk_tls_free(c->x->tls);
    wsk__uv_sse_free(c);
    free(c->x);
  }
  if (c->flags & WSK_UVF_CLIENT)
    wsk__uv_client_conn_gone(c);
  else
    wsk__uv_server_conn_gone(c);
  free(c);
}

static void handle_closed(uv_handle_t *h) {
  wsk_uv_conn_t *c = h->data;
  if (--c->refs == 0) wsk__uv_conn_release(c);
}

static void close_handles(wsk_uv_conn_t *c) {
  if (c->flags & WSK_UVF_HCLOSING) return;
  c->flags |= WSK_UVF_HCLOSING;
  if (c->flags & WSK_UVF_STREAM) uv_close(&c->io.h, handle_closed);
  if (c->flags & WSK_UVF_TIMER) uv_close((uv_handle_t *)&c->timer, handle_closed);
  if (--c->refs == 0) wsk__uv_conn_release(c);
}

void wsk__uv_conn_discard(wsk_uv_conn_t *c) {
  wsk_conn_free(c->ws);
  c->ws = NULL;
  c->flags |= WSK_UVF_CLOSED | WSK_UVF_ENDED;
  close_handles(c);
}

/* ---- errors ---- */

void wsk__uv_conn_fail(wsk_uv_conn_t *c, int err, const char *what, int uverr) {
  char msg[640]; /* room for a whole TLS error (up to 512) and a system reason */
  if (!c->err) c->err = (int8_t)err;
  if (uverr)
    snprintf(msg, sizeof msg, "%s: %s", what, uv_strerror(uverr));
  else
    snprintf(msg, sizeof msg, "%s", what);
  if (c->ws) wsk_conn_abort(c->ws, msg);
}

/* ---- writing ---- */

size_t wsk_uv_conn_buffered(const wsk_uv_conn_t *c) {
  return c->inflight + (c->ws ? wsk_conn_output_len(c->ws) : 0);
}

int wsk_uv_conn_over_limit(const wsk_uv_conn_t *c) {
  return c->owner->write_limit && wsk_uv_conn_buffered(c) > c->owner->write_limit;
}

static void write_cb(uv_write_t *req, int status) {
  wreq_t *w = (wreq_t *)req;
  wsk_uv_conn_t *c = req->data;
  c->inflight -= w->len;
  free(w->data);
  free(w);
  if (c->flags & WSK_UVF_ENDED) {
    if (c->inflight == 0 && !(c->flags & WSK_UVF_LINGER)) close_handles(c);
    return;
  }
  wsk__uv_enter(c);
  if (status < 0 && status != UV_ECANCELED) wsk__uv_conn_fail(c, WSK_EIO, "write", status);
  if ((c->flags & WSK_UVF_OVER) && wsk_uv_conn_buffered(c) <= c->owner->low_water) {
    c->flags &= ~(uint32_t)(WSK_UVF_OVER | WSK_UVF_FULL);
    if (c->cbs->on_drain && c->ws && !(c->flags & WSK_UVF_CLOSED)) c->cbs->on_drain(c);
  }
  wsk__uv_leave(c);
}

/* Hand `data` (malloc'd, ours to free) to the socket: straight into the
 * kernel when it takes it all, else through a write request. */
static void submit(wsk_uv_conn_t *c, uint8_t *data, size_t len) {
  uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
  int n = uv_try_write(&c->io.s, &b, 1);
  if (n == (int)len) {
    free(data);
    return;
  }
  size_t off = n > 0 ? (size_t)n : 0;
  if (n < 0 && n != UV_EAGAIN && n != UV_ENOSYS) {
    free(data);
    wsk__uv_conn_fail(c, WSK_EIO, "write", n);
    return;
  }
  wreq_t *w = malloc(sizeof *w);
  if (!w) {
    free(data);
    wsk__uv_conn_fail(c, WSK_ENOMEM, "out of memory", 0);
    return;
  }
  if (off) { /* keep one pointer to free: move the rest to the front */
    memmove(data, data + off, len - off);
    len -= off;
  }
  w->data = data;
  w->len = len;
  w->req.data = c;
  b = uv_buf_init((char *)data, (unsigned)len);
  int r = uv_write(&w->req, &c->io.s, &b, 1, write_cb);
  if (r < 0) {
    free(data);
    free(w);
    wsk__uv_conn_fail(c, WSK_EIO, "write", r);
    return;
  }
  c->inflight += len;
}

/* wsk_tls_error() is a whole sentence starting with "TLS"; use it as is,
 * adding what a TLS 1.2 server's bare handshake_failure alert leaves out. */
static void tls_failed(wsk_uv_conn_t *c, const char *during) {
  wsk_tls_t *tls = WSK_UVX(c, tls);
  const char *e = tls ? wsk_tls_error(tls) : "";
  char msg[600];
  if (!*e) {
    snprintf(msg, sizeof msg, "TLS %s failed", during);
    e = msg;
  } else if ((c->flags & WSK_UVF_CLIENT) && wsk_tls_cert_requested(tls) && !wsk_tls_verify_failed(tls)) {
    snprintf(msg, sizeof msg, "%s (the server asked for a client certificate and none is configured)", e);
    e = msg;
  }
  wsk__uv_conn_fail(c, WSK_ECRYPTO, e, 0);
}

static void submit_tls(wsk_uv_conn_t *c) {
  wsk_buf_t b;
  memset(&b, 0, sizeof b);
  wsk_tls_drain(WSK_UVX(c, tls), &b);
  if (wsk_buf_pending(&b)) {
    if (b.off) memmove(b.data, b.data + b.off, wsk_buf_pending(&b));
    submit(c, b.data, wsk_buf_pending(&b));
  } else {
    wsk_buf_free(&b);
  }
}

/* Write what the core produced. With TLS, the ciphertext is drained even
 * when the core produced nothing: handshake flights, alerts, and what
 * reads produce after the handshake (TLS 1.3 session tickets, key update
 * answers) must leave too. */
static void flush(wsk_uv_conn_t *c) {
  if (!(c->flags & WSK_UVF_CONNECTED) || !c->ws || (c->flags & WSK_UVF_HCLOSING)) return;
  if (c->flags & WSK_UVF_TUNNEL) return; /* the core's bytes wait for the proxy's tunnel */
  wsk_tls_t *tls = WSK_UVX(c, tls);
  if (tls && !(c->flags & WSK_UVF_TLS_UP)) { /* handshake bytes only */
    submit_tls(c);
    return;
  }
  uint8_t *d;
  size_t n;
  wsk_conn_output_take(c->ws, &d, &n);
  if (n && tls) {
    if (wsk_tls_write(tls, d, n) < 0) tls_failed(c, "write");
    wsk_free(d);
  } else if (n) {
    submit(c, d, n);
  }
  if (tls) submit_tls(c);
  if (c->owner->write_limit && c->inflight > c->owner->write_limit) {
    c->flags |= WSK_UVF_OVER;
    if (c->owner->pause_when_full) c->flags |= WSK_UVF_FULL;
  }
}

/* Write what the core has queued now, inside a callback too: a hub
 * replaying history to one subscriber would otherwise fill the core's
 * buffer before the outermost callback returns. */
void wsk__uv_conn_flush(wsk_uv_conn_t *c) {
  if (c->ws && !(c->flags & (WSK_UVF_ENDED | WSK_UVF_CLOSED))) flush(c);
}

/* Bytes that are not the core's (an SSE stream), straight to the socket. */
void wsk__uv_conn_write_raw(wsk_uv_conn_t *c, const void *data, size_t len) {
  if (!len || !(c->flags & WSK_UVF_CONNECTED) || (c->flags & (WSK_UVF_HCLOSING | WSK_UVF_ENDED)))
    return;
  wsk_tls_t *tls = WSK_UVX(c, tls);
  if (tls) {
    if (wsk_tls_write(tls, data, len) < 0) tls_failed(c, "write");
    submit_tls(c);
    return;
  }
  uint8_t *copy = malloc(len);
  if (!copy) {
    wsk__uv_conn_fail(c, WSK_ENOMEM, "out of memory", 0);
    return;
  }
  memcpy(copy, data, len);
  submit(c, copy, len);
}

/* ---- reading ---- */

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  wsk_uv_conn_t *c = h->data;
  (void)suggested;
  uint8_t *p = wsk__uv_buf_get(c->owner->lctx, 0);
  *buf = uv_buf_init((char *)p, p ? WSK_UV_READ_BUF : 0);
}

static void update_reading(wsk_uv_conn_t *c) {
  uint32_t f = c->flags;
  int want = (f & WSK_UVF_STREAM) && (f & WSK_UVF_CONNECTED) && c->ws &&
             !(f & (WSK_UVF_ENDED | WSK_UVF_CLOSED | WSK_UVF_PAUSED | WSK_UVF_FULL | WSK_UVF_EOF)) &&
             !WSK_UVX(c, held) && wsk_conn_state(c->ws) != WSK_STATE_CLOSED;
  if (want && !(f & WSK_UVF_READING)) {
    int r = uv_read_start(&c->io.s, alloc_cb, read_cb);
    if (r < 0)
      wsk__uv_conn_fail(c, WSK_EIO, "read", r);
    else
      c->flags |= WSK_UVF_READING;
  } else if (!want && (f & WSK_UVF_READING)) {
    uv_read_stop(&c->io.s);
    c->flags &= ~(uint32_t)WSK_UVF_READING;
  }
}

static void release_held(wsk_uv_conn_t *c) {
  if (!WSK_UVX(c, held)) return;
  wsk__uv_buf_put(c->owner->lctx, (c->flags & WSK_UVF_HELD_PLAIN) != 0, WSK_UVX(c, held));
  c->x->held = NULL;
}

static void closed(wsk_uv_conn_t *c, const wsk_event_t *ev) {
  c->flags |= WSK_UVF_CLOSED;
  wsk_uv_close_info_t info;
  memset(&info, 0, sizeof info);
  info.code = ev->code;
  const char *rs = WSK_UVX(c, reason);
  info.reason = rs ? rs : "";
  info.reason_len = rs ? strlen(rs) : 0;
  info.sent_code = ev->sent_code;
  info.clean = ev->clean;
  info.opened = (c->flags & WSK_UVF_OPENED) != 0;
  info.err = c->err;
  info.error = wsk_conn_error(c->ws);
  info.http_status = WSK_UVX(c, http_status);
  info.proxy_status = WSK_UVX(c, proxy_status);
  info.retry_delay_ms = -1;
  wsk__uv_rpc_cancel(c); /* pending requests end before the connection does */
  if (c->flags & WSK_UVF_CLIENT) wsk__uv_client_on_closed(c, &info);
  if (c->cbs->on_close) c->cbs->on_close(c, &info);
  if (!(c->flags & WSK_UVF_CLIENT)) wsk__uv_server_on_closed(c);
}

static void dispatch(wsk_uv_conn_t *c, const wsk_event_t *ev) {
  const wsk_uv_callbacks_t *cb = c->cbs;
  wsk_uv_message_t m;
  wsk_uv_control_t k;
  switch (ev->type) {
  case WSK_EV_REQUEST:
    wsk__uv_server_request(c, ev);
    break;
  case WSK_EV_OPEN:
    c->flags |= WSK_UVF_OPENED;
    if (c->flags & WSK_UVF_CLIENT)
      wsk__uv_client_on_open(c);
    else
      wsk__uv_server_on_open(c);
    if (cb->on_open) cb->on_open(c);
    break;
  case WSK_EV_TEXT:
  case WSK_EV_BINARY:
  case WSK_EV_FRAGMENT:
    if (!(c->flags & WSK_UVF_CLIENT)) {
      /* the first message of a connection that must authenticate */
      if (!wsk_conn_authenticated(c->ws) && wsk__uv_guard_message(c, ev)) break;
      if (c->flags & WSK_UVF_CHAN) { /* served by the hub, not the application */
        if (ev->type == WSK_EV_TEXT)
          wsk__uv_hub_chan_message(c, ev->data, ev->len);
        else
          wsk__uv_hub_send_error(c, "bad_request", "channel messages are text", NULL, 0, NULL, 0);
        break;
      }
    } else if (ev->type == WSK_EV_TEXT && wsk__uv_chanc_message(c, ev->data, ev->len)) {
      break;
    }
    if (ev->type == WSK_EV_TEXT && wsk__uv_rpc_message(c, ev->data, ev->len)) break;
    if (!cb->on_message) break;
    m.opcode = ev->type == WSK_EV_TEXT     ? WSK_OP_TEXT
               : ev->type == WSK_EV_BINARY ? WSK_OP_BINARY
                                           : ev->opcode;
    m.data = ev->data;
    m.len = ev->len;
    m.first = ev->type == WSK_EV_FRAGMENT ? ev->first : 1;
    m.fin = ev->type == WSK_EV_FRAGMENT ? ev->fin : 1;
    cb->on_message(c, &m);
    break;
  case WSK_EV_PING:
  case WSK_EV_PONG:
    k.data = ev->data;
    k.len = ev->len;
    k.ping_id = ev->ping_id;
    k.latency_ms = ev->latency_ms;
    if (ev->type == WSK_EV_PING && cb->on_ping) cb->on_ping(c, &k);
    if (ev->type == WSK_EV_PONG && cb->on_pong) cb->on_pong(c, &k);
    break;
  case WSK_EV_CLOSE:
    if (!wsk__uv_extra(c)) break;
    free(c->x->reason);
    c->x->reason = malloc(ev->len + 1);
    if (c->x->reason) {
      if (ev->len) memcpy(c->x->reason, ev->data, ev->len);
      c->x->reason[ev->len] = 0;
    }
    break;
  case WSK_EV_REJECTED:
    c->flags |= WSK_UVF_REJECTED;
    if (wsk__uv_extra(c)) c->x->http_status = (uint16_t)ev->status;
    if (!c->err) c->err = WSK_EHANDSHAKE;
    break;
  case WSK_EV_RATE_LIMITED:
    wsk__uv_guard_rate_limited(c, ev);
    break;
  case WSK_EV_CLOSED:
    closed(c, ev);
    break;
  default:
    break;
  }
}

/* Pull events until none is left, the user paused, or the connection
 * ended. Returns 1 when the core no longer reads the buffer it was fed. */
static int pull(wsk_uv_conn_t *c) {
  wsk_event_t ev;
  while (c->ws && !(c->flags & WSK_UVF_CLOSED)) {
    if ((c->flags & WSK_UVF_PAUSED) && wsk_conn_state(c->ws) != WSK_STATE_CLOSED)
      return wsk_conn_input_pending(c->ws) == 0;
    if (!wsk_conn_next_event(c->ws, &ev)) return 1;
    dispatch(c, &ev);
  }
  return 1;
}

/* Feed bytes in `buf` (a shared buffer of kind `plain`) and pull; lend
 * the buffer to the connection when it must stay (paused mid-input). */
static int feed(wsk_uv_conn_t *c, uint8_t *buf, size_t n, int plain) {
  if (!c->ws || (c->flags & WSK_UVF_CLOSED)) return 1;
  if (c->flags & WSK_UVF_SSE_ON) return 1; /* an event stream's client has nothing to say */
  if (wsk_conn_feed(c->ws, buf, n) < 0) return 1; /* CLOSED: bytes ignored */
  if (pull(c)) return 1;
  wsk_uv_loopctx_t *x = c->owner->lctx;
  uint8_t **slot = plain ? &x->pbuf : &x->rbuf;
  if (!wsk__uv_extra(c)) { /* cannot keep the buffer: end the connection */
    wsk__uv_conn_fail(c, WSK_ENOMEM, "out of memory", 0);
    pull(c);
    return 1;
  }
  if (*slot == buf) *slot = NULL;
  c->x->held = buf;
  if (plain)
    c->flags |= WSK_UVF_HELD_PLAIN;
  else
    c->flags &= ~(uint32_t)WSK_UVF_HELD_PLAIN;
  return 0;
}

/* TLS: advance the handshake, then decrypt and feed until nothing is left
 * or the user paused. */
static void tls_pump(wsk_uv_conn_t *c) {
  if (!c->ws || (c->flags & WSK_UVF_CLOSED) || wsk_conn_state(c->ws) == WSK_STATE_CLOSED) return;
  if (!(c->flags & WSK_UVF_TLS_UP)) {
    int r = wsk_tls_handshake(WSK_UVX(c, tls));
    if (r < 0) { /* the alert is drained by flush() before the socket closes */
      tls_failed(c, "handshake");
      return;
    }
    if (r == 0) return;
    c->flags |= WSK_UVF_TLS_UP;
  }
  while (c->ws && !(c->flags & WSK_UVF_CLOSED) && !WSK_UVX(c, held)) {
    if ((c->flags & WSK_UVF_PAUSED) && wsk_conn_state(c->ws) != WSK_STATE_CLOSED) return;
    uint8_t *p = wsk__uv_buf_get(c->owner->lctx, 1);
    if (!p) {
      wsk__uv_conn_fail(c, WSK_ENOMEM, "out of memory", 0);
      return;
    }
    long n = wsk_tls_read(WSK_UVX(c, tls), p, WSK_UV_READ_BUF);
    if (n == 0) return;
    if (n == WSK_ECLOSED) { /* close_notify: the end of input */
      c->flags |= WSK_UVF_EOF;
      wsk_conn_feed_eof(c->ws);
      pull(c);
      return;
    }
    if (n < 0) {
      tls_failed(c, "read");
      return;
    }
    feed(c, p, (size_t)n, 1);
  }
}

/* Bytes from the socket (in the shared read buffer `p`). */
static void input(wsk_uv_conn_t *c, uint8_t *p, size_t n) {
  if (c->flags & WSK_UVF_TUNNEL) {
    size_t used = wsk__uv_client_tunnel_read(c, p, n);
    if ((c->flags & WSK_UVF_TUNNEL) || used >= n || !c->ws || (c->flags & WSK_UVF_CLOSED)) return;
    /* the tunnel is up and the bytes after the proxy's answer are its
     * first ones; moved to the front because a buffer lent to a paused
     * connection is freed by the pointer it was lent as */
    n -= used;
    memmove(p, p + used, n);
  }
  if (WSK_UVX(c, tls)) {
    if (wsk_tls_feed(WSK_UVX(c, tls), p, n) < 0)
      wsk__uv_conn_fail(c, WSK_ENOMEM, "out of memory", 0);
    else
      tls_pump(c);
  } else {
    feed(c, p, n, 0);
  }
}

/* A client lost during the handshake after the server asked for a
 * certificate it did not get: most likely refused for it, but without
 * the alert that would say so, so it is told and not judged (it retries). */
static int lost_for_a_certificate(const wsk_uv_conn_t *c) {
  return (c->flags & WSK_UVF_CLIENT) && !(c->flags & WSK_UVF_OPENED) && !c->err && c->ws &&
         WSK_UVX(c, tls) && wsk_tls_cert_requested(WSK_UVX(c, tls));
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  wsk_uv_conn_t *c = s->data;
  if (nread == 0) return; /* EAGAIN: the buffer stays shared */
  wsk__uv_enter(c);
  if (nread > 0) {
    input(c, (uint8_t *)buf->base, (size_t)nread);
  } else {
    /* libuv stopped reading on EOF / error */
    c->flags &= ~(uint32_t)WSK_UVF_READING;
    c->flags |= WSK_UVF_EOF;
    if (c->flags & WSK_UVF_TUNNEL) {
      if (nread == UV_EOF)
        wsk__uv_client_tunnel_read(c, NULL, 0);
      else
        wsk__uv_conn_fail(c, WSK_EIO, "read from the proxy", (int)nread);
    } else if (lost_for_a_certificate(c)) {
      wsk__uv_conn_fail(c, WSK_EIO, "connection lost during the opening handshake (the server asked "
                        "for a client certificate and none is configured)", 0);
    } else if (nread == UV_EOF && (c->flags & WSK_UVF_SSE_ON)) {
      if (c->ws) wsk_conn_abort(c->ws, "the client closed the event stream");
    } else if (nread == UV_EOF) {
      if (!c->err && c->ws && !(c->flags & WSK_UVF_OPENED)) c->err = WSK_EIO;
      if (c->ws) wsk_conn_feed_eof(c->ws);
    } else {
      wsk__uv_conn_fail(c, WSK_EIO, "read", (int)nread);
    }
  }
  wsk__uv_leave(c);
}

/* ---- time ---- */

static void tick(wsk_uv_conn_t *c) {
  if (!c->ws || (c->flags & (WSK_UVF_CLOSED | WSK_UVF_SSE_ON))) return;
  wsk_state_t before = wsk_conn_state(c->ws);
  wsk_conn_tick(c->ws, now_ms(c));
  if (before != WSK_STATE_CLOSED && wsk_conn_state(c->ws) == WSK_STATE_CLOSED && !c->err)
    c->err = WSK_ETIMEDOUT;
}

static void rearm(wsk_uv_conn_t *c) {
  if (!(c->flags & WSK_UVF_TIMER) || (c->flags & WSK_UVF_ENDED)) return;
  if ((c->flags & WSK_UVF_SSE_ON) && !(c->flags & WSK_UVF_CLOSED)) return; /* the heartbeat's */
  int64_t d = c->ws && !(c->flags & WSK_UVF_CLOSED) ? wsk_conn_deadline(c->ws) : -1;
  int64_t r = wsk__uv_rpc_deadline(c);
  if (r >= 0 && (d < 0 || r < d)) d = r;
  int active = uv_is_active((uv_handle_t *)&c->timer);
  if (d < 0) {
    if (active) uv_timer_stop(&c->timer);
    return;
  }
  int64_t now = now_ms(c);
  uint64_t in = (uint64_t)(d > now ? d - now : 0);
  if (active && uv_timer_get_due_in(&c->timer) == in) return; /* already armed there */
  uv_timer_start(&c->timer, timer_cb, in, 0);
}

static void timer_cb(uv_timer_t *t) {
  wsk_uv_conn_t *c = t->data;
  if (c->flags & WSK_UVF_ENDED) { /* the last bytes did not leave in time */
    close_handles(c);
    return;
  }
  wsk__uv_enter(c); /* ticks */
  if (c->ws && !(c->flags & WSK_UVF_CLOSED)) wsk__uv_rpc_expire(c, now_ms(c));
  wsk__uv_leave(c);
}

/* ---- entering and leaving callbacks ---- */

void wsk__uv_enter(wsk_uv_conn_t *c) {
  if (c->depth++ == 0) tick(c);
}

void wsk__uv_leave(wsk_uv_conn_t *c) {
  if (c->depth > 1) {
    c->depth--;
    return;
  }
  /* Outermost: still at depth 1 so calls from callbacks run here defer. */
  if (!(c->flags & WSK_UVF_ENDED)) {
    if (pull(c)) {
      release_held(c);
      if (WSK_UVX(c, tls) && (c->flags & WSK_UVF_CONNECTED)) tls_pump(c);
    }
    flush(c);
    if (c->ws && !(c->flags & WSK_UVF_CLOSED) && wsk_conn_state(c->ws) == WSK_STATE_CLOSED)
      pull(c); /* a write failure above aborted it: deliver CLOSED now */
    rearm(c);
    update_reading(c);
    if (c->flags & WSK_UVF_CLOSED) {
      c->depth = 0;
      end(c); /* may release c */
      return;
    }
  }
  c->depth = 0;
}

void wsk__uv_conn_start(wsk_uv_conn_t *c, wsk_tls_t *tls) {
  if (tls && !wsk__uv_extra(c)) {
    wsk_tls_free(tls);
    wsk__uv_conn_fail(c, WSK_ENOMEM, "out of memory", 0);
    return;
  }
  if (tls) c->x->tls = tls;
  c->flags |= WSK_UVF_CONNECTED;
  c->flags &= ~(uint32_t)WSK_UVF_TUNNEL;
  if (c->io.h.type == UV_TCP) uv_tcp_nodelay(&c->io.tcp, 1);
  if (tls) tls_pump(c); /* a client starts its handshake */
}

void wsk__uv_conn_start_tunnel(wsk_uv_conn_t *c, uint8_t *req, size_t len) {
  c->flags |= WSK_UVF_CONNECTED | WSK_UVF_TUNNEL;
  if (c->io.h.type == UV_TCP) uv_tcp_nodelay(&c->io.tcp, 1);
  submit(c, req, len); /* reading starts when the caller leaves */
}

/* ---- lingering after a TLS failure ---- */

static void linger_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  (void)buf; /* whatever still comes is dropped */
  if (nread < 0) close_handles(s->data);
}

static void linger_shutdown(uv_shutdown_t *req, int status) {
  wsk_uv_conn_t *c = req->handle->data;
  free(req);
  if (status < 0) close_handles(c); /* no-op when they are already closing */
}

/* Closing a socket with unread input makes the kernel send RST, and a
 * peer may then lose our alert before reading it; a TLS 1.3 client keeps
 * writing after its side of the handshake. So after a TLS failure: FIN
 * once the alert is written, drop what arrives until the peer's FIN, and
 * close then or after the grace period. 1 when it lingers. */
static int linger(wsk_uv_conn_t *c) {
  if (c->err != WSK_ECRYPTO || (c->flags & (WSK_UVF_EOF | WSK_UVF_HCLOSING)) ||
      !(c->flags & WSK_UVF_STREAM) || !(c->flags & WSK_UVF_CONNECTED) || !(c->flags & WSK_UVF_TIMER))
    return 0;
  uv_shutdown_t *req = malloc(sizeof *req);
  if (!req) return 0;
  if (uv_shutdown(req, &c->io.s, linger_shutdown) != 0) {
    free(req);
    return 0;
  }
  c->flags |= WSK_UVF_LINGER;
  if (uv_read_start(&c->io.s, alloc_cb, linger_read) != 0) close_handles(c);
  return 1;
}

/* After on_close: write the last bytes, free the core, close the handles
 * once the writes are done (or after a grace period). */
static void end(wsk_uv_conn_t *c) {
  c->flags |= WSK_UVF_ENDED;
  if (c->ws && (c->flags & WSK_UVF_CONNECTED) && c->err != WSK_EIO) {
    flush(c);
    if (WSK_UVX(c, tls) && (c->flags & WSK_UVF_TLS_UP)) {
      wsk_tls_shutdown(WSK_UVX(c, tls));
      submit_tls(c);
    }
  }
  wsk_conn_free(c->ws);
  c->ws = NULL;
  wsk__uv_rpc_free(c);
  release_held(c);
  if (c->x) {
    free(c->x->reason);
    c->x->reason = NULL;
  }
  if (c->flags & WSK_UVF_READING) {
    uv_read_stop(&c->io.s);
    c->flags &= ~(uint32_t)WSK_UVF_READING;
  }
  if (linger(c)) {
    if (!(c->flags & WSK_UVF_HCLOSING)) uv_timer_start(&c->timer, timer_cb, GRACE_MS, 0);
  } else if (c->inflight == 0 || !(c->flags & WSK_UVF_TIMER)) {
    close_handles(c);
  } else {
    uv_timer_start(&c->timer, timer_cb, GRACE_MS, 0);
  }
}

/* ---- public calls ---- */

void *wsk_uv_conn_data(const wsk_uv_conn_t *c) { return c->data; }
void wsk_uv_conn_set_data(wsk_uv_conn_t *c, void *data) { c->data = data; }
wsk_uv_server_t *wsk_uv_conn_server(const wsk_uv_conn_t *c) {
  return c->owner->is_client ? NULL : (wsk_uv_server_t *)c->owner;
}
wsk_uv_client_t *wsk_uv_conn_client(const wsk_uv_conn_t *c) {
  return c->owner->is_client ? (wsk_uv_client_t *)c->owner : NULL;
}
wsk_conn_t *wsk_uv_conn_core(const wsk_uv_conn_t *c) { return c->ws; }
void wsk_uv_conn_set_callbacks(wsk_uv_conn_t *c, const wsk_uv_callbacks_t *cbs) {
  if (cbs) c->cbs = cbs;
}

int wsk_uv_conn_peername(const wsk_uv_conn_t *c, struct sockaddr_storage *addr) {
  if (!(c->flags & WSK_UVF_STREAM) || c->io.h.type != UV_TCP) return WSK_EINVAL;
  int len = (int)sizeof *addr;
  return uv_tcp_getpeername(&c->io.tcp, (struct sockaddr *)addr, &len) == 0 ? 0 : WSK_EIO;
}

static int usable(const wsk_uv_conn_t *c) { return c->ws && !(c->flags & WSK_UVF_CLOSED); }

int wsk_uv_conn_send(wsk_uv_conn_t *c, wsk_opcode_t op, const void *data, size_t len) {
  if (!usable(c)) return WSK_ECLOSED;
  wsk__uv_enter(c);
  int r = c->ws ? wsk_conn_send(c->ws, op, data, len) : WSK_ECLOSED;
  wsk__uv_leave(c);
  return r;
}

int wsk_uv_conn_send_fragment(wsk_uv_conn_t *c, wsk_opcode_t op, const void *data, size_t len,
                              int fin) {
  if (!usable(c)) return WSK_ECLOSED;
  wsk__uv_enter(c);
  int r = c->ws ? wsk_conn_send_fragment(c->ws, op, data, len, fin) : WSK_ECLOSED;
  wsk__uv_leave(c);
  return r;
}

int wsk_uv_conn_ping(wsk_uv_conn_t *c, const void *data, size_t len) {
  if (!usable(c)) return WSK_ECLOSED;
  wsk__uv_enter(c);
  int r = c->ws ? wsk_conn_ping(c->ws, data, len) : WSK_ECLOSED;
  wsk__uv_leave(c);
  return r;
}

int wsk_uv_conn_close(wsk_uv_conn_t *c, unsigned code, const char *reason) {
  if (!usable(c)) return 0;
  if (c->flags & WSK_UVF_SSE_ON) { /* an event stream just ends */
    wsk__uv_enter(c);
    if (c->ws && wsk_conn_state(c->ws) != WSK_STATE_CLOSED) wsk_conn_abort(c->ws, "event stream closed");
    wsk__uv_leave(c);
    return 0;
  }
  wsk__uv_enter(c);
  int r = c->ws ? wsk_conn_close(c->ws, code, reason, reason ? strlen(reason) : 0) : 0;
  wsk__uv_leave(c);
  return r;
}

void wsk_uv_conn_free(wsk_uv_conn_t *c) {
  if (!c || !usable(c)) return; /* on_close ran or is running: it ends anyway */
  wsk__uv_enter(c);
  if (c->ws && wsk_conn_state(c->ws) != WSK_STATE_CLOSED) {
    if (!c->err) c->err = WSK_ECANCELED;
    wsk_conn_abort(c->ws, "freed by the application");
  }
  wsk__uv_leave(c);
}

int wsk_uv_conn_pause(wsk_uv_conn_t *c) {
  if (!usable(c)) return WSK_ECLOSED;
  wsk__uv_enter(c);
  c->flags |= WSK_UVF_PAUSED;
  wsk__uv_leave(c);
  return 0;
}

int wsk_uv_conn_resume(wsk_uv_conn_t *c) {
  if (!usable(c)) return WSK_ECLOSED;
  wsk__uv_enter(c);
  c->flags &= ~(uint32_t)WSK_UVF_PAUSED;
  wsk__uv_leave(c);
  return 0;
}
