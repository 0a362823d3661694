-- resty.wskit.conn: what server and client objects share. The protocol
-- is the core's (wskit.proto); this file only moves bytes between an ngx
-- cosocket and the core, keeps the core's clock and timers, and turns
-- core events into lua-resty-websocket's return conventions:
--   data, typ, err        (recv_frame / recv_message)
--   bytes | nil, err      (send_*)
-- Failures set self.fatal (timeouts do not), as lua-resty-websocket does.

local proto = require "wskit.proto"

local ngx = ngx
local ngx_now = ngx.now
local floor = math.floor
local setmetatable = setmetatable
local type = type
local tostring = tostring
local tonumber = tonumber
local byte = string.byte
local sub = string.sub
local concat = table.concat

local RECV_SIZE = 65536 -- receiveany's limit per read
local wait_for_reader, send_data

local _M = { _VERSION = proto.version, proto = proto }
local mt = { __index = _M }
_M.mt = mt

local function now_ms()
    return floor(ngx_now() * 1000)
end
_M.now_ms = now_ms

-- The core's options from the user's (lua-resty-websocket names first):
-- max_payload_len (the whole message, default 1 MiB), max_frame_size,
-- max_fragments, write_limit, open_timeout, ping_interval, ping_timeout,
-- close_timeout (ms, 0 disables), auto_pong, stream_fragments,
-- compression (true/false/table), protocols, origins and hosts (server),
-- max_head, max_line, max_headers, auth_timeout (ms), message_rate,
-- message_burst, rate_policy ("error", "drop", "close").
local COPIED = {
    "max_frame_size", "max_fragments", "write_limit", "open_timeout",
    "ping_interval", "ping_timeout", "close_timeout", "auto_pong",
    "stream_fragments", "compression", "protocols", "origins", "hosts",
    "max_head", "max_line", "max_headers", "auth_timeout",
    "message_rate", "message_burst", "rate_policy",
}

local DEFAULT_AUTH_TIMEOUT = 10000 -- ms
_M.DEFAULT_AUTH_TIMEOUT = DEFAULT_AUTH_TIMEOUT

function _M.core_opts(role, opts)
    local o = { role = role }
    if opts then
        for i = 1, #COPIED do
            local k = COPIED[i]
            o[k] = opts[k]
        end
        o.max_message_size = opts.max_payload_len or opts.max_message_size
        -- a first-message hook is always bounded in time (plain Lua's 10 s):
        -- without auth_timeout the core would count the connection as
        -- authenticated from the start and the hook would never run
        if (opts.first_message_auth or opts.auth_message)
            and (tonumber(opts.auth_timeout) or 0) <= 0 then
            o.auth_timeout = DEFAULT_AUTH_TIMEOUT
        end
    end
    return o
end

-- Wrap a cosocket and a core connection. `opts` are the user's options
-- (timeout in ms; nil leaves nginx's lua_socket_*_timeout in charge).
function _M.wrap(sock, c, opts, role)
    local self = setmetatable({
        sock = sock,
        c = c,
        role = role,
        timeout = opts and opts.timeout or nil,
        stream = opts and opts.stream_fragments or false,
        backlog = nil,     -- events read by request() for recv_* to return
        rpc = nil,         -- request/response state (resty.wskit.rpc)
        writing = false,   -- a light thread is inside sock:send
        reading = false,   -- a light thread is inside sock:receiveany
        read_waiting = 0,  -- light threads waiting for that read to end
        dead = false,      -- the core said CLOSED and we returned it
        read_to = nil,     -- the read timeout last given to the socket
    }, mt)
    if opts and opts.rpc then
        require("resty.wskit.rpc").enable(self, opts.rpc)
    end
    return self
end

-- Write everything the core produced. A second light thread that wants
-- to write while one is inside sock:send leaves its bytes in the core:
-- the writer takes them in its next round, so frames never interleave.
local function flush(self)
    if self.writing then
        return 0
    end
    local c = self.c
    local out = c:take()
    if not out then
        return 0
    end
    self.writing = true
    local sock, total = self.sock, 0
    repeat
        local n, err = sock:send(out)
        if not n then
            self.writing = false
            self.fatal = true
            c:abort("send failed: " .. tostring(err))
            return nil, "failed to send frame: " .. tostring(err)
        end
        total = total + n
        out = c:take()
    until not out
    self.writing = false
    return total
end
_M.flush = flush

-- Set the socket's timeouts only when the read timeout changes.
local function set_read_timeout(self, ms)
    if self.read_to ~= ms then
        local t = self.timeout or 0 -- 0: nginx's configured default
        self.sock:settimeouts(t, t, ms)
        self.read_to = ms
    end
end

local semaphore -- ngx.semaphore, loaded when two light threads read

-- Wait until the light thread reading now has finished its read; returns
-- nil, RETRY (the caller looks at the backlog and the core again) or nil,
-- "timeout".
local RETRY = "retry"
_M.RETRY = RETRY

wait_for_reader = function(self, deadline)
    semaphore = semaphore or require("ngx.semaphore")
    local sema = self.read_sema
    if not sema then
        sema = semaphore.new()
        self.read_sema = sema
    end
    local left = deadline and deadline - now_ms() or 60000
    if left <= 0 then
        return nil, "timeout"
    end
    self.read_waiting = self.read_waiting + 1
    sema:wait(left / 1000)
    self.read_waiting = self.read_waiting - 1
    return nil, RETRY
end

-- The next core event, reading the socket as needed: typ, data, a, b, d,
-- or nil, err. `deadline` (ms, optional) bounds the wait; without it the
-- user's timeout does, and without that we wait for as long as the core
-- keeps the connection alive (its keepalive pings go out meanwhile).
local function next_event(self, deadline)
    local c, sock = self.c, self.sock
    if not deadline and self.timeout then
        deadline = now_ms() + self.timeout
    end
    while true do
        local typ, data, a, b, d = c:event()
        if typ then
            if typ == "closed" then
                self.dead = true
                self.closed_code, self.sent_code, self.clean = a, b, d
                if self.rpc then
                    self.rpc:cancel_all()
                end
                flush(self)
                self:_ended()
            elseif typ == "close" or typ == "ping" then
                flush(self) -- the echo / the pong goes out now
            end
            return typ, data, a, b, d
        end
        if self.dead then
            return nil, "closed"
        end
        -- no event: `data` is the output waiting, `a` the next deadline
        local now, at = now_ms(), a
        if data > 0 then
            -- write what the core produced, then look again (a failed
            -- write aborts the core: CLOSED is next)
            flush(self)
        elseif at >= 0 and at <= now then
            -- a deadline passed (keepalive ping, pong or close timeout):
            -- act on it, then look again at what that produced
            c:tick(now)
        elseif self.should_stop and not self.stopping and self.should_stop() then
            -- asked from elsewhere to end (resty.wskit.reconnect)
            self.stopping = true
            c:close(1001, "going away")
        else
            if self.reading then
                -- another light thread (a request() waiting for its reply)
                -- is reading: wait for its read, then look at what it left
                return wait_for_reader(self, deadline)
            end
            local wait = at >= 0 and at - now or nil
            local poll = self.poll_ms
            if poll and (not wait or wait > poll) then
                wait = poll -- wake up to look at should_stop
            end
            if deadline then
                local left = deadline - now
                if left <= 0 then
                    return nil, "timeout"
                end
                if not wait or left < wait then
                    wait = left
                end
            end
            set_read_timeout(self, wait and (wait > 0 and wait or 1) or 0)
            self.reading = true
            local bytes, rerr = sock:receiveany(RECV_SIZE)
            self.reading = false
            if self.read_waiting > 0 then
                self.read_sema:post(self.read_waiting)
            end
            if bytes then
                local ok, err = c:feed(bytes, now_ms())
                if not ok then
                    c:abort("feed failed: " .. tostring(err))
                end
            elseif rerr == "timeout" then
                if not wait then
                    return nil, "timeout" -- nginx's own read timeout
                end
            else
                c:feed_eof()
            end
        end
    end
end
_M.next_event = next_event

local function closed_error(self, text)
    self.fatal = true
    if text and text ~= "" then
        return nil, nil, text
    end
    return nil, nil, "closed"
end

-- A core event as lua-resty-websocket's data, typ, err (plus, for pongs,
-- the ping id and latency they acknowledge).
local function frame_result(self, typ, data, a, b, d)
    if typ == "text" or typ == "binary" or typ == "ping" then
        return data, typ, nil
    elseif typ == "fragment" then
        local t = b and a or "continuation"
        if d then
            return data, t, nil
        end
        return data, t, "again"
    elseif typ == "pong" then
        return data, "pong", nil, a, b
    elseif typ == "close" then
        self.close_received = true
        return data, "close", a ~= 1005 and a or nil
    elseif typ == "closed" then
        return closed_error(self, data)
    end
    -- handshake events cannot come after the handshake
    return closed_error(self, "unexpected event " .. tostring(typ))
end

local function pop_backlog(self)
    local q = self.backlog
    if q and q.first <= q.last then
        local e = q[q.first]
        q[q.first] = nil
        q.first = q.first + 1
        return e
    end
end

-- A message over message_rate (policy "error"): the core did not deliver
-- it; the peer is told with the channel protocol's error message, which
-- serves app connections as a plain text error as well. The core copies
-- the refused request's id and channel into it (when it is a protocol
-- frame), so a channel client can match the answer to its request.
local RATE_MESSAGE = "message rate exceeded"
local function rate_error(data, typ)
    local s = proto.chan_refusal("rate_limited", RATE_MESSAGE, typ == "text" and data or nil)
    return s or proto.chan_error("rate_limited", RATE_MESSAGE)
end

-- The first data message while first-message authentication is pending
-- goes to the auth_message hook, never to the application: the hook
-- returns the user (kept in ws.user) or nil, reason (close 1008).
local function first_message(self, data, typ)
    local ok, user, reason = pcall(self.auth_message, self, data, typ)
    if not ok then
        ngx.log(ngx.ERR, "wskit: auth_message hook failed: ", user)
        user, reason = nil, "authentication failed"
    end
    if user then
        self.user = user
    end
    self.c:authenticate(user and true or false, not user and reason and tostring(reason) or nil)
    flush(self)
end

local function recv(self)
    if self.fatal then
        return nil, nil, "fatal error already happened"
    end
    if not self.c then
        return nil, nil, "not initialized yet"
    end
    local deadline = self.timeout and now_ms() + self.timeout
    while true do
        local typ, data, a, b, d
        local e = pop_backlog(self)
        if e then
            typ, data, a, b, d = e[1], e[2], e[3], e[4], e[5]
        else
            typ, data, a, b, d = next_event(self, deadline)
        end
        if not typ then
            if data ~= RETRY then
                if data ~= "timeout" then
                    self.fatal = true
                end
                return nil, nil, data
            end
        elseif typ == "rate_limited" then
            send_data(self, 1, self.rate_error or rate_error(data, a))
        elseif self.auth_message and (typ == "text" or typ == "binary")
            and not self.c:authenticated() then
            first_message(self, data, typ)
        else
            local rpc = self.rpc
            if not (rpc and typ == "text" and rpc:intercept(data)) then
                return frame_result(self, typ, data, a, b, d)
            end
        end
    end
end

-- One frame, as lua-resty-websocket returns it. The core reassembles
-- fragmented messages unless stream_fragments was set, so a "frame" here
-- is a whole message (typ "text" or "binary", err nil); with
-- stream_fragments the pieces come as in lua-resty-websocket: the first
-- with the message's type, the rest "continuation", err "again" until the
-- last. Close frames: reason, "close", code (nil when none).
function _M.recv_frame(self)
    return recv(self)
end

-- A whole message: data, typ (text, binary, close, ping, pong), err.
-- With stream_fragments the pieces are joined here (the core has
-- already checked their order, UTF-8 and total size).
function _M.recv_message(self)
    if not self.stream then
        return recv(self)
    end
    local parts, n, first_typ = nil, 0, nil
    while true do
        local data, typ, err = recv(self)
        if not data then
            return nil, nil, err
        end
        if typ == "text" or typ == "binary" or typ == "continuation" then
            if typ ~= "continuation" then
                first_typ, parts, n = typ, {}, 0
            end
            n = n + 1
            parts[n] = data
            if err ~= "again" then
                return concat(parts, "", 1, n), first_typ, nil
            end
        else
            return data, typ, err
        end
    end
end

local function sent(self, n, err)
    if not n then
        return nil, err
    end
    local ok, ferr = flush(self)
    if not ok then
        return nil, ferr
    end
    return n
end

local function check_send(self)
    if self.fatal then
        return "fatal error already happened"
    end
    if not self.c then
        return "not initialized yet"
    end
end

send_data = function(self, op, data)
    local e = check_send(self)
    if e then
        return nil, e
    end
    if type(data) ~= "string" then
        data = data == nil and "" or tostring(data)
    end
    if self.writing then
        -- another light thread is writing: it sends this too
        return sent(self, self.c:send(op, data))
    end
    -- the common case: frame and take the output in one call
    local n, out = self.c:send(op, data, true)
    if not n then
        return nil, out
    end
    if out then
        self.writing = true
        local ok, err = self.sock:send(out)
        self.writing = false
        if not ok then
            self.fatal = true
            self.c:abort("send failed: " .. tostring(err))
            return nil, "failed to send frame: " .. tostring(err)
        end
        -- what other threads queued while we were writing
        ok, err = flush(self)
        if not ok then
            return nil, err
        end
    end
    return n
end

function _M.send_text(self, data)
    return send_data(self, 1, data)
end

function _M.send_binary(self, data)
    return send_data(self, 2, data)
end

-- Ping: bytes, nil, id. nil or "" data lets the core choose a unique
-- payload; the pong's recv_frame results carry the id it acknowledges.
function _M.send_ping(self, data)
    local e = check_send(self)
    if e then
        return nil, e
    end
    local id, n = self.c:ping(data)
    if not id then
        return nil, n
    end
    local bytes, err = sent(self, n)
    return bytes, err, id
end

function _M.send_pong(self, data)
    local e = check_send(self)
    if e then
        return nil, e
    end
    return sent(self, self.c:pong(data))
end

-- Start the close handshake: code nil sends a close frame without one.
-- The peer's echo arrives through recv_frame ("close", then an error
-- "closed" once the connection is over).
function _M.send_close(self, code, msg)
    local e = check_send(self)
    if e then
        return nil, e
    end
    if code ~= nil and type(code) ~= "number" then
        return nil, "bad status code"
    end
    self.closed = true
    local n, err = self.c:close(code or 0, msg and tostring(msg) or "")
    return sent(self, n, err)
end

-- lua-resty-websocket's low-level sender: data opcodes continue a
-- fragmented message through the core, control opcodes map to the calls
-- above (a close payload is split into its code and reason).
function _M.send_frame(self, fin, opcode, payload)
    payload = payload == nil and "" or tostring(payload)
    if opcode == 0x8 then
        if #payload == 0 then
            return _M.send_close(self)
        end
        if #payload < 2 then
            return nil, "bad close payload"
        end
        local hi, lo = byte(payload, 1, 2)
        return _M.send_close(self, hi * 256 + lo, sub(payload, 3))
    elseif opcode == 0x9 then
        return _M.send_ping(self, payload)
    elseif opcode == 0xa then
        return _M.send_pong(self, payload)
    elseif opcode == 0x0 or opcode == 0x1 or opcode == 0x2 then
        local e = check_send(self)
        if e then
            return nil, e
        end
        local op = opcode == 0x0 and 1 or opcode
        if fin and opcode ~= 0x0 then
            return sent(self, self.c:send(op, payload))
        end
        return sent(self, self.c:send_fragment(op, payload, fin))
    end
    return nil, "bad opcode"
end

function _M.set_timeout(self, time)
    if not self.sock then
        return nil, "not initialized yet"
    end
    self.timeout = time
    self.read_to = nil
    return self.sock:settimeout(time)
end

-- Close cleanly: send a close frame (1000 by default) and, unless another
-- light thread is reading, wait for the peer's answer (bounded by the
-- core's close timeout), so the last messages are not lost.
function _M.close(self, code, reason)
    if not self.c then
        return nil, "not initialized"
    end
    if not self.dead and not self.fatal then
        local n, err = self.c:close(code or 1000, reason or "")
        if not n then
            return nil, err
        end
        flush(self)
        if not self.reading then
            while not self.dead do
                local typ = next_event(self, now_ms() + 30000)
                if not typ then
                    break
                end
            end
        end
    end
    self.closed = true
    if self.sock.close and not self.reading then
        self.sock:close()
    end
    self:_ended()
    return 1
end

-- Once per connection when it is over (closed event or close()): run
-- what was registered with on_end (per-IP counters, hub subscriptions).
function _M._ended(self)
    local fns = self.end_fns
    if fns then
        self.end_fns = nil
        for i = 1, #fns do
            local ok, err = pcall(fns[i], self)
            if not ok then
                ngx.log(ngx.ERR, "wskit: connection end hook failed: ", err)
            end
        end
    end
end

function _M.on_end(self, fn)
    local fns = self.end_fns
    if not fns then
        fns = {}
        self.end_fns = fns
    end
    fns[#fns + 1] = fn
end

-- Counters of the core: messages_in/out, bytes_in/out, rate_limited.
function _M.stats(self)
    return self.c:stats()
end

-- First-message authentication by hand (auth_timeout without an
-- auth_message hook): the verdict on the message just received.
function _M.authenticate(self, ok, reason)
    local r, err = self.c:authenticate(ok and true or false, reason)
    flush(self)
    return r, err
end

-- Channels from the application (resty.wskit.hub): this connection gets
-- each message published on `channel` as a text or binary frame.
function _M.subscribe(self, channel)
    return require("resty.wskit.hub").subscribe_raw(self, channel)
end

function _M.unsubscribe(self, channel)
    return require("resty.wskit.hub").unsubscribe_raw(self, channel)
end

-- Only clients pool connections (resty.wskit.client); a downstream
-- connection that carried WebSocket frames cannot serve HTTP again.
function _M.set_keepalive()
    return nil, "not supported on the server side"
end

-- How the connection ended, for logs and reconnect decisions:
-- { code = received close code (1005 none in the frame, 1006 no frame),
--   sent_code, clean, error } or nil while it is still open.
function _M.close_info(self)
    if not self.dead then
        return nil
    end
    return {
        code = self.closed_code,
        sent_code = self.sent_code,
        clean = self.clean,
        error = self.c:error(),
    }
end

-- Negotiated subprotocol (nil when none) and compression (nil when off).
function _M.subprotocol(self)
    return self.c:subprotocol()
end

function _M.compression(self)
    return self.c:deflate()
end

-- Request/response (JSON-RPC 2.0), loaded on first use.
function _M.request(self, method, params, timeout)
    return require("resty.wskit.rpc").request(self, method, params, timeout)
end

function _M.notify(self, method, params)
    return require("resty.wskit.rpc").notify(self, method, params)
end

function _M.on_request(self, method, handler)
    return require("resty.wskit.rpc").on_request(self, method, handler)
end

-- Used by rpc.lua while it reads on behalf of recv_*: keep the event.
function _M.push_backlog(self, typ, data, a, b, d)
    local q = self.backlog
    if not q then
        q = { first = 1, last = 0 }
        self.backlog = q
    end
    q.last = q.last + 1
    q[q.last] = { typ, data, a, b, d }
end

return _M
