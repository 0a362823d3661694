-- resty.wskit.backplane: a worker's hub shared with every other worker and
-- instance through Redis, with lua-resty-redis (module nginx.redis on
-- Debian, resty.redis in OpenResty). What crosses Redis (the envelope,
-- the keys, the publish and recover scripts) is the core's
-- (csrc/proto/backplane.c); this file only moves it:
--   - publish: EVAL(SHA) of the publish script on a pooled cosocket of the
--     calling request; Redis numbers the message, keeps it in the
--     channel's stream and PUBLISHes it;
--   - one subscriber per worker (an ngx.timer) PSUBSCRIBEs "<prefix>msg:*"
--     and feeds every message to the hub (wsk_hub_dispatch), our own
--     publishes included, so every worker sees one order;
--   - resume: EVAL of the recover script for the subscribing request;
--   - Redis lost: local clients keep being served, the subscriber
--     reconnects with the core's backoff, re-PSUBSCRIBEs and resyncs every
--     channel with local subscribers from the streams.
local proto = require "wskit.proto"

local ok_redis, redis = pcall(require, "resty.redis")
if not ok_redis then
    redis = require "nginx.redis" -- Debian's lua-nginx-redis
end

local ngx = ngx
local log = ngx.log
local ERR, WARN, NOTICE = ngx.ERR, ngx.WARN, ngx.NOTICE
local type = type
local setmetatable = setmetatable
local tonumber = tonumber
local tostring = tostring
local floor = math.floor
local min = math.min

local _M = {}
local mt = { __index = _M }

local function now_ms()
    return floor(ngx.now() * 1000)
end

-- redis://[[user]:password@]host[:port][/db]
local function parse_url(url)
    local rest = url:match("^redis://(.*)$")
    if not rest then
        return nil, "backplane must be a redis:// URL: " .. tostring(url)
    end
    local auth, hostpart = rest:match("^(.*)@(.*)$")
    hostpart = hostpart or rest
    local host, port, db = hostpart:match("^([^:/]+):?(%d*)/?(%d*)$")
    if not host then
        return nil, "bad redis URL: " .. url
    end
    local user, password
    if auth then
        user, password = auth:match("^(.-):(.*)$")
        if not user then
            password = auth
        end
        if user == "" then
            user = nil
        end
    end
    return {
        host = host, port = tonumber(port) or 6379, db = tonumber(db) or 0,
        user = user, password = password,
    }
end
_M.parse_url = parse_url

local function sha1_hex(s)
    return (ngx.sha1_bin(s):gsub(".", function(c)
        return ("%02x"):format(c:byte())
    end))
end

local PUBLISH_SHA = sha1_hex(proto.REDIS_PUBLISH_SCRIPT)
local RECOVER_SHA = sha1_hex(proto.REDIS_RECOVER_SCRIPT)

function _M.new(hub, opts)
    local r, err = parse_url(opts.backplane)
    if not r then
        return nil, err
    end
    local origin, oerr = proto.backplane_origin()
    if not origin then
        return nil, oerr
    end
    local self = setmetatable({
        hub = hub, redis = r, prefix = opts.backplane_prefix,
        origin = origin,
        timeout = opts.redis_timeout or 2000,
        history_size = opts.history_size, history_ttl = opts.history_ttl,
        backoff_opts = opts.backoff,
        pool = ("wskit:%s:%d/%d"):format(r.host, r.port, r.db),
        up = false, lost = false, started = false,
    }, mt)
    return self
end

-- A command connection (pooled per worker): red, or nil, err.
local function connect(self, timeout)
    local r = self.redis
    local red = redis:new()
    red:set_timeout(timeout or self.timeout)
    local ok, err = red:connect(r.host, r.port, { pool = self.pool })
    if not ok then
        return nil, err
    end
    if red:get_reused_times() == 0 then
        if r.password then
            if r.user then
                ok, err = red:auth(r.user, r.password)
            else
                ok, err = red:auth(r.password)
            end
            if not ok then
                red:close()
                return nil, "AUTH: " .. tostring(err)
            end
        end
        if r.db ~= 0 then
            ok, err = red:select(r.db)
            if not ok then
                red:close()
                return nil, "SELECT: " .. tostring(err)
            end
        end
    end
    return red
end

-- EVALSHA, loading the script with EVAL when Redis does not know it.
local function eval(red, sha, script, ...)
    local res, err = red:evalsha(sha, ...)
    if not res and err and err:find("NOSCRIPT", 1, true) then
        res, err = red:eval(script, ...)
    end
    return res, err
end

local function done(red)
    red:set_keepalive(60000, 64)
end

-- Publish through Redis: seq, epoch or nil, "unavailable: ...".
function _M.publish(self, channel, kind, payload)
    local meta = proto.backplane_key(self.prefix, "meta", channel)
    local hist = proto.backplane_key(self.prefix, "hist", channel)
    local msg = proto.backplane_key(self.prefix, "msg", channel)
    local red, err = connect(self)
    if not red then
        return nil, "unavailable: redis: " .. tostring(err)
    end
    local res
    res, err = eval(red, PUBLISH_SHA, proto.REDIS_PUBLISH_SCRIPT, 2, meta, hist, msg, kind,
                    self.origin, channel, payload, self.history_size, self.history_ttl)
    if not res then
        red:close()
        if res == false then -- an error reply: Redis is there, the call failed
            return nil, "redis: " .. tostring(err)
        end
        return nil, "unavailable: redis: " .. tostring(err)
    end
    done(red)
    return tonumber(res[1]), res[2]
end

-- The recover script's answer for a channel after `since` (-1: position
-- only): {epoch, top, envelope...} or nil, err.
function _M.recover(self, channel, since)
    local meta = proto.backplane_key(self.prefix, "meta", channel)
    local hist = proto.backplane_key(self.prefix, "hist", channel)
    local red, err = connect(self)
    if not red then
        return nil, "unavailable: redis: " .. tostring(err)
    end
    local res
    res, err = eval(red, RECOVER_SHA, proto.REDIS_RECOVER_SCRIPT, 2, meta, hist, since,
                    self.history_ttl, self.history_size)
    if type(res) ~= "table" then
        red:close()
        return nil, "unavailable: redis: " .. tostring(err)
    end
    done(red)
    return res
end

-- After (re)subscribing: every channel with local subscribers catches up
-- from its stream (messages missed while we were not subscribed).
local function resync_all(self)
    local hub = self.hub
    local core = hub.core
    local channels = core:channels()
    for i = 1, #channels do
        local ch = channels[i]
        local n, since = core:resync(ch)
        if n > 0 then
            local reply, err = self:recover(ch, since)
            if not reply then
                return nil, err
            end
            local outs, rerr = core:recovered(nil, ch, reply, now_ms())
            if not outs then
                return nil, rerr
            end
            require("resty.wskit.hub").deliver(hub, outs)
        end
    end
    return #channels
end

-- One subscriber session: connect, PSUBSCRIBE, resync, read until lost.
local function session(self)
    local red, err = connect(self)
    if not red then
        return nil, err
    end
    local pattern = proto.backplane_key(self.prefix, "msg", "*")
    local res
    res, err = red:psubscribe(pattern)
    if not res then
        red:close()
        return nil, err
    end
    self.up = true
    local n
    n, err = resync_all(self)
    if not n then
        self.up = false
        red:close()
        return nil, err
    end
    if self.lost then
        log(NOTICE, "backplane: resubscribed to redis ", self.redis.host, ":", self.redis.port,
            ", ", n, " channel(s) resynced")
        self.lost = false
    end
    self.backoff:opened(now_ms())
    red:set_timeout(1000) -- wake up to notice the worker exiting
    local hub, core = self.hub, self.hub.core
    local deliver = require("resty.wskit.hub").deliver
    while not ngx.worker.exiting() do
        res, err = red:read_reply()
        if res then
            if res[1] == "pmessage" then
                local outs, why = core:dispatch(res[4], now_ms())
                if outs then
                    deliver(hub, outs)
                else
                    log(WARN, "backplane: dropped a malformed envelope: ", why)
                end
            end
        elseif err ~= "timeout" then
            break
        end
    end
    self.up = false
    red:close()
    if ngx.worker.exiting() then
        return true
    end
    return nil, err
end

local function run(premature, self)
    if premature then
        return
    end
    self.backoff = proto.backoff(self.backoff_opts)
    while not ngx.worker.exiting() do
        local done_ok, err = session(self)
        if done_ok then
            break
        end
        self.backoff:closed(now_ms())
        -- one error line per outage; the retries of an outage at info level
        log(self.lost and ngx.INFO or ERR, "backplane: lost redis ", self.redis.host, ":",
            self.redis.port, ": ", tostring(err), "; reconnecting")
        self.lost = true
        local delay = self.backoff:next() or 30000
        -- sleep in short steps: the worker may be asked to exit
        local deadline = now_ms() + delay
        while not ngx.worker.exiting() and now_ms() < deadline do
            ngx.sleep(min(0.5, (deadline - now_ms()) / 1000 + 0.001))
        end
    end
end

-- Start this worker's subscriber (once).
function _M.start(self)
    if self.started then
        return true
    end
    local ok, err = ngx.timer.at(0, run, self)
    if not ok then
        log(ERR, "backplane: cannot start the subscriber: ", err)
        return nil, err
    end
    self.started = true
    return true
end

return _M
