-- resty.wskit.server: a WebSocket server endpoint inside content_by_lua*.
--
--   local server = require "resty.wskit.server"
--   local ws, err = server:new{ timeout = 5000, max_payload_len = 65536 }
--   if not ws then ngx.log(ngx.ERR, err) return end
--
-- The handshake is the core's: nginx has already parsed the request, but
-- ngx.req.raw_header() still holds its exact bytes, so the core is fed
-- that head as a client sent it and validates it as it would off the
-- wire (method, version, Upgrade, Connection, key, version 13, Origin,
-- subprotocols, permessage-deflate). Its answer (101, or 400/403/426 with
-- the right headers) goes out on the raw downstream socket
-- (ngx.req.socket(true)), which the connection then uses for frames.
local conn = require "resty.wskit.conn"

local ngx = ngx
local proto = conn.proto
local now_ms = conn.now_ms
local flush = conn.flush
local pcall = pcall
local tonumber = tonumber
local tostring = tostring

local _M = { _VERSION = conn._VERSION }

-- Drain the handshake's remaining events (OPEN, or CLOSED after a refusal).
local function drain(c)
    repeat
        local typ = c:event()
    until not typ
end

-- The request as an auth hook sees it. Cookies and headers come from
-- nginx's parsed request; the hook may also use ngx.var / ngx.req itself.
local function request_info()
    return {
        method = ngx.req.get_method(),
        uri = ngx.var.uri,
        args = ngx.req.get_uri_args(),
        headers = ngx.req.get_headers(),
        remote_addr = ngx.var.remote_addr,
        cookie = function(name)
            return ngx.var["cookie_" .. name]
        end,
    }
end

-- Run the handshake auth hook: user, or nil, status, reason. Also used
-- by resty.wskit.sse for its requests.
local function run_auth(hook)
    local ok, user, status, reason = pcall(hook, request_info())
    if not ok then
        ngx.log(ngx.ERR, "wskit: auth hook failed: ", user)
        return nil, 500, "auth hook failed"
    end
    if user == nil or user == false then
        return nil, tonumber(status) or 401, reason
    end
    return user
end

_M.run_auth = run_auth

-- The request target for logs, with credentials in the query replaced by
-- "***" (core's list); also given to nginx's access log through the
-- variable $wskit_target when the configuration declares it.
function _M.redacted_target()
    local t = proto.redact_target(ngx.var.request_uri or "")
    pcall(function() ngx.var.wskit_target = t end) -- undeclared: ignored
    return t
end

-- Per-IP connection counts live in a lua_shared_dict so every worker
-- sees them; a connection gives its count back when it ends.
local function ip_dict(opts)
    local name = opts.ip_limit_dict or "wskit_ip"
    local dict = ngx.shared[name]
    if not dict then
        error("resty.wskit.server: max_connections_per_ip needs `lua_shared_dict "
              .. name .. " 1m;` in nginx.conf")
    end
    return dict
end

local function ip_acquire(opts)
    local dict, ip = ip_dict(opts), ngx.var.remote_addr or ""
    local n, err = dict:incr(ip, 1, 0)
    if not n then
        ngx.log(ngx.ERR, "wskit: per-IP counter: ", err)
        return true -- fail open: the counter store is full
    end
    if n > opts.max_connections_per_ip then
        dict:incr(ip, -1)
        return false
    end
    return true, function()
        local left = dict:incr(ip, -1)
        if left and left <= 0 then
            dict:delete(ip)
        end
    end
end

-- Open connections from `ip` counted by max_connections_per_ip.
function _M.ip_count(ip, dict_name)
    local dict = ngx.shared[dict_name or "wskit_ip"]
    return dict and dict:get(ip) or 0
end

-- server:new(opts) or server.new(opts). Returns the connection, or nil,
-- err (and the HTTP status when the request was refused: the refusal has
-- then been sent already, so the handler just returns).
-- opts: timeout (ms), max_payload_len, protocols (ours, in preference
-- order), origins and hosts (allowlists), headers (extra 101 headers),
-- compression, ping_interval, ping_timeout, close_timeout,
-- stream_fragments, rpc; authenticate (alias auth: the handshake hook),
-- auth_timeout (ms) and first_message_auth (alias auth_message: the
-- first-message hook); message_rate, message_burst,
-- rate_policy; max_connections_per_ip, ip_limit_policy, ip_limit_dict.
function _M.new(self, opts)
    if self ~= _M then
        opts = self
    end
    opts = opts or {}
    local release, over_ip
    if (opts.max_connections_per_ip or 0) > 0 then
        local admitted
        admitted, release = ip_acquire(opts)
        over_ip = not admitted
    end
    local ws, err, status = _M._open(opts, over_ip)
    if not ws or over_ip then
        if release then
            release()
        end
        return ws, err, status
    end
    if release then
        ws:on_end(release)
    end
    return ws
end

function _M._open(opts, over_ip)
    if ngx.headers_sent then
        return nil, "response header already sent"
    end
    local ver = ngx.req.http_version()
    if ver and ver >= 2 then
        return nil, "bad http version" -- no raw socket under HTTP/2
    end
    _M.redacted_target()
    local ok, head = pcall(ngx.req.raw_header)
    if not ok or not head then
        return nil, "cannot read the request head: " .. tostring(head)
    end

    local c, err = proto.new(conn.core_opts("server", opts), now_ms())
    if not c then
        return nil, err
    end
    c:feed(head)
    local typ, _, status = c:event()
    local accepted, early, user = false, nil, nil
    local auth_hook = opts.authenticate or opts.auth
    if typ == "request" and status == 0 and over_ip and opts.ip_limit_policy ~= "close" then
        c:reject(429, { ["Retry-After"] = "5" }, "too many connections from this address\n")
        status, err = 429, "too many connections from this address"
    elseif typ == "request" and status == 0 and auth_hook and not over_ip then
        local reason
        user, status, reason = run_auth(auth_hook)
        if user then
            status = 0
        else
            c:reject(status, nil, (reason and tostring(reason) or "unauthorized") .. "\n")
            err = "refused by the auth hook: " .. tostring(reason or status)
        end
    end
    if typ == "request" and status == 0 then
        accepted, err = c:accept(opts.protocol, opts.headers)
        if not accepted then
            c:reject(500)
            status = 500
        end
    elseif typ == "request" and err then
        -- refused above (per-IP limit, auth hook): the answer is queued
    elseif typ == "request" then
        c:reject(0) -- the core's status, headers and body
    else
        -- a head the core could not parse (or over its limits): it has
        -- answered already; its status line is the one to log
        early = c:take()
        status = tonumber(early and early:match("^HTTP/1%.%d (%d%d%d)")) or 400
    end
    ngx.status = accepted and 101 or status

    local sock, serr = ngx.req.socket(true)
    if not sock then
        c:free()
        return nil, "failed to get the raw request socket: " .. tostring(serr)
    end
    local ws = conn.wrap(sock, c, opts, "server")
    if opts.timeout then
        sock:settimeout(opts.timeout)
    end
    drain(c)
    if early then
        sock:send(early)
    end
    local sent, werr = flush(ws)
    if not accepted then
        local why = c:error()
        ws.fatal = true
        return nil, why ~= "" and why or err or "handshake refused", status
    end
    if not sent then
        return nil, werr
    end
    ws.protocol = c:subprotocol()
    ws.user = user
    ws.auth_message = opts.first_message_auth or opts.auth_message
    if over_ip then
        -- ip_limit_policy "close": accepted, then closed with 1013
        ws:close(1013, "too many connections from this address")
        return nil, "too many connections from this address", 1013
    end
    return ws
end

return _M
