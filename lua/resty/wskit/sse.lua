-- resty.wskit.sse: a Server-Sent Events location streaming one channel of
-- this worker's hub (docs/sse.md):
--
--   location = /events {
--       content_by_lua_block { require("resty.wskit.sse").serve{ retry = 2000 } }
--   }
--
-- GET /events?channel=NAME streams text/event-stream: first "retry:",
-- then one event per message with id "<epoch>:<seq>" and the payload as
-- data (text and JSON as they are, binary in base64), "event: gap" with
-- the hub's gap message when history is missing, and a comment line every
-- `sse_heartbeat` ms. A reconnecting EventSource sends Last-Event-ID (or
-- ?lastEventId=) and gets what it missed from the channel's history. The
-- event format is the core's (wskit.proto sse_hub_event: a gap's id is
-- "<epoch>:<to>", so a reader resumes after what is gone); nginx sends
-- the body with ngx.print / ngx.flush (chunked). `hosts` is the same Host
-- allowlist as for WebSocket requests (the core's check): others get 403.
local proto = require "wskit.proto"
local hub = require "resty.wskit.hub"

local ngx = ngx
local log = ngx.log
local tostring = tostring

local _M = {}

local function send(s)
    local ok, err = ngx.print(s)
    if ok then
        ok, err = ngx.flush(true)
    end
    return ok, err
end

-- Serve one SSE request. opts: sse_retry (ms, default 2000), sse_heartbeat
-- (ms, default 15000; aliases retry, heartbeat), hosts (Host allowlist,
-- 403), authenticate(req) as for
-- resty.wskit.server (401/403), authorize(conn, "subscribe", channel)
-- with conn = { sse = true, channel =, user = }, send_queue, and the
-- hub's options (backplane, history_size, ...) when this worker's hub is
-- made.
function _M.serve(opts)
    opts = opts or {}
    local h, err = hub.get(opts)
    if not h then
        log(ngx.ERR, "wskit sse: ", err)
        return ngx.exit(500)
    end
    -- the Host allowlist first, as the WebSocket handshake does
    if not proto.host_allowed(opts.hosts, ngx.var.http_host) then
        ngx.status = 403
        ngx.say("host not allowed")
        return ngx.exit(403)
    end
    local args = ngx.req.get_uri_args()
    local channel = args.channel
    if type(channel) ~= "string" or channel == "" then
        ngx.status = 400
        ngx.say("missing ?channel=")
        return ngx.exit(400)
    end
    -- the same hooks as WebSocket requests: authenticate (handshake
    -- credentials) gives the user, authorize sees it
    local conn = { sse = true, channel = channel }
    local auth_hook = opts.authenticate or opts.auth
    if auth_hook then
        local user, status, reason = require("resty.wskit.server").run_auth(auth_hook)
        if not user then
            ngx.status = status
            ngx.say(reason and tostring(reason) or "unauthorized")
            return ngx.exit(status)
        end
        conn.user = user
    end
    if not hub.authorized(opts, conn, "subscribe", channel, "wskit sse") then
        ngx.status = 403
        ngx.say("forbidden")
        return ngx.exit(403)
    end
    -- resume point: an id we gave out, else start from now
    local since, epoch
    local last = ngx.var.http_last_event_id or args.lastEventId
    if type(last) == "string" and last ~= "" then
        epoch, since = proto.sse_parse_id(last)
        if not epoch then
            since = nil
        end
    end

    local sub = hub.new_sub(h, "sse", nil, opts.send_queue)
    local ok, serr, code = hub.subscribe(sub, channel, since, epoch)
    if not ok then
        hub.drop_sub(sub)
        local status = code == "unavailable" and 503 or 400
        ngx.status = status
        ngx.say(tostring(serr))
        return ngx.exit(status)
    end
    ngx.status = 200
    ngx.header["Content-Type"] = "text/event-stream"
    ngx.header["Cache-Control"] = "no-cache"
    ngx.header["X-Accel-Buffering"] = "no"
    local aborted = false
    pcall(ngx.on_abort, function() -- needs lua_check_client_abort on
        aborted = true
        hub.drop_sub(sub)
    end)

    local heartbeat = (opts.sse_heartbeat or opts.heartbeat or 15000) / 1000
    local wok, werr = send(proto.sse_retry(opts.sse_retry or opts.retry or 2000))
    while wok and not aborted and not ngx.worker.exiting() do
        local rec, why = hub.next_output(sub, heartbeat)
        if rec then
            local text, ferr = proto.sse_hub_event(rec)
            if not text then
                log(ngx.ERR, "wskit sse: cannot format an event: ", ferr)
            elseif text ~= "" then
                wok, werr = send(text)
            end
        elseif why == "timeout" then
            wok, werr = send(proto.sse_comment(nil))
        else
            if why == "overflow" then
                log(ngx.WARN, "wskit sse: client too slow, ending the stream (send_queue full)")
            end
            break
        end
    end
    if not wok then
        log(ngx.INFO, "wskit sse: stream ended: ", werr)
    end
    hub.drop_sub(sub)
end

return _M
