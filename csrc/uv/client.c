/* Clients: URL, DNS (uv_getaddrinfo, every address in turn), TCP connect,
 * an HTTP CONNECT proxy, TLS, and reconnecting with the core's backoff
 * policy. Each attempt is a new wsk_uv_conn_t; its core connection is
 * created when the attempt starts, so the core's open timeout covers DNS,
 * connect, the proxy, TLS and the handshake. Which proxy, the CONNECT
 * request and the judgement of its answer are the core's (proxy.h). */
#include "uv_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct qmsg {
  struct qmsg *next;
  wsk_opcode_t op;
  size_t len;
  uint8_t data[];
} qmsg_t;

struct wsk_uv_client {
  wsk_uv_owner_t base;
  wsk_uv_client_opts_t o;
  wsk_conn_opts_t copts;         /* client.host/port/resource/authorization point below */
  const wsk_uv_callbacks_t *cbs;
  char *host, *resource, *auth;
  unsigned port;
  int secure;
  wsk_proxy_t *proxy;            /* NULL: direct */
  wsk_http_parser_t *pparser;    /* the proxy's answer in the current attempt */
  wsk_tls_ctx_t *tls;
  wsk_uv_conn_t *conn;           /* the current attempt, NULL between attempts */
  struct addrinfo *ai, *ai_cur;  /* addresses of the current attempt */
  int last_err;                  /* the last connect error */
  uv_timer_t retry;
  wsk_backoff_t backoff;
  unsigned attempt;              /* attempts since the last open */
  unsigned conn_attempt;         /* number of the current attempt */
  unsigned serial;               /* tells a stale DNS answer from the current one */
  int fail_kind;                 /* wsk_fail_kind_t the driver saw, 0 = none */
  int fail_detail;               /* ... its detail (the proxy's status) */
  qmsg_t *qhead, *qtail;
  size_t qbytes;
  wsk_uv_chanc_t *chanc;         /* channel protocol state (chanclient.c), NULL until used */
  unsigned refs;                 /* user, timer handle, DNS requests, live connections */
  unsigned stopped : 1, freed : 1;
  void *data;
};

typedef struct gai_req {
  uv_getaddrinfo_t req;
  wsk_uv_client_t *cl;
  unsigned serial;
} gai_req_t;

static void start_attempt(wsk_uv_client_t *cl);
static void try_connect(wsk_uv_client_t *cl, wsk_uv_conn_t *c);

void wsk_uv_client_opts_init(wsk_uv_client_opts_t *o) {
  memset(o, 0, sizeof *o);
  wsk_conn_opts_init(&o->conn, WSK_ROLE_CLIENT);
  wsk_backoff_opts_init(&o->backoff);
}

static void drop_queue(wsk_uv_client_t *cl) {
  while (cl->qhead) {
    qmsg_t *m = cl->qhead;
    cl->qhead = m->next;
    free(m);
  }
  cl->qtail = NULL;
  cl->qbytes = 0;
}

static void client_unref(wsk_uv_client_t *cl) {
  if (--cl->refs > 0) return;
  drop_queue(cl);
  wsk__uv_chanc_free(cl->chanc);
  if (cl->ai) uv_freeaddrinfo(cl->ai);
  wsk_http_parser_free(cl->pparser);
  free(cl->proxy);
  wsk_tls_ctx_free(cl->tls);
  wsk__uv_loopctx_put(cl->base.lctx);
  free(cl->host);
  free(cl->resource);
  free(cl->auth);
  free(cl);
}

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = malloc(n);
  if (p) memcpy(p, s, n);
  return p;
}

/* A variable as curl reads it: empty counts as unset. */
static const char *env(const char *name) {
  const char *v = getenv(name);
  return v && *v ? v : NULL;
}

/* The proxy for this client, decided once: the option, else the
 * environment (https_proxy/HTTPS_PROXY for wss, http_proxy for ws,
 * no_proxy/NO_PROXY). 0 with cl->proxy set or NULL, or WSK_EURL. */
static int choose_proxy(wsk_uv_client_t *cl, const wsk_url_t *u, const char *option) {
  wsk_proxy_t *p = malloc(sizeof *p);
  if (!p) return WSK_ENOMEM;
  const char *https = env("https_proxy");
  const char *no = env("no_proxy");
  int r = wsk_proxy_resolve(u, option, https ? https : env("HTTPS_PROXY"), env("http_proxy"),
                            no ? no : env("NO_PROXY"), p);
  if (r <= 0) {
    free(p);
    return r;
  }
  cl->proxy = p;
  return 0;
}

static void retry_cb(uv_timer_t *t) {
  wsk_uv_client_t *cl = t->data;
  if (!cl->stopped && !cl->conn) start_attempt(cl);
}

int wsk_uv_client_new(uv_loop_t *loop, const char *url, const wsk_uv_client_opts_t *o,
                      wsk_uv_client_t **out) {
  static const wsk_uv_callbacks_t none;
  *out = NULL;
  if (!loop || !o || !url) return WSK_EINVAL;
  wsk_url_t *u = malloc(sizeof *u);
  if (!u) return WSK_ENOMEM;
  int r = wsk_url_parse(url, u);
  if (r < 0) {
    free(u);
    return r;
  }
  wsk_uv_client_t *cl = calloc(1, sizeof *cl);
  if (!cl) {
    free(u);
    return WSK_ENOMEM;
  }
  cl->o = *o;
  cl->cbs = o->callbacks ? o->callbacks : &none;
  cl->host = dup_str(u->host);
  cl->resource = dup_str(u->resource);
  cl->port = u->port;
  cl->secure = u->secure;
  if (u->userinfo[0] && !o->conn.client.authorization) {
    size_t n = strlen(u->userinfo);
    cl->auth = malloc(6 + 4 * ((n + 2) / 3) + 1);
    if (cl->auth) {
      memcpy(cl->auth, "Basic ", 6);
      wsk_base64_encode((const uint8_t *)u->userinfo, n, cl->auth + 6);
    }
  }
  int oom = !cl->host || !cl->resource || (u->userinfo[0] && !o->conn.client.authorization && !cl->auth);
  int pr = oom ? 0 : choose_proxy(cl, u, o->proxy);
  free(u);
  if (pr < 0) { /* a malformed proxy URL is the caller's to fix now */
    cl->refs = 1;
    client_unref(cl);
    return pr;
  }
  cl->copts = o->conn;
  cl->copts.role = WSK_ROLE_CLIENT;
  cl->copts.client.host = cl->host;
  cl->copts.client.port = cl->port;
  cl->copts.client.secure = cl->secure;
  cl->copts.client.resource = cl->resource;
  if (cl->auth) cl->copts.client.authorization = cl->auth;
  cl->base.loop = loop;
  cl->base.is_client = 1;
  cl->base.pause_when_full = o->pause_when_full;
  cl->base.write_limit = o->conn.write_limit;
  cl->base.low_water = o->low_water ? o->low_water : o->conn.write_limit / 4;
  cl->base.close_timeout_ms = o->conn.close_timeout_ms;
  cl->data = o->data;
  wsk_backoff_init(&cl->backoff, &o->backoff);
  if (!oom) {
    /* check the options once so attempts cannot fail on them */
    wsk_conn_t *trial = wsk_conn_new(&cl->copts, 0, &r);
    if (!trial) oom = 1;
    wsk_conn_free(trial);
  } else {
    r = WSK_ENOMEM;
  }
  if (!oom) cl->base.lctx = wsk__uv_loopctx_get(loop);
  if (oom || !cl->base.lctx || uv_timer_init(loop, &cl->retry) != 0) {
    if (!oom) r = WSK_ENOMEM;
    cl->refs = 1;
    client_unref(cl);
    return r;
  }
  cl->retry.data = cl;
  cl->refs = 2;
  uv_timer_start(&cl->retry, retry_cb, 0, 0); /* callbacks never run inside _new */
  *out = cl;
  return 0;
}

wsk_uv_conn_t *wsk_uv_client_conn(const wsk_uv_client_t *cl) { return cl->conn; }
wsk_uv_chanc_t **wsk__uv_client_chanc(wsk_uv_client_t *cl) { return &cl->chanc; }
void *wsk_uv_client_data(const wsk_uv_client_t *cl) { return cl->data; }
void wsk_uv_client_set_data(wsk_uv_client_t *cl, void *data) { cl->data = data; }

/* ---- one attempt ---- */

/* Where the TCP connection goes: the proxy, or the server itself. */
static const char *dial_host(const wsk_uv_client_t *cl) { return cl->proxy ? cl->proxy->host : cl->host; }
static unsigned dial_port(const wsk_uv_client_t *cl) { return cl->proxy ? cl->proxy->port : cl->port; }

/* "proxy host:port" or "host:port", IPv6 literals in brackets. */
static void dial_name(const wsk_uv_client_t *cl, char *out, size_t cap) {
  const char *h = dial_host(cl);
  snprintf(out, cap, strchr(h, ':') ? "%s[%s]:%u" : "%s%s:%u", cl->proxy ? "proxy " : "", h,
           dial_port(cl));
}

static void gai_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  gai_req_t *g = (gai_req_t *)req;
  wsk_uv_client_t *cl = g->cl;
  wsk_uv_conn_t *c = cl->conn;
  int current = g->serial == cl->serial && c && c->ws && !(c->flags & WSK_UVF_CLOSED);
  free(g);
  if (!current) {
    if (res) uv_freeaddrinfo(res);
    client_unref(cl);
    return;
  }
  wsk__uv_enter(c);
  if (status < 0) {
    char what[300];
    snprintf(what, sizeof what, "resolve %s%s", cl->proxy ? "proxy " : "", dial_host(cl));
    cl->fail_kind = WSK_FAIL_DNS;
    wsk__uv_conn_fail(c, WSK_EIO, what, status);
  } else {
    cl->ai = cl->ai_cur = res;
    try_connect(cl, c);
  }
  wsk__uv_leave(c);
  client_unref(cl);
}

static void connect_cb(uv_connect_t *req, int status);

/* The byte stream to the server is there (directly or through the
 * proxy's tunnel): TLS for wss, then the core's handshake. */
static void start_ws(wsk_uv_client_t *cl, wsk_uv_conn_t *c) {
  wsk_tls_t *tls = NULL;
  if (cl->tls && !(tls = wsk_tls_new(cl->tls, cl->host)))
    wsk__uv_conn_fail(c, WSK_ENOMEM, "out of memory for TLS", 0);
  else
    wsk__uv_conn_start(c, tls);
}

/* Connected to the proxy: ask it for a tunnel to the server. */
static void start_tunnel(wsk_uv_client_t *cl, wsk_uv_conn_t *c) {
  wsk_buf_t req;
  memset(&req, 0, sizeof req);
  wsk_http_parser_free(cl->pparser);
  cl->pparser = wsk_http_parser_new(WSK_HTTP_RESPONSE, NULL);
  int r = cl->pparser ? wsk_proxy_connect_build(cl->proxy, cl->host, cl->port, &req) : WSK_ENOMEM;
  if (r < 0) {
    wsk_buf_free(&req);
    wsk__uv_conn_fail(c, r, r == WSK_ENOMEM ? "out of memory" : "cannot build the CONNECT request", 0);
    return;
  }
  if (req.off) memmove(req.data, req.data + req.off, wsk_buf_pending(&req));
  wsk__uv_conn_start_tunnel(c, req.data, wsk_buf_pending(&req));
}

size_t wsk__uv_client_tunnel_read(wsk_uv_conn_t *c, const uint8_t *data, size_t len) {
  wsk_uv_client_t *cl = (wsk_uv_client_t *)c->owner;
  char name[300], what[700];
  dial_name(cl, name, sizeof name);
  if (!data) {
    snprintf(what, sizeof what, "%s closed the connection before answering CONNECT", name);
    wsk__uv_conn_fail(c, WSK_EIO, what, 0);
    return 0;
  }
  long used = wsk_http_parser_feed(cl->pparser, data, len);
  if (used < 0) {
    snprintf(what, sizeof what, "%s sent an invalid answer to CONNECT: %s", name,
             wsk_http_parser_error(cl->pparser));
    cl->fail_kind = WSK_FAIL_HANDSHAKE;
    wsk__uv_conn_fail(c, WSK_EHANDSHAKE, what, 0);
    return len;
  }
  if (!wsk_http_parser_done(cl->pparser)) return (size_t)used;
  const wsk_http_head_t *h = wsk_http_parser_head(cl->pparser);
  if (wsk_proxy_connect_check(h) < 0) {
    /* the proxy's verdict, not the server's: 407 wants credentials, 403
     * forbids the target, 502/503/504 could not reach it */
    snprintf(what, sizeof what, "%s refused CONNECT to %s%s%s:%u: %d %s", name,
             strchr(cl->host, ':') ? "[" : "", cl->host, strchr(cl->host, ':') ? "]" : "", cl->port,
             h->status, h->reason[0] ? h->reason : wsk_http_reason(h->status));
    cl->fail_kind = WSK_FAIL_HTTP_STATUS;
    cl->fail_detail = h->status;
    if (wsk__uv_extra(c)) c->x->proxy_status = (uint16_t)h->status;
    wsk__uv_conn_fail(c, WSK_EHANDSHAKE, what, 0);
    return len;
  }
  wsk_http_parser_free(cl->pparser);
  cl->pparser = NULL;
  start_ws(cl, c);
  return (size_t)used;
}

static void next_addr_closed(uv_handle_t *h) {
  wsk_uv_conn_t *c = h->data;
  wsk_uv_client_t *cl = (wsk_uv_client_t *)c->owner;
  c->refs--; /* the closed handle's */
  if (!c->ws || (c->flags & (WSK_UVF_CLOSED | WSK_UVF_ENDED))) {
    if (c->refs == 0) wsk__uv_conn_release(c);
    return;
  }
  wsk__uv_enter(c);
  try_connect(cl, c);
  wsk__uv_leave(c);
}

/* Connect to the current address; on failure move on to the next. */
static void try_connect(wsk_uv_client_t *cl, wsk_uv_conn_t *c) {
  while (cl->ai_cur) {
    uv_connect_t *req = malloc(sizeof *req);
    if (!req) break;
    int r = uv_tcp_init(cl->base.loop, &c->io.tcp);
    if (r != 0) {
      free(req);
      cl->last_err = r;
      break;
    }
    c->io.h.data = c;
    c->flags |= WSK_UVF_STREAM;
    c->refs++;
    r = uv_tcp_connect(req, &c->io.tcp, cl->ai_cur->ai_addr, connect_cb);
    if (r == 0) return;
    free(req);
    cl->last_err = r;
    cl->ai_cur = cl->ai_cur->ai_next;
    c->flags &= ~(uint32_t)WSK_UVF_STREAM;
    uv_close(&c->io.h, next_addr_closed); /* continues there */
    return;
  }
  char what[320], name[300];
  dial_name(cl, name, sizeof name);
  snprintf(what, sizeof what, "connect %s", name);
  cl->fail_kind = WSK_FAIL_REFUSED;
  wsk__uv_conn_fail(c, WSK_EIO, what, cl->last_err ? cl->last_err : UV_ECONNREFUSED);
}

static void connect_cb(uv_connect_t *req, int status) {
  wsk_uv_conn_t *c = req->handle->data;
  wsk_uv_client_t *cl = (wsk_uv_client_t *)c->owner;
  free(req);
  if (status == UV_ECANCELED || !c->ws || (c->flags & (WSK_UVF_CLOSED | WSK_UVF_ENDED))) return;
  wsk__uv_enter(c);
  if (status < 0) {
    cl->last_err = status;
    cl->ai_cur = cl->ai_cur ? cl->ai_cur->ai_next : NULL;
    c->flags &= ~(uint32_t)WSK_UVF_STREAM;
    uv_close(&c->io.h, next_addr_closed);
  } else {
    uv_freeaddrinfo(cl->ai);
    cl->ai = cl->ai_cur = NULL;
    if (cl->proxy)
      start_tunnel(cl, c);
    else
      start_ws(cl, c);
  }
  wsk__uv_leave(c);
}

static void start_attempt(wsk_uv_client_t *cl) {
  wsk_uv_conn_t *c = wsk__uv_conn_alloc(&cl->base, 0);
  if (!c) return;
  cl->refs++;
  if (wsk__uv_conn_init(c, cl->base.loop, &cl->copts, cl->cbs) != 0) {
    wsk__uv_conn_discard(c);
    return;
  }
  cl->conn = c;
  cl->conn_attempt = ++cl->attempt;
  cl->serial++;
  cl->fail_kind = cl->fail_detail = 0;
  cl->last_err = 0;
  wsk__uv_enter(c);
  if (cl->cbs->on_connecting) cl->cbs->on_connecting(c, cl->conn_attempt);
  if (cl->secure && !cl->tls) {
    wsk_tls_opts_t t;
    char err[512];
    memset(&t, 0, sizeof t);
    t.ca_file = cl->o.tls_ca_file;
    t.insecure = cl->o.tls_insecure;
    t.cert_for_client = cl->o.tls_cert_file;
    t.key_for_client = cl->o.tls_key_file;
    cl->tls = wsk_tls_ctx_new(WSK_ROLE_CLIENT, &t, err, sizeof err);
    if (!cl->tls) {
      char what[600];
      snprintf(what, sizeof what, "TLS setup: %s", err);
      cl->fail_kind = WSK_FAIL_TLS_VERIFY; /* a configuration error: retrying will not help */
      wsk__uv_conn_fail(c, WSK_ECRYPTO, what, 0);
    }
  }
  if (c->ws && !(c->flags & WSK_UVF_CLOSED) && wsk_conn_state(c->ws) != WSK_STATE_CLOSED) {
    gai_req_t *g = malloc(sizeof *g);
    struct addrinfo hints;
    char port[16];
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof port, "%u", dial_port(cl));
    int r = g ? 0 : UV_ENOMEM;
    if (g) {
      g->cl = cl;
      g->serial = cl->serial;
      r = uv_getaddrinfo(cl->base.loop, &g->req, gai_cb, dial_host(cl), port, &hints);
      if (r == 0)
        cl->refs++;
      else
        free(g);
    }
    if (r != 0) {
      cl->fail_kind = WSK_FAIL_DNS;
      wsk__uv_conn_fail(c, WSK_EIO, "resolve", r);
    }
  }
  wsk__uv_leave(c);
}

/* ---- events from the connection ---- */

void wsk__uv_client_on_open(wsk_uv_conn_t *c) {
  wsk_uv_client_t *cl = (wsk_uv_client_t *)c->owner;
  wsk_backoff_opened(&cl->backoff, (int64_t)uv_now(cl->base.loop));
  cl->attempt = 0;
  wsk__uv_chanc_on_open(cl, c); /* resubscribe with what was seen, then the queue */
  /* queued messages go first, in order */
  while (cl->qhead && c->ws) {
    qmsg_t *m = cl->qhead;
    cl->qhead = m->next;
    wsk_conn_send(c->ws, m->op, m->data, m->len);
    cl->qbytes -= m->len;
    free(m);
  }
  if (!cl->qhead) cl->qtail = NULL;
}

static wsk_failure_t classify(wsk_uv_client_t *cl, wsk_uv_conn_t *c,
                              const wsk_uv_close_info_t *info) {
  wsk_failure_t f;
  f.detail = 0;
  if (c->flags & WSK_UVF_OPENED) {
    f.kind = WSK_FAIL_CLOSED;
    f.detail = (int)info->code;
  } else if (c->flags & WSK_UVF_REJECTED) {
    f.kind = WSK_UVX(c, http_status) == 101 ? WSK_FAIL_HANDSHAKE : WSK_FAIL_HTTP_STATUS;
    f.detail = WSK_UVX(c, http_status);
  } else if (cl->fail_kind) {
    f.kind = (wsk_fail_kind_t)cl->fail_kind;
    f.detail = cl->fail_detail;
  } else if (c->err == WSK_ETIMEDOUT) {
    f.kind = WSK_FAIL_TIMEOUT;
  } else if (c->err == WSK_ECRYPTO) {
    f.kind = WSK_UVX(c, tls) && wsk_tls_verify_failed(WSK_UVX(c, tls)) ? WSK_FAIL_TLS_VERIFY : WSK_FAIL_TLS;
  } else {
    f.kind = WSK_FAIL_REFUSED; /* lost while connecting */
  }
  return f;
}

void wsk__uv_client_on_closed(wsk_uv_conn_t *c, wsk_uv_close_info_t *info) {
  wsk_uv_client_t *cl = (wsk_uv_client_t *)c->owner;
  int64_t now = (int64_t)uv_now(cl->base.loop);
  if (cl->ai) uv_freeaddrinfo(cl->ai);
  cl->ai = cl->ai_cur = NULL;
  wsk_http_parser_free(cl->pparser);
  cl->pparser = NULL;
  info->attempt = cl->conn_attempt;
  if (c->flags & WSK_UVF_OPENED) wsk_backoff_closed(&cl->backoff, now);
  wsk_failure_t f = classify(cl, c, info);
  int retry = cl->o.reconnect && !cl->stopped && !cl->freed && c->err != WSK_ECANCELED &&
              wsk_failure_should_retry(&f, cl->o.retry, cl->o.retry_ud);
  int64_t delay = retry ? wsk_backoff_next(&cl->backoff) : -1;
  if (delay < 0) retry = 0;
  info->will_retry = retry;
  info->retry_delay_ms = retry ? delay : -1;
  if (cl->conn == c) cl->conn = NULL;
  if (retry)
    uv_timer_start(&cl->retry, retry_cb, (uint64_t)delay, 0);
  else
    cl->stopped = 1; /* the end of this client: later sends fail */
  if (!retry) drop_queue(cl);
}

void wsk__uv_client_conn_gone(wsk_uv_conn_t *c) {
  wsk_uv_client_t *cl = (wsk_uv_client_t *)c->owner;
  if (cl->conn == c) cl->conn = NULL;
  client_unref(cl);
}

/* ---- public calls ---- */

int wsk_uv_client_send(wsk_uv_client_t *cl, wsk_opcode_t op, const void *data, size_t len) {
  wsk_uv_conn_t *c = cl->conn;
  if (c && c->ws && !(c->flags & WSK_UVF_CLOSED) && wsk_conn_state(c->ws) == WSK_STATE_OPEN)
    return wsk_uv_conn_send(c, op, data, len);
  if (cl->stopped || cl->freed || !cl->o.offline_queue_bytes) return WSK_ECLOSED;
  if (op != WSK_OP_TEXT && op != WSK_OP_BINARY) return WSK_EINVAL;
  if (op == WSK_OP_TEXT && wsk_utf8_validate(data, len) < 0) return WSK_EUTF8;
  if (len > cl->o.offline_queue_bytes - cl->qbytes) return WSK_EBUSY;
  qmsg_t *m = malloc(sizeof *m + len);
  if (!m) return WSK_ENOMEM;
  m->next = NULL;
  m->op = op;
  m->len = len;
  if (len) memcpy(m->data, data, len);
  if (cl->qtail)
    cl->qtail->next = m;
  else
    cl->qhead = m;
  cl->qtail = m;
  cl->qbytes += len;
  return 0;
}

int wsk_uv_client_request(wsk_uv_client_t *cl, const char *method, const char *params,
                          size_t params_len, uint32_t timeout_ms, wsk_uv_reply_cb cb, void *ud,
                          uint64_t *id_out) {
  wsk_uv_conn_t *c = cl->conn;
  if (!c || !c->ws || (c->flags & WSK_UVF_CLOSED) || wsk_conn_state(c->ws) != WSK_STATE_OPEN)
    return WSK_ECLOSED;
  return wsk_uv_request(c, method, params, params_len, timeout_ms, cb, ud, id_out);
}

int wsk_uv_client_close(wsk_uv_client_t *cl, unsigned code, const char *reason) {
  if (cl->freed) return WSK_ECLOSED;
  cl->stopped = 1;
  uv_timer_stop(&cl->retry);
  drop_queue(cl);
  if (cl->conn) return wsk_uv_conn_close(cl->conn, code, reason);
  return 0;
}

static void retry_closed(uv_handle_t *h) { client_unref(h->data); }

void wsk_uv_client_free(wsk_uv_client_t *cl) {
  if (!cl || cl->freed) return;
  cl->freed = cl->stopped = 1;
  drop_queue(cl);
  uv_close((uv_handle_t *)&cl->retry, retry_closed);
  if (cl->conn) wsk_uv_conn_free(cl->conn);
  client_unref(cl); /* the user's; the timer's keeps cl until its close callback */
}
