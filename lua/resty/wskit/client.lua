-- resty.wskit.client: a WebSocket client on ngx.socket.tcp, for content,
-- access, rewrite and timer contexts.
--
--   local client = require "resty.wskit.client"
--   local ws, err = client:new{ timeout = 5000 }
--   local ok, err = ws:connect("wss://example.com/chat", { protocols = "chat" })
--
-- TCP and TLS are nginx's (sslhandshake verifies the certificate by
-- default: set lua_ssl_trusted_certificate, or ssl_verify = false); the
-- request, the check of the 101 answer and everything after are the core's.
local conn = require "resty.wskit.conn"

local ngx = ngx
local proto = conn.proto
local now_ms = conn.now_ms
local flush = conn.flush
local next_event = conn.next_event
local setmetatable = setmetatable
local tostring = tostring
local find = string.find

local _M = { _VERSION = conn._VERSION }

-- Client objects: the shared methods plus connect / set_keepalive.
local methods = setmetatable({}, { __index = conn })
local mt = { __index = methods }

-- client:new(opts) or client.new(opts). opts: timeout (ms, every socket
-- operation), max_payload_len, compression, ping_interval, ping_timeout,
-- close_timeout, open_timeout, stream_fragments, ssl_verify, rpc, and any
-- connect() option as a default for it.
function _M.new(self, opts)
    if self ~= _M then
        opts = self
    end
    opts = opts or {}
    local sock, err = ngx.socket.tcp()
    if not sock then
        return nil, err
    end
    if opts.timeout then
        sock:settimeout(opts.timeout)
    end
    local ws = conn.wrap(sock, nil, opts, "client")
    ws.opts = opts
    return setmetatable(ws, mt)
end

-- ---- pooled WebSocket connections (set_keepalive) ----
-- A pooled socket carries protocol state (its compression context, the
-- negotiated subprotocol) that a fresh core connection cannot rebuild, so
-- each idle connection gets a pool of its own name and its core object is
-- kept here under that name: connect() asks nginx for exactly that socket
-- and takes the state back only when nginx hands the socket back reused.
local idle = {}     -- pool key -> list of { name =, c =, protocol = }
local pool_seq = 0

local function new_pool_name(key)
    pool_seq = pool_seq + 1
    return key .. "#" .. pool_seq
end

local function idle_pop(key)
    local list = idle[key]
    if not list or #list == 0 then
        return nil
    end
    local item = list[#list]
    list[#list] = nil
    return item
end

-- Merge new() defaults and connect() options (connect wins).
local function merged(defaults, opts)
    local o = {}
    for k, v in pairs(defaults) do
        o[k] = v
    end
    if opts then
        for k, v in pairs(opts) do
            o[k] = v
        end
    end
    return o
end

local function fail(self, kind, detail, err)
    self.failure = { kind = kind, detail = detail, error = err }
    self.fatal = true
    return nil, err
end

-- What a connect() error means for the reconnect policy.
local function connect_failure_kind(err)
    if find(err, "timeout", 1, true) then
        return "timeout"
    elseif find(err, "resolve", 1, true) or find(err, "resolver", 1, true) then
        return "dns"
    end
    return "refused"
end

-- ws:connect(uri, opts) -> 1, nil, response headers | nil, err, answer
-- opts: connect_timeout (ms, TCP connect only; `timeout` covers the
-- rest), protocols (string or list), origin, headers (map or list of
-- "Name: value"), host (Host header), user_agent, authorization,
-- compression, ssl_verify (default true), server_name (SNI and
-- verification name, default the URL's host), client_cert and
-- client_priv_key (parsed with ngx.ssl), pool, pool_size, backlog.
-- On a refusal `answer` is { status =, headers =, body = }.
function methods.connect(self, uri, opts)
    local sock = self.sock
    if not sock then
        return nil, "not initialized"
    end
    if self.c then
        return nil, "already connected"
    end
    local u, uerr = proto.url(uri)
    if not u then
        return fail(self, "handshake", nil, "bad websocket uri: " .. tostring(uerr))
    end
    local o = merged(self.opts, opts)
    local key = o.pool or ((u.secure and "wss:" or "ws:") .. u.host .. ":" .. u.port)
    self.pool_key = key

    -- TCP (maybe a pooled socket), then TLS
    local item = idle_pop(key)
    local name = item and item.name or new_pool_name(key)
    local host = u.ipv6 and ("[" .. u.host .. "]") or u.host
    if o.connect_timeout then
        local t = o.timeout or 0 -- 0: nginx's configured default
        sock:settimeouts(o.connect_timeout, t, t)
    end
    local ok, err = sock:connect(host, u.port,
        { pool = name, pool_size = o.pool_size, backlog = o.backlog })
    if not ok then
        if item then item.c:free() end
        return fail(self, connect_failure_kind(err), nil, "failed to connect: " .. tostring(err))
    end
    if u.secure then
        local verify = o.ssl_verify
        if verify == nil then
            verify = true
        end
        if o.client_cert then
            -- cdata from ngx.ssl.parse_pem_cert / parse_pem_priv_key, as in
            -- lua-resty-websocket (tcpsock:setclientcert: ngx_lua 0.10.22+)
            if sock.setclientcert then
                ok, err = sock:setclientcert(o.client_cert, o.client_priv_key)
            else
                ok, err = nil, "needs lua-nginx-module 0.10.22+"
            end
            if not ok then
                sock:close()
                if item then item.c:free() end
                return fail(self, "tls", nil, "client certificate: " .. tostring(err))
            end
        end
        ok, err = sock:sslhandshake(nil, o.server_name or u.host, verify)
        if not ok then
            sock:close()
            if item then item.c:free() end
            err = tostring(err)
            -- nginx reports verification failures as "<X509 code>: <text>"
            local kind = find(err, "^%d+:") and "tls_verify" or "tls"
            return fail(self, kind, nil, "ssl handshake failed: " .. err)
        end
    end
    self.pool_name = name
    if item then
        if (sock:getreusedtimes() or 0) > 0 then
            self.c, self.protocol = item.c, item.protocol
            return 1
        end
        item.c:free() -- nginx gave us a new socket: that state is gone
    end

    -- the opening handshake, by the core
    local co = conn.core_opts("client", o)
    co.host = o.host or u.host
    co.port = u.port
    co.secure = u.secure
    co.resource = u.resource
    co.origin = o.origin
    co.headers = o.headers
    co.user_agent = o.user_agent
    co.authorization = o.authorization
    if not co.authorization and u.userinfo ~= "" then
        co.authorization = "Basic " .. ngx.encode_base64(u.userinfo)
    end
    local c, cerr = proto.new(co, now_ms())
    if not c then
        sock:close()
        return fail(self, "handshake", nil, "bad options: " .. tostring(cerr))
    end
    self.c = c
    while true do
        local typ, data, a, b = next_event(self)
        if typ == "open" then
            self.protocol = c:subprotocol()
            self.response_headers = b
            return 1, nil, b
        elseif typ == "rejected" then
            sock:close()
            local kind = a == 101 and "handshake" or "http_status"
            local _, err2 = fail(self, kind, a, c:error())
            return nil, err2, { status = a, headers = b, body = data }
        elseif typ == "closed" then
            sock:close()
            -- timed out, an unparsable answer, or the server went away
            local why = data ~= "" and data or "closed"
            local kind = find(why, "timed out", 1, true) and "timeout"
                or find(why, "bad HTTP", 1, true) and "handshake" or "io"
            return fail(self, kind, nil, why)
        elseif not typ then
            sock:close()
            local kind = data == "timeout" and "timeout" or "io"
            return fail(self, kind, nil, "failed to receive the handshake response: " .. tostring(data))
        end
    end
end

-- Put an open, idle connection into nginx's pool (see above); a later
-- connect() to the same URL (or opts.pool) takes it back with its state.
-- Only a connection with nothing half-read or unsent can be pooled.
function methods.set_keepalive(self, max_idle_timeout, pool_size)
    local c, sock = self.c, self.sock
    if not c then
        return nil, "not initialized"
    end
    if self.fatal or self.dead or c:state() ~= "open" then
        return nil, "connection not open"
    end
    -- anything already received must have been read by the user
    local typ, data, a, b, d = c:event()
    if typ then
        self:push_backlog(typ, data, a, b, d)
    end
    local pending, busy = c:input_pending()
    if typ or pending > 0 or busy or (self.backlog and self.backlog.first <= self.backlog.last) then
        return nil, "unread data on the connection"
    end
    local ok, err = flush(self)
    if not ok then
        return nil, err
    end
    ok, err = sock:setkeepalive(max_idle_timeout, pool_size)
    if not ok then
        return nil, err
    end
    local list = idle[self.pool_key]
    if not list then
        list = {}
        idle[self.pool_key] = list
    end
    -- bound what we keep: nginx closes idle sockets beyond its pool size
    if #list >= (pool_size or 30) then
        table.remove(list, 1).c:free()
    end
    list[#list + 1] = { name = self.pool_name, c = c, protocol = self.protocol }
    self.c, self.dead, self.fatal = nil, true, true
    return 1
end

-- Why the last connect() or the connection failed, for the reconnect
-- policy: { kind = "refused"|"timeout"|"dns"|"tls_verify"|"tls"|
-- "http_status"|"handshake"|"closed"|"io", detail = status or code }.
function methods.failure_info(self)
    if self.failure then
        return self.failure
    end
    local info = self:close_info()
    if info then
        return { kind = "closed", detail = info.code, error = info.error }
    end
    return nil
end

_M.methods = methods

return _M
