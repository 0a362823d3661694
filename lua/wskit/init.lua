-- wskit for plain Lua 5.1, LuaJIT 2.1 and Lua 5.4, on libuv.
--
--   local wskit = require "wskit"
--   wskit.serve{ port = 8080, handler = function(ws)
--     for msg, kind in ws:messages() do ws:send(msg, kind) end
--   end }
--   wskit.run()
--
-- Guide: docs/lua.md. The C module wskit.core drives csrc/uv; this file
-- gathers the Lua API: spawn, sleep, run, serve, connect, client.
local core = require "wskit.core"
local sched = require "wskit.sched"
require "wskit.conn" -- the connection methods written in Lua
local server = require "wskit.server"
local client = require "wskit.client"

local wskit = {
    _VERSION = core.version,
    -- JSON null in requests and replies (the same value as cjson.null)
    null = core.null,
}

-- ---- errors ----

-- wskit.on_error(err, ws): where errors raised in callbacks, handlers and
-- RPC methods are reported (ws: the connection, when there is one). The
-- connection concerned was closed with 1011; the loop goes on. Replace it
-- to log elsewhere.
function wskit.on_error(err, ws)
    io.stderr:write("wskit: ", tostring(err), ws and (" (" .. tostring(ws) .. ")") or "", "\n")
end

sched.on_error = function(err, ws)
    local hook = wskit.on_error
    if hook then
        return hook(err, ws)
    end
    io.stderr:write("wskit: ", tostring(err), "\n")
end
core.on_error(function(err, ws)
    sched.report(err, ws)
end)

-- ---- coroutines and the loop ----

wskit.spawn = sched.spawn
wskit.sleep = sched.sleep

local luv -- luv's module table when wskit runs on luv's loop

-- run([fn, ...]): spawn fn(...) if given, then run the loop until nothing
-- is left (no server, client, timer or luv handle).
function wskit.run(fn, ...)
    if fn then
        sched.spawn(fn, ...)
    end
    if luv then
        return luv.run()
    end
    return core.run("default")
end

-- stop(): make run() return after the current callbacks
function wskit.stop()
    if luv then
        return luv.stop()
    end
    return core.stop()
end

-- on_signal(name, fn) -> handle: fn(name) each time the process gets the
-- signal ("SIGINT", "SIGTERM", "SIGHUP", "SIGUSR1", "SIGUSR2") until
-- handle:stop(). It does not keep run() going by itself.
function wskit.on_signal(name, fn)
    return core.signal(name, fn)
end

-- now() -> the loop's clock in seconds (cached per loop iteration)
function wskit.now()
    return core.now() / 1000
end

local function searchpath(name, path)
    if package.searchpath then
        return package.searchpath(name, path)
    end
    name = name:gsub("%.", "/")
    for template in path:gmatch("[^;]+") do
        local file = template:gsub("%?", name)
        local f = io.open(file)
        if f then
            f:close()
            return file
        end
    end
end

-- use_luv([uv]): run on luv's loop (luv handles and wskit objects then
-- share one loop; wskit.run() calls uv.run()). Done automatically when
-- luv was required before wskit; otherwise call it before creating any
-- server, client or timer.
function wskit.use_luv(uv)
    uv = uv or package.loaded.luv or require("luv")
    local ok, err = core.use_luv(searchpath("luv", package.cpath))
    if not ok then
        return nil, err
    end
    luv = uv
    return true
end

if package.loaded.luv then
    wskit.use_luv(package.loaded.luv)
end

-- ---- servers and clients ----

wskit.serve = server.serve
wskit.auth = require "wskit.auth" -- credentials in handshake requests
wskit.connect = client.connect
function wskit.client(opts)
    return client.client(opts, 2)
end

-- ---- JSON helpers (the driver's jansson) ----

wskit.json_encode = core.json_encode
wskit.json_decode = core.json_decode

local array_mt = { __jsontype = "array" }
-- array(t) -> t, encoded as a JSON array even when empty
function wskit.array(t)
    return setmetatable(t or {}, array_mt)
end

return wskit
