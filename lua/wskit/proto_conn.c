/* The connection object of wskit.proto: a wsk_conn_t plus the input
 * buffer the core reads in place.
 *
 *   c = proto.new(opts)            -- opts: see proto_opts.c
 *   c:feed(bytes [, now_ms])       -- copied: the core unmasks in place and
 *                                     Lua strings are immutable; with now_ms
 *                                     the clock is ticked first
 *   typ, data, a, b, d = c:event() -- nil when there is none (see below)
 *   out = c:take()                 -- pending output as a string, or nil
 *   at = c:tick(now_ms)            -- next deadline, -1 for none
 *   n = c:send(op, data)           -- sending calls return the number of
 *                                     bytes they added to the output
 *
 * Events (typ, data, a, b, d); with none: nil, the pending output's
 * length, the next deadline (-1: none), which is what a driver needs next.
 *   "request", nil, status (0 = valid upgrade)
 *   "open", nil, status (client 101, server 0), headers (client: lower-case
 *            names -> value, repeated ones joined with ", ")
 *   "rejected", body, status, headers
 *   "text"/"binary", data
 *   "fragment", data, "text"/"binary", first, fin
 *   "ping", data          "pong", data, ping_id, latency_ms
 *   "close", reason, code (1005: none in the frame)
 *   "closed", error text ("" when none), code, sent_code, clean
 *   "rate_limited", data, "text"/"binary"  (over message_rate, policy
 *            "error": not delivered; the driver answers with an error)
 * First-message auth (auth_timeout): c:authenticate(ok [, reason]),
 * c:authenticated(). Counters: c:stats() -> { messages_in, messages_out,
 * bytes_in, bytes_out, rate_limited }.
 * Payload strings are copies: they stay valid whatever happens next. */
#include <stdlib.h>
#include <string.h>

#include "proto_lua.h"

typedef struct lwsk_conn {
  wsk_conn_t *c;
  lwsk_arena_t arena;
  uint8_t *in;   /* what the core parses in place while busy */
  size_t in_cap;
  int busy;      /* fed input not fully consumed: keep `in` as it is */
} lwsk_conn_t;

#define IN_KEEP (16 * 1024) /* larger input buffers are freed once drained */

static lwsk_conn_t *check(lua_State *L) {
  lwsk_conn_t *u = luaL_checkudata(L, 1, LWSK_CONN_MT);
  if (!u->c) luaL_error(L, "wskit.proto: connection already freed");
  return u;
}

static void release(lwsk_conn_t *u) {
  if (u->c) wsk_conn_free(u->c);
  u->c = NULL;
  free(u->in);
  u->in = NULL;
  u->in_cap = 0;
  u->busy = 0;
  lwsk_arena_free(&u->arena);
}

/* proto.new(opts [, now]) */
static int l_new(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  int64_t now = (int64_t)luaL_optnumber(L, 2, 0);
  lwsk_conn_t *u = lua_newuserdata(L, sizeof *u);
  memset(u, 0, sizeof *u);
  luaL_getmetatable(L, LWSK_CONN_MT);
  lua_setmetatable(L, -2);
  wsk_conn_opts_t o;
  lwsk_conn_opts_read(L, 1, &o, &u->arena); /* may raise: __gc frees the arena */
  int err = 0;
  u->c = wsk_conn_new(&o, now, &err);
  if (!u->c) return lwsk_fail(L, err ? err : WSK_ENOMEM);
  return 1;
}

static int l_feed(lua_State *L) {
  lwsk_conn_t *u = check(L);
  size_t len;
  const char *s = luaL_checklstring(L, 2, &len);
  if (u->busy) return lwsk_fail(L, WSK_ESTATE); /* drain events first */
  if (!lua_isnoneornil(L, 3)) wsk_conn_tick(u->c, (int64_t)luaL_checknumber(L, 3));
  if (len > u->in_cap) {
    uint8_t *p = malloc(len);
    if (!p) return lwsk_fail(L, WSK_ENOMEM);
    free(u->in);
    u->in = p;
    u->in_cap = len;
  }
  if (len) memcpy(u->in, s, len);
  int r = wsk_conn_feed(u->c, u->in, len);
  if (r < 0) return lwsk_fail(L, r);
  u->busy = 1;
  lua_pushboolean(L, 1);
  return 1;
}

static int l_feed_eof(lua_State *L) {
  wsk_conn_feed_eof(check(L)->c);
  return 0;
}

/* Headers of a head as a table: lower-case names, repeats joined. */
static void push_headers(lua_State *L, const wsk_http_head_t *h) {
  lua_createtable(L, 0, h ? (int)h->nheaders : 0);
  if (!h) return;
  for (size_t i = 0; i < h->nheaders; i++) {
    const wsk_http_header_t *f = &h->headers[i];
    char name[256];
    size_t n = f->name_len < sizeof name ? f->name_len : sizeof name - 1;
    for (size_t k = 0; k < n; k++) {
      char ch = f->name[k];
      name[k] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
    }
    lua_pushlstring(L, name, n);
    lua_pushvalue(L, -1);
    lua_rawget(L, -3);
    if (lua_isstring(L, -1)) {
      lua_pushliteral(L, ", ");
      lua_pushlstring(L, f->value, f->value_len);
      lua_concat(L, 3); /* old .. ", " .. value */
    } else {
      lua_pop(L, 1);
      lua_pushlstring(L, f->value, f->value_len);
    }
    lua_rawset(L, -3);
  }
}

static const char *opname(wsk_opcode_t op) { return op == WSK_OP_TEXT ? "text" : "binary"; }

static int l_event(lua_State *L) {
  lwsk_conn_t *u = check(L);
  wsk_event_t ev;
  if (!wsk_conn_next_event(u->c, &ev)) {
    if (u->busy && u->in_cap > IN_KEEP) {
      free(u->in);
      u->in = NULL;
      u->in_cap = 0;
    }
    u->busy = 0; /* the core copied whatever it still needs */
    lua_pushnil(L);
    lua_pushnumber(L, (lua_Number)wsk_conn_output_len(u->c)); /* to write? */
    lua_pushnumber(L, (lua_Number)wsk_conn_deadline(u->c));   /* when to wake */
    return 3;
  }
  switch (ev.type) {
  case WSK_EV_REQUEST:
    lua_pushliteral(L, "request");
    lua_pushnil(L);
    lua_pushinteger(L, ev.status);
    return 3;
  case WSK_EV_OPEN:
    lua_pushliteral(L, "open");
    lua_pushnil(L);
    lua_pushinteger(L, ev.head ? ev.head->status : 0);
    push_headers(L, ev.head);
    return 4;
  case WSK_EV_REJECTED:
    lua_pushliteral(L, "rejected");
    lua_pushlstring(L, (const char *)ev.data, ev.data ? ev.len : 0);
    lua_pushinteger(L, ev.status);
    push_headers(L, ev.head);
    return 4;
  case WSK_EV_TEXT:
  case WSK_EV_BINARY:
    lua_pushstring(L, ev.type == WSK_EV_TEXT ? "text" : "binary");
    lua_pushlstring(L, (const char *)ev.data, ev.data ? ev.len : 0);
    return 2;
  case WSK_EV_FRAGMENT:
    lua_pushliteral(L, "fragment");
    lua_pushlstring(L, (const char *)ev.data, ev.data ? ev.len : 0);
    lua_pushstring(L, opname(ev.opcode));
    lua_pushboolean(L, ev.first);
    lua_pushboolean(L, ev.fin);
    return 5;
  case WSK_EV_PING:
    lua_pushliteral(L, "ping");
    lua_pushlstring(L, (const char *)ev.data, ev.data ? ev.len : 0);
    return 2;
  case WSK_EV_PONG:
    lua_pushliteral(L, "pong");
    lua_pushlstring(L, (const char *)ev.data, ev.data ? ev.len : 0);
    lua_pushnumber(L, ev.ping_id);
    lua_pushnumber(L, (lua_Number)ev.latency_ms);
    return 4;
  case WSK_EV_CLOSE:
    lua_pushliteral(L, "close");
    lua_pushlstring(L, (const char *)ev.data, ev.data ? ev.len : 0);
    lua_pushinteger(L, ev.code);
    return 3;
  case WSK_EV_CLOSED:
    lua_pushliteral(L, "closed");
    lua_pushstring(L, wsk_conn_error(u->c));
    lua_pushinteger(L, ev.code);
    lua_pushinteger(L, ev.sent_code);
    lua_pushboolean(L, ev.clean);
    return 5;
  case WSK_EV_RATE_LIMITED:
    lua_pushliteral(L, "rate_limited");
    lua_pushlstring(L, (const char *)ev.data, ev.data ? ev.len : 0);
    lua_pushstring(L, opname(ev.opcode));
    return 3;
  default:
    return luaL_error(L, "wskit.proto: unknown event %d", (int)ev.type);
  }
}

static int l_tick(lua_State *L) {
  lwsk_conn_t *u = check(L);
  lua_pushnumber(L, (lua_Number)wsk_conn_tick(u->c, (int64_t)luaL_checknumber(L, 2)));
  return 1;
}

static int l_deadline(lua_State *L) {
  lua_pushnumber(L, (lua_Number)wsk_conn_deadline(check(L)->c));
  return 1;
}

static int l_take(lua_State *L);

static int ok_or_fail(lua_State *L, int r) {
  if (r < 0) return lwsk_fail(L, r);
  lua_pushboolean(L, 1);
  return 1;
}

/* For sending calls: the bytes the call added to the output, or a failure. */
static int added_or_fail(lua_State *L, lwsk_conn_t *u, size_t before, int r) {
  if (r < 0) return lwsk_fail(L, r);
  lua_pushnumber(L, (lua_Number)(wsk_conn_output_len(u->c) - before));
  return 1;
}

/* c:accept([subprotocol [, headers]]) */
static int l_accept(lua_State *L) {
  lwsk_conn_t *u = check(L);
  wsk_accept_t a;
  memset(&a, 0, sizeof a);
  a.subprotocol = luaL_optstring(L, 2, NULL);
  wsk_http_header_t *h;
  lwsk_headers_read(L, 3, &u->arena, &h, &a.nheaders);
  a.headers = h;
  return ok_or_fail(L, wsk_conn_accept(u->c, &a));
}

/* c:reject([status [, headers [, body]]]); status 0/nil: the core's. */
static int l_reject(lua_State *L) {
  lwsk_conn_t *u = check(L);
  int status = (int)luaL_optinteger(L, 2, 0);
  wsk_http_header_t *h;
  size_t nh, blen = 0;
  lwsk_headers_read(L, 3, &u->arena, &h, &nh);
  const char *body = luaL_optlstring(L, 4, NULL, &blen);
  return ok_or_fail(L, wsk_conn_reject(u->c, status, h, nh, body, blen));
}

static wsk_opcode_t data_op(lua_State *L, int idx) {
  lua_Integer op = luaL_checkinteger(L, idx);
  if (op != WSK_OP_TEXT && op != WSK_OP_BINARY) luaL_argerror(L, idx, "opcode must be 1 or 2");
  return (wsk_opcode_t)op;
}

/* c:send(op, data [, take]) with op 1 (text) or 2 (binary): the bytes
 * added, and with `take` true the whole pending output as a string too
 * (saves the driver a take() per message). */
static int l_send(lua_State *L) {
  lwsk_conn_t *u = check(L);
  wsk_opcode_t op = data_op(L, 2);
  size_t len;
  const char *s = luaL_checklstring(L, 3, &len);
  int take = lua_toboolean(L, 4); /* read before results are pushed */
  size_t before = wsk_conn_output_len(u->c);
  int r = added_or_fail(L, u, before, wsk_conn_send(u->c, op, s, len));
  if (r == 1 && take) r += l_take(L);
  return r;
}

/* c:send_fragment(op, data, fin) */
static int l_send_fragment(lua_State *L) {
  lwsk_conn_t *u = check(L);
  wsk_opcode_t op = data_op(L, 2);
  size_t len;
  const char *s = luaL_checklstring(L, 3, &len);
  size_t before = wsk_conn_output_len(u->c);
  return added_or_fail(L, u, before, wsk_conn_send_fragment(u->c, op, s, len, lua_toboolean(L, 4)));
}

/* c:ping([data]) -> id, bytes; nil or "" lets the core pick a unique payload */
static int l_ping(lua_State *L) {
  lwsk_conn_t *u = check(L);
  size_t len = 0;
  const char *s = luaL_optlstring(L, 2, NULL, &len);
  size_t before = wsk_conn_output_len(u->c);
  int r = wsk_conn_ping(u->c, len ? s : NULL, len);
  if (r < 0) return lwsk_fail(L, r);
  lua_pushinteger(L, r);
  lua_pushnumber(L, (lua_Number)(wsk_conn_output_len(u->c) - before));
  return 2;
}

static int l_pong(lua_State *L) {
  lwsk_conn_t *u = check(L);
  size_t len = 0;
  const char *s = luaL_optlstring(L, 2, "", &len);
  size_t before = wsk_conn_output_len(u->c);
  return added_or_fail(L, u, before, wsk_conn_pong(u->c, s, len));
}

/* c:close([code [, reason]]); no code: a close frame without one */
static int l_close(lua_State *L) {
  lwsk_conn_t *u = check(L);
  unsigned code = (unsigned)luaL_optinteger(L, 2, 0);
  size_t len = 0;
  const char *s = luaL_optlstring(L, 3, "", &len);
  size_t before = wsk_conn_output_len(u->c);
  return added_or_fail(L, u, before, wsk_conn_close(u->c, code, s, len));
}

static int l_abort(lua_State *L) {
  lwsk_conn_t *u = check(L);
  wsk_conn_abort(u->c, luaL_optstring(L, 2, "aborted"));
  return 0;
}

static int l_take(lua_State *L) {
  lwsk_conn_t *u = check(L);
  size_t len;
  const uint8_t *p = wsk_conn_output(u->c, &len);
  if (!len) return 0;
  lua_pushlstring(L, (const char *)p, len);
  wsk_conn_output_consume(u->c, len);
  return 1;
}

static int l_output_len(lua_State *L) {
  lua_pushnumber(L, (lua_Number)wsk_conn_output_len(check(L)->c));
  return 1;
}

static int l_state(lua_State *L) {
  static const char *const names[] = {"connecting", "open", "closing", "closed"};
  lua_pushstring(L, names[wsk_conn_state(check(L)->c) & 3]);
  return 1;
}

static int l_subprotocol(lua_State *L) {
  const char *s = wsk_conn_subprotocol(check(L)->c);
  if (!s || !*s) return 0;
  lua_pushstring(L, s);
  return 1;
}

/* Negotiated compression as a table, or nil when off. */
static int l_deflate(lua_State *L) {
  const wsk_deflate_params_t *p = wsk_conn_deflate(check(L)->c);
  if (!p || !p->enabled) return 0;
  lua_createtable(L, 0, 4);
  lua_pushboolean(L, p->server_no_context_takeover);
  lua_setfield(L, -2, "server_no_context_takeover");
  lua_pushboolean(L, p->client_no_context_takeover);
  lua_setfield(L, -2, "client_no_context_takeover");
  lua_pushinteger(L, p->server_max_window_bits);
  lua_setfield(L, -2, "server_max_window_bits");
  lua_pushinteger(L, p->client_max_window_bits);
  lua_setfield(L, -2, "client_max_window_bits");
  return 1;
}

static int l_error(lua_State *L) {
  lua_pushstring(L, wsk_conn_error(check(L)->c));
  return 1;
}

static int l_input_pending(lua_State *L) {
  lwsk_conn_t *u = check(L);
  lua_pushnumber(L, (lua_Number)wsk_conn_input_pending(u->c));
  lua_pushboolean(L, u->busy);
  return 2;
}

static int l_over_limit(lua_State *L) {
  lua_pushboolean(L, wsk_conn_over_limit(check(L)->c));
  return 1;
}

/* c:authenticate(ok [, reason]): the verdict on the first message */
static int l_authenticate(lua_State *L) {
  lwsk_conn_t *u = check(L);
  return ok_or_fail(L, wsk_conn_authenticate(u->c, lua_toboolean(L, 2), luaL_optstring(L, 3, NULL)));
}

static int l_authenticated(lua_State *L) {
  lua_pushboolean(L, wsk_conn_authenticated(check(L)->c));
  return 1;
}

static int l_stats(lua_State *L) {
  wsk_conn_stats_t st;
  wsk_conn_stats(check(L)->c, &st);
  lua_createtable(L, 0, 5);
  lua_pushnumber(L, (lua_Number)st.messages_in);
  lua_setfield(L, -2, "messages_in");
  lua_pushnumber(L, (lua_Number)st.messages_out);
  lua_setfield(L, -2, "messages_out");
  lua_pushnumber(L, (lua_Number)st.bytes_in);
  lua_setfield(L, -2, "bytes_in");
  lua_pushnumber(L, (lua_Number)st.bytes_out);
  lua_setfield(L, -2, "bytes_out");
  lua_pushnumber(L, (lua_Number)st.rate_limited);
  lua_setfield(L, -2, "rate_limited");
  return 1;
}

static int l_free(lua_State *L) {
  release(luaL_checkudata(L, 1, LWSK_CONN_MT));
  return 0;
}

void lwsk_conn_register(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"feed", l_feed},         {"feed_eof", l_feed_eof},
      {"event", l_event},       {"tick", l_tick},
      {"deadline", l_deadline}, {"accept", l_accept},
      {"reject", l_reject},     {"send", l_send},
      {"send_fragment", l_send_fragment},
      {"ping", l_ping},         {"pong", l_pong},
      {"close", l_close},       {"abort", l_abort},
      {"take", l_take},         {"output_len", l_output_len},
      {"state", l_state},       {"subprotocol", l_subprotocol},
      {"deflate", l_deflate},   {"error", l_error},
      {"input_pending", l_input_pending},
      {"over_limit", l_over_limit},
      {"authenticate", l_authenticate},
      {"authenticated", l_authenticated},
      {"stats", l_stats},
      {"free", l_free},         {"__gc", l_free},
      {NULL, NULL}};
  lwsk_newclass(L, LWSK_CONN_MT, methods);
  lua_pushcfunction(L, l_new);
  lua_setfield(L, -2, "new");
}
