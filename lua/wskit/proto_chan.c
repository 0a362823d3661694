/* The wire formats of channels as wskit.proto functions: the JSON channel
 * protocol (chanproto.h), the Redis envelope, key names and scripts
 * (backplane.h), Server-Sent Events formatting (sse.h) and the redaction
 * of request targets for logs (http.h). Pure functions: strings in,
 * strings or tables out; the drivers in Lua only move them.
 *
 *   f, why = proto.chan_parse(text)   -- { type=, channel=, since=, epoch=,
 *            id= (raw JSON), kind= "t"/"b"/"j", data=, seq=, recovered=,
 *            from=, to=, reason=, code=, message= } (fields present as sent)
 *   s = proto.chan_subscribed(channel, epoch, seq, recovered [, id])
 *   s = proto.chan_unsubscribed(channel [, id])
 *   s = proto.chan_published(channel, seq [, id])
 *   s = proto.chan_error(code, message [, channel [, id]])
 *   s = proto.chan_refusal(code, message, request)  -- error with the
 *            refused request's id and channel (when it parses)
 *   s = proto.chan_message(channel, seq, epoch, kind, data)
 *   s = proto.chan_gap(channel, epoch, from, to, reason)
 *   s = proto.chan_subscribe(channel [, since, epoch [, id]])
 *   s = proto.chan_unsubscribe(channel [, id])
 *   s = proto.chan_publish(channel, kind, data [, id])
 *   ok = proto.json_valid(s)
 *   e, why = proto.envelope_parse(s)  -- { origin, channel, seq, epoch, kind, data }
 *   s = proto.envelope_build(origin, channel, seq, epoch, kind, data)
 *   k = proto.backplane_key(prefix|nil, "meta"|"hist"|"msg", channel)
 *   c = proto.backplane_channel_of(prefix|nil, pubsub_name)   -- nil if not ours
 *   o = proto.backplane_origin()      -- a fresh instance id
 *   proto.REDIS_PUBLISH_SCRIPT, proto.REDIS_RECOVER_SCRIPT
 *   s = proto.sse_event(id|nil, event|nil, data) / sse_retry(ms) / sse_comment([text])
 *   id = proto.sse_format_id(epoch, seq); epoch, seq = proto.sse_parse_id(s)
 *   s = proto.sse_hub_event(rec)      -- a hub output (proto_hub.c rec) as
 *            SSE text ("" for what is not sent: subscribed)
 *   s = proto.redact_target(target)
 * Builders return nil, err, ENAME for invalid input (bad UTF-8, bad JSON). */
#include <stdlib.h>
#include <string.h>

#include "proto_lua.h"

/* Push the buffer's bytes (or the failure) and free it. */
static int push_buf(lua_State *L, wsk_buf_t *b, int r) {
  if (r < 0) {
    wsk_buf_free(b);
    return lwsk_fail(L, r);
  }
  lua_pushlstring(L, (const char *)b->data + b->off, wsk_buf_pending(b));
  wsk_buf_free(b);
  return 1;
}

/* Optional string argument: NULL/0 when absent or nil. */
static const char *optls(lua_State *L, int idx, size_t *len) {
  *len = 0;
  if (lua_isnoneornil(L, idx)) return NULL;
  return luaL_checklstring(L, idx, len);
}

static uint64_t checkseq(lua_State *L, int idx) {
  lua_Number n = luaL_checknumber(L, idx);
  if (n < 0 || n > 9007199254740991.0) luaL_argerror(L, idx, "seq out of range");
  return (uint64_t)n;
}

wsk_payload_kind_t lwsk_checkkind(lua_State *L, int idx) {
  const char *k = luaL_checkstring(L, idx);
  if (!strcmp(k, "t") || !strcmp(k, "text")) return WSK_PAYLOAD_TEXT;
  if (!strcmp(k, "b") || !strcmp(k, "binary")) return WSK_PAYLOAD_BINARY;
  if (!strcmp(k, "j") || !strcmp(k, "json")) return WSK_PAYLOAD_JSON;
  luaL_argerror(L, idx, "kind must be \"t\", \"b\" or \"j\"");
  return WSK_PAYLOAD_TEXT;
}

void lwsk_pushkind(lua_State *L, wsk_payload_kind_t k) {
  char c = (char)k;
  lua_pushlstring(L, &c, 1);
}

static void setstr(lua_State *L, const char *field, const char *s, size_t len) {
  lua_pushlstring(L, s ? s : "", s ? len : 0);
  lua_setfield(L, -2, field);
}

static void setnum(lua_State *L, const char *field, uint64_t v) {
  lwsk_pushu64(L, v);
  lua_setfield(L, -2, field);
}

static const char *const type_names[] = {NULL,         "subscribe", "unsubscribe", "publish",
                                         "subscribed", "message",   "gap",
                                         "unsubscribed", "published", "error"};

static int l_chan_parse(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  uint8_t *scratch = malloc(len ? len : 1);
  if (!scratch) return lwsk_fail(L, WSK_ENOMEM);
  wsk_chan_frame_t f;
  const char *why = NULL;
  int r = wsk_chan_parse(s, len, scratch, &f, &why);
  if (r < 0) {
    free(scratch);
    lua_pushnil(L);
    lua_pushstring(L, why ? why : wsk_strerror(r));
    return 2;
  }
  lua_createtable(L, 0, 8);
  lua_pushstring(L, f.type >= WSK_CHAN_SUBSCRIBE && f.type <= WSK_CHAN_ERROR ? type_names[f.type]
                                                                            : "unknown");
  lua_setfield(L, -2, "type");
  if (f.channel) setstr(L, "channel", f.channel, f.channel_len);
  if (f.has_since) setnum(L, "since", f.since);
  if (f.epoch) setstr(L, "epoch", f.epoch, f.epoch_len);
  if (f.id_len) setstr(L, "id", f.id, f.id_len);
  switch (f.type) {
  case WSK_CHAN_PUBLISH:
  case WSK_CHAN_MESSAGE:
    lwsk_pushkind(L, f.kind);
    lua_setfield(L, -2, "kind");
    setstr(L, "data", (const char *)f.payload, f.payload_len);
    if (f.type == WSK_CHAN_MESSAGE) setnum(L, "seq", f.seq);
    break;
  case WSK_CHAN_SUBSCRIBED:
    setnum(L, "seq", f.seq);
    lua_pushboolean(L, f.recovered);
    lua_setfield(L, -2, "recovered");
    break;
  case WSK_CHAN_PUBLISHED:
    setnum(L, "seq", f.seq);
    break;
  case WSK_CHAN_GAP:
    setnum(L, "from", f.from);
    setnum(L, "to", f.to);
    setstr(L, "reason", f.reason, f.reason_len);
    break;
  case WSK_CHAN_ERROR:
    setstr(L, "code", f.code, f.code_len);
    setstr(L, "message", f.message, f.message_len);
    break;
  default:
    break;
  }
  free(scratch); /* every string above was copied into Lua */
  return 1;
}

static int l_chan_subscribed(lua_State *L) {
  size_t cl, el, il;
  const char *c = luaL_checklstring(L, 1, &cl);
  const char *e = luaL_checklstring(L, 2, &el);
  uint64_t seq = checkseq(L, 3);
  int rec = lua_toboolean(L, 4);
  const char *id = optls(L, 5, &il);
  wsk_buf_t b = {0};
  return push_buf(L, &b, wsk_chan_build_subscribed(&b, c, cl, e, el, seq, rec, id, il));
}

static int l_chan_unsubscribed(lua_State *L) {
  size_t cl, il;
  const char *c = luaL_checklstring(L, 1, &cl);
  const char *id = optls(L, 2, &il);
  wsk_buf_t b = {0};
  return push_buf(L, &b, wsk_chan_build_unsubscribed(&b, c, cl, id, il));
}

static int l_chan_published(lua_State *L) {
  size_t cl, il;
  const char *c = luaL_checklstring(L, 1, &cl);
  uint64_t seq = checkseq(L, 2);
  const char *id = optls(L, 3, &il);
  wsk_buf_t b = {0};
  return push_buf(L, &b, wsk_chan_build_published(&b, c, cl, seq, id, il));
}

static int l_chan_error(lua_State *L) {
  size_t cl, il;
  const char *code = luaL_checkstring(L, 1);
  const char *msg = luaL_optstring(L, 2, "");
  const char *c = optls(L, 3, &cl);
  const char *id = optls(L, 4, &il);
  wsk_buf_t b = {0};
  return push_buf(L, &b, wsk_chan_build_error(&b, code, msg, c, cl, id, il));
}

/* chan_refusal(code, message, request): the request is the refused text */
static int l_chan_refusal(lua_State *L) {
  size_t rl;
  const char *code = luaL_checkstring(L, 1);
  const char *msg = luaL_optstring(L, 2, "");
  const char *req = optls(L, 3, &rl);
  wsk_buf_t b = {0};
  return push_buf(L, &b, wsk_chan_build_refusal(&b, code, msg, req, rl));
}

static void checkmsg(lua_State *L, int ch, int kind, int data, wsk_chan_msg_t *m) {
  memset(m, 0, sizeof *m);
  m->channel = luaL_checklstring(L, ch, &m->channel_len);
  m->kind = lwsk_checkkind(L, kind);
  m->payload = (const uint8_t *)luaL_checklstring(L, data, &m->payload_len);
}

/* chan_message(channel, seq, epoch, kind, data) */
static int l_chan_message(lua_State *L) {
  wsk_chan_msg_t m;
  checkmsg(L, 1, 4, 5, &m);
  m.seq = checkseq(L, 2);
  m.epoch = luaL_checklstring(L, 3, &m.epoch_len);
  wsk_buf_t b = {0};
  return push_buf(L, &b, wsk_chan_build_message(&b, &m));
}

static int l_chan_gap(lua_State *L) {
  size_t cl, el;
  const char *c = luaL_checklstring(L, 1, &cl);
  const char *e = luaL_checklstring(L, 2, &el);
  uint64_t from = checkseq(L, 3), to = checkseq(L, 4);
  const char *reason = luaL_checkstring(L, 5);
  wsk_buf_t b = {0};
  return push_buf(L, &b, wsk_chan_build_gap(&b, c, cl, e, el, from, to, reason));
}

static int l_chan_subscribe(lua_State *L) {
  size_t cl, el, il;
  const char *c = luaL_checklstring(L, 1, &cl);
  int has_since = !lua_isnoneornil(L, 2);
  uint64_t since = has_since ? checkseq(L, 2) : 0;
  const char *e = optls(L, 3, &el);
  const char *id = optls(L, 4, &il);
  wsk_buf_t b = {0};
  return push_buf(L, &b, wsk_chan_build_subscribe(&b, c, cl, has_since, since, e, el, id, il));
}

static int l_chan_unsubscribe(lua_State *L) {
  size_t cl, il;
  const char *c = luaL_checklstring(L, 1, &cl);
  const char *id = optls(L, 2, &il);
  wsk_buf_t b = {0};
  return push_buf(L, &b, wsk_chan_build_unsubscribe(&b, c, cl, id, il));
}

static int l_chan_publish(lua_State *L) {
  wsk_chan_msg_t m;
  size_t il;
  checkmsg(L, 1, 2, 3, &m);
  const char *id = optls(L, 4, &il);
  wsk_buf_t b = {0};
  return push_buf(L, &b, wsk_chan_build_publish(&b, &m, id, il));
}

static int l_json_valid(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  lua_pushboolean(L, wsk_json_valid(s, len));
  return 1;
}

/* ---- backplane ---- */

static int l_envelope_parse(lua_State *L) {
  size_t len, ol = 0;
  const char *s = luaL_checklstring(L, 1, &len);
  const char *origin = NULL, *why = NULL;
  wsk_chan_msg_t m;
  int r = wsk_envelope_parse((const uint8_t *)s, len, &origin, &ol, &m, &why);
  if (r < 0) {
    lua_pushnil(L);
    lua_pushstring(L, why ? why : wsk_strerror(r));
    return 2;
  }
  lua_createtable(L, 0, 6);
  setstr(L, "origin", origin, ol);
  setstr(L, "channel", m.channel, m.channel_len);
  setnum(L, "seq", m.seq);
  setstr(L, "epoch", m.epoch, m.epoch_len);
  lwsk_pushkind(L, m.kind);
  lua_setfield(L, -2, "kind");
  setstr(L, "data", (const char *)m.payload, m.payload_len);
  return 1;
}

/* envelope_build(origin, channel, seq, epoch, kind, data) */
static int l_envelope_build(lua_State *L) {
  const char *origin = luaL_checkstring(L, 1);
  wsk_chan_msg_t m;
  checkmsg(L, 2, 5, 6, &m);
  m.seq = checkseq(L, 3);
  m.epoch = luaL_checklstring(L, 4, &m.epoch_len);
  wsk_buf_t b = {0};
  return push_buf(L, &b, wsk_envelope_build(&b, origin, &m));
}

static int l_backplane_key(lua_State *L) {
  static const char *const which[] = {"meta", "hist", "msg", NULL};
  const char *prefix = luaL_optstring(L, 1, NULL);
  int k = luaL_checkoption(L, 2, NULL, which);
  size_t cl;
  const char *c = luaL_checklstring(L, 3, &cl);
  wsk_buf_t b = {0};
  return push_buf(L, &b, wsk_backplane_key(&b, prefix, (wsk_backplane_key_t)k, c, cl));
}

static int l_backplane_channel_of(lua_State *L) {
  const char *prefix = luaL_optstring(L, 1, NULL);
  size_t len, cl;
  const char *name = luaL_checklstring(L, 2, &len);
  const char *c;
  if (!wsk_backplane_channel_of(prefix, name, len, &c, &cl)) return 0;
  lua_pushlstring(L, c, cl);
  return 1;
}

static int l_backplane_origin(lua_State *L) {
  char out[17];
  int r = wsk_backplane_new_origin(NULL, NULL, out);
  if (r < 0) return lwsk_fail(L, r);
  lua_pushstring(L, out);
  return 1;
}

/* ---- SSE ---- */

static int l_sse_event(lua_State *L) {
  size_t il, el, dl;
  const char *id = optls(L, 1, &il);
  const char *ev = optls(L, 2, &el);
  const char *data = luaL_checklstring(L, 3, &dl);
  wsk_buf_t b = {0};
  return push_buf(L, &b, wsk_sse_event(&b, id, il, ev, el, data, dl));
}

static int l_sse_retry(lua_State *L) {
  lua_Number ms = luaL_checknumber(L, 1);
  if (ms < 0 || ms > 4294967295.0) return luaL_argerror(L, 1, "retry out of range");
  wsk_buf_t b = {0};
  return push_buf(L, &b, wsk_sse_retry(&b, (uint32_t)ms));
}

static int l_sse_comment(lua_State *L) {
  wsk_buf_t b = {0};
  return push_buf(L, &b, wsk_sse_comment(&b, luaL_optstring(L, 1, NULL)));
}

static int l_sse_format_id(lua_State *L) {
  size_t el;
  const char *e = luaL_checklstring(L, 1, &el);
  char out[WSK_SSE_MAX_ID];
  int r = wsk_sse_format_id(out, e, el, checkseq(L, 2));
  if (r < 0) return lwsk_fail(L, r);
  lua_pushlstring(L, out, (size_t)r);
  return 1;
}

static int l_sse_parse_id(lua_State *L) {
  size_t len, el;
  const char *s = luaL_checklstring(L, 1, &len);
  const char *e;
  uint64_t seq;
  int r = wsk_sse_parse_id(s, len, &e, &el, &seq);
  if (r < 0) return lwsk_fail(L, r);
  lua_pushlstring(L, e, el);
  lwsk_pushu64(L, seq);
  return 2;
}

/* A string field of the rec table at 1 (absent: ""); stays on the stack
 * (so the pointer lives) until the caller returns. */
static const char *recstr(lua_State *L, const char *field, size_t *len) {
  lua_getfield(L, 1, field);
  if (lua_isnil(L, -1)) {
    *len = 0;
    return "";
  }
  const char *s = lua_tolstring(L, -1, len);
  if (!s) luaL_error(L, "sse_hub_event: rec.%s must be a string", field);
  return s;
}

static uint64_t recnum(lua_State *L, const char *field) {
  lua_getfield(L, 1, field);
  lua_Number n = lua_isnil(L, -1) ? 0 : lua_tonumber(L, -1);
  lua_pop(L, 1);
  if (n < 0 || n > 9007199254740991.0) luaL_error(L, "sse_hub_event: rec.%s out of range", field);
  return (uint64_t)n;
}

/* sse_hub_event(rec): rec as proto_hub.c hands it out (kind, channel,
 * epoch, seq, ptype, data, json, from, to) -> the core's SSE form. */
static int l_sse_hub_event(lua_State *L) {
  static const char *const kinds[] = {"message", "subscribed", "gap", NULL};
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_getfield(L, 1, "kind");
  int k = luaL_checkoption(L, -1, NULL, kinds);
  lua_pop(L, 1);
  wsk_hub_out_t o;
  wsk_chan_msg_t m;
  memset(&o, 0, sizeof o);
  memset(&m, 0, sizeof m);
  o.kind = (wsk_hub_out_kind_t)(k + 1);
  o.channel = recstr(L, "channel", &o.channel_len);
  o.epoch = recstr(L, "epoch", &o.epoch_len);
  o.json = recstr(L, "json", &o.json_len);
  o.seq = recnum(L, "seq");
  o.from = recnum(L, "from");
  o.to = recnum(L, "to");
  if (o.kind == WSK_HUB_MESSAGE) {
    lua_getfield(L, 1, "ptype");
    m.kind = lwsk_checkkind(L, lua_gettop(L));
    m.payload = (const uint8_t *)recstr(L, "data", &m.payload_len);
    m.channel = o.channel;
    m.channel_len = o.channel_len;
    m.epoch = o.epoch;
    m.epoch_len = o.epoch_len;
    m.seq = o.seq;
    o.msg = &m;
  }
  wsk_buf_t b = {0};
  return push_buf(L, &b, wsk_sse_hub_event(&b, &o));
}

static int l_redact_target(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  wsk_buf_t b = {0};
  return push_buf(L, &b, wsk_http_redact_target(&b, s, len));
}

void lwsk_chan_register(lua_State *L) {
  static const luaL_Reg funcs[] = {{"chan_parse", l_chan_parse},
                                   {"chan_subscribed", l_chan_subscribed},
                                   {"chan_unsubscribed", l_chan_unsubscribed},
                                   {"chan_published", l_chan_published},
                                   {"chan_error", l_chan_error},
                                   {"chan_refusal", l_chan_refusal},
                                   {"chan_message", l_chan_message},
                                   {"chan_gap", l_chan_gap},
                                   {"chan_subscribe", l_chan_subscribe},
                                   {"chan_unsubscribe", l_chan_unsubscribe},
                                   {"chan_publish", l_chan_publish},
                                   {"json_valid", l_json_valid},
                                   {"envelope_parse", l_envelope_parse},
                                   {"envelope_build", l_envelope_build},
                                   {"backplane_key", l_backplane_key},
                                   {"backplane_channel_of", l_backplane_channel_of},
                                   {"backplane_origin", l_backplane_origin},
                                   {"sse_event", l_sse_event},
                                   {"sse_retry", l_sse_retry},
                                   {"sse_comment", l_sse_comment},
                                   {"sse_format_id", l_sse_format_id},
                                   {"sse_parse_id", l_sse_parse_id},
                                   {"sse_hub_event", l_sse_hub_event},
                                   {"redact_target", l_redact_target},
                                   {NULL, NULL}};
  lwsk_setfuncs(L, funcs);
  lua_pushstring(L, WSK_REDIS_PUBLISH_SCRIPT);
  lua_setfield(L, -2, "REDIS_PUBLISH_SCRIPT");
  lua_pushstring(L, WSK_REDIS_RECOVER_SCRIPT);
  lua_setfield(L, -2, "REDIS_RECOVER_SCRIPT");
}
