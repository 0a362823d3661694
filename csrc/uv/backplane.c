/* The Redis backplane of a server, over hiredis' async API and its libuv
 * adapter: one connection for commands (EVAL of the core's publish and
 * recover scripts), one for PSUBSCRIBE "<prefix>msg:*". Every message
 * that comes back is parsed by the core (wsk_envelope_parse) and fed to
 * the hub, the publishing instance's own included: one order for all.
 *
 * Losing Redis: local clients keep being served; both connections are
 * dropped and made again after the core's backoff (reconnect.h); once
 * subscribed again every channel with local subscribers is resynced from
 * the history (wsk_hub_resync, recover script, wsk_hub_recovered).
 * Channels are marked for that resync as soon as the loss is seen, so a
 * message that comes back before the resync's fetch is held, never
 * delivered ahead of what was missed. A resync fetch that fails (an error
 * reply, or no answer in CMD_TIMEOUT_MS) counts as a lost connection: the
 * next reconnect resyncs again, so nobody stays recovering for ever. */
#include "uv_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libuv.h>

/* A command in flight. hiredis calls its callback exactly once (with a
 * NULL reply when the connection goes); `dead` ops were already completed
 * (or their backplane freed) and are only released there. */
typedef struct op {
  struct op *prev, *next;
  wsk_uv_bp_t *bp;
  int dead;
  wsk_uv_pub_done_t *pub;   /* a publish */
  wsk_uv_conn_t *sub;       /* a recover for one subscriber ... */
  int resync, gone;         /* ... or for all of a channel; the subscriber left */
  char *channel;
  size_t channel_len;
  uint64_t sent;            /* uv_now when queued: commands time out */
} op_t;

struct wsk_uv_bp {
  wsk_uv_server_t *s;
  uv_loop_t *loop;
  char host[256];
  int port, db;
  char *password;
  const char *prefix;
  char origin[17];
  redisAsyncContext *cmd, *sub;
  int cmd_ok, subscribed, up, ever_up;
  int failing;              /* fail_soon() called: lost() is coming */
  wsk_backoff_t backoff;
  uv_timer_t timer;
  uv_timer_t optimer;       /* times out commands that Redis never answers */
  int handles;              /* open timers: freed when both are closed */
  char why[160];            /* fail_soon's reason */
  op_t *ops;
};

#define CMD_TIMEOUT_MS 5000

static void connect_both(wsk_uv_bp_t *bp);

/* ---- URL ---- */

/* "redis://[[user]:password@]HOST[:PORT][/DB]" */
static int parse_url(wsk_uv_bp_t *bp, const char *url) {
  if (strncmp(url, "redis://", 8) != 0) return WSK_EURL;
  const char *p = url + 8;
  const char *at = strchr(p, '@');
  const char *slash = strchr(p, '/');
  if (at && (!slash || at < slash)) {
    const char *colon = memchr(p, ':', (size_t)(at - p));
    const char *pw = colon ? colon + 1 : p;
    size_t n = (size_t)(at - pw);
    if (n) {
      bp->password = malloc(n + 1);
      if (!bp->password) return WSK_ENOMEM;
      memcpy(bp->password, pw, n);
      bp->password[n] = 0;
    }
    p = at + 1;
  }
  const char *hend;
  if (*p == '[') {
    hend = strchr(p, ']');
    if (!hend) return WSK_EURL;
    p++;
  } else {
    hend = p + strcspn(p, ":/");
  }
  size_t hn = (size_t)(hend - p);
  if (hn == 0 || hn >= sizeof bp->host) return WSK_EURL;
  memcpy(bp->host, p, hn);
  bp->host[hn] = 0;
  p = *hend == ']' ? hend + 1 : hend;
  bp->port = 6379;
  if (*p == ':') {
    char *end;
    long v = strtol(p + 1, &end, 10);
    if (end == p + 1 || v <= 0 || v > 65535) return WSK_EURL;
    bp->port = (int)v;
    p = end;
  }
  if (*p == '/' && p[1]) {
    char *end;
    long v = strtol(p + 1, &end, 10);
    if (end == p + 1 || *end || v < 0 || v > 1000000) return WSK_EURL;
    bp->db = (int)v;
  } else if (*p && strcmp(p, "/") != 0) {
    return WSK_EURL;
  }
  return 0;
}

/* ---- pending commands ---- */

static op_t *op_new(wsk_uv_bp_t *bp, const char *ch, size_t len) {
  op_t *op = calloc(1, sizeof *op);
  if (!op) return NULL;
  op->channel = malloc(len + 1);
  if (!op->channel) {
    free(op);
    return NULL;
  }
  memcpy(op->channel, ch, len);
  op->channel[len] = 0;
  op->channel_len = len;
  op->bp = bp;
  op->sent = uv_now(bp->loop);
  op->next = bp->ops;
  if (bp->ops) bp->ops->prev = op;
  bp->ops = op;
  return op;
}

static void op_unlink(op_t *op) {
  if (op->dead) return;
  op->dead = 1;
  if (op->prev) op->prev->next = op->next;
  else op->bp->ops = op->next;
  if (op->next) op->next->prev = op->prev;
  op->prev = op->next = NULL;
}

static void op_free(op_t *op) {
  free(op->channel);
  free(op);
}

/* Complete an op as failed (the connection went). */
static void op_fail(op_t *op) {
  wsk_uv_bp_t *bp = op->bp;
  op_unlink(op);
  if (op->pub) {
    wsk_uv_pub_done_t *p = op->pub;
    op->pub = NULL;
    wsk__uv_hub_published(bp->s, p, WSK_EIO, 0);
  } else if (!op->resync && !op->gone) {
    wsk__uv_hub_recover_failed(bp->s, op->sub, op->channel, op->channel_len);
  }
}

void wsk__uv_bp_conn_closed(wsk_uv_bp_t *bp, wsk_uv_conn_t *c) {
  for (op_t *op = bp->ops; op; op = op->next) {
    if (op->sub == c) {
      op->sub = NULL;
      op->gone = 1;
    }
    if (op->pub && op->pub->conn == c) op->pub->conn = NULL;
  }
}

/* ---- connection state ---- */

static void ctx_drop(redisAsyncContext **slot) {
  redisAsyncContext *ac = *slot;
  *slot = NULL;
  if (!ac) return;
  ac->data = NULL; /* its callbacks no longer reach us */
  redisAsyncFree(ac);
}

static void reconnect_cb(uv_timer_t *t) { connect_both(t->data); }

static void mark_all(wsk_uv_bp_t *bp);
static void lost(wsk_uv_bp_t *bp, const char *why);

/* lost(), from the loop rather than inside a hiredis callback (which may
 * be a connect callback, where the context must not be freed). */
static void fail_cb(uv_timer_t *t) {
  wsk_uv_bp_t *bp = t->data;
  lost(bp, bp->why);
}

static void fail_soon(wsk_uv_bp_t *bp, const char *why) {
  snprintf(bp->why, sizeof bp->why, "%s", why);
  bp->up = 0; /* no new commands meanwhile; lost() still counts it as a loss */
  bp->failing = 1;
  uv_timer_start(&bp->timer, fail_cb, 0, 0);
}

/* One of the connections failed: drop both, fail what was pending, and
 * try again after the backoff. */
static void lost(wsk_uv_bp_t *bp, const char *why) {
  int was_up = bp->up || bp->failing;
  bp->up = bp->cmd_ok = bp->subscribed = bp->failing = 0;
  ctx_drop(&bp->cmd);
  ctx_drop(&bp->sub);
  while (bp->ops) op_fail(bp->ops);
  mark_all(bp); /* from now on live messages are held until the resync */
  if (was_up) wsk_backoff_closed(&bp->backoff, (int64_t)uv_now(bp->loop));
  int64_t delay = wsk_backoff_next(&bp->backoff);
  if (delay < 0) delay = bp->backoff.opts.max_delay_ms; /* a server never gives up */
  wsk__uv_server_log(bp->s, "backplane: lost redis %s:%d (%s); reconnecting in %lld ms", bp->host,
                     bp->port, why, (long long)delay);
  uv_timer_start(&bp->timer, reconnect_cb, (uint64_t)delay, 0);
}

typedef struct names {
  char **v;
  size_t n, cap;
} names_t;

static void collect(void *ud, const char *name, size_t len) {
  names_t *a = ud;
  if (a->n == a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 16;
    char **v = realloc(a->v, cap * sizeof *v);
    if (!v) return;
    a->v = v;
    a->cap = cap;
  }
  char *s = malloc(len + 1);
  if (!s) return;
  memcpy(s, name, len);
  s[len] = 0;
  a->v[a->n++] = s;
}

static void channel_names(wsk_uv_bp_t *bp, names_t *a) {
  wsk_hub_t *h = wsk__uv_hub_core(bp->s);
  memset(a, 0, sizeof *a);
  if (h) wsk_hub_channels(h, collect, a);
}

static void names_free(names_t *a) {
  for (size_t i = 0; i < a->n; i++) free(a->v[i]);
  free(a->v);
}

/* The loss is seen: every channel with local subscribers is marked
 * recovering; the fetch is taken once connected again (resync_all). */
static void mark_all(wsk_uv_bp_t *bp) {
  wsk_hub_t *h = wsk__uv_hub_core(bp->s);
  names_t a;
  channel_names(bp, &a);
  for (size_t i = 0; i < a.n; i++) wsk_hub_resync(h, a.v[i], strlen(a.v[i]), NULL);
  names_free(&a);
}

/* Subscribed again: what was published meanwhile comes from the history. */
static void resync_all(wsk_uv_bp_t *bp) {
  wsk_hub_t *h = wsk__uv_hub_core(bp->s);
  names_t a;
  channel_names(bp, &a);
  size_t n = 0;
  for (size_t i = 0; i < a.n && bp->up; i++) {
    int64_t since = -1;
    size_t len = strlen(a.v[i]);
    if (wsk_hub_resync(h, a.v[i], len, &since) > 0) {
      if (wsk__uv_bp_recover(bp, NULL, a.v[i], len, since) < 0) {
        names_free(&a);
        fail_soon(bp, "cannot send a resync");
        return;
      }
      n++;
    }
  }
  names_free(&a);
  if (bp->ever_up)
    wsk__uv_server_log(bp->s, "backplane: resubscribed to redis %s:%d (%zu channels resynced)",
                       bp->host, bp->port, n);
  else
    wsk__uv_server_log(bp->s, "backplane: connected to redis %s:%d", bp->host, bp->port);
}

static void check_up(wsk_uv_bp_t *bp) {
  if (bp->up || bp->failing || !bp->cmd_ok || !bp->subscribed) return;
  bp->up = 1;
  uv_timer_stop(&bp->timer); /* the connect watchdog */
  wsk_backoff_opened(&bp->backoff, (int64_t)uv_now(bp->loop));
  resync_all(bp);
  bp->ever_up = 1;
}

static void on_connect(const redisAsyncContext *ac, int status) {
  wsk_uv_bp_t *bp = ac->data;
  if (!bp) return;
  if (status != REDIS_OK) {
    char why[200];
    snprintf(why, sizeof why, "connect: %s", ac->errstr[0] ? ac->errstr : "failed");
    /* hiredis frees this context after the callback */
    if (ac == bp->cmd) bp->cmd = NULL;
    if (ac == bp->sub) bp->sub = NULL;
    ((redisAsyncContext *)ac)->data = NULL;
    lost(bp, why);
    return;
  }
  if (ac == bp->cmd) {
    bp->cmd_ok = 1;
    check_up(bp);
  }
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
  wsk_uv_bp_t *bp = ac->data;
  (void)status;
  if (!bp) return;
  char why[200];
  snprintf(why, sizeof why, "%s", ac->errstr[0] ? ac->errstr : "connection closed");
  if (ac == bp->cmd) bp->cmd = NULL;
  if (ac == bp->sub) bp->sub = NULL;
  ((redisAsyncContext *)ac)->data = NULL;
  lost(bp, why);
}

/* pub/sub: the PSUBSCRIBE confirmation, then one pmessage per publish */
static void on_pubsub(redisAsyncContext *ac, void *r, void *privdata) {
  wsk_uv_bp_t *bp = ac->data;
  redisReply *reply = r;
  (void)privdata;
  if (!bp || !reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3) return;
  redisReply *kind = reply->element[0];
  if (kind->type != REDIS_REPLY_STRING) return;
  if (strcmp(kind->str, "psubscribe") == 0) {
    bp->subscribed = 1;
    check_up(bp);
    return;
  }
  if (strcmp(kind->str, "pmessage") != 0 || reply->elements < 4) return;
  /* Before both connections are up the resync has not fetched yet: the
   * channels are marked (mark_all) and this message is in the history
   * that fetch reads, so it is not needed now. */
  if (!bp->up) return;
  redisReply *payload = reply->element[3];
  if (payload->type != REDIS_REPLY_STRING) return;
  const char *origin, *why = NULL;
  size_t origin_len;
  wsk_chan_msg_t m;
  if (wsk_envelope_parse((const uint8_t *)payload->str, payload->len, &origin, &origin_len, &m,
                         &why) < 0) {
    wsk__uv_server_log(bp->s, "backplane: dropped a malformed message (%s)", why ? why : "?");
    return;
  }
  wsk__uv_hub_dispatch(bp->s, &m);
}

/* The adapter's poll callback drops libuv's error status, and libuv
 * stops a poll handle on POLLERR (a refused connect): the context would
 * wait forever. These wrap the adapter's own state so that an error is
 * handed to hiredis as readiness, and hiredis finds the error itself. */
static void poll_cb(uv_poll_t *h, int status, int events) {
  redisLibuvEvents *p = h->data;
  if (status < 0) events = p->events ? p->events : UV_WRITABLE;
  if (p->context && (events & UV_READABLE)) redisAsyncHandleRead(p->context);
  if (p->context && (events & UV_WRITABLE)) redisAsyncHandleWrite(p->context);
}

static void poll_set(redisLibuvEvents *p) {
  if (p->events)
    uv_poll_start(&p->handle, p->events, poll_cb);
  else
    uv_poll_stop(&p->handle);
}

static void add_read(void *d) { ((redisLibuvEvents *)d)->events |= UV_READABLE, poll_set(d); }
static void del_read(void *d) { ((redisLibuvEvents *)d)->events &= ~UV_READABLE, poll_set(d); }
static void add_write(void *d) { ((redisLibuvEvents *)d)->events |= UV_WRITABLE, poll_set(d); }
static void del_write(void *d) { ((redisLibuvEvents *)d)->events &= ~UV_WRITABLE, poll_set(d); }

static redisAsyncContext *open_ctx(wsk_uv_bp_t *bp) {
  redisAsyncContext *ac = redisAsyncConnect(bp->host, bp->port);
  if (!ac) return NULL;
  if (ac->err || redisLibuvAttach(ac, bp->loop) != REDIS_OK) {
    redisAsyncFree(ac);
    return NULL;
  }
  ac->ev.addRead = add_read;
  ac->ev.delRead = del_read;
  ac->ev.addWrite = add_write;
  ac->ev.delWrite = del_write;
  ac->data = bp;
  redisAsyncSetConnectCallback(ac, on_connect);
  redisAsyncSetDisconnectCallback(ac, on_disconnect);
  if (bp->password) redisAsyncCommand(ac, NULL, NULL, "AUTH %s", bp->password);
  return ac;
}

/* A command Redis never answers (a hung server) counts as lost, like an
 * error reply to a resync: what it was for fails or is fetched again. */
static void optimer_cb(uv_timer_t *t) {
  wsk_uv_bp_t *bp = t->data;
  uint64_t now = uv_now(bp->loop);
  for (op_t *op = bp->ops; op && bp->up; op = op->next) {
    if (now - op->sent >= CMD_TIMEOUT_MS) {
      lost(bp, "a command timed out");
      return;
    }
  }
}

/* A connect that never answers (a black hole) counts as lost too. */
static void watchdog_cb(uv_timer_t *t) {
  wsk_uv_bp_t *bp = t->data;
  if (!bp->up) lost(bp, "connect timed out");
}

#define CONNECT_TIMEOUT_MS 5000

static void connect_both(wsk_uv_bp_t *bp) {
  uv_timer_start(&bp->timer, watchdog_cb, CONNECT_TIMEOUT_MS, 0);
  bp->cmd = open_ctx(bp);
  bp->sub = bp->cmd ? open_ctx(bp) : NULL;
  if (!bp->cmd || !bp->sub) {
    lost(bp, "cannot start a connection");
    return;
  }
  if (bp->db) redisAsyncCommand(bp->cmd, NULL, NULL, "SELECT %d", bp->db);
  wsk_buf_t pat;
  memset(&pat, 0, sizeof pat);
  if (wsk_buf_append_str(&pat, bp->prefix) < 0 || wsk_buf_append_str(&pat, "msg:*") < 0) {
    wsk_buf_free(&pat);
    lost(bp, "out of memory");
    return;
  }
  redisAsyncCommand(bp->sub, on_pubsub, NULL, "PSUBSCRIBE %b", pat.data + pat.off,
                    wsk_buf_pending(&pat));
  wsk_buf_free(&pat);
}

/* ---- life ---- */

int wsk__uv_bp_new(wsk_uv_server_t *s, const char *url, wsk_uv_bp_t **out) {
  *out = NULL;
  wsk_uv_bp_t *bp = calloc(1, sizeof *bp);
  if (!bp) return WSK_ENOMEM;
  bp->s = s;
  bp->loop = s->base.loop;
  bp->prefix = s->backplane_prefix ? s->backplane_prefix : WSK_BACKPLANE_PREFIX;
  int r = parse_url(bp, url);
  if (r == 0) r = wsk_backplane_new_origin(NULL, NULL, bp->origin);
  if (r < 0 || uv_timer_init(bp->loop, &bp->timer) != 0) {
    free(bp->password);
    free(bp);
    return r < 0 ? r : WSK_EIO;
  }
  bp->timer.data = bp;
  bp->handles = 1;
  if (uv_timer_init(bp->loop, &bp->optimer) == 0) {
    bp->optimer.data = bp;
    bp->handles = 2;
    uv_timer_start(&bp->optimer, optimer_cb, 1000, 1000);
    uv_unref((uv_handle_t *)&bp->optimer); /* it never keeps the loop alive by itself */
  }
  wsk_backoff_init(&bp->backoff, &s->o.backplane_backoff);
  connect_both(bp);
  *out = bp;
  return 0;
}

static void timer_closed(uv_handle_t *h) {
  wsk_uv_bp_t *bp = h->data;
  if (--bp->handles > 0) return;
  free(bp->password);
  free(bp);
}

void wsk__uv_bp_free(wsk_uv_bp_t *bp) {
  if (!bp) return;
  /* pending ops are released by their callbacks, which hiredis runs when
   * the contexts are freed; they no longer complete anything */
  for (op_t *op = bp->ops; op;) {
    op_t *next = op->next;
    op->dead = 1;
    op->prev = op->next = NULL;
    op = next;
  }
  bp->ops = NULL;
  ctx_drop(&bp->cmd);
  ctx_drop(&bp->sub);
  int two = bp->handles == 2;
  uv_close((uv_handle_t *)&bp->timer, timer_closed);
  if (two) uv_close((uv_handle_t *)&bp->optimer, timer_closed);
}

int wsk__uv_bp_up(const wsk_uv_bp_t *bp) { return bp && bp->up; }

/* ---- commands ---- */

static int keys(wsk_uv_bp_t *bp, const char *ch, size_t len, wsk_buf_t k[3]) {
  memset(k, 0, 3 * sizeof *k);
  int r = wsk_backplane_key(&k[0], bp->prefix, WSK_KEY_META, ch, len);
  if (r == 0) r = wsk_backplane_key(&k[1], bp->prefix, WSK_KEY_HIST, ch, len);
  if (r == 0) r = wsk_backplane_key(&k[2], bp->prefix, WSK_KEY_MSG, ch, len);
  return r;
}

static void keys_free(wsk_buf_t k[3]) {
  for (int i = 0; i < 3; i++) wsk_buf_free(&k[i]);
}

static void on_published(redisAsyncContext *ac, void *r, void *privdata) {
  op_t *op = privdata;
  redisReply *reply = r;
  (void)ac;
  if (op->dead) {
    op_free(op);
    return;
  }
  wsk_uv_bp_t *bp = op->bp;
  wsk_uv_pub_done_t *p = op->pub;
  op->pub = NULL;
  op_unlink(op);
  int err = WSK_EIO;
  uint64_t seq = 0;
  if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements >= 1 &&
      reply->element[0]->type == REDIS_REPLY_INTEGER && reply->element[0]->integer > 0) {
    err = 0;
    seq = (uint64_t)reply->element[0]->integer;
  } else if (reply && reply->type == REDIS_REPLY_ERROR) {
    wsk__uv_server_log(bp->s, "backplane: publish failed: %s", reply->str);
  }
  wsk__uv_hub_published(bp->s, p, err, seq);
  op_free(op);
}

int wsk__uv_bp_publish(wsk_uv_bp_t *bp, const wsk_chan_msg_t *m, wsk_uv_pub_done_t *p) {
  if (!bp->up) {
    wsk__uv_hub_published(bp->s, p, WSK_EIO, 0);
    return 0;
  }
  wsk_buf_t k[3];
  op_t *op = op_new(bp, m->channel, m->channel_len);
  int r = op ? keys(bp, m->channel, m->channel_len, k) : WSK_ENOMEM;
  if (r < 0) {
    if (op) {
      keys_free(k);
      op_unlink(op);
      op_free(op);
    }
    free(p->id);
    free(p->channel);
    free(p);
    return r;
  }
  op->pub = p;
  char kind[2] = { (char)m->kind, 0 };
  char size[24], ttl[24];
  snprintf(size, sizeof size, "%zu", bp->s->o.history_size);
  snprintf(ttl, sizeof ttl, "%u", (unsigned)bp->s->o.history_ttl_ms);
  const char *argv[12] = { "EVAL", WSK_REDIS_PUBLISH_SCRIPT, "2",
                           (const char *)k[0].data + k[0].off, (const char *)k[1].data + k[1].off,
                           (const char *)k[2].data + k[2].off, kind, bp->origin, m->channel,
                           (const char *)m->payload, size, ttl };
  size_t lens[12] = { 4, strlen(WSK_REDIS_PUBLISH_SCRIPT), 1, wsk_buf_pending(&k[0]),
                      wsk_buf_pending(&k[1]), wsk_buf_pending(&k[2]), 1, strlen(bp->origin),
                      m->channel_len, m->payload_len, strlen(size), strlen(ttl) };
  if (!m->payload) argv[9] = "";
  r = redisAsyncCommandArgv(bp->cmd, on_published, op, 12, argv, lens);
  keys_free(k);
  if (r != REDIS_OK) { /* not queued: complete it now */
    op_fail(op);
    op_free(op);
  }
  return 0;
}

static void on_recovered(redisAsyncContext *ac, void *r, void *privdata) {
  op_t *op = privdata;
  redisReply *reply = r;
  (void)ac;
  if (op->dead) {
    op_free(op);
    return;
  }
  wsk_uv_bp_t *bp = op->bp;
  if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 2 ||
      reply->element[0]->type != REDIS_REPLY_STRING ||
      reply->element[1]->type != REDIS_REPLY_INTEGER) {
    const char *why = !reply ? "no answer"
                      : reply->type == REDIS_REPLY_ERROR ? reply->str
                                                         : "an unexpected reply";
    int resync = op->resync && reply; /* NULL: the connection went; lost() follows */
    if (reply)
      wsk__uv_server_log(bp->s, "backplane: %s of %s failed: %s", op->resync ? "resync" : "recover",
                         op->channel, why);
    op_fail(op);
    op_free(op);
    /* a resync's subscribers are held until a fetch succeeds: try again
     * from the start, after the backoff */
    if (resync) fail_soon(bp, "resync failed");
    return;
  }
  op_unlink(op);
  size_t n = reply->elements - 2;
  wsk_chan_msg_t *msgs = n ? calloc(n, sizeof *msgs) : NULL;
  size_t k = 0;
  for (size_t i = 0; msgs && i < n; i++) {
    redisReply *e = reply->element[i + 2];
    const char *origin, *why;
    size_t olen;
    if (e->type == REDIS_REPLY_STRING &&
        wsk_envelope_parse((const uint8_t *)e->str, e->len, &origin, &olen, &msgs[k], &why) == 0)
      k++;
  }
  wsk_hub_history_t h;
  memset(&h, 0, sizeof h);
  h.epoch = reply->element[0]->str;
  h.epoch_len = reply->element[0]->len;
  h.top = reply->element[1]->integer > 0 ? (uint64_t)reply->element[1]->integer : 0;
  h.msgs = msgs;
  h.nmsgs = k;
  if (op->resync || !op->gone)
    wsk__uv_hub_recovered(bp->s, op->resync ? NULL : op->sub, op->channel, op->channel_len, &h);
  free(msgs);
  op_free(op);
}

int wsk__uv_bp_recover(wsk_uv_bp_t *bp, wsk_uv_conn_t *sub, const char *ch, size_t len,
                       int64_t since) {
  if (!bp->up) return WSK_EIO;
  wsk_buf_t k[3];
  op_t *op = op_new(bp, ch, len);
  int r = op ? keys(bp, ch, len, k) : WSK_ENOMEM;
  if (r < 0) {
    if (op) {
      keys_free(k);
      op_unlink(op);
      op_free(op);
    }
    return r;
  }
  op->sub = sub;
  op->resync = sub == NULL;
  char sincebuf[24], ttl[24], max[24];
  snprintf(sincebuf, sizeof sincebuf, "%lld", (long long)since);
  snprintf(ttl, sizeof ttl, "%u", (unsigned)bp->s->o.history_ttl_ms);
  snprintf(max, sizeof max, "%zu", bp->s->o.history_size);
  const char *argv[8] = { "EVAL", WSK_REDIS_RECOVER_SCRIPT, "2",
                          (const char *)k[0].data + k[0].off, (const char *)k[1].data + k[1].off,
                          sincebuf, ttl, max };
  size_t lens[8] = { 4, strlen(WSK_REDIS_RECOVER_SCRIPT), 1, wsk_buf_pending(&k[0]),
                     wsk_buf_pending(&k[1]), strlen(sincebuf), strlen(ttl), strlen(max) };
  r = redisAsyncCommandArgv(bp->cmd, on_recovered, op, 8, argv, lens);
  keys_free(k);
  if (r != REDIS_OK) {
    op_unlink(op);
    op_free(op);
    return WSK_EIO;
  }
  return 0;
}
