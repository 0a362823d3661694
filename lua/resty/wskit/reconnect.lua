-- resty.wskit.reconnect: a client that stays connected, for background
-- workers in ngx.timer (a bot, a feed, an upstream subscription).
--
--   local reconnect = require "resty.wskit.reconnect"
--   local bot = reconnect.new("wss://feed.example/ws", {
--       client = { timeout = 30000 },          -- client:new options
--       connect = { protocols = "v1" },        -- ws:connect options
--       backoff = { min_delay = 500 },         -- wskit.proto.backoff options
--       retry = function(failure, default) return default end,
--   })
--   ngx.timer.at(0, function(premature)
--       if premature then return end
--       bot:run(function(ws)                  -- one session per connection
--           while true do
--               local data, typ, err = ws:recv_message()
--               if not data then return end  -- ended: reconnect if retryable
--               ...
--           end
--       end)
--   end)
--
-- How long to wait and whether to retry are the core's decisions
-- (wsk_backoff_* and wsk_failure_retryable through wskit.proto); this
-- file only sleeps and connects. A session that returns while its
-- connection is still open ends the loop (the caller chose to stop); one
-- that returns after the connection ended leads to a reconnect when the
-- failure is retryable. run() also ends on stop() and when the worker
-- exits.
local client = require "resty.wskit.client"
local conn = require "resty.wskit.conn"

local ngx = ngx
local proto = conn.proto
local now_ms = conn.now_ms
local setmetatable = setmetatable
local tostring = tostring
local pcall = pcall

local _M = {}
local mt = { __index = _M }

function _M.new(url, opts)
    opts = opts or {}
    return setmetatable({
        url = url,
        opts = opts,
        backoff = proto.backoff(opts.backoff),
        stopped = false,
        ws = nil,          -- the current connection, if any
        connects = 0,      -- successful connections so far
        last_failure = nil,
    }, mt)
end

-- Whether to try again after `failure` ({ kind =, detail =, error = }).
local function should_retry(self, failure)
    local dflt = proto.retryable(failure.kind, failure.detail)
    local hook = self.opts.retry
    if hook then
        return hook(failure, dflt) and true or false
    end
    return dflt
end

-- Sleep `ms`, waking early when stop() is called.
local function pause(self, ms)
    local sema = self.sema
    if not sema then
        sema = require("ngx.semaphore").new()
        self.sema = sema
    end
    sema:wait(ms / 1000)
end

-- Connect and run `session(ws)` for each connection until stopped, the
-- policy gives up, or a session returns on an open connection.
-- Returns true when stopped, or nil, err when it gave up.
function _M.run(self, session)
    while not self.stopped and not ngx.worker.exiting() do
        local ws, err = client:new(self.opts.client)
        local failure
        if ws then
            local ok, cerr = ws:connect(self.url, self.opts.connect)
            if ok then
                ws.poll_ms = self.opts.poll
                ws.should_stop = function() return self.stopped end
                self.ws = ws
                self.connects = self.connects + 1
                self.backoff:opened(now_ms())
                local sok, serr = pcall(session, ws)
                self.backoff:closed(now_ms())
                self.ws = nil
                if not sok then
                    ngx.log(ngx.ERR, "wskit reconnect: session failed: ", serr)
                end
                if sok and not ws.dead and not ws.fatal then
                    ws:close()
                    return true -- the session chose to end
                end
                failure = ws:failure_info() or { kind = "io", error = tostring(serr) }
                if not ws.dead then
                    ws:close()
                end
            else
                failure = ws:failure_info() or { kind = "io", error = cerr }
            end
        else
            failure = { kind = "io", error = err }
        end
        self.last_failure = failure
        if self.stopped then
            break
        end
        if not should_retry(self, failure) then
            return nil, "not retrying: " .. tostring(failure.error or failure.kind)
        end
        local delay = self.backoff:next()
        if not delay then
            return nil, "gave up after " .. tostring(self.backoff:attempts())
                .. " attempts: " .. tostring(failure.error or failure.kind)
        end
        if self.opts.on_retry then
            self.opts.on_retry(failure, delay)
        end
        pause(self, delay)
    end
    return true
end

-- Stop from anywhere in the worker (another request, another timer):
-- cosockets belong to the context that made them, so this only sets a
-- flag; the session notices it at its next wakeup (a message, a
-- keepalive ping, or every `poll` ms when that option is set),
-- closes with 1001, and run() ends instead of reconnecting.
function _M.stop(self)
    self.stopped = true
    if self.sema then
        self.sema:post(1)
    end
end

return _M
