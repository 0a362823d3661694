/* Servers: listeners (TCP over IPv4/IPv6, Unix sockets), accepting, the
 * set of connections, graceful shutdown and freeing. */
#define _GNU_SOURCE /* SO_REUSEPORT */
#include "uv_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Connections leave the server's list only in their handles' close
 * callbacks, which libuv never runs synchronously: walking the list while
 * callbacks close or free connections is safe. */

void wsk_uv_server_opts_init(wsk_uv_server_opts_t *o) {
  memset(o, 0, sizeof *o);
  wsk_conn_opts_init(&o->conn, WSK_ROLE_SERVER);
  o->pause_when_full = 1;
  o->backlog = 511;
  o->client_publish = 1;
  o->history_size = 100;
  o->history_ttl_ms = 300000;
  wsk_backoff_opts_init(&o->backplane_backoff);
  o->sse_heartbeat_ms = 15000;
  o->sse_retry_ms = 2000;
}

static char *dup_opt(const char *p, int *oom) {
  if (!p) return NULL;
  size_t n = strlen(p) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, p, n);
  else *oom = 1;
  return d;
}

static void free_copies(wsk_uv_server_t *s) {
  free(s->channels_path);
  free(s->sse_path);
  free(s->backplane);
  free(s->backplane_prefix);
  wsk_iplimit_free(s->iplimit);
}

static void server_unref(wsk_uv_server_t *s) {
  if (--s->refs > 0) return;
  wsk__uv_hub_free(s);
  free_copies(s);
  wsk_tls_ctx_free(s->tls);
  wsk__uv_loopctx_put(s->base.lctx);
  free(s);
}

static void set_err(wsk_uv_server_t *s, const char *what, const char *where, int uverr) {
  snprintf(s->err, sizeof s->err, "%s %s: %s", what, where, uv_strerror(uverr));
}

int wsk_uv_server_new(uv_loop_t *loop, const wsk_uv_server_opts_t *o, wsk_uv_server_t **out) {
  static const wsk_uv_callbacks_t none;
  *out = NULL;
  if (!loop || !o) return WSK_EINVAL;
  wsk_uv_server_t *s = calloc(1, sizeof *s);
  if (!s) return WSK_ENOMEM;
  s->o = *o;
  s->o.conn.role = WSK_ROLE_SERVER;
  if (!s->o.callbacks) s->o.callbacks = &none;
  if (s->o.backlog <= 0) s->o.backlog = 511;
  s->base.loop = loop;
  s->base.is_client = 0;
  s->base.pause_when_full = s->o.pause_when_full;
  s->base.write_limit = s->o.conn.write_limit;
  s->base.low_water = s->o.low_water ? s->o.low_water : s->o.conn.write_limit / 4;
  s->base.close_timeout_ms = s->o.conn.close_timeout_ms;
  s->data = o->data;
  int oom = 0;
  s->channels_path = dup_opt(o->channels_path, &oom);
  s->sse_path = dup_opt(o->sse_path, &oom);
  s->backplane = dup_opt(o->backplane && *o->backplane ? o->backplane : NULL, &oom);
  s->backplane_prefix = dup_opt(o->backplane_prefix, &oom);
  s->o.channels_path = s->channels_path;
  s->o.sse_path = s->sse_path;
  s->o.backplane = s->backplane;
  s->o.backplane_prefix = s->backplane_prefix;
  if (o->max_connections_per_ip && !(s->iplimit = wsk_iplimit_new(o->max_connections_per_ip)))
    oom = 1;
  s->base.lctx = oom ? NULL : wsk__uv_loopctx_get(loop);
  if (!s->base.lctx || uv_timer_init(loop, &s->timer) != 0) {
    wsk__uv_loopctx_put(s->base.lctx);
    free_copies(s);
    free(s);
    return WSK_ENOMEM;
  }
  s->timer.data = s;
  s->refs = 2; /* the user's, and the timer handle's */
  /* a backplane connects now: messages from other instances may come
   * before anyone here subscribes */
  if (s->backplane && !wsk__uv_hub(s)) {
    wsk_uv_server_free(s);
    return WSK_EURL;
  }
  *out = s;
  return 0;
}

void *wsk_uv_server_data(const wsk_uv_server_t *s) { return s->data; }
void wsk_uv_server_set_data(wsk_uv_server_t *s, void *data) { s->data = data; }
uv_loop_t *wsk_uv_server_loop(const wsk_uv_server_t *s) { return s->base.loop; }
const char *wsk_uv_server_error(const wsk_uv_server_t *s) { return s->err; }
size_t wsk_uv_server_count(const wsk_uv_server_t *s) { return s->nconns; }

/* ---- accepting ---- */

static void on_connection(uv_stream_t *ls, int status) {
  wsk_uv_listener_t *l = ls->data;
  wsk_uv_server_t *s = l->server;
  if (status < 0) {
    set_err(s, "accept", "", status);
    return;
  }
  if (s->freed || s->shutting_down) return;
  wsk_uv_conn_t *c = wsk__uv_conn_alloc(&s->base, l->pipe);
  if (!c) return; /* the pending connection stays in the backlog */
  int r = l->pipe ? uv_pipe_init(s->base.loop, &c->io.pipe, 0)
                  : uv_tcp_init(s->base.loop, &c->io.tcp);
  if (r != 0) {
    free(c);
    return;
  }
  c->io.h.data = c;
  c->flags |= WSK_UVF_STREAM;
  c->refs++;
  c->next = s->conns;
  if (s->conns) s->conns->prev = c;
  s->conns = c;
  s->nalive++;
  s->refs++;
  wsk_tls_t *tls = NULL;
  if (uv_accept(ls, &c->io.s) != 0 ||
      wsk__uv_conn_init(c, s->base.loop, &s->o.conn, s->o.callbacks) != 0 ||
      (s->tls && !(tls = wsk_tls_new(s->tls, NULL)))) {
    wsk__uv_conn_discard(c);
    return;
  }
  s->nconns++;
  wsk__uv_guard_accepted(c);
  wsk__uv_enter(c);
  wsk__uv_conn_start(c, tls);
  wsk__uv_leave(c);
}

void wsk__uv_server_on_open(wsk_uv_conn_t *c) { (void)c; }

void wsk__uv_server_on_closed(wsk_uv_conn_t *c) {
  wsk_uv_server_t *s = (wsk_uv_server_t *)c->owner;
  wsk__uv_hub_conn_closed(c);
  wsk__uv_guard_closed(c);
  s->nconns--;
  if (s->shutting_down && s->nconns == 0 && !s->done_called) {
    s->done_called = 1;
    if (!s->freed) uv_timer_stop(&s->timer);
    if (s->done) s->done(s, s->aborted);
  }
}

void wsk__uv_server_conn_gone(wsk_uv_conn_t *c) {
  wsk_uv_server_t *s = (wsk_uv_server_t *)c->owner;
  if (c->prev) c->prev->next = c->next;
  else s->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  s->nalive--;
  server_unref(s);
}

/* ---- listening ---- */

static void listener_closed(uv_handle_t *h) {
  wsk_uv_listener_t *l = h->data;
  wsk_uv_server_t *s = l->server;
  free(l);
  server_unref(s);
}

static wsk_uv_listener_t *listener_new(wsk_uv_server_t *s, int pipe) {
  wsk_uv_listener_t *l = calloc(1, sizeof *l);
  if (!l) return NULL;
  l->server = s;
  l->pipe = pipe;
  return l;
}

/* Undo a listener whose handle is initialised. */
static int listener_fail(wsk_uv_server_t *s, wsk_uv_listener_t *l) {
  s->refs++;
  uv_close(&l->io.h, listener_closed);
  return WSK_EIO;
}

static int resolve(wsk_uv_server_t *s, const char *host, unsigned port,
                   struct sockaddr_storage *ss) {
  if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) == 0) return 0;
  if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) == 0) return 0;
  uv_getaddrinfo_t req;
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  char ps[16];
  snprintf(ps, sizeof ps, "%u", port);
  int r = uv_getaddrinfo(s->base.loop, &req, NULL, host, ps, &hints); /* synchronous */
  if (r != 0) {
    set_err(s, "resolve", host, r);
    return WSK_EIO;
  }
  memcpy(ss, req.addrinfo->ai_addr, req.addrinfo->ai_addrlen);
  uv_freeaddrinfo(req.addrinfo);
  return 0;
}

/* The TLS context is made at the first listen so that its error text has
 * a home (wsk_uv_server_error). */
static int tls_setup(wsk_uv_server_t *s) {
  if (!s->o.tls_cert_file || s->tls) return 0;
  wsk_tls_opts_t t;
  memset(&t, 0, sizeof t);
  t.cert_file = s->o.tls_cert_file;
  t.key_file = s->o.tls_key_file;
  t.client_ca_file = s->o.tls_client_ca_file;
  s->tls = wsk_tls_ctx_new(WSK_ROLE_SERVER, &t, s->err, sizeof s->err);
  return s->tls ? 0 : WSK_ECRYPTO;
}

int wsk_uv_server_listen(wsk_uv_server_t *s, const char *host, unsigned port) {
  if (s->freed || s->shutting_down || port > 65535) return WSK_EINVAL;
  if (tls_setup(s) < 0) return WSK_ECRYPTO;
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  if (!host || !*host) host = "::";
  char where[200];
  snprintf(where, sizeof where, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
  int r = resolve(s, host, port, &ss);
  if (r < 0) return r;
  wsk_uv_listener_t *l = listener_new(s, 0);
  if (!l) return WSK_ENOMEM;
  r = uv_tcp_init_ex(s->base.loop, &l->io.tcp, ss.ss_family);
  if (r != 0) {
    set_err(s, "socket", where, r);
    free(l);
    return WSK_EIO;
  }
  l->io.h.data = l;
  if (s->o.reuseport) {
    uv_os_fd_t fd;
    int one = 1;
    if (uv_fileno(&l->io.h, &fd) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
      snprintf(s->err, sizeof s->err, "SO_REUSEPORT on %s failed", where);
      return listener_fail(s, l);
    }
  }
  unsigned flags = ss.ss_family == AF_INET6 && s->o.ipv6only ? UV_TCP_IPV6ONLY : 0;
  r = uv_tcp_bind(&l->io.tcp, (const struct sockaddr *)&ss, flags);
  if (r == 0) r = uv_listen(&l->io.s, s->o.backlog, on_connection);
  if (r != 0) {
    set_err(s, "listen", where, r);
    return listener_fail(s, l);
  }
  l->next = s->listeners;
  s->listeners = l;
  s->refs++;
  return 0;
}

int wsk_uv_server_listen_unix(wsk_uv_server_t *s, const char *path) {
  if (s->freed || s->shutting_down || !path) return WSK_EINVAL;
  if (tls_setup(s) < 0) return WSK_ECRYPTO;
  wsk_uv_listener_t *l = listener_new(s, 1);
  if (!l) return WSK_ENOMEM;
  int r = uv_pipe_init(s->base.loop, &l->io.pipe, 0);
  if (r != 0) {
    set_err(s, "socket", path, r);
    free(l);
    return WSK_EIO;
  }
  l->io.h.data = l;
  r = uv_pipe_bind(&l->io.pipe, path);
  if (r == 0) r = uv_listen(&l->io.s, s->o.backlog, on_connection);
  if (r != 0) {
    set_err(s, "listen", path, r);
    return listener_fail(s, l);
  }
  l->next = s->listeners;
  s->listeners = l;
  s->refs++;
  return 0;
}

int wsk_uv_server_port(const wsk_uv_server_t *s) {
  const wsk_uv_listener_t *l = s->listeners;
  while (l && l->pipe) l = l->next;
  if (!l) return WSK_ENOTFOUND;
  struct sockaddr_storage ss;
  int len = (int)sizeof ss;
  if (uv_tcp_getsockname(&l->io.tcp, (struct sockaddr *)&ss, &len) != 0) return WSK_EIO;
  if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void close_listeners(wsk_uv_server_t *s) {
  wsk_uv_listener_t *l = s->listeners;
  s->listeners = NULL;
  while (l) {
    wsk_uv_listener_t *next = l->next;
    uv_close(&l->io.h, listener_closed);
    l = next;
  }
}

/* ---- the set of connections ---- */

size_t wsk_uv_server_foreach(wsk_uv_server_t *s, wsk_uv_conn_fn fn, void *ud) {
  size_t n = 0;
  for (wsk_uv_conn_t *c = s->conns; c; c = c->next) {
    if (!c->ws || (c->flags & WSK_UVF_CLOSED) || wsk_conn_state(c->ws) != WSK_STATE_OPEN) continue;
    n++;
    if (fn) fn(ud, c);
  }
  return n;
}

/* ---- shutdown and free ---- */

static void abort_all(wsk_uv_server_t *s) {
  for (wsk_uv_conn_t *c = s->conns; c; c = c->next) {
    if (!c->ws || (c->flags & WSK_UVF_CLOSED)) continue;
    if (s->shutting_down) s->aborted++;
    wsk_uv_conn_free(c);
  }
}

static void shutdown_timeout(uv_timer_t *t) { abort_all(t->data); }

int wsk_uv_server_shutdown(wsk_uv_server_t *s, unsigned code, uint32_t timeout_ms,
                           wsk_uv_shutdown_cb done) {
  if (s->freed || s->shutting_down) return WSK_ESTATE;
  if (code != 0 && !wsk_close_code_valid(code)) return WSK_EINVAL;
  s->shutting_down = 1;
  s->done = done;
  close_listeners(s);
  /* a `done` that frees the server cannot release it under us: the timer
   * handle's reference goes only in its (asynchronous) close callback */
  for (wsk_uv_conn_t *c = s->conns; c; c = c->next)
    if (c->ws && !(c->flags & WSK_UVF_CLOSED)) wsk_uv_conn_close(c, code, NULL);
  if (s->nconns == 0 && !s->done_called) {
    s->done_called = 1;
    if (done) done(s, 0);
  } else if (!s->done_called && !s->freed) {
    if (!timeout_ms) timeout_ms = s->o.conn.close_timeout_ms ? s->o.conn.close_timeout_ms : 10000;
    uv_timer_start(&s->timer, shutdown_timeout, timeout_ms, 0);
  }
  return 0;
}

static void timer_closed(uv_handle_t *h) { server_unref(h->data); }

void wsk_uv_server_free(wsk_uv_server_t *s) {
  if (!s || s->freed) return;
  s->freed = 1;
  wsk__uv_hub_stop(s);
  close_listeners(s);
  uv_close((uv_handle_t *)&s->timer, timer_closed);
  abort_all(s);
  server_unref(s); /* the user's reference; the timer's keeps s until later */
}
