/* wskit.core: the libuv driver (csrc/uv) as a Lua C module for Lua 5.1,
 * LuaJIT 2.1 and Lua 5.4. The Lua API on top of it is lua/wskit/init.lua
 * and the Lua files next to it; the guide is docs/lua.md.
 *
 * Files:
 *   core_module.c  luaopen_wskit_core, the per-state context (loop,
 *                  callback thread, error hook), running the loop
 *   core_timer.c   one-shot timers (sleep, timeouts) and signal watchers
 *   core_opts.c    Lua option tables -> wsk_uv_server_opts_t / _client_opts_t
 *   core_conn.c    the connection object and its methods
 *   core_events.c  the driver's callbacks, forwarded to Lua
 *   core_server.c  the server object
 *   core_client.c  the client object
 *   core_json.c    Lua values <-> jansson, requests and JSON-RPC answers
 *   core_chan.c    channels (publish, client subscribe), auth and limit hooks
 *
 * Lifetimes (as luv's): every C object is a userdata. While the C side is
 * alive (a connection until its on_close, a server until it is closed, a
 * client until its last attempt ended, a timer until it fired or stopped,
 * a signal watcher until stopped)
 * it holds a registry reference to its own userdata and to its Lua
 * callbacks, so collectgarbage() never closes it. __gc frees what is
 * still alive, which only happens when the Lua state itself closes.
 *
 * Callbacks run on one dedicated Lua thread of the context (never on a
 * coroutine that might be suspended), through lua_pcall with a traceback
 * handler. An error in a connection's callback closes it with 1011 and is
 * reported (wskit.core.on_error hook, else stderr); the loop goes on.
 *
 * Errors: bad arguments raise; runtime failures return nil, "ENAME: text". */
#ifndef WSKIT_CORE_LUA_H
#define WSKIT_CORE_LUA_H

#include <lua.h>
#include <lauxlib.h>

#include "wskit/uv.h"

#if defined(__GNUC__)
#define LWC_HIDDEN __attribute__((visibility("hidden")))
#else
#define LWC_HIDDEN
#endif

/* ---- 5.1 / LuaJIT / 5.4 differences ---- */
#if LUA_VERSION_NUM >= 502
#define lwc_setfuncs(L, l) luaL_setfuncs(L, l, 0)
#define lwc_rawlen(L, i) lua_rawlen(L, i)
#else
#define lwc_setfuncs(L, l) luaL_register(L, NULL, l)
#define lwc_rawlen(L, i) lua_objlen(L, i)
#endif
#if LUA_VERSION_NUM >= 504
#define lwc_newudata(L, n) lua_newuserdatauv(L, n, 1)
#else
#define lwc_newudata(L, n) lua_newuserdata(L, n)
#endif

#define LWC_CONN_MT "wskit.core.conn"
#define LWC_SERVER_MT "wskit.core.server"
#define LWC_CLIENT_MT "wskit.core.client"
#define LWC_TIMER_MT "wskit.core.timer"

/* One per Lua state (all its servers, clients and timers share it). */
typedef struct lwc_ctx {
  lua_State *L;       /* the callback thread */
  int thread_ref;     /* keeps it alive */
  uv_loop_t *loop;    /* the default loop, or luv's */
  int on_error_ref;   /* Lua function(err, conn) or LUA_NOREF */
  unsigned nobjects;  /* servers, clients and timers ever made: the loop is fixed after the first */
  int closing;        /* the Lua state is closing: never call Lua again */
  int owns_loop;      /* we may run the loop to let handles close on exit */
} lwc_ctx_t;

/* Events a server or client forwards to Lua (index into its refs). */
enum {
  LWC_ON_REQUEST, LWC_ON_HTTP, LWC_ON_CONNECTING, LWC_ON_OPEN, LWC_ON_MESSAGE,
  LWC_ON_PING, LWC_ON_PONG, LWC_ON_DRAIN, LWC_ON_RPC, LWC_ON_CLOSE, LWC_ON_SHUTDOWN,
  /* channels and auth (core_chan.c) */
  LWC_ON_AUTHORIZE, LWC_ON_FIRST_MESSAGE_AUTH, LWC_ON_CHANNEL_MESSAGE, LWC_ON_GAP,
  LWC_ON_CHANNEL_REPLY, LWC_ON_LOG,
  LWC_NCB
};
LWC_HIDDEN extern const char *const lwc_cb_names[LWC_NCB];

/* Strings and arrays the option structs point to, owned by their object. */
typedef struct lwc_arena {
  void **blocks;
  size_t n, cap;
} lwc_arena_t;

/* The part servers and clients share: what connection callbacks need. */
typedef struct lwc_owner {
  lwc_ctx_t *ctx;
  int is_client;
  int self_ref;               /* the userdata, while alive */
  int refs[LWC_NCB];          /* Lua callbacks, LUA_NOREF when not set */
  wsk_uv_callbacks_t cbs;     /* only the hooks Lua asked for are set */
  lwc_arena_t arena;
  wsk_http_header_t *accept_headers; /* server: extra 101 headers */
  size_t naccept_headers;
  /* client: after each connection's on_close (the end when !will_retry) */
  void (*after_close)(struct lwc_owner *o, const wsk_uv_close_info_t *info);
} lwc_owner_t;

/* The server and client userdata (core_server.c, core_client.c). */
typedef struct lwc_server {
  lwc_owner_t o;             /* first: wsk_uv_server_data points here */
  wsk_uv_server_t *s;        /* NULL once closed */
} lwc_server_t;

typedef struct lwc_client {
  lwc_owner_t o;          /* first: wsk_uv_client_data points here */
  wsk_uv_client_t *cl;    /* NULL once ended */
} lwc_client_t;

/* The connection userdata. */
typedef struct lwc_conn {
  wsk_uv_conn_t *c;   /* NULL once on_close ran */
  lwc_owner_t *owner; /* NULL once on_close ran */
  lwc_ctx_t *ctx;
  int self_ref;       /* while c is alive */
  int closed;         /* on_close ran */
  int opened;
  /* the end, kept for close_info() */
  unsigned code, sent_code;
  int clean, err, http_status, proxy_status;
  char *reason, *error;
} lwc_conn_t;

/* ---- core_module.c ---- */
/* The context of this Lua state (the module's upvalue / registry entry). */
LWC_HIDDEN lwc_ctx_t *lwc_ctx(lua_State *L);
/* Push nil, "ENAME: text" (text: wsk_strerror or `detail` when given); returns 2. */
LWC_HIDDEN int lwc_fail(lua_State *L, int err, const char *detail);
/* Make a metatable `name` (methods in __index) with __gc. */
LWC_HIDDEN void lwc_newclass(lua_State *L, const char *name, const luaL_Reg *methods,
                             lua_CFunction gc);
/* Call the function below `nargs` arguments on ctx->L (the callback
 * thread) in protected mode. On error: report it (with `conn` for the
 * hook) and return 0; else 1. The stack of ctx->L is left as it was. */
LWC_HIDDEN int lwc_pcall(lwc_ctx_t *ctx, int nargs, lwc_conn_t *conn);
/* The index of a message handler (traceback) for a call of the function
 * below `nargs` arguments on the callback thread: 1, where the thread
 * keeps one, when no C function called from Lua is running on it; inside
 * one (a method that re-entered the driver: index 1 is its argument) a
 * handler is inserted below the function; lua_remove it after the call
 * when the index is not 1. */
LWC_HIDDEN int lwc_msgh(lua_State *L, int nargs);
/* Report an error message (at the top of ctx->L, popped) through the hook or stderr. */
LWC_HIDDEN void lwc_report(lwc_ctx_t *ctx, lwc_conn_t *conn);
/* Push the Lua callback `ev` of an owner; 0 (nothing pushed) when unset
 * or when the state is closing. */
LWC_HIDDEN int lwc_push_cb(lwc_owner_t *o, int ev);
/* Read callbacks from the table at idx into o->refs. */
LWC_HIDDEN void lwc_read_callbacks(lua_State *L, int idx, lwc_owner_t *o);
LWC_HIDDEN void lwc_owner_unref(lwc_owner_t *o);
/* The same on the next loop iteration (core_server.c): connections whose
 * on_close the driver deferred still reach their Lua callbacks. */
LWC_HIDDEN void lwc_owner_release_later(lwc_owner_t *o);
/* luaL_testudata for 5.1 too */
LWC_HIDDEN void *lwc_testudata(lua_State *L, int idx, const char *mt);
LWC_HIDDEN void lwc_timer_register(lua_State *L);

/* ---- core_opts.c ---- */
LWC_HIDDEN void *lwc_arena_alloc(lua_State *L, lwc_arena_t *a, size_t n);
LWC_HIDDEN const char *lwc_arena_str(lua_State *L, lwc_arena_t *a, int idx);
LWC_HIDDEN void lwc_arena_free(lwc_arena_t *a);
/* A headers value at idx (map name -> value, or list of "Name: value";
 * nil: none) copied into the arena. Raises when malformed. */
LWC_HIDDEN void lwc_headers_read(lua_State *L, int idx, lwc_arena_t *a, wsk_http_header_t **out,
                                 size_t *n);
LWC_HIDDEN void lwc_server_opts_read(lua_State *L, int idx, wsk_uv_server_opts_t *o,
                                     lwc_arena_t *a);
LWC_HIDDEN void lwc_client_opts_read(lua_State *L, int idx, wsk_uv_client_opts_t *o,
                                     lwc_arena_t *a);

/* ---- core_events.c ---- */
/* The server or client a driver connection belongs to. */
LWC_HIDDEN lwc_owner_t *lwc_owner_of(wsk_uv_conn_t *c);
/* The driver callbacks that forward to Lua, for an owner's cbs table. */
LWC_HIDDEN void lwc_conn_set_callbacks(lwc_owner_t *o);
/* A close info table for a closed connection (i: the driver's, for the
 * reconnect fields; may be NULL). */
LWC_HIDDEN void lwc_push_close_info(lua_State *L, const lwc_conn_t *u,
                                    const wsk_uv_close_info_t *i);

/* ---- core_conn.c ---- */
/* Push the userdata of a driver connection, creating it on first use. */
LWC_HIDDEN lwc_conn_t *lwc_conn_push(lwc_owner_t *o, lua_State *L, wsk_uv_conn_t *c);
LWC_HIDDEN lwc_conn_t *lwc_conn_check(lua_State *L, int idx);
/* The open (or connecting) driver connection at idx, or raise. */
LWC_HIDDEN wsk_uv_conn_t *lwc_conn_live(lua_State *L, int idx);
LWC_HIDDEN wsk_opcode_t lwc_opcode(lua_State *L, int idx);
LWC_HIDDEN void lwc_conn_register(lua_State *L);
LWC_HIDDEN void lwc_server_register(lua_State *L);
LWC_HIDDEN void lwc_client_register(lua_State *L);

/* ---- core_json.c ---- */
/* Push a jansson value as Lua (null -> lightuserdata NULL, as cjson.null). */
LWC_HIDDEN void lwc_json_push(lua_State *L, const json_t *v, int depth);
/* The Lua value at idx as jansson (a new reference); raises when it
 * cannot be encoded (functions, NaN, cycles, invalid UTF-8). */
LWC_HIDDEN json_t *lwc_json_from(lua_State *L, int idx, int depth);
/* Encode the value at idx to JSON text (malloc'd, free() it); raises when
 * it cannot be encoded. */
LWC_HIDDEN char *lwc_json_text(lua_State *L, int idx, size_t *len);
/* :request(method, params, timeout_s, fn) on a connection (c) or on a
 * client's current connection (cl); fn is referenced until it ran. */
LWC_HIDDEN int lwc_request(lua_State *L, wsk_uv_conn_t *c, wsk_uv_client_t *cl);
/* ws:rpc_result(id, value), ws:rpc_error(id, code[, message]) */
LWC_HIDDEN int lwc_rpc_result(lua_State *L);
LWC_HIDDEN int lwc_rpc_error(lua_State *L);
/* core.json_encode(value), core.json_decode(text) */
LWC_HIDDEN int lwc_json_encode(lua_State *L);
LWC_HIDDEN int lwc_json_decode(lua_State *L);
LWC_HIDDEN void lwc_push_rpc_call(lua_State *L, const wsk_uv_rpc_call_t *call);

/* ---- core_chan.c: channels, auth hooks, limits ---- */
/* Set the server-level hooks (authorize, first_message_auth, log) Lua asked for. */
LWC_HIDDEN void lwc_server_hooks(lwc_owner_t *o, wsk_uv_server_opts_t *so);
/* The channel callbacks of a client (on_channel_message, on_gap, on_channel_reply). */
LWC_HIDDEN void lwc_chan_set_callbacks(lwc_owner_t *o);
/* Methods added to the conn / server / client metatables' __index tables. */
LWC_HIDDEN void lwc_chan_register(lua_State *L);

#endif
