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

local type, setmetatable, pairs, error = type, setmetatable, pairs, error

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
    return cbs
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

-- receive([timeout_s]) -> msg, kind | nil, err (the client ended)
function Client:receive(timeout)
    if not self.inbox then
        error("client:receive: messages go to the on_message callback", 2)
    end
    return self.inbox:receive(timeout)
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
