-- resty.wskit.hub: channels in an nginx worker. The core's hub
-- (wskit.proto hub, csrc/proto/hub.c) decides who gets what, numbers
-- messages, keeps history and applies the resume rules; this file keeps
-- the map from subscriber ids to their connections and moves outputs to
-- them.
--
-- Each nginx worker is a process with its own hub. Without a backplane
-- (the default) a channel lives in one worker: use worker_processes 1, or
-- a backplane. With backplane = "redis://HOST:PORT/DB" the hub is in
-- external mode: Redis numbers messages and keeps the history
-- (resty.wskit.backplane), and every worker gets every message back from
-- its PSUBSCRIBE, so all workers and all instances see one order.
--
-- Delivery: a subscriber is a WebSocket connection (JSON channel protocol
-- or raw frames) or an SSE stream, each served by its own request
-- coroutine. Outputs arrive from wherever the publish or the Redis message
-- came from (another request, the subscriber timer), so they go into the
-- subscriber's queue and an ngx.semaphore wakes the coroutine that owns
-- the socket.
--
--   local hub = require "resty.wskit.hub"
--   hub.configure{ backplane = "redis://127.0.0.1:6379/0" }  -- optional, once
--   local seq, err = hub.publish("news", "hello")            -- any content handler
local proto = require "wskit.proto"
local semaphore = require "ngx.semaphore"

local ngx = ngx
local ngx_now = ngx.now
local floor = math.floor
local type = type
local pairs = pairs
local tostring = tostring

local _M = {}

local DEFAULTS = {
    history_size = 100,       -- messages per channel
    history_ttl = 300000,     -- ms
    backplane_prefix = "wskit:",
    send_queue = 1024,        -- outputs waiting per subscriber; past it: closed
}

local H -- this worker's hub, made by configure() or the first use

local function now_ms()
    return floor(ngx_now() * 1000)
end
_M.now_ms = now_ms

-- Create this worker's hub. opts: backplane (nil = in-worker),
-- backplane_prefix, history_size, history_ttl (ms), history_bytes,
-- max_channels, max_subscriptions, max_held, send_queue, redis_timeout
-- (ms), backoff (the reconnect backoff's options, ms). A second call with
-- the same backplane returns the hub; a different one is an error.
function _M.configure(opts)
    opts = opts or {}
    if H then
        if (opts.backplane or false) ~= (H.opts.backplane or false) then
            return nil, "the hub of this worker already uses backplane "
                .. tostring(H.opts.backplane)
        end
        return H
    end
    local o = {}
    for k, v in pairs(DEFAULTS) do
        o[k] = v
    end
    for k, v in pairs(opts) do
        o[k] = v
    end
    local core, err = proto.hub{
        history_size = o.history_size,
        history_ttl = o.history_ttl,
        history_bytes = o.history_bytes,
        max_channels = o.max_channels,
        max_subscriptions = o.max_subscriptions,
        max_held = o.max_held,
        external = o.backplane ~= nil,
    }
    if not core then
        return nil, err
    end
    local h = { opts = o, core = core, subs = {}, next_id = 0, bp = nil }
    if o.backplane then
        local bp, berr = require("resty.wskit.backplane").new(h, o)
        if not bp then
            return nil, berr
        end
        h.bp = bp
    end
    H = h
    if h.bp then
        h.bp:start()
    end
    return h
end

-- The hub, created with `opts` when there is none yet.
function _M.get(opts)
    return H or _M.configure(opts)
end

-- Hand the core's outputs (flat list: sub id, rec, ...) to their
-- subscribers' queues and wake them.
local function deliver(h, outs)
    local subs = h.subs
    for i = 1, #outs, 2 do
        local sub = subs[outs[i]]
        if sub and not sub.gone then
            local q = sub.q
            if q.last - q.first + 1 >= sub.max then
                sub.overflow = true -- the owner closes: it resumes elsewhere
            else
                q.last = q.last + 1
                q[q.last] = outs[i + 1]
            end
            if sub.sema:count() <= 0 then
                sub.sema:post(1)
            end
        end
    end
end
_M.deliver = deliver

-- A new subscriber. mode: "json" (channel protocol), "raw" (payloads as
-- frames) or "sse". Its owner drains it with next_output().
-- max: its send_queue (default the hub's).
function _M.new_sub(h, mode, owner, max)
    h.next_id = h.next_id + 1
    local sub = {
        id = h.next_id, mode = mode, owner = owner, hub = h,
        q = { first = 1, last = 0 }, sema = semaphore.new(0),
        max = max or h.opts.send_queue, overflow = false, gone = false,
    }
    h.subs[sub.id] = sub
    return sub
end

-- Queue something of the owner's own (a reply) behind what is queued,
-- so one writer sends everything in order. Replies count against the same
-- send_queue as hub outputs: a client that sends requests but never reads
-- would otherwise grow its queue without bound. Past it the subscriber
-- overflows (its writer closes 1013) and push returns nil, "overflow".
function _M.push(sub, item)
    if sub.overflow or sub.gone then
        return nil, sub.gone and "gone" or "overflow"
    end
    local q = sub.q
    if q.last - q.first + 1 >= sub.max then
        sub.overflow = true
    else
        q.last = q.last + 1
        q[q.last] = item
    end
    if sub.sema:count() <= 0 then
        sub.sema:post(1)
    end
    if sub.overflow then
        return nil, "overflow"
    end
    return true
end

-- The next queued item, waiting up to `wait` seconds: item, or nil and
-- "timeout" / "overflow" / "gone".
function _M.next_output(sub, wait)
    for _ = 1, 2 do
        if sub.overflow then
            return nil, "overflow"
        end
        local q = sub.q
        if q.first <= q.last then
            local item = q[q.first]
            q[q.first] = nil
            q.first = q.first + 1
            if q.first > q.last then
                q.first, q.last = 1, 0 -- keep the indices (and the table) small
            end
            return item
        end
        if sub.gone then
            return nil, "gone"
        end
        if wait <= 0 then
            return nil, "timeout"
        end
        sub.sema:wait(wait)
        wait = 0
    end
    return nil, "timeout"
end

-- Forget a subscriber everywhere (its connection ended); wakes its writer.
function _M.drop_sub(sub)
    if sub.gone then
        return
    end
    local h = sub.hub
    sub.gone = true
    h.core:drop(sub.id)
    h.subs[sub.id] = nil
    sub.sema:post(1)
end

-- Subscribe: the outputs go to the subscriber's queue. since/epoch resume
-- (nil: from now), id = the request's raw JSON id. In external mode the
-- history comes from Redis here (this yields). Returns true, or nil,
-- err, code with code one of the protocol's error codes.
function _M.subscribe(sub, channel, since, epoch, id)
    local h = sub.hub
    local outs, fetch, ename = h.core:subscribe(sub.id, channel, since, epoch, id, now_ms())
    if outs then
        deliver(h, outs)
        return true
    end
    if outs == nil then
        if ename == "E2BIG" then
            return nil, "too many channels", "too_many_channels"
        end
        return nil, fetch, "bad_request"
    end
    local reply, err = h.bp:recover(channel, fetch)
    if not reply then
        h.core:unsubscribe(sub.id, channel)
        return nil, err, "unavailable"
    end
    outs, err = h.core:recovered(sub.id, channel, reply, now_ms())
    if not outs then
        h.core:unsubscribe(sub.id, channel)
        return nil, err, "unavailable"
    end
    deliver(h, outs)
    return true
end

function _M.unsubscribe(sub, channel)
    return sub.hub.core:unsubscribe(sub.id, channel)
end

-- The authorize(conn, action, channel) hook of channel endpoints
-- (resty.wskit.channels and .sse): true when allowed. No hook: everything
-- is; a hook that raises denies (and is logged with `who`).
function _M.authorized(opts, conn, action, channel, who)
    local fn = opts.authorize
    if not fn then
        return true
    end
    local ok, res = pcall(fn, conn, action, channel)
    if not ok then
        ngx.log(ngx.ERR, who or "wskit", ": authorize hook failed: ", res)
        return false
    end
    return res and true or false
end

-- The payload kind of a Lua value: strings are text unless kind says
-- "binary" or "json"; everything else is JSON, encoded by cjson (numbers
-- included, so inf/nan are refused rather than sent as "inf"). The core
-- checks what it is given (UTF-8 for text, JSON text for json).
local encode_json = require("cjson.safe").encode

local function payload_of(data, kind)
    if kind or type(data) == "string" then
        return data, kind or "t"
    end
    return encode_json(data), "j"
end

-- Publish on a hub (see _M.publish). Returns seq, epoch or nil, err.
function _M.publish_on(h, channel, data, kind)
    local payload, k = payload_of(data, kind)
    if not payload then
        return nil, "cannot encode the data as JSON"
    end
    if h.bp then
        return h.bp:publish(channel, k, payload)
    end
    local seq, outs, err = h.core:publish(channel, k, payload, now_ms())
    if not seq then
        return nil, outs
    end
    if not outs then
        return nil, err
    end
    deliver(h, outs)
    return seq, select(2, h.core:position(channel))
end

-- publish(channel, data [, kind]) from any content/timer handler of this
-- worker: strings are text (kind "binary" for bytes, "json" for JSON
-- text), tables are JSON. Reaches channel-protocol, SSE and raw
-- subscribers (with a backplane: on every worker and instance).
-- Returns the message's seq and epoch, or nil, err ("unavailable: ..."
-- while Redis is unreachable).
function _M.publish(channel, data, kind)
    local h, err = _M.get()
    if not h then
        return nil, err
    end
    return _M.publish_on(h, channel, data, kind)
end

-- ---- raw subscribers: an application's own resty.wskit connection ----

local function raw_writer(ws, sub)
    while true do
        local rec, why = _M.next_output(sub, 5)
        if rec then
            if rec.kind == "message" then
                local ok
                if rec.ptype == "b" then
                    ok = ws:send_binary(rec.data)
                else
                    ok = ws:send_text(rec.data)
                end
                if not ok then
                    break
                end
            end
        elseif why == "overflow" then
            ngx.log(ngx.WARN, "wskit: subscriber too slow, closing (send_queue full)")
            ws:close(1013, "too slow: send queue full")
            break
        elseif why == "gone" or ws.dead or ws.fatal or ws.closed then
            break
        end
    end
    _M.drop_sub(sub)
end

-- ws:subscribe(channel) (resty.wskit.conn): the connection gets each
-- message on the channel as a frame (text for text and JSON, binary for
-- binary), sent by a light thread of its request.
function _M.subscribe_raw(ws, channel)
    local h, err = _M.get()
    if not h then
        return nil, err
    end
    local sub = ws.raw_sub
    if not sub then
        sub = _M.new_sub(h, "raw", ws)
        ws.raw_sub = sub
        ws:on_end(function()
            _M.drop_sub(sub)
        end)
        ngx.thread.spawn(raw_writer, ws, sub)
    end
    local ok, serr = _M.subscribe(sub, channel)
    if not ok then
        return nil, serr
    end
    return true
end

function _M.unsubscribe_raw(ws, channel)
    local sub = ws.raw_sub
    return sub and _M.unsubscribe(sub, channel) or false
end

-- Subscribers of a channel in this worker.
function _M.count(channel)
    return H and H.core:count(channel) or 0
end

-- State of the backplane: "off", "up" or "down".
function _M.backplane_state()
    if not H or not H.bp then
        return "off"
    end
    return H.bp.up and "up" or "down"
end

return _M
