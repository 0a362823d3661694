-- wskit.conn: the Lua half of the connection object. The object is the C
-- userdata of wskit.core (one per connection); this file adds the methods
-- that may wait (send over the write limit, receive, request, ping,
-- wait_closed) and the event handlers servers and clients share.
--
-- Per-connection Lua state lives in ws:_state() (the userdata's own
-- table): inbox, waiters, close error. Nothing else keeps a reference to
-- a connection once it closed, so a closed connection Lua dropped is
-- collected.
local core = require "wskit.core"
local sched = require "wskit.sched"

local pairs, ipairs = pairs, ipairs
local format = string.format

local methods = core.conn_methods
local M = { methods = methods }

local function state(ws)
    return ws:_state()
end
M.state = state

-- ws.user (set by auth hooks, or by the application; __newindex is C's)
-- next to the methods. A Lua function, not a C one: LuaJIT compiles it.
core.conn_mt.__index = function(ws, k)
    local m = methods[k]
    if m ~= nil or k ~= "user" then
        return m
    end
    return ws:_state().user
end

-- The error receive() and friends return once the connection ended.
function M.close_error(info)
    if info.proxy_status then
        return format("EHANDSHAKE: the proxy answered %d", info.proxy_status)
    end
    if info.http_status and info.http_status ~= 101 then
        return format("EHANDSHAKE: the server answered %d", info.http_status)
    end
    if info.err then
        return info.err .. ": " .. (info.error or "the connection failed")
    end
    if info.error and info.sent_code and info.sent_code ~= 0 then -- we failed it
        return format("ECLOSED: connection failed with %d: %s", info.sent_code, info.error)
    end
    local reason = info.reason ~= "" and (" " .. info.reason) or ""
    return format("ECLOSED: connection closed (%d%s)", info.code, reason)
end

-- ---- waiting for the write queue ----

local function wait_drain(ws)
    if not sched.current() then
        return true -- callbacks cannot wait: watch on_drain instead
    end
    local st = state(ws)
    while ws:over_limit() do
        local w = sched.waiter()
        local d = st.drainers
        if not d then
            d = {}
            st.drainers = d
        end
        d[w] = true
        -- inside a callback the frames are not written yet: look again
        -- once they were (on_drain only follows a real backlog)
        local check = core.timer(0, function()
            if not ws:over_limit() then
                sched.wake(w, true)
            end
        end)
        local ok, err = sched.wait(w)
        check:stop()
        d[w] = nil
        if not ok then
            return nil, err
        end
    end
    if st.closed_err and ws:state() == "closed" then
        return nil, st.closed_err
    end
    return true
end
M.wait_drain = wait_drain

-- send(data[, kind]) -> true | nil, err. kind "text" (default) or
-- "binary". Inside wskit.spawn it waits while the connection's write
-- queue is over write_limit; elsewhere it queues and returns.
function methods:send(data, kind)
    local ok, err = self:_send(data, kind)
    if ok == false then
        return wait_drain(self)
    end
    return ok, err
end

-- receive([timeout_s]) -> msg, kind | nil, err (timeout, or closed once
-- the queued messages were read)
function methods:receive(timeout)
    local st = state(self)
    local inbox = st.inbox
    if not inbox then
        if st.closed_err then
            return nil, st.closed_err
        end
        error("ws:receive: this connection's messages go to its on_message callback", 2)
    end
    return inbox:receive(timeout)
end

-- for msg, kind in ws:messages() do ... end (ends when the connection does)
function methods:messages(timeout)
    return function()
        return self:receive(timeout)
    end
end

-- request(method, params[, timeout_s[, callback]]) -> result | nil, err[, errobj]
-- JSON-RPC 2.0 through the driver. With a callback it returns the id at
-- once and calls callback(result) or callback(nil, err, errobj) later.
function methods:request(method, params, timeout, callback)
    if callback then
        return self:_request(method, params, timeout, callback)
    end
    local w = sched.waiter("ws:request")
    local id, err = self:_request(method, params, timeout, function(res, e, obj)
        sched.wake(w, res, e, obj)
    end)
    if not id then
        return nil, err
    end
    return sched.wait(w)
end

-- notify(method, params): a JSON-RPC notification (no reply)
function methods:notify(method, params)
    if type(method) ~= "string" then
        error("ws:notify: method must be a string", 2)
    end
    return self:send(core.json_encode({ jsonrpc = "2.0", method = method, params = params }))
end

-- ping([data]) -> latency_s inside wskit.spawn (after the pong), else the
-- ping id; nil, err when the connection ends first.
function methods:ping(data)
    local id, err = self:_ping(data)
    if not id then
        return nil, err
    end
    if not sched.current() then
        return id
    end
    local st = state(self)
    local w = sched.waiter()
    local p = st.pings
    if not p then
        p = {}
        st.pings = p
    end
    p[w] = id
    w.sent = core.now()
    return sched.wait(w)
end

-- wait_closed([timeout_s]) -> close_info() once the connection ended
function methods:wait_closed(timeout)
    local info = self:close_info()
    if info then
        return info
    end
    local st = state(self)
    local w = sched.waiter("ws:wait_closed")
    local c = st.closers
    if not c then
        c = {}
        st.closers = c
    end
    c[w] = true
    local r, err = sched.wait(w, timeout)
    c[w] = nil
    return r, err
end

function methods:is_open()
    return self:state() == "open"
end

-- ---- events (called by server.lua and client.lua) ----

-- The waiters of a set, copied: a woken coroutine may add to the set.
local function snapshot(set)
    local list = {}
    for w in pairs(set) do
        list[#list + 1] = w
    end
    return list
end

function M.on_drain(ws)
    local d = state(ws).drainers
    if d then
        for _, w in ipairs(snapshot(d)) do
            sched.wake(w, true)
        end
    end
end

function M.on_pong(ws, _, id, latency)
    local p = state(ws).pings
    if not p then
        return
    end
    for _, w in ipairs(snapshot(p)) do
        local pid = p[w]
        if pid <= id then -- a pong acknowledges its ping and every earlier one
            p[w] = nil
            if pid ~= id or latency < 0 then
                latency = (core.now() - w.sent) / 1000
            end
            sched.wake(w, latency)
        end
    end
end

-- Call a user callback whose failure must not stop what follows (on_close:
-- the wake-ups after it). Its error is reported.
function M.call_user(fn, ws, a, b)
    local ok, err = xpcall(function() return fn(ws, a, b) end, debug.traceback) -- 5.1: no extra args
    if not ok then
        sched.report(err, ws)
    end
end

-- The connection ended: wake everything waiting on it.
function M.on_close(ws, info)
    local st = state(ws)
    local err = M.close_error(info)
    st.closed_err = err
    local inbox = st.inbox
    if inbox then
        if st.own_inbox then
            inbox:close(err)
        else
            inbox:forget(ws)
        end
    end
    for _, field in pairs({ "drainers", "pings", "closers" }) do
        local set = st[field]
        if set then
            st[field] = nil
            for w in pairs(set) do
                if field == "closers" then
                    sched.wake(w, info)
                else
                    sched.wake(w, nil, err)
                end
            end
        end
    end
end

-- Run handler(ws, ...) in a coroutine for the connection: when it returns
-- the connection closes with 1000; when it raises, with 1011 (reported).
function M.run_handler(ws, handler, ...)
    return sched.spawn_with(function(ok, _, tb)
        if not ok then
            sched.report(tb, ws)
            ws:close(1011, "internal error")
        elseif ws:state() ~= "closed" then
            ws:close(1000)
        end
    end, handler, ws, ...)
end

return M
