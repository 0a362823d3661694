/* wsk_conn: lifecycle, event dispatch, timers and the output buffer. The
 * handshake, receive and send paths live in conn_handshake.c,
 * conn_recv.c and conn_send.c. */
#include "conn_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void wsk_conn_opts_init(wsk_conn_opts_t *o, wsk_role_t role) {
  memset(o, 0, sizeof *o);
  o->role = role;
  o->max_message_size = 1 << 20;
  o->max_fragments = 16384;
  wsk_http_limits_init(&o->http);
  o->write_limit = 32 * 1024;
  o->open_timeout_ms = 10000;
  o->ping_interval_ms = 20000;
  o->ping_timeout_ms = 20000;
  o->close_timeout_ms = 10000;
  o->auto_pong = 1;
  o->validate_utf8_out = 1;
  wsk_client_hs_opts_init(&o->client);
  wsk_server_hs_opts_init(&o->server);
}

void wsk__conn_set_error(wsk_conn_t *c, const char *fmt, ...) {
  if (c->error) return; /* keep the first cause: later ones are consequences */
  /* Sized to the text: a driver's reason (a whole TLS error, a system
   * error with its context) must not be cut. */
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  c->error = malloc((size_t)n + 1);
  if (!c->error) return;
  va_start(ap, fmt);
  vsnprintf(c->error, (size_t)n + 1, fmt, ap);
  va_end(ap);
}

void wsk__hs_free(wsk_hs_t *hs) {
  if (!hs) return;
  wsk_http_parser_free(hs->parser);
  wsk_buf_free(&hs->body);
  free(hs);
}

wsk_conn_t *wsk_conn_new(const wsk_conn_opts_t *o, int64_t now, int *err) {
  int dummy;
  if (!err) err = &dummy;
  *err = WSK_EINVAL;
  if (!o || (o->role != WSK_ROLE_CLIENT && o->role != WSK_ROLE_SERVER) || o->max_fragments == 0)
    return NULL;
  if (!(o->rate >= 0) || isinf(o->rate) || !(o->rate_burst >= 0) || isinf(o->rate_burst) ||
      o->rate_policy < WSK_RATE_ERROR || o->rate_policy > WSK_RATE_CLOSE)
    return NULL;
  wsk_conn_t *c = calloc(1, sizeof *c);
  if (!c) {
    *err = WSK_ENOMEM;
    return NULL;
  }
  c->role = (uint8_t)o->role;
  c->state = WSK_STATE_CONNECTING;
  c->auto_pong = o->auto_pong ? 1 : 0;
  c->stream_fragments = o->stream_fragments ? 1 : 0;
  c->validate_utf8_out = o->validate_utf8_out ? 1 : 0;
  c->max_message = o->max_message_size;
  c->max_frame = o->max_frame_size;
  c->max_fragments = o->max_fragments > UINT32_MAX ? UINT32_MAX : (uint32_t)o->max_fragments;
  c->write_limit = o->write_limit;
  c->open_timeout = o->open_timeout_ms;
  c->ping_interval = o->ping_interval_ms;
  c->ping_timeout = o->ping_timeout_ms;
  c->close_timeout = o->close_timeout_ms;
  c->auth = o->auth_timeout_ms ? WSK_AUTH_FIRST : WSK_AUTH_OK;
  c->rate_policy = (uint8_t)o->rate_policy;
  c->gated = c->auth != WSK_AUTH_OK || o->rate > 0;
  if (c->gated) {
    c->gate = malloc(sizeof *c->gate);
    if (!c->gate) {
      free(c);
      *err = WSK_ENOMEM;
      return NULL;
    }
    c->gate->auth_timeout = o->auth_timeout_ms;
    c->gate->auth_deadline = -1;
    wsk_bucket_init(&c->gate->bucket, o->rate, o->rate_burst, now);
  }
  c->now = now;
  c->open_deadline = o->open_timeout_ms ? now + o->open_timeout_ms : -1;
  c->ping_at = c->pong_deadline = c->close_deadline = -1;
  c->next_ping_id = 1;
  c->code_rcvd = WSK_CLOSE_ABNORMAL;
  c->rnd = o->random ? o->random : wsk_random_default;
  c->rnd_ud = o->random_ud;
  c->data = o->data;
  const wsk_deflate_opts_t *z = o->role == WSK_ROLE_CLIENT ? &o->client.deflate : &o->server.deflate;
  c->z_threshold = z->threshold;
  c->z_level = (int8_t)z->level;
  c->z_mem = (int8_t)z->mem_level;
  int r = wsk__hs_start(c, o);
  if (r < 0) {
    *err = r;
    wsk_conn_free(c);
    return NULL;
  }
  *err = 0;
  return c;
}

void wsk_conn_free(wsk_conn_t *c) {
  if (!c) return;
  wsk__hs_free(c->hs);
  wsk_deflate_free(c->codec);
  wsk_buf_free(&c->pend);
  wsk_buf_free(&c->msg);
  wsk_buf_free(&c->out);
  wsk_buf_free(&c->zbuf);
  free(c->subprotocol);
  free(c->error);
  free(c->pings);
  free(c->maskpool);
  free(c->gate);
  free(c);
}

void *wsk_conn_data(const wsk_conn_t *c) { return c->data; }
void wsk_conn_set_data(wsk_conn_t *c, void *data) { c->data = data; }
wsk_state_t wsk_conn_state(const wsk_conn_t *c) { return (wsk_state_t)c->state; }
wsk_role_t wsk_conn_role(const wsk_conn_t *c) { return (wsk_role_t)c->role; }
const char *wsk_conn_subprotocol(const wsk_conn_t *c) { return c->subprotocol ? c->subprotocol : ""; }
const wsk_deflate_params_t *wsk_conn_deflate(const wsk_conn_t *c) { return &c->dparams; }
const char *wsk_conn_error(const wsk_conn_t *c) { return c->error ? c->error : ""; }

/* Handshake finished: switch to OPEN and start keepalive. */
void wsk__conn_opened(wsk_conn_t *c, const char *subprotocol, const wsk_deflate_params_t *dp) {
  c->state = WSK_STATE_OPEN;
  c->open_deadline = -1;
  c->ping_at = c->ping_interval ? c->now + c->ping_interval : -1;
  if (c->auth != WSK_AUTH_OK) c->gate->auth_deadline = c->now + c->gate->auth_timeout;
  if (subprotocol && *subprotocol) {
    c->subprotocol = malloc(strlen(subprotocol) + 1);
    if (c->subprotocol) strcpy(c->subprotocol, subprotocol);
  }
  if (dp && dp->enabled) {
    c->dparams = *dp;
    c->codec = wsk_deflate_new(dp, (wsk_role_t)c->role, c->z_level, c->z_mem);
    if (!c->codec) wsk__conn_fail(c, WSK_CLOSE_INTERNAL_ERROR, "out of memory for compression");
  }
}

/* Enter CLOSED; the CLOSED event comes next. Unread input is dropped
 * when it is emitted (an event being returned may still point into it). */
void wsk__conn_go_closed(wsk_conn_t *c) {
  if (c->closed_emitted) return;
  c->state = WSK_STATE_CLOSED;
  c->closed_pending = 1;
  c->open_deadline = c->ping_at = c->pong_deadline = c->close_deadline = -1;
  if (c->gate) c->gate->auth_deadline = -1;
}

static void drop_input(wsk_conn_t *c) {
  c->in = NULL;
  c->in_len = c->in_off = 0;
  c->in_is_pend = 0;
  wsk_buf_free(&c->pend);
}

/* ---- input ---- */

int wsk_conn_feed(wsk_conn_t *c, uint8_t *data, size_t len) {
  if (c->state == WSK_STATE_CLOSED) return WSK_ECLOSED;
  if (c->in && c->in_off < c->in_len) return WSK_ESTATE;
  if (len == 0) return 0;
  if (wsk_buf_pending(&c->pend) > 0) {
    /* Bytes left over from before (a partial header, or input held while a
     * server waits to answer its request): parse from our copy. */
    if (c->state == WSK_STATE_CONNECTING && wsk_buf_pending(&c->pend) + len > WSK_HOLD_MAX) {
      wsk__conn_set_error(c, "too much data before the handshake completed");
      wsk__conn_go_closed(c);
      return 0;
    }
    if (c->auth == WSK_AUTH_JUDGING && wsk_buf_pending(&c->pend) + len > WSK_HOLD_MAX) {
      /* Held unparsed while the first message is judged: bounded too. */
      wsk__conn_fail(c, WSK_CLOSE_POLICY, "too much data before authentication");
      return 0;
    }
    if (wsk_buf_append(&c->pend, data, len) < 0) {
      wsk_conn_abort(c, "out of memory");
      return WSK_ENOMEM;
    }
    c->in = c->pend.data + c->pend.off;
    c->in_len = wsk_buf_pending(&c->pend);
    c->in_is_pend = 1;
  } else {
    c->in = data;
    c->in_len = len;
    c->in_is_pend = 0;
  }
  c->in_off = 0;
  return 0;
}

void wsk_conn_feed_eof(wsk_conn_t *c) { c->eof = 1; }

size_t wsk_conn_input_pending(const wsk_conn_t *c) {
  size_t n = c->in ? c->in_len - c->in_off : 0;
  return c->in_is_pend ? n : n + wsk_buf_pending(&c->pend);
}

/* Nothing more can be parsed now: keep what is left of the input in our
 * own buffer so the driver may reuse its buffer. */
static void stash_input(wsk_conn_t *c) {
  if (!c->in) return;
  if (c->in_is_pend) {
    wsk_buf_consume(&c->pend, c->in_off, 0);
  } else if (c->in_off < c->in_len) {
    if (wsk_buf_append(&c->pend, c->in + c->in_off, c->in_len - c->in_off) < 0)
      wsk_conn_abort(c, "out of memory");
  }
  c->in = NULL;
  c->in_len = c->in_off = 0;
  c->in_is_pend = 0;
}

static int emit_closed(wsk_conn_t *c, wsk_event_t *ev) {
  memset(ev, 0, sizeof *ev); /* a failed parse may have filled parts of it */
  ev->latency_ms = -1;
  drop_input(c);
  c->state = WSK_STATE_CLOSED;
  c->closed_pending = 0;
  c->closed_emitted = 1;
  ev->type = WSK_EV_CLOSED;
  ev->code = c->close_received ? c->code_rcvd : WSK_CLOSE_ABNORMAL;
  ev->sent_code = c->close_sent ? c->code_sent : 0;
  ev->clean = c->close_sent && c->close_received;
  return 1;
}

static void release_deferred(wsk_conn_t *c) {
  if (c->msg_release) {
    c->msg_release = 0;
    wsk_buf_consume(&c->msg, wsk_buf_pending(&c->msg), 0);
  }
  if (c->hs_release) {
    c->hs_release = 0;
    wsk__hs_free(c->hs);
    c->hs = NULL;
  }
}

int wsk_conn_next_event(wsk_conn_t *c, wsk_event_t *ev) {
  memset(ev, 0, sizeof *ev);
  ev->latency_ms = -1;
  release_deferred(c);
  if (c->closed_emitted) return 0;
  if (c->closed_pending) return emit_closed(c, ev);
  if (c->open_pending) {
    c->open_pending = 0;
    ev->type = WSK_EV_OPEN;
    return 1;
  }
  if (!c->in && wsk_buf_pending(&c->pend) > 0) {
    /* Resume from bytes kept over from before (e.g. frames that came
     * with the request while the server decided). */
    c->in = c->pend.data + c->pend.off;
    c->in_len = wsk_buf_pending(&c->pend);
    c->in_off = 0;
    c->in_is_pend = 1;
  }
  int r = c->state == WSK_STATE_CONNECTING ? wsk__hs_next_event(c, ev)
                                          : wsk__frames_next_event(c, ev);
  if (r) return 1;
  if (c->closed_pending) return emit_closed(c, ev);
  if (c->close_received)
    drop_input(c); /* nothing after the peer's close frame counts (RFC 6455 5.5.1) */
  stash_input(c);
  if (c->eof) {
    if (c->state == WSK_STATE_CONNECTING && c->hs && wsk__hs_next_event(c, ev)) return 1;
    if (!c->close_received && !c->error)
      wsk__conn_set_error(c, c->state == WSK_STATE_CONNECTING
                                 ? "connection lost during the opening handshake"
                                 : "connection lost without a close frame");
    wsk__conn_go_closed(c);
    return emit_closed(c, ev);
  }
  return 0;
}

/* ---- time ---- */

static int64_t earliest(int64_t a, int64_t b) {
  if (a < 0) return b;
  if (b < 0) return a;
  return a < b ? a : b;
}

int64_t wsk_conn_deadline(const wsk_conn_t *c) {
  if (c->closed_pending || c->closed_emitted) return -1;
  int64_t d = earliest(c->open_deadline, c->close_deadline);
  if (c->state == WSK_STATE_OPEN) {
    d = earliest(d, earliest(c->ping_at, c->pong_deadline));
    if (c->gate) d = earliest(d, c->gate->auth_deadline);
  }
  return d;
}

int64_t wsk_conn_tick(wsk_conn_t *c, int64_t now) {
  c->now = now;
  if (c->closed_pending || c->closed_emitted) return -1;
  if (c->open_deadline >= 0 && now >= c->open_deadline && c->state == WSK_STATE_CONNECTING) {
    wsk__conn_set_error(c, "opening handshake timed out");
    wsk__conn_go_closed(c);
    return -1;
  }
  if (c->close_deadline >= 0 && now >= c->close_deadline) {
    if (!c->close_received) wsk__conn_set_error(c, "closing handshake timed out");
    wsk__conn_go_closed(c);
    return -1;
  }
  if (c->state == WSK_STATE_OPEN) {
    if (c->gate && c->gate->auth_deadline >= 0 && now >= c->gate->auth_deadline) {
      wsk__conn_fail(c, WSK_CLOSE_POLICY, "authentication timeout");
      return -1;
    }
    if (c->pong_deadline >= 0 && now >= c->pong_deadline) {
      wsk__conn_fail(c, WSK_CLOSE_INTERNAL_ERROR, "keepalive ping timed out");
      return -1;
    }
    if (c->ping_at >= 0 && now >= c->ping_at) {
      c->ping_at = now + c->ping_interval;
      if (c->pong_deadline < 0) { /* the previous keepalive ping was answered */
        int id = wsk__conn_send_ping(c, NULL, 0);
        if (id > 0) {
          c->keepalive_id = (uint32_t)id;
          c->pong_deadline = c->ping_timeout ? now + c->ping_timeout : -1;
        }
      }
    }
  }
  return wsk_conn_deadline(c);
}

/* ---- output ---- */

const uint8_t *wsk_conn_output(const wsk_conn_t *c, size_t *len) {
  *len = wsk_buf_pending(&c->out);
  return *len ? c->out.data + c->out.off : NULL;
}

/* A drained output buffer of up to 1 KiB is kept: small messages then cost
 * no allocation, and an idle connection holds at most that much. */
void wsk_conn_output_consume(wsk_conn_t *c, size_t n) { wsk_buf_consume(&c->out, n, 1024); }

int wsk_conn_output_take(wsk_conn_t *c, uint8_t **data, size_t *len) {
  *len = wsk_buf_pending(&c->out);
  if (*len == 0) {
    *data = NULL;
    wsk_buf_consume(&c->out, 0, 0);
    return 0;
  }
  if (c->out.off > 0) memmove(c->out.data, c->out.data + c->out.off, *len);
  *data = c->out.data;
  memset(&c->out, 0, sizeof c->out);
  return 0;
}

size_t wsk_conn_output_len(const wsk_conn_t *c) { return wsk_buf_pending(&c->out); }

int wsk_conn_over_limit(const wsk_conn_t *c) {
  return c->write_limit && wsk_buf_pending(&c->out) > c->write_limit;
}

/* ---- closing ---- */

int wsk_conn_close(wsk_conn_t *c, unsigned code, const void *reason, size_t len) {
  if (code != 0 && !wsk_close_code_valid(code)) return WSK_EINVAL;
  if (len > 123 || (len && code == 0)) return WSK_EINVAL;
  if (len && wsk_utf8_validate(reason, len) < 0) return WSK_EINVAL;
  switch (c->state) {
  case WSK_STATE_CLOSING:
  case WSK_STATE_CLOSED:
    return 0;
  case WSK_STATE_CONNECTING:
    if (c->role == WSK_ROLE_SERVER && c->hs && c->hs->request_emitted && !c->hs->answered)
      return wsk_conn_reject(c, 503, NULL, 0, "Service Unavailable", 19);
    wsk__conn_set_error(c, "closed before the opening handshake completed");
    wsk__conn_go_closed(c);
    return 0;
  default:
    break;
  }
  int r = wsk__conn_write_close(c, code, reason, len);
  if (r < 0) return r;
  c->state = WSK_STATE_CLOSING;
  c->ping_at = c->pong_deadline = -1;
  c->close_deadline = c->close_timeout ? c->now + c->close_timeout : -1;
  return 0;
}

void wsk_conn_abort(wsk_conn_t *c, const char *why) {
  if (c->closed_emitted) return;
  wsk__conn_set_error(c, "%s", why ? why : "aborted");
  wsk__conn_go_closed(c);
}

/* ---- first-message authentication and counters ---- */

int wsk_conn_authenticate(wsk_conn_t *c, int ok, const char *reason) {
  if (c->auth == WSK_AUTH_OK || c->state == WSK_STATE_CLOSED || c->closed_pending) return WSK_ESTATE;
  if (!ok) {
    if (!reason) reason = "authentication failed";
    size_t n = strlen(reason);
    if (n > 123 || wsk_utf8_validate((const uint8_t *)reason, n) < 0) return WSK_EINVAL;
    /* Before OPEN a refusal is an HTTP answer (wsk_conn_reject), not ours. */
    if (c->state == WSK_STATE_CONNECTING) return WSK_ESTATE;
    wsk__conn_fail(c, WSK_CLOSE_POLICY, "%s", reason);
    return 0;
  }
  c->auth = WSK_AUTH_OK;
  c->gate->auth_deadline = -1;
  c->gated = c->gate->bucket.rate > 0;
  return 0;
}

int wsk_conn_authenticated(const wsk_conn_t *c) { return c->auth == WSK_AUTH_OK; }

void wsk_conn_stats(const wsk_conn_t *c, wsk_conn_stats_t *out) { *out = c->stats; }
