/* Connection-level policies of a server: per-IP connection limits,
 * first-message authentication, answers to messages over the rate, the
 * routing of requests to the channel protocol and to SSE, and the
 * server's log. The decisions themselves are the core's (ratelimit.h,
 * wsk_conn_authenticate, WSK_EV_RATE_LIMITED); this file wires them. */
#include "uv_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const wsk_uv_callbacks_t no_callbacks;

void wsk__uv_server_log(wsk_uv_server_t *s, const char *fmt, ...) {
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (s->o.log)
    s->o.log(s, line);
  else
    fprintf(stderr, "wskit: %s\n", line);
}

/* ---- per-IP limits ---- */

static void peer_ip(wsk_uv_conn_t *c) {
  struct sockaddr_storage ss;
  if (!wsk__uv_extra(c) || c->x->ip[0] || wsk_uv_conn_peername(c, &ss) != 0) return;
  if (ss.ss_family == AF_INET6)
    uv_ip6_name((struct sockaddr_in6 *)&ss, c->x->ip, sizeof c->x->ip);
  else if (ss.ss_family == AF_INET)
    uv_ip4_name((struct sockaddr_in *)&ss, c->x->ip, sizeof c->x->ip);
}

const char *wsk_uv_conn_ip(wsk_uv_conn_t *c) {
  peer_ip(c);
  return c->x ? c->x->ip : "";
}

void wsk__uv_guard_accepted(wsk_uv_conn_t *c) {
  wsk_uv_server_t *s = (wsk_uv_server_t *)c->owner;
  if (!s->iplimit) return;
  peer_ip(c);
  if (!c->x || !c->x->ip[0]) return; /* a Unix socket: no address to count */
  int r = wsk_iplimit_acquire(s->iplimit, c->x->ip, strlen(c->x->ip));
  if (r == 1)
    c->flags |= WSK_UVF_IP;
  else if (r == 0)
    c->flags |= WSK_UVF_IP_OVER;
}

void wsk__uv_guard_closed(wsk_uv_conn_t *c) {
  wsk_uv_server_t *s = (wsk_uv_server_t *)c->owner;
  if (!(c->flags & WSK_UVF_IP) || !s->iplimit || !c->x) return;
  c->flags &= ~(uint32_t)WSK_UVF_IP;
  wsk_iplimit_release(s->iplimit, c->x->ip, strlen(c->x->ip));
}

size_t wsk_uv_server_ip_count(const wsk_uv_server_t *s, const char *ip) {
  return s->iplimit && ip ? wsk_iplimit_count(s->iplimit, ip, strlen(ip)) : 0;
}

/* ---- requests ---- */

static int path_is(const wsk_uv_request_t *r, const char *path) {
  size_t n = path ? strlen(path) : 0;
  return n && r->path_len == n && memcmp(r->path, path, n) == 0;
}

int wsk__uv_sse_is_request(const wsk_uv_server_t *s, const wsk_uv_request_t *r) {
  return !r->is_upgrade && path_is(r, s->sse_path) && r->head->method &&
         strcmp(r->head->method, "GET") == 0;
}

/* The Host allowlist for a plain GET (SSE), by the core's rule. */
static int host_ok(const wsk_uv_server_t *s, const wsk_uv_request_t *r) {
  const wsk_http_header_t *host = wsk_http_head_find(r->head, "Host");
  return wsk_server_host_allowed(&s->o.conn.server, host ? host->value : NULL,
                                 host ? host->value_len : 0);
}

int wsk__uv_guard_request(wsk_uv_conn_t *c, const wsk_uv_request_t *r) {
  wsk_uv_server_t *s = (wsk_uv_server_t *)c->owner;
  if (c->flags & WSK_UVF_IP_OVER) {
    /* never the application's: it does not see connections it cannot have */
    c->cbs = &no_callbacks;
    if (s->o.ip_limit_policy == WSK_UV_IP_CLOSE && r->status == 0) {
      wsk_conn_accept(c->ws, NULL);
      wsk_conn_close(c->ws, WSK_CLOSE_TRY_AGAIN_LATER, "too many connections from your address",
                     38);
    } else {
      /* Retry-After: the same 5 s the other drivers send (docs/auth.md) */
      static const char body[] = "too many connections from your address\n";
      static const wsk_http_header_t retry[] = { { "Retry-After", 11, "5", 1 } };
      int st = s->o.ip_limit_policy == WSK_UV_IP_CLOSE ? 0 : 429;
      wsk_conn_reject(c->ws, st, st ? retry : NULL, st ? 1 : 0, body, sizeof body - 1);
    }
    return 1;
  }
  if (s->sse_path && wsk__uv_sse_is_request(s, r)) {
    c->flags |= WSK_UVF_SSE;
    int st = host_ok(s, r) ? wsk__uv_sse_prepare(c, r) : 403;
    if (st) {
      static const char body[] = "GET the event stream with ?channel=NAME\n";
      static const char host_body[] = "Host not allowed\n";
      if (st == 403)
        wsk_conn_reject(c->ws, st, NULL, 0, host_body, sizeof host_body - 1);
      else
        wsk_conn_reject(c->ws, st, NULL, 0, body, st == 400 ? sizeof body - 1 : 0);
    } else if (c->cbs->on_request) {
      wsk_uv_request_t sr = *r;
      sr.status = 0; /* a valid SSE request: the hook only judges auth */
      c->cbs->on_request(c, &sr);
    } else {
      wsk__uv_sse_accept(c);
    }
    return 1;
  }
  if (s->channels_path && r->is_upgrade && path_is(r, s->channels_path)) c->flags |= WSK_UVF_CHAN;
  return 0;
}

/* ---- first-message authentication ---- */

int wsk__uv_guard_message(wsk_uv_conn_t *c, const wsk_event_t *ev) {
  wsk_uv_server_t *s = (wsk_uv_server_t *)c->owner;
  if (!s->o.first_message_auth || ev->type == WSK_EV_FRAGMENT) return 0;
  wsk_uv_message_t m;
  m.opcode = ev->type == WSK_EV_TEXT ? WSK_OP_TEXT : WSK_OP_BINARY;
  m.data = ev->data;
  m.len = ev->len;
  m.first = m.fin = 1;
  int ok = s->o.first_message_auth(c, &m);
  if (ok >= 0 && c->ws && !wsk_conn_authenticated(c->ws))
    wsk_conn_authenticate(c->ws, ok > 0, NULL);
  return 1;
}

int wsk_uv_conn_authenticate(wsk_uv_conn_t *c, int ok, const char *reason) {
  if (!c->ws || (c->flags & WSK_UVF_CLOSED)) return WSK_ECLOSED;
  wsk__uv_enter(c);
  int r = c->ws ? wsk_conn_authenticate(c->ws, ok, reason) : WSK_ECLOSED;
  wsk__uv_leave(c);
  return r;
}

/* ---- rate limits ---- */

void wsk__uv_guard_rate_limited(wsk_uv_conn_t *c, const wsk_event_t *ev) {
  /* the same JSON error on channel and application connections: a client
   * of either can tell it from data; the refused request's id and channel
   * go with it (the core's wsk_chan_build_refusal) so it can be matched */
  wsk_buf_t b;
  memset(&b, 0, sizeof b);
  int text = ev && ev->opcode == WSK_OP_TEXT;
  if (wsk_chan_build_refusal(&b, "rate_limited", "message rate exceeded", text ? ev->data : NULL,
                             text ? ev->len : 0) == 0)
    wsk_uv_conn_send(c, WSK_OP_TEXT, b.data + b.off, wsk_buf_pending(&b));
  wsk_buf_free(&b);
}

/* ---- small accessors ---- */

void *wsk_uv_conn_user(const wsk_uv_conn_t *c) { return c->x ? c->x->user : NULL; }

int wsk_uv_conn_set_user(wsk_uv_conn_t *c, void *user) {
  if (!wsk__uv_extra(c)) return WSK_ENOMEM;
  c->x->user = user;
  return 0;
}

void wsk_uv_conn_stats(const wsk_uv_conn_t *c, wsk_conn_stats_t *out) {
  if (c->ws)
    wsk_conn_stats(c->ws, out);
  else
    memset(out, 0, sizeof *out);
}

int wsk_uv_conn_kind(const wsk_uv_conn_t *c) {
  return (c->flags & WSK_UVF_SSE) ? 1 : (c->flags & WSK_UVF_CHAN) ? 2 : 0;
}
