-- resty.wskit.channels: a location that speaks the JSON channel protocol
-- (docs/protocol.md) over WebSocket with this worker's hub, with no
-- application code:
--
--   location = /channels {
--       content_by_lua_block {
--           require("resty.wskit.channels").serve{
--               backplane = "redis://127.0.0.1:6379/0",   -- optional
--               authorize = function(ws, action, channel) return true end,
--           }
--       }
--   }
--
-- The request's coroutine reads and answers the client; a light thread of
-- the same request writes everything the client is sent (hub outputs and
-- replies, in order) from the subscriber's queue. Parsing and building
-- the protocol's messages, numbering, history and resume are the core's.
local proto = require "wskit.proto"
local server = require "resty.wskit.server"
local hub = require "resty.wskit.hub"

local ngx = ngx
local log = ngx.log
local type = type
local tostring = tostring

local _M = {}

local build_error = proto.chan_error

local function reply_error(sub, code, message, channel, id)
    hub.push(sub, build_error(code, message, channel, id))
end

local function allowed(opts, ws, action, channel)
    return hub.authorized(opts, ws, action, channel, "wskit channels")
end

local function on_subscribe(opts, ws, sub, f)
    if not allowed(opts, ws, "subscribe", f.channel) then
        return reply_error(sub, "forbidden", "not allowed to subscribe", f.channel, f.id)
    end
    local ok, err, code = hub.subscribe(sub, f.channel, f.since, f.epoch, f.id)
    if not ok then
        reply_error(sub, code, tostring(err), f.channel, f.id)
    end
end

local function on_unsubscribe(sub, f)
    if hub.unsubscribe(sub, f.channel) then
        hub.push(sub, proto.chan_unsubscribed(f.channel, f.id))
    else
        reply_error(sub, "not_subscribed", "not subscribed", f.channel, f.id)
    end
end

local function on_publish(opts, ws, sub, f)
    if opts.client_publish == false or not allowed(opts, ws, "publish", f.channel) then
        return reply_error(sub, "forbidden", "not allowed to publish", f.channel, f.id)
    end
    local seq, err = hub.publish_on(sub.hub, f.channel, f.data, f.kind)
    if not seq then
        local code = tostring(err):find("^unavailable") and "unavailable" or "bad_request"
        return reply_error(sub, code, tostring(err), f.channel, f.id)
    end
    hub.push(sub, proto.chan_published(f.channel, seq, f.id))
end

-- One message from the client.
local function on_message(opts, ws, sub, data, typ)
    if typ ~= "text" then
        return reply_error(sub, "bad_request", "the channel protocol uses text messages")
    end
    local f, why = proto.chan_parse(data)
    if not f then
        return reply_error(sub, "bad_request", why)
    end
    if f.type == "subscribe" then
        on_subscribe(opts, ws, sub, f)
    elseif f.type == "unsubscribe" then
        on_unsubscribe(sub, f)
    elseif f.type == "publish" then
        on_publish(opts, ws, sub, f)
    else
        reply_error(sub, "bad_request", "a client does not send " .. f.type, f.channel, f.id)
    end
end

-- The writer: everything queued for this connection, in order.
local function writer(ws, sub)
    while true do
        local item, why = hub.next_output(sub, 5)
        if item then
            local ok, err = ws:send_text(type(item) == "string" and item or item.json)
            if not ok then
                -- nothing more can reach this client: stop queueing for it,
                -- and end the connection if the socket is still there
                hub.drop_sub(sub)
                if not ws.fatal and not ws.dead then
                    log(ngx.ERR, "wskit channels: send failed: ", err)
                    ws:close(1011, "send failed")
                end
                break
            end
        elseif why == "overflow" then
            log(ngx.WARN, "wskit channels: client too slow, closing (send_queue full)")
            ws:close(1013, "too slow: send queue full")
            break
        elseif why == "gone" or ws.dead or ws.fatal then
            break
        end
    end
end

-- Serve one WebSocket request with the channel protocol. opts: every
-- resty.wskit.server option (timeout, origins, hosts, auth, auth_timeout,
-- auth_message, message_rate, ..., max_connections_per_ip), the hub's
-- (backplane, history_size, ... applied when this worker's hub is made),
-- client_publish (default true), authorize(ws, action, channel),
-- send_queue (outputs waiting for this client; past it: close 1013).
function _M.serve(opts)
    opts = opts or {}
    local h, err = hub.get(opts)
    if not h then
        log(ngx.ERR, "wskit channels: ", err)
        return ngx.exit(500)
    end
    local ws, werr, status = server.new(opts)
    if not ws then
        log(ngx.INFO, "wskit channels: refused ", server.redacted_target(), ": ", werr,
            " ", tostring(status))
        return
    end
    -- wake up now and then to notice the worker shutting down
    ws.should_stop = ngx.worker.exiting
    ws.poll_ms = opts.poll or 5000
    local sub = hub.new_sub(h, "json", ws, opts.send_queue)
    ws:on_end(function()
        hub.drop_sub(sub)
    end)
    local wthread = ngx.thread.spawn(writer, ws, sub)
    while true do
        local data, typ, rerr = ws:recv_message()
        if not data then
            if rerr ~= "timeout" then
                break
            end
        elseif typ == "text" or typ == "binary" then
            on_message(opts, ws, sub, data, typ)
        end
    end
    ws:_ended() -- drops the subscriber, which ends the writer
    ngx.thread.wait(wthread)
end

return _M
