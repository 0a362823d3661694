-- Endpoints of nginx_hub.conf.in: channels, publish from a handler, and
-- application WebSockets with auth and limits. Options come from the
-- query string so one nginx serves every case.
--   /channels?publish=0&authz=1&queue=N&rate=R&burst=B&auth=1[&token=s3cret]
--   /publish?channel=C[&kind=binary|json]   POST body = payload
--   /app/token   handshake auth: ?token=s3cret            (401 otherwise)
--   /app/cookie  handshake auth: Cookie session=c00kie    (403 otherwise)
--   /app/bearer  handshake auth: Authorization: Bearer t0ken (401)
--   /app/first   first-message auth "login s3cret" within ?auth_timeout=
--                (ms; "none": left unset)
--   /app/rate    ?rate=&burst=&policy=   "stats" answers the counters
--   /app/ip      ?max=&policy=           per-IP connection limit
--   /app/hosts   hosts = { "good.example", "127.0.0.1:<any>" }
--   /app/raw     ws:subscribe(?channel=): payloads as frames
-- Every app endpoint echoes "echo:<data>" and answers "whoami" with
-- "user:<ws.user>".
local server = require "resty.wskit.server"
local hub = require "resty.wskit.hub"
local cjson = require "cjson"

local _M = {}

-- Chromium's EventSource records what it gets (test_resty_browser_sse.py).
_M.SSE_PAGE = [[<!doctype html><html><head><meta charset="utf-8"><title>sse</title></head>
<body><script>
"use strict";
window.got = []; window.gaps = []; window.opens = 0;
const es = new EventSource("/events?channel=" + new URLSearchParams(location.search).get("c"));
es.onopen = () => { window.opens++; };
es.onmessage = (e) => { window.got.push([e.lastEventId, e.data]); };
es.addEventListener("gap", (e) => { window.gaps.push(JSON.parse(e.data)); });
</script></body></html>]]

function _M.channels()
    local a = ngx.req.get_uri_args()
    ngx.log(ngx.INFO, "channels served by worker ", ngx.worker.pid(), ",")
    require("resty.wskit.channels").serve{
        timeout = 10000,
        client_publish = a.publish ~= "0",
        send_queue = tonumber(a.queue),
        message_rate = tonumber(a.rate),
        message_burst = tonumber(a.burst),
        authenticate = a.auth == "1" and function(req)
            if req.args.token == "s3cret" then
                return { name = "frank" }
            end
            return nil, 401, "bad token"
        end or nil,
        authorize = a.authz == "1" and function(ws, action, channel)
            -- "secret*" channels are closed (except to frank); "ro*" read-only
            if channel:find("^secret") then
                return ws.user ~= nil and ws.user.name == "frank"
            end
            return not (action == "publish" and channel:find("^ro"))
        end or nil,
    }
end

function _M.sse_auth()
    require("resty.wskit.sse").serve{
        sse_heartbeat = 300,
        authenticate = function(req)
            if req.args.token == "s3cret" then
                return { name = "erin" }
            end
            return nil, 401, "bad token"
        end,
        authorize = function(conn, action, channel)
            return conn.user.name == "erin" and action == "subscribe"
                and not channel:find("^secret")
        end,
    }
end

function _M.publish()
    ngx.req.read_body()
    local a = ngx.req.get_uri_args()
    local data = ngx.req.get_body_data() or ""
    local kind = a.kind
    if kind == "json" then
        kind = "j"
    elseif kind == "binary" then
        kind = "b"
    end
    local seq, epoch = hub.publish(a.channel, data, kind)
    if not seq then
        ngx.status = tostring(epoch):find("^unavailable") and 503 or 400
        ngx.say(cjson.encode{ error = epoch })
        return
    end
    ngx.say(cjson.encode{ seq = seq, epoch = epoch })
end

local function echo_loop(ws)
    while true do
        local data, typ, err = ws:recv_message()
        if not data then
            if err ~= "timeout" then
                return
            end
        elseif typ == "text" or typ == "binary" then
            if data == "whoami" then
                ws:send_text("user:" .. tostring(ws.user and (ws.user.name or ws.user)))
            elseif data == "stats" then
                ws:send_text(cjson.encode(ws:stats()))
            else
                ws:send_text("echo:" .. data)
            end
        end
    end
end

local auth = {}

function auth.token(req)
    if req.args.token == "s3cret" then
        return { name = "alice" }
    end
    return nil, 401, "bad token"
end

function auth.cookie(req)
    if req.cookie("session") == "c00kie" then
        return { name = "bob" }
    end
    return nil, 403, "no session"
end

function auth.bearer(req)
    if req.headers["authorization"] == "Bearer t0ken" then
        return { name = "carol" }
    end
    return nil, 401, "bad bearer token"
end

local function options(name, a)
    local o = { timeout = 10000 }
    o.authenticate = auth[name]
    if name == "first" then
        -- ?auth_timeout=none: not set, the default (10 s) applies
        if a.auth_timeout ~= "none" then
            o.auth_timeout = tonumber(a.auth_timeout) or 1000
        end
        o.first_message_auth = function(ws, data)
            if data == "login s3cret" then
                return { name = "dave" }
            end
            return nil, "bad credentials"
        end
    elseif name == "rate" then
        o.message_rate = tonumber(a.rate)
        o.message_burst = tonumber(a.burst)
        o.rate_policy = a.policy
    elseif name == "ip" then
        o.max_connections_per_ip = tonumber(a.max) or 2
        o.ip_limit_policy = a.policy
    elseif name == "hosts" then
        o.hosts = { "good.example", "127.0.0.1" }
    end
    return o
end

function _M.app()
    local name = ngx.var.uri:match("^/app/(%w+)")
    local a = ngx.req.get_uri_args()
    local ws, err, status = server.new(options(name, a))
    if not ws then
        ngx.log(ngx.INFO, "hub_app refused: ", err, " ", tostring(status))
        return
    end
    if name == "raw" then
        local ok, serr = ws:subscribe(a.channel)
        ws:send_text(ok and "subscribed" or ("error:" .. tostring(serr)))
    end
    echo_loop(ws)
end

return _M
