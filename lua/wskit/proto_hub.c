/* The channel hub of wskit.proto: the core's wsk_hub_t (hub.h) behind a
 * userdata. Subscribers are positive integers the driver hands out (a
 * WebSocket connection, an SSE stream); the driver keeps the map from
 * those ids to its objects, so the hub holds no Lua references.
 *
 *   h = proto.hub{ history_size=, history_ttl= (ms), history_bytes=,
 *                  max_channels=, max_subscriptions=, max_held=, external= }
 *   outs = h:subscribe(sub, channel, since|nil, epoch|nil, id|nil, now)
 *          external mode: false, fetch_since (-1: position only)
 *   outs = h:recovered(sub|nil, channel, reply, now)
 *          reply = the recover script's answer {epoch, top, envelope...}
 *   n, fetch_since = h:resync(channel)
 *   seq, outs = h:publish(channel, kind, data, now)        (local mode)
 *   outs, origin = h:dispatch(envelope, now)               (from Redis)
 *   h:unsubscribe(sub, channel) -> bool; h:drop(sub) -> n
 *   h:count(channel), h:is_member(sub, channel), h:channels() -> list,
 *   h:position(channel) -> top, epoch (local mode; nil when none)
 *
 * `outs` is a flat list: sub1, rec1, sub2, rec2, ... where rec is
 *   { kind = "message"|"subscribed"|"gap", json =, channel =, epoch =,
 *     seq =, ptype = "t"/"b"/"j", data =, recovered =, from =, to =, reason = }
 * Subscribers that get the same message share one rec table. The hub's
 * outputs are first copied into C memory and turned into Lua values after
 * the hub call returns: a Lua error (out of memory) never unwinds through
 * the hub. Failures return nil, err, ENAME. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto_lua.h"

typedef struct {
  wsk_hub_t *h;
} lwsk_hub_t;

/* One output, its strings as offsets into the collector's bytes. */
typedef struct {
  uintptr_t sub;
  wsk_hub_out_kind_t kind;
  size_t channel, channel_len, epoch, epoch_len, json, json_len, data, data_len;
  const char *reason; /* static text of the core */
  uint64_t seq, from, to;
  int recovered;
  wsk_payload_kind_t ptype;
  const void *msg;    /* identity of the message, to share rec tables */
  int same_as_prev;
} rec_t;

typedef struct {
  rec_t *recs;
  size_t n, cap;
  wsk_buf_t bytes;
  int failed;
} collect_t;

static size_t put(collect_t *c, const void *p, size_t len) {
  size_t at = c->bytes.len;
  if (len && wsk_buf_append(&c->bytes, p, len) < 0) c->failed = 1;
  return at;
}

static void on_out(void *ud, void *sub, const wsk_hub_out_t *o) {
  collect_t *c = ud;
  if (c->failed) return;
  if (c->n == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 16;
    rec_t *r = realloc(c->recs, cap * sizeof *r);
    if (!r) {
      c->failed = 1;
      return;
    }
    c->recs = r;
    c->cap = cap;
  }
  rec_t *r = &c->recs[c->n];
  memset(r, 0, sizeof *r);
  r->sub = (uintptr_t)sub;
  r->kind = o->kind;
  r->msg = o->kind == WSK_HUB_MESSAGE ? (const void *)o->msg : NULL;
  if (c->n && r->msg) {
    const rec_t *p = &c->recs[c->n - 1];
    if (p->msg == r->msg && p->json_len == o->json_len &&
        !memcmp(c->bytes.data + p->json, o->json, o->json_len)) {
      *r = *p; /* the same message fanned out: share its strings */
      r->sub = (uintptr_t)sub;
      r->same_as_prev = 1;
      c->n++;
      return;
    }
  }
  r->channel = put(c, o->channel, o->channel_len);
  r->channel_len = o->channel_len;
  r->epoch = put(c, o->epoch, o->epoch_len);
  r->epoch_len = o->epoch_len;
  r->json = put(c, o->json, o->json_len);
  r->json_len = o->json_len;
  r->seq = o->seq;
  r->recovered = o->recovered;
  r->from = o->from;
  r->to = o->to;
  r->reason = o->reason;
  if (o->kind == WSK_HUB_MESSAGE && o->msg) {
    r->data = put(c, o->msg->payload, o->msg->payload_len);
    r->data_len = o->msg->payload_len;
    r->ptype = o->msg->kind;
    if (!r->seq) r->seq = o->msg->seq;
  }
  c->n++;
}

static void collect_free(collect_t *c) {
  free(c->recs);
  wsk_buf_free(&c->bytes);
}

static void field(lua_State *L, const collect_t *c, const char *name, size_t off, size_t len) {
  lua_pushlstring(L, len ? (const char *)c->bytes.data + off : "", len);
  lua_setfield(L, -2, name);
}

static void numfield(lua_State *L, const char *name, uint64_t v) {
  lwsk_pushu64(L, v);
  lua_setfield(L, -2, name);
}

/* Push the collected outputs as the flat list, and free the collector. */
static void push_outs(lua_State *L, collect_t *c) {
  static const char *const kinds[] = {NULL, "message", "subscribed", "gap"};
  lua_createtable(L, (int)(c->n * 2), 0);
  int list = lua_gettop(L);
  for (size_t i = 0; i < c->n; i++) {
    const rec_t *r = &c->recs[i];
    lwsk_pushu64(L, r->sub);
    lua_rawseti(L, list, (int)(2 * i + 1));
    if (r->same_as_prev) {
      lua_rawgeti(L, list, (int)(2 * i)); /* the previous rec table */
    } else {
      lua_createtable(L, 0, 8);
      lua_pushstring(L, r->kind <= WSK_HUB_GAP ? kinds[r->kind] : "unknown");
      lua_setfield(L, -2, "kind");
      field(L, c, "json", r->json, r->json_len);
      field(L, c, "channel", r->channel, r->channel_len);
      field(L, c, "epoch", r->epoch, r->epoch_len);
      numfield(L, "seq", r->seq);
      if (r->kind == WSK_HUB_MESSAGE) {
        field(L, c, "data", r->data, r->data_len);
        lwsk_pushkind(L, r->ptype);
        lua_setfield(L, -2, "ptype");
      } else if (r->kind == WSK_HUB_SUBSCRIBED) {
        lua_pushboolean(L, r->recovered);
        lua_setfield(L, -2, "recovered");
      } else if (r->kind == WSK_HUB_GAP) {
        numfield(L, "from", r->from);
        numfield(L, "to", r->to);
        lua_pushstring(L, r->reason ? r->reason : "");
        lua_setfield(L, -2, "reason");
      }
    }
    lua_rawseti(L, list, (int)(2 * i + 2));
  }
  collect_free(c);
}

/* After a hub call: the outputs, or a failure (allocation while copying). */
static int finish(lua_State *L, collect_t *c) {
  if (c->failed) {
    collect_free(c);
    return lwsk_fail(L, WSK_ENOMEM);
  }
  push_outs(L, c);
  return 1;
}

static wsk_hub_t *check(lua_State *L) {
  lwsk_hub_t *u = luaL_checkudata(L, 1, LWSK_HUB_MT);
  if (!u->h) luaL_error(L, "wskit.proto: hub already freed");
  return u->h;
}

static void *checksub(lua_State *L, int idx) {
  lua_Number n = luaL_checknumber(L, idx);
  if (n < 1 || n > 4294967295.0 || n != (lua_Number)(uint32_t)n)
    luaL_argerror(L, idx, "subscriber ids are integers >= 1");
  return (void *)(uintptr_t)(uint32_t)n;
}

static int64_t checknow(lua_State *L, int idx) { return (int64_t)luaL_optnumber(L, idx, 0); }

static int l_hub(lua_State *L) {
  wsk_hub_opts_t o;
  wsk_hub_opts_init(&o);
  if (!lua_isnoneornil(L, 1)) {
    luaL_checktype(L, 1, LUA_TTABLE);
    o.history_size = (size_t)lwsk_optnum(L, 1, "history_size", (lua_Number)o.history_size);
    o.history_ttl_ms = (uint32_t)lwsk_optnum(L, 1, "history_ttl", o.history_ttl_ms);
    o.history_bytes = (size_t)lwsk_optnum(L, 1, "history_bytes", (lua_Number)o.history_bytes);
    o.max_channels = (size_t)lwsk_optnum(L, 1, "max_channels", (lua_Number)o.max_channels);
    o.max_subscriptions =
        (size_t)lwsk_optnum(L, 1, "max_subscriptions", (lua_Number)o.max_subscriptions);
    o.max_held = (size_t)lwsk_optnum(L, 1, "max_held", (lua_Number)o.max_held);
    o.external = lwsk_optbool(L, 1, "external", 0);
  }
  lwsk_hub_t *u = lua_newuserdata(L, sizeof *u);
  u->h = NULL;
  luaL_getmetatable(L, LWSK_HUB_MT);
  lua_setmetatable(L, -2);
  int err = 0;
  u->h = wsk_hub_new(&o, &err);
  if (!u->h) return lwsk_fail(L, err ? err : WSK_ENOMEM);
  return 1;
}

/* h:subscribe(sub, channel, since, epoch, id, now) */
static int l_subscribe(lua_State *L) {
  wsk_hub_t *h = check(L);
  wsk_hub_subscribe_t s;
  memset(&s, 0, sizeof s);
  void *sub = checksub(L, 2);
  s.channel = luaL_checklstring(L, 3, &s.channel_len);
  if (!lua_isnoneornil(L, 4)) {
    lua_Number since = luaL_checknumber(L, 4);
    if (since < 0) return luaL_argerror(L, 4, "since must not be negative");
    s.has_since = 1;
    s.since = (uint64_t)since;
  }
  if (!lua_isnoneornil(L, 5)) s.epoch = luaL_checklstring(L, 5, &s.epoch_len);
  if (!lua_isnoneornil(L, 6)) s.id = luaL_checklstring(L, 6, &s.id_len);
  int64_t fetch = -1;
  collect_t c;
  memset(&c, 0, sizeof c);
  int r = wsk_hub_subscribe(h, sub, &s, checknow(L, 7), &fetch, on_out, &c);
  if (r == WSK_EAGAIN) {
    collect_free(&c);
    lua_pushboolean(L, 0);
    lua_pushinteger(L, (lua_Integer)fetch);
    return 2;
  }
  if (r < 0) {
    collect_free(&c);
    return lwsk_fail(L, r);
  }
  return finish(L, &c);
}

/* h:recovered(sub|nil, channel, reply, now): reply = {epoch, top, env...} */
static int l_recovered(lua_State *L) {
  wsk_hub_t *h = check(L);
  void *sub = lua_isnoneornil(L, 2) ? NULL : checksub(L, 2);
  size_t cl;
  const char *ch = luaL_checklstring(L, 3, &cl);
  luaL_checktype(L, 4, LUA_TTABLE);
  int64_t now = checknow(L, 5);
  wsk_hub_history_t hist;
  memset(&hist, 0, sizeof hist);
  lua_rawgeti(L, 4, 1);
  lua_rawgeti(L, 4, 2);
  if (lua_type(L, -2) != LUA_TSTRING || !lua_isnumber(L, -1))
    return luaL_argerror(L, 4, "expected {epoch, top, envelope...}");
  hist.epoch = lua_tolstring(L, -2, &hist.epoch_len);
  hist.top = (uint64_t)lua_tonumber(L, -1);
  /* the two values stay on the stack: hist.epoch points into the string */
  size_t n = lwsk_rawlen(L, 4);
  size_t nm = n > 2 ? n - 2 : 0;
  wsk_chan_msg_t *msgs = calloc(nm ? nm : 1, sizeof *msgs);
  if (!msgs) return lwsk_fail(L, WSK_ENOMEM);
  size_t k = 0;
  for (size_t i = 0; i < nm; i++) {
    lua_rawgeti(L, 4, (int)(i + 3)); /* the reply table keeps it alive */
    size_t len;
    const char *env = lua_tolstring(L, -1, &len);
    lua_pop(L, 1);
    const char *origin, *why;
    size_t ol;
    if (env && wsk_envelope_parse((const uint8_t *)env, len, &origin, &ol, &msgs[k], &why) == 0)
      k++; /* a malformed entry is skipped: the hub reports the hole as a gap */
  }
  hist.msgs = msgs;
  hist.nmsgs = k;
  collect_t c;
  memset(&c, 0, sizeof c);
  int r = wsk_hub_recovered(h, sub, ch, cl, &hist, now, on_out, &c);
  free(msgs);
  if (r < 0 && r != WSK_ENOTFOUND) {
    collect_free(&c);
    return lwsk_fail(L, r);
  }
  return finish(L, &c);
}

static int l_resync(lua_State *L) {
  wsk_hub_t *h = check(L);
  size_t cl;
  const char *ch = luaL_checklstring(L, 2, &cl);
  int64_t fetch = -1;
  size_t n = wsk_hub_resync(h, ch, cl, &fetch);
  lwsk_pushu64(L, n);
  lua_pushinteger(L, (lua_Integer)fetch);
  return 2;
}

/* h:publish(channel, kind, data, now) -> seq, outs */
static int l_publish(lua_State *L) {
  wsk_hub_t *h = check(L);
  wsk_chan_msg_t m;
  memset(&m, 0, sizeof m);
  m.channel = luaL_checklstring(L, 2, &m.channel_len);
  m.kind = lwsk_checkkind(L, 3);
  m.payload = (const uint8_t *)luaL_checklstring(L, 4, &m.payload_len);
  collect_t c;
  memset(&c, 0, sizeof c);
  int64_t seq = wsk_hub_publish(h, &m, checknow(L, 5), on_out, &c);
  if (seq < 0) {
    collect_free(&c);
    return lwsk_fail(L, (int)seq);
  }
  lwsk_pushu64(L, seq);
  if (finish(L, &c) != 1) return 3; /* nil, err, ENAME after the seq */
  return 2;
}

/* h:dispatch(envelope, now) -> outs, origin | nil, why */
static int l_dispatch(lua_State *L) {
  wsk_hub_t *h = check(L);
  size_t len, ol;
  const char *env = luaL_checklstring(L, 2, &len);
  const char *origin, *why = NULL;
  wsk_chan_msg_t m;
  int r = wsk_envelope_parse((const uint8_t *)env, len, &origin, &ol, &m, &why);
  if (r < 0) {
    lua_pushnil(L);
    lua_pushstring(L, why ? why : wsk_strerror(r));
    return 2;
  }
  collect_t c;
  memset(&c, 0, sizeof c);
  wsk_hub_dispatch(h, &m, checknow(L, 3), on_out, &c);
  if (finish(L, &c) != 1) return 3;
  lua_pushlstring(L, origin, ol);
  return 2;
}

static int l_unsubscribe(lua_State *L) {
  wsk_hub_t *h = check(L);
  void *sub = checksub(L, 2);
  size_t cl;
  const char *ch = luaL_checklstring(L, 3, &cl);
  lua_pushboolean(L, wsk_hub_unsubscribe(h, sub, ch, cl) == 1);
  return 1;
}

static int l_drop(lua_State *L) {
  wsk_hub_t *h = check(L);
  lwsk_pushu64(L, wsk_hub_drop(h, checksub(L, 2)));
  return 1;
}

static int l_count(lua_State *L) {
  wsk_hub_t *h = check(L);
  size_t cl;
  const char *ch = luaL_checklstring(L, 2, &cl);
  lwsk_pushu64(L, wsk_hub_count(h, ch, cl));
  return 1;
}

static int l_is_member(lua_State *L) {
  wsk_hub_t *h = check(L);
  void *sub = checksub(L, 2);
  size_t cl;
  const char *ch = luaL_checklstring(L, 3, &cl);
  lua_pushboolean(L, wsk_hub_is_member(h, sub, ch, cl));
  return 1;
}

/* Channel names are copied into a C buffer first: the callback must not
 * raise (a Lua error would unwind through the hub). */
typedef struct {
  wsk_buf_t names; /* each name followed by its length as size_t */
  size_t n;
  int failed;
} names_t;

static void on_channel(void *ud, const char *name, size_t len) {
  names_t *t = ud;
  if (t->failed) return;
  if (wsk_buf_append(&t->names, &len, sizeof len) < 0 ||
      (len && wsk_buf_append(&t->names, name, len) < 0))
    t->failed = 1;
  else
    t->n++;
}

static int l_channels(lua_State *L) {
  wsk_hub_t *h = check(L);
  names_t t;
  memset(&t, 0, sizeof t);
  wsk_hub_channels(h, on_channel, &t);
  if (t.failed) {
    wsk_buf_free(&t.names);
    return lwsk_fail(L, WSK_ENOMEM);
  }
  lua_createtable(L, (int)t.n, 0);
  size_t off = 0;
  for (size_t i = 0; i < t.n; i++) {
    size_t len;
    memcpy(&len, t.names.data + off, sizeof len);
    off += sizeof len;
    lua_pushlstring(L, len ? (const char *)t.names.data + off : "", len);
    off += len;
    lua_rawseti(L, -2, (int)i + 1);
  }
  wsk_buf_free(&t.names);
  return 1;
}

static int l_position(lua_State *L) {
  wsk_hub_t *h = check(L);
  size_t cl, el = 0;
  const char *ch = luaL_checklstring(L, 2, &cl);
  uint64_t top = 0;
  const char *epoch = NULL;
  if (!wsk_hub_position(h, ch, cl, &top, &epoch, &el)) return 0;
  lwsk_pushu64(L, top);
  lua_pushlstring(L, epoch ? epoch : "", epoch ? el : 0);
  return 2;
}

static int l_free(lua_State *L) {
  lwsk_hub_t *u = luaL_checkudata(L, 1, LWSK_HUB_MT);
  if (u->h) wsk_hub_free(u->h);
  u->h = NULL;
  return 0;
}

void lwsk_hub_register(lua_State *L) {
  static const luaL_Reg methods[] = {{"subscribe", l_subscribe},
                                     {"recovered", l_recovered},
                                     {"resync", l_resync},
                                     {"publish", l_publish},
                                     {"dispatch", l_dispatch},
                                     {"unsubscribe", l_unsubscribe},
                                     {"drop", l_drop},
                                     {"count", l_count},
                                     {"is_member", l_is_member},
                                     {"channels", l_channels},
                                     {"position", l_position},
                                     {"free", l_free},
                                     {"__gc", l_free},
                                     {NULL, NULL}};
  lwsk_newclass(L, LWSK_HUB_MT, methods);
  lua_pushcfunction(L, l_hub);
  lua_setfield(L, -2, "hub");
}
