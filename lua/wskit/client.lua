-- wskit.client: wskit.connect{url = ..., ...} and wskit.client{...}.
--
-- wskit.connect inside wskit.spawn (without reconnect) waits for the
-- handshake and returns the connection, or nil, err, info. Everywhere
-- else, and always with reconnect = true, it returns a client object at
-- once; its connections come and go (on_connecting, on_open, on_close
-- with info.will_retry) and client:receive() / client:send() work across
-- them (sends wait in the offline queue while disconnected when the
-- offline_queue option allows it).
local core = require "wskit.core"
local sched = require "wskit.sched"
local conn = require "wskit.conn"
local Inbox = require "wskit.inbox"
local rpc = require "wskit.rpc"
local check = require("wskit.opts").check

local type, setmetatable, getmetatable, pairs, ipairs, error =
    type, setmetatable, getmetatable, pairs, ipairs, error

local M = {}
local Client = {}
Client.__index = Client
M.Client = Client

local function wake_all(set, ...)
    if set then
        for w in pairs(set) do
            sched.wake(w, ...)
        end
    end
end

function Client:_ended(info)
    if self.ended then
        return
    end
    self.ended = info
    local err = conn.close_error(info)
    self.err = err
    if self.inbox then
        self.inbox:close(err)
    end
    local openers = self.openers
    self.openers = nil
    wake_all(openers, nil, err, info)
end

local function callbacks(self, o)
    local reconnect = o.reconnect
    local inbox = self.inbox
    local user_open, user_close, user_drain, user_pong = o.on_open, o.on_close, o.on_drain, o.on_pong
    local cbs = { on_connecting = o.on_connecting, on_ping = o.on_ping }
    cbs.on_open = function(ws)
        local st = ws:_state()
        if inbox then
            st.inbox = inbox
            st.own_inbox = not reconnect -- a reconnecting client's inbox outlives each connection
        end
        self.ws = ws
        if user_open then
            user_open(ws)
        end
        local openers = self.openers
        self.openers = nil
        wake_all(openers, ws)
    end
    cbs.on_message = o.on_message or function(ws, msg, kind)
        inbox:push(ws, msg, kind)
    end
    cbs.on_close = function(ws, info)
        if self.ws == ws then
            self.ws = nil
        end
        -- the user's callback first (what it records precedes the wake-ups)
        if user_close then
            conn.call_user(user_close, ws, info)
        end
        conn.on_close(ws, info)
        if not info.will_retry then
            self:_ended(info)
        end
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
    M.channel_callbacks(self, o, cbs)
    return cbs
end

-- ---- the JSON channel protocol (client:subscribe, client:publish) ----
-- The driver sends subscriptions again after each reconnect with the
-- last seq seen, drops duplicates and reports what is gone as a gap; this
-- part turns its events into messages for receive() / on_message and
-- matches the server's replies to the calls waiting for them.

local Gap = {}
Gap.__index = Gap
Gap.__tostring = function(g)
    return g.err
end
M.Gap = Gap

local function gap_object(g)
    local why = g.reason ~= "" and g.reason or "unknown"
    if g.to >= g.from then
        g.err = ("EGAP: channel %s: messages %d..%d are gone (%s)"):format(g.channel, g.from, g.to, why)
    else -- a new epoch and nothing of it missed: what the old one had is unknown
        g.err = ("EGAP: channel %s: the history was reset (%s)"):format(g.channel, why)
    end
    return setmetatable(g, Gap)
end

-- the first waiter expecting this reply (a channel-less error: the oldest)
local function take_waiter(self, r)
    local pending = self.pending
    for i = 1, #pending do
        local w = pending[i]
        if w.types[r.type] and (r.channel == nil or r.channel == w.channel) then
            table.remove(pending, i)
            return w
        end
    end
end

function M.channel_callbacks(self, o, cbs)
    self.pending = {}
    local user_message, user_gap, user_reply = o.on_message, o.on_gap, o.on_channel_reply
    local inbox = self.inbox
    cbs.on_channel_message = function(ws, m)
        if m.kind == "json" then
            m.json = m.data
            m.data = core.json_decode(m.data)
        end
        if user_message then
            return user_message(ws, m, "channel")
        end
        inbox:push(ws, m, "channel")
    end
    cbs.on_gap = function(ws, g)
        g = gap_object(g)
        if user_gap then
            return user_gap(ws, g)
        end
        if inbox then
            return inbox:push(ws, nil, g) -- receive() -> nil, g.err, g
        end
        sched.report(g.err, ws) -- never silent
    end
    cbs.on_channel_reply = function(ws, r)
        local w = take_waiter(self, r)
        if w then
            sched.wake(w, r)
        end
        if user_reply then
            user_reply(ws, r)
        end
    end
    local user_close = cbs.on_close
    cbs.on_close = function(ws, info)
        -- publishes in flight get no answer now; subscriptions are sent
        -- again on the next open and answered then
        local keep = {}
        for _, w in ipairs(self.pending) do
            if w.types.subscribed and info.will_retry then
                keep[#keep + 1] = w
            else
                sched.wake(w, nil, conn.close_error(info))
            end
        end
        self.pending = keep
        return user_close(ws, info)
    end
end

-- Wait (inside wskit.spawn) for the server's answer on a channel.
local function expect(self, channel, types, timeout)
    local w = sched.waiter("client:" .. (types.published and "publish" or "subscribe"))
    w.channel, w.types = channel, types
    local pending = self.pending
    pending[#pending + 1] = w
    local r, err = sched.wait(w, timeout or 10)
    for i = 1, #self.pending do
        if self.pending[i] == w then
            table.remove(self.pending, i)
            break
        end
    end
    if not r then
        return nil, err
    end
    if r.type == "error" then
        return nil, ("%s: %s"):format(r.code or "error", r.message or "refused"), r
    end
    return r
end

-- subscribe(channel[, timeout_s]) -> reply | true | nil, err. Kept across
-- reconnects (resumed from the last seq seen). Inside wskit.spawn, when
-- the client is connected (or will be), it waits for the server's answer:
-- the "subscribed" reply { seq, epoch, recovered }, or nil, "forbidden: ..."
-- (and the subscription is dropped). Elsewhere it returns true at once.
function Client:subscribe(channel, timeout)
    if type(channel) ~= "string" then
        error("client:subscribe: channel must be a string", 2)
    end
    if self.core:position(channel) then
        return true -- already
    end
    local ok, err = self.core:subscribe(channel)
    if not ok then
        return nil, err
    end
    if not sched.current() then
        return true
    end
    local r, e = expect(self, channel, { subscribed = true, error = true }, timeout)
    if not r then
        -- refused: forget it (not sent again after a reconnect); the
        -- server's answer to that unsubscribe is nobody's
        local pending = self.pending
        pending[#pending + 1] = { channel = channel, types = { error = true, unsubscribed = true } }
        self.core:unsubscribe(channel)
        return nil, e
    end
    return r
end

-- unsubscribe(channel) -> true | nil, err
function Client:unsubscribe(channel)
    return self.core:unsubscribe(channel)
end

-- position(channel) -> seq, epoch: the last message seen (nil when not subscribed)
function Client:position(channel)
    return self.core:position(channel)
end

-- publish(channel, data[, kind[, timeout_s]]) -> seq | true | nil, err.
-- data as for server:publish (a table: JSON). Inside wskit.spawn it waits
-- for the server's "published" answer (its seq) or error ("forbidden: ...",
-- "rate_limited: ..."); elsewhere it returns true once sent.
function Client:publish(channel, data, kind, timeout)
    if type(data) ~= "string" then
        data, kind = core.json_encode(data), "json"
    end
    local ok, err = self.core:_publish(channel, data, kind)
    if not ok then
        return nil, err
    end
    if not sched.current() then
        return true
    end
    local r, e = expect(self, channel, { published = true, error = true }, timeout)
    if not r then
        return nil, e
    end
    return r.seq
end

-- client(opts) -> client | nil, err: never waits.
function M.client(opts, level)
    local o = check("client", opts, (level or 1) + 1)
    if type(o.url) ~= "string" then
        error("wskit.connect: option url (a ws:// or wss:// URL) expected", (level or 1) + 1)
    end
    local self = setmetatable({ opts = o }, Client)
    if not o.on_message then
        self.inbox = Inbox.new(o.max_queue)
    end
    local c, err = core.client(o.url, o, callbacks(self, o))
    if not c then
        return nil, err
    end
    self.core = c
    for _, ch in ipairs(o.channels or {}) do -- sent with the first open
        local ok, e = c:subscribe(ch)
        if not ok then
            c:free()
            return nil, e
        end
    end
    return self
end

-- connect(opts) -> ws | nil, err, info (waiting, see above) or client
function M.connect(opts)
    local self, err = M.client(opts, 2)
    if not self then
        return nil, err
    end
    if self.opts.reconnect or not sched.current() then
        return self
    end
    return self:wait_open()
end

-- wait_open([timeout_s]) -> the open connection | nil, err, info (the
-- client ended, or the timeout)
function Client:wait_open(timeout)
    local ws = self.ws
    if ws and ws:state() == "open" then
        return ws
    end
    if self.ended then
        return nil, self.err, self.ended
    end
    local w = sched.waiter("client:wait_open")
    self.openers = self.openers or {}
    self.openers[w] = true
    local r, err, info = sched.wait(w, timeout)
    if self.openers then
        self.openers[w] = nil
    end
    return r, err, info
end

-- send(data[, kind]) -> true | nil, err: on the current connection (waits
-- while its write queue is over the limit), else into the offline queue.
function Client:send(data, kind)
    local ok, err = self.core:_send(data, kind)
    if ok == false and self.ws then
        return conn.wait_drain(self.ws)
    end
    return ok, err
end

-- receive([timeout_s]) -> msg, kind | nil, err (the client ended).
-- Channel messages come as (message, "channel") with message = { channel,
-- seq, epoch, kind, data }; a gap as nil, "EGAP: channel C: messages
-- A..B are gone (reason)", gap (and receive goes on after it).
function Client:receive(timeout)
    if not self.inbox then
        error("client:receive: messages go to the on_message callback", 2)
    end
    local msg, kind = self.inbox:receive(timeout)
    if msg == nil and getmetatable(kind) == Gap then
        return nil, kind.err, kind
    end
    return msg, kind
end

function Client:messages(timeout)
    return function()
        return self:receive(timeout)
    end
end

-- request(method, params[, timeout_s[, callback]]) on the current connection
function Client:request(method, params, timeout, callback)
    if callback then
        return self.core:_request(method, params, timeout, callback)
    end
    local w = sched.waiter("client:request")
    local id, err = self.core:_request(method, params, timeout, function(res, e, obj)
        sched.wake(w, res, e, obj)
    end)
    if not id then
        return nil, err
    end
    return sched.wait(w)
end

-- close([code[, reason]]): no more attempts; the current connection
-- closes with code (1000).
function Client:close(code, reason)
    local ok, ended = self.core:close(code, reason)
    if ended then
        self:_ended({ code = 1000, reason = "", err = "ECLOSED", error = "the client was closed" })
    end
    return ok
end

-- free(): abort the current connection (its on_close runs) and stop
function Client:free()
    self.core:free()
    if not self.ended then
        self:_ended({ code = 1006, reason = "", err = "ECANCELED", error = "the client was freed" })
    end
end

-- conn() -> the current connection (open or connecting), or nil
function Client:conn()
    return self.core:conn()
end

function Client:closed()
    return self.ended ~= nil
end

return M
