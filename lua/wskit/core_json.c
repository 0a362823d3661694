/* JSON for request/response: Lua values <-> jansson (the driver's JSON
 * library), requests with a Lua callback held until it ran, and answers to
 * incoming JSON-RPC calls.
 *
 * Mapping: JSON null <-> lightuserdata NULL (the same value as cjson.null,
 * wskit.null); arrays <-> sequences; objects <-> tables with string keys.
 * A Lua table is an array when its keys are exactly 1..n (n > 0), or when
 * its metatable has __jsontype = "array"; an empty table is an object
 * unless marked so. Integral numbers are JSON integers. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core_lua.h"

#define MAX_DEPTH 128

void lwc_json_push(lua_State *L, const json_t *v, int depth) {
  if (depth > MAX_DEPTH || !lua_checkstack(L, 4)) {
    lua_pushnil(L); /* deeper than any sane reply: cut off rather than overflow */
    return;
  }
  switch (json_typeof(v)) {
  case JSON_OBJECT: {
    const char *k;
    json_t *e;
    lua_createtable(L, 0, (int)json_object_size(v));
    json_object_foreach((json_t *)v, k, e) {
      lwc_json_push(L, e, depth + 1);
      lua_setfield(L, -2, k);
    }
    break;
  }
  case JSON_ARRAY: {
    size_t n = json_array_size(v);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
      lwc_json_push(L, json_array_get(v, i), depth + 1);
      lua_rawseti(L, -2, (int)i + 1);
    }
    break;
  }
  case JSON_STRING:
    lua_pushlstring(L, json_string_value(v), json_string_length(v));
    break;
  case JSON_INTEGER:
#if LUA_VERSION_NUM >= 503
    lua_pushinteger(L, (lua_Integer)json_integer_value(v));
#else
    lua_pushnumber(L, (lua_Number)json_integer_value(v));
#endif
    break;
  case JSON_REAL:
    lua_pushnumber(L, json_real_value(v));
    break;
  case JSON_TRUE:
    lua_pushboolean(L, 1);
    break;
  case JSON_FALSE:
    lua_pushboolean(L, 0);
    break;
  default:
    lua_pushlightuserdata(L, NULL);
    break;
  }
}

static const char *json_err;

/* 1 when the table at idx should be an array (sets *n), 0 for an object. */
static int is_array(lua_State *L, int idx, size_t *n) {
  if (lua_getmetatable(L, idx)) {
    lua_getfield(L, -1, "__jsontype");
    const char *t = lua_tostring(L, -1);
    int forced = t ? (strcmp(t, "array") == 0 ? 1 : 2) : 0;
    lua_pop(L, 2);
    if (forced) {
      *n = lwc_rawlen(L, idx);
      return forced == 1;
    }
  }
  size_t count = 0, max = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    lua_Number k;
    if (lua_type(L, -1) != LUA_TNUMBER || (k = lua_tonumber(L, -1)) < 1 || k != floor(k)) {
      lua_pop(L, 1);
      return 0;
    }
    if (k > (lua_Number)max) max = (size_t)k;
    count++;
  }
  *n = max;
  return count > 0 && count == max;
}

static json_t *from(lua_State *L, int idx, int depth) {
  if (idx < 0) idx = lua_gettop(L) + idx + 1;
  if (depth > MAX_DEPTH || !lua_checkstack(L, 4)) {
    json_err = "nested too deeply (or a cycle)";
    return NULL;
  }
  switch (lua_type(L, idx)) {
  case LUA_TNIL:
    return json_null();
  case LUA_TBOOLEAN:
    return json_boolean(lua_toboolean(L, idx));
  case LUA_TLIGHTUSERDATA:
    if (lua_touserdata(L, idx) == NULL) return json_null();
    break;
  case LUA_TNUMBER: {
#if LUA_VERSION_NUM >= 503
    if (lua_isinteger(L, idx)) return json_integer((json_int_t)lua_tointeger(L, idx));
#endif
    lua_Number d = lua_tonumber(L, idx);
    if (isnan(d) || isinf(d)) {
      json_err = "NaN and infinities are not JSON";
      return NULL;
    }
    if (d == floor(d) && fabs(d) < 9007199254740992.0) return json_integer((json_int_t)d);
    return json_real(d);
  }
  case LUA_TSTRING: {
    size_t len;
    const char *s = lua_tolstring(L, idx, &len);
    json_t *j = json_stringn(s, len);
    if (!j) json_err = "strings must be valid UTF-8";
    return j;
  }
  case LUA_TTABLE: {
    size_t n;
    if (is_array(L, idx, &n)) {
      json_t *a = json_array();
      for (size_t i = 1; a && i <= n; i++) {
        lua_rawgeti(L, idx, (int)i);
        json_t *e = from(L, -1, depth + 1);
        lua_pop(L, 1);
        if (!e || json_array_append_new(a, e) < 0) {
          json_decref(a);
          return NULL;
        }
      }
      return a;
    }
    json_t *o = json_object();
    lua_pushnil(L);
    while (o && lua_next(L, idx)) {
      if (lua_type(L, -2) != LUA_TSTRING && lua_type(L, -2) != LUA_TNUMBER) {
        json_err = "object keys must be strings";
        lua_pop(L, 2);
        json_decref(o);
        return NULL;
      }
      lua_pushvalue(L, -2); /* tostring on a copy, not on next()'s key */
      const char *k = lua_tostring(L, -1);
      json_t *e = from(L, -2, depth + 1);
      if (!e || json_object_set_new(o, k, e) < 0) {
        if (e) json_err = "object keys must be valid UTF-8";
        lua_pop(L, 3);
        json_decref(o);
        return NULL;
      }
      lua_pop(L, 2);
    }
    return o;
  }
  default:
    break;
  }
  json_err = "cannot encode this type";
  return NULL;
}

json_t *lwc_json_from(lua_State *L, int idx, int depth) {
  json_err = "out of memory";
  json_t *j = from(L, idx, depth);
  if (!j) luaL_error(L, "wskit: cannot encode %s as JSON: %s", luaL_typename(L, idx), json_err);
  return j;
}

char *lwc_json_text(lua_State *L, int idx, size_t *len) {
  json_t *j = lwc_json_from(L, idx, 0);
  char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
  json_decref(j);
  if (!s) luaL_error(L, "wskit: out of memory");
  *len = strlen(s);
  return s;
}

/* ---- requests ---- */

typedef struct lwc_req {
  lwc_ctx_t *ctx;
  int fn_ref;
} lwc_req_t;

/* Runs protected: (fn, reply lightuserdata) -> fn(result) or fn(nil, err, errobj) */
static int deliver(lua_State *L) {
  const wsk_uv_reply_t *r = lua_touserdata(L, 2);
  lua_settop(L, 1);
  if (r->err) {
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", wsk_err_name(r->err),
                    r->err == WSK_ETIMEDOUT   ? "no reply in time"
                    : r->err == WSK_ECANCELED ? "the connection closed before the reply"
                                              : wsk_strerror(r->err));
    lua_call(L, 2, 0);
  } else if (r->is_error) {
    lua_pushnil(L);
    lua_pushfstring(L, "ERPC: %s (%d)", r->message ? r->message : "", (int)r->code);
    lua_createtable(L, 0, 3);
    lua_pushnumber(L, (lua_Number)r->code);
    lua_setfield(L, -2, "code");
    lua_pushstring(L, r->message ? r->message : "");
    lua_setfield(L, -2, "message");
    if (r->data) {
      lwc_json_push(L, r->data, 0);
      lua_setfield(L, -2, "data");
    }
    lua_call(L, 3, 0);
  } else {
    if (r->result)
      lwc_json_push(L, r->result, 0);
    else
      lua_pushlightuserdata(L, NULL);
    lua_call(L, 1, 0);
  }
  return 0;
}

static void reply_cb(wsk_uv_conn_t *c, void *ud, const wsk_uv_reply_t *r) {
  lwc_req_t *q = ud;
  lwc_ctx_t *ctx = q->ctx;
  int ref = q->fn_ref;
  free(q);
  if (ctx->closing) return;
  lua_State *L = ctx->L;
  lua_checkstack(L, 6);
  lua_pushcfunction(L, deliver);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
  luaL_unref(L, LUA_REGISTRYINDEX, ref);
  lua_pushlightuserdata(L, (void *)r);
  if (!lwc_pcall(ctx, 2, wsk_uv_conn_data(c))) {
    lwc_conn_t *u = wsk_uv_conn_data(c);
    if (u && u->c) wsk_uv_conn_close(u->c, WSK_CLOSE_INTERNAL_ERROR, "internal error");
  }
}

/* :request(method, params, timeout_s, fn) -> id | nil, err. params: a
 * table (encoded), a string (JSON text, sent as is) or nil. fn(result) on
 * a reply, fn(nil, err[, errobj]) otherwise; it runs exactly once, later. */
int lwc_request(lua_State *L, wsk_uv_conn_t *c, wsk_uv_client_t *cl) {
  lwc_ctx_t *ctx = lwc_ctx(L);
  const char *method = luaL_checkstring(L, 2);
  lua_Number timeout = luaL_optnumber(L, 4, 0);
  luaL_checktype(L, 5, LUA_TFUNCTION);
  char *params = NULL;
  size_t plen = 0;
  if (lua_type(L, 3) == LUA_TSTRING) {
    params = (char *)lua_tolstring(L, 3, &plen);
  } else if (!lua_isnoneornil(L, 3)) {
    if (!lua_istable(L, 3)) return luaL_argerror(L, 3, "params must be a table or JSON text");
    params = lwc_json_text(L, 3, &plen);
  }
  lwc_req_t *q = malloc(sizeof *q);
  if (!q) {
    if (params && lua_type(L, 3) != LUA_TSTRING) free(params);
    return lwc_fail(L, WSK_ENOMEM, NULL);
  }
  q->ctx = ctx;
  lua_pushvalue(L, 5);
  q->fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  uint32_t ms = timeout > 0 ? (uint32_t)(timeout * 1000.0 + 0.5) : 0;
  if (timeout > 0 && ms == 0) ms = 1;
  uint64_t id = 0;
  int e = WSK_ECLOSED;
  uv_update_time(ctx->loop); /* the deadline counts from now, not from the iteration's start */
  if (cl)
    e = wsk_uv_client_request(cl, method, params, plen, ms, reply_cb, q, &id);
  else if (c)
    e = wsk_uv_request(c, method, params, plen, ms, reply_cb, q, &id);
  if (params && lua_type(L, 3) != LUA_TSTRING) free(params);
  if (e < 0) { /* the callback will not run */
    luaL_unref(L, LUA_REGISTRYINDEX, q->fn_ref);
    free(q);
    return lwc_fail(L, e, e == WSK_ECLOSED ? "the connection is not open" : NULL);
  }
  lua_pushnumber(L, (lua_Number)id);
  return 1;
}

/* ---- answering calls ---- */

void lwc_push_rpc_call(lua_State *L, const wsk_uv_rpc_call_t *call) {
  lua_pushstring(L, call->method);
  if (call->params)
    lwc_json_push(L, call->params, 0);
  else
    lua_pushnil(L);
  if (call->id)
    lwc_json_push(L, call->id, 0);
  else
    lua_pushnil(L);
}

/* the id of a call, back to jansson (a number or a string; nil/null is null) */
static json_t *id_from(lua_State *L, int idx) {
  int t = lua_type(L, idx);
  if (t != LUA_TNUMBER && t != LUA_TSTRING && t != LUA_TNIL && t != LUA_TLIGHTUSERDATA)
    luaL_argerror(L, idx, "a request id is a number or a string");
  return lwc_json_from(L, idx, 0);
}

/* ws:rpc_result(id, value) -> true | nil, err */
int lwc_rpc_result(lua_State *L) {
  wsk_uv_conn_t *c = lwc_conn_live(L, 1);
  json_t *id = id_from(L, 2);
  size_t len;
  char *text = NULL;
  if (!lua_isnoneornil(L, 3)) {
    json_t *j = from(L, 3, 0);
    if (!j) {
      json_decref(id);
      return luaL_error(L, "wskit: cannot encode the result as JSON: %s", json_err);
    }
    text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(j);
  }
  len = text ? strlen(text) : 0;
  int e = c ? wsk_uv_rpc_result(c, id, text, len) : WSK_ECLOSED;
  free(text);
  json_decref(id);
  if (e < 0) return lwc_fail(L, e, NULL);
  lua_pushboolean(L, 1);
  return 1;
}

/* ws:rpc_error(id, code, message) -> true | nil, err */
int lwc_rpc_error(lua_State *L) {
  wsk_uv_conn_t *c = lwc_conn_live(L, 1);
  lua_Number code = luaL_checknumber(L, 3);
  const char *msg = luaL_optstring(L, 4, NULL);
  json_t *id = id_from(L, 2);
  int e = c ? wsk_uv_rpc_error(c, id, (int64_t)code, msg) : WSK_ECLOSED;
  json_decref(id);
  if (e < 0) return lwc_fail(L, e, NULL);
  lua_pushboolean(L, 1);
  return 1;
}

/* json_encode(value) -> text (raises when it cannot be encoded) */
int lwc_json_encode(lua_State *L) {
  luaL_checkany(L, 1);
  size_t len;
  char *s = lwc_json_text(L, 1, &len);
  lua_pushlstring(L, s, len);
  free(s);
  return 1;
}

/* json_decode(text) -> value | nil, err */
int lwc_json_decode(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  json_error_t je;
  json_t *j = json_loadb(s, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
  if (!j) return lwc_fail(L, WSK_EINVAL, lua_pushfstring(L, "bad JSON: %s", je.text));
  lwc_json_push(L, j, 0);
  json_decref(j);
  return 1;
}
