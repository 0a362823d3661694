-- wskit.server: wskit.serve{...} -> server.
--
-- Two styles, as in the other languages:
--   handler = function(ws) ... ws:receive() ... end   -- a coroutine per
--       connection; the connection closes with 1000 when it returns and
--       1011 when it raises
--   on_message = function(ws, msg, kind) ... end     -- a callback per
--       message, no coroutine (the fastest)
-- plus on_open(ws), on_close(ws, info), on_drain(ws), methods (JSON-RPC),
-- process_request(ws, req) (accept or refuse the upgrade), on_http(req, ws)
-- (plain HTTP requests), and broadcast, channels and graceful shutdown.
-- Channels: channels_path serves the JSON channel protocol, sse_path
-- Server-Sent Events, backplane = "redis://..." shares them between
-- instances; authorize, authenticate (handshake), first_message_auth and
-- the limits guard them.
local core = require "wskit.core"
local sched = require "wskit.sched"
local conn = require "wskit.conn"
local Inbox = require "wskit.inbox"
local rpc = require "wskit.rpc"
local check = require("wskit.opts").check

local type, setmetatable, pairs = type, setmetatable, pairs

local M = {}
local Server = {}
Server.__index = Server
M.Server = Server

-- process_request's answer: nil/true accepts (a string: with that
-- subprotocol); a number refuses with that status, body and headers.
local function answer_request(ws, ok, status, body, headers)
    if ws:state() ~= "connecting" then
        return
    end
    if not ok then
        ws:reject(500)
    elseif type(status) == "number" then
        ws:reject(status, body, headers)
    else
        ws:accept(type(status) == "string" and status or nil)
    end
end

-- The upgrade (or SSE) request: process_request first (it sees every
-- request and may refuse), then authenticate(ws, req) -> user data, kept
-- as ws.user; nil/false refuses with 401, or `nil, status[, body,
-- headers]` with that status. Returns process_request's kind of answer.
local function handshake(ws, req, process, auth)
    local sub
    if process then
        local a, b, c = process(ws, req)
        if type(a) == "number" or ws:state() ~= "connecting" then
            return a, b, c
        end
        sub = a
    end
    if auth then
        local user, status, body, headers = auth(ws, req)
        if ws:state() ~= "connecting" then -- the hook answered itself
            return
        end
        if user == nil or user == false then
            return type(status) == "number" and status or 401, body, headers
        end
        ws.user = user
    end
    return sub
end

-- First-message authentication: hook(ws, message, kind) -> user | nil,
-- reason, in a coroutine (it may wait). The core holds every later
-- message until the answer; `start` runs once it passed.
local function authenticator(hook, start)
    return function(ws, msg, kind)
        sched.spawn_with(function(ok, user, reason)
            if ws:state() == "closed" then
                return
            end
            if not ok then
                sched.report(reason, ws)
                user, reason = nil, "authentication failed"
            end
            local pass = user ~= nil and user ~= false
            if pass then
                ws.user = user
                if start then -- first: the held messages go to its inbox
                    start(ws)
                end
            end
            ws:_authenticate(pass, not pass and type(reason) == "string" and reason or nil)
        end, hook, ws, msg, kind)
        -- nothing returned: the driver waits for ws:_authenticate
    end
end

local function callbacks(self, o)
    local handler, user_open = o.handler, o.on_open
    local user_close, user_drain, user_pong = o.on_close, o.on_drain, o.on_pong
    local max_queue = o.max_queue
    local cbs = { on_ping = o.on_ping, on_authorize = o.authorize, on_log = o.log }
    -- an application connection starts: its inbox, on_open, the handler.
    -- Channel connections (channels_path) are the server's: no handler.
    local function start(ws)
        local app = handler and ws:kind() == "websocket"
        if app then
            local st = ws:_state()
            st.inbox = Inbox.new(max_queue)
            st.own_inbox = true
        end
        if user_open then
            user_open(ws)
        end
        if app then
            conn.run_handler(ws, handler)
        end
    end
    if o.first_message_auth then
        local first = (handler or user_open) and start
        cbs.on_first_message_auth = authenticator(o.first_message_auth, first)
        -- the handler starts once the first message passed
    elseif handler or user_open then
        cbs.on_open = start
    end
    if o.on_message then
        cbs.on_message = o.on_message -- called straight from C
    elseif handler then
        cbs.on_message = function(ws, msg, kind)
            ws:_state().inbox:push(ws, msg, kind)
        end
    end
    cbs.on_close = function(ws, info)
        if user_close then
            conn.call_user(user_close, ws, info)
        end
        conn.on_close(ws, info)
    end
    cbs.on_drain = function(ws)
        conn.on_drain(ws)
        if user_drain then
            user_drain(ws)
        end
    end
    cbs.on_pong = function(ws, data, id, latency)
        conn.on_pong(ws, data, id, latency)
        if user_pong then
            user_pong(ws, data, latency)
        end
    end
    if o.methods then
        cbs.on_rpc = rpc.dispatcher(o.methods)
    end
    if o.process_request or o.authenticate then
        local process, auth = o.process_request, o.authenticate
        cbs.on_request = function(ws, req)
            sched.spawn_with(function(ok, a, b, c)
                if not ok then
                    sched.report(b, ws)
                end
                answer_request(ws, ok, a, b, c)
            end, handshake, ws, req, process, auth)
        end
    end
    if o.on_http then
        local hook = o.on_http
        cbs.on_http = function(ws, req)
            sched.spawn_with(function(ok, status, body, headers)
                if ws:state() == "closed" then
                    return
                end
                if not ok then
                    sched.report(body, ws)
                    ws:http_respond(500, "Internal Server Error\n")
                elseif status == nil then
                    ws:http_respond(404, "Not Found\n")
                else
                    ws:http_respond(status, body, headers)
                end
            end, hook, req, ws)
        end
    end
    cbs.on_shutdown = function(_, aborted)
        self:_done(aborted)
    end
    return cbs
end

-- serve(opts) -> server | nil, err. Listens on opts.host (nil: every
-- address, IPv4 and IPv6) and opts.port (0 or nil: a free port, see
-- server:port()), or on the Unix socket opts.unix.
function M.serve(opts)
    local o = check("server", opts, 2)
    if o.handler and o.on_message then
        error("wskit.serve: give handler or on_message, not both", 2)
    end
    local self = setmetatable({ opts = o }, Server)
    local srv, err = core.server(o, callbacks(self, o))
    if not srv then
        return nil, err
    end
    self.core = srv
    local ok
    if o.unix then
        ok, err = srv:listen_unix(o.unix)
    else
        ok, err = srv:listen(o.host, o.port or 0)
    end
    if not ok then
        srv:close()
        return nil, err
    end
    return self
end

function Server:port()
    return self.core:port()
end

-- broadcast(data[, kind[, conns]]) -> sent, skipped, closed. Framed once
-- for all; connections over their write limit are skipped.
function Server:broadcast(data, kind, conns)
    return self.core:broadcast(data, kind, conns)
end

-- publish(channel, data[, kind]) -> seq | true | nil, err. data: a string
-- (kind "text" by default, or "binary"), or a table / number / boolean
-- (JSON; also kind "json" with a string of JSON text). It reaches the
-- connections that ws:subscribe()d (the bare payload), channel-protocol
-- and SSE subscribers (numbered, kept in the history), on every instance
-- sharing the backplane. Without a backplane it returns the message's
-- seq; with one, inside wskit.spawn it waits until Redis numbered it
-- (seq, or nil, "EIO: ..." when Redis is down), elsewhere returns true.
function Server:publish(channel, data, kind)
    if type(data) ~= "string" then
        data, kind = core.json_encode(data), "json"
    end
    local done, seq, err = false, nil, nil
    local w = self.opts.backplane and sched.current() and sched.waiter("server:publish")
    local ok, e = self.core:publish_message(channel, data, kind, function(s, e2)
        if w then
            sched.wake(w, s, e2)
        end
        done, seq, err = true, s, e2
    end)
    if not ok then
        return nil, e
    end
    if done then
        if not seq then
            return nil, err
        end
        return seq
    end
    if w then
        return sched.wait(w)
    end
    return true
end

-- ip_count(ip) -> open connections from that address (counted when
-- max_connections_per_ip is set)
function Server:ip_count(ip)
    return self.core:ip_count(ip)
end

-- backplane_up() -> true while connected to Redis (or without a backplane)
function Server:backplane_up()
    return self.core:backplane_up()
end

function Server:channel_count(channel)
    return self.core:channel_count(channel)
end

-- connections() -> list of the open connections
function Server:connections()
    return self.core:connections()
end

-- count() -> connections accepted and not closed (open or in the handshake)
function Server:count()
    return self.core:count()
end

function Server:_done(aborted)
    if self.ended then
        return
    end
    self.ended = true
    self.aborted = aborted or 0
    local waiters = self.waiters
    self.waiters = nil
    if waiters then
        for w in pairs(waiters) do
            sched.wake(w, self.aborted)
        end
    end
    if self.opts.on_shutdown then
        self.opts.on_shutdown(self, self.aborted)
    end
end

-- wait([timeout_s]) -> aborted count, once the server is closed
function Server:wait(timeout)
    if self.ended then
        return self.aborted
    end
    local w = sched.waiter("server:wait")
    self.waiters = self.waiters or {}
    self.waiters[w] = true
    local r, err = sched.wait(w, timeout)
    if self.waiters then
        self.waiters[w] = nil
    end
    return r, err
end

-- shutdown([code[, timeout_s]]) -> connections aborted at the deadline
-- (inside wskit.spawn, once every connection is gone), or true. Stops
-- accepting and closes every connection with code (1001 default).
function Server:shutdown(code, timeout)
    if self.ended then
        return self.aborted
    end
    local ok, err = self.core:shutdown(code, timeout)
    if not ok then
        return nil, err
    end
    if self.ended or not sched.current() then
        return self.ended and self.aborted or true
    end
    return self:wait()
end

-- close(): stop now; open connections are aborted (their on_close runs)
function Server:close()
    if not self.core:closed() then
        self.core:close()
    end
    self:_done(0)
end

function Server:closed()
    return self.ended == true
end

return M
