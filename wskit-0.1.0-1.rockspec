package = "wskit"
version = "0.1.0-1"
source = {
   url = "git+https://github.com/wskit/wskit.git",
   tag = "v0.1.0",
}
description = {
   summary = "WebSocket (RFC 6455, RFC 7692) servers and clients on libuv and OpenResty",
   detailed = [[
wskit is a WebSocket library with one sans-I/O C core. For plain Lua 5.1,
LuaJIT 2.1 and Lua 5.4, require "wskit" runs servers and clients on
libuv (the C module wskit.core) with coroutines: ws:receive(),
ws:send(), wskit.connect{...}, reconnecting clients, broadcast, channels,
JSON-RPC requests both ways. For OpenResty, resty.wskit.client and
resty.wskit.server run the same core (wskit.proto) over cosockets.
]],
   homepage = "https://github.com/wskit/wskit",
   license = "MIT",
}
dependencies = {
   "lua >= 5.1, < 5.5",
}
external_dependencies = {
   LIBUV = { header = "uv.h", library = "uv" },
   OPENSSL = { header = "openssl/ssl.h", library = "ssl" },
   JANSSON = { header = "jansson.h", library = "jansson" },
   ZLIB = { header = "zlib.h", library = "z" },
   HIREDIS = { header = "hiredis/hiredis.h", library = "hiredis" }, -- the Redis backplane
}
build = {
   type = "make",
   makefile = "lua/rock.mk",
   build_target = "build",
   build_variables = {
      CFLAGS = "$(CFLAGS)",
      LIBFLAG = "$(LIBFLAG)",
      LUA_INCDIR = "$(LUA_INCDIR)",
      LIBUV_INCDIR = "$(LIBUV_INCDIR)",
      LIBUV_LIBDIR = "$(LIBUV_LIBDIR)",
      OPENSSL_INCDIR = "$(OPENSSL_INCDIR)",
      OPENSSL_LIBDIR = "$(OPENSSL_LIBDIR)",
      JANSSON_INCDIR = "$(JANSSON_INCDIR)",
      JANSSON_LIBDIR = "$(JANSSON_LIBDIR)",
      ZLIB_INCDIR = "$(ZLIB_INCDIR)",
      ZLIB_LIBDIR = "$(ZLIB_LIBDIR)",
      HIREDIS_INCDIR = "$(HIREDIS_INCDIR)",
      HIREDIS_LIBDIR = "$(HIREDIS_LIBDIR)",
   },
   install_target = "install",
   install_variables = {
      INST_LIBDIR = "$(LIBDIR)",
      INST_LUADIR = "$(LUADIR)",
   },
}
