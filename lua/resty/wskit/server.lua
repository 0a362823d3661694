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

-- server:new(opts) or server.new(opts). Returns the connection, or nil,
-- err (and the HTTP status when the request was refused: the refusal has
-- then been sent already, so the handler just returns).
-- opts: timeout (ms), max_payload_len, protocols (ours, in preference
-- order), origins (allowlist), headers (extra 101 headers), compression,
-- ping_interval, ping_timeout, close_timeout, stream_fragments, rpc.
function _M.new(self, opts)
    if self ~= _M then
        opts = self
    end
    opts = opts or {}
    if ngx.headers_sent then
        return nil, "response header already sent"
    end
    local ver = ngx.req.http_version()
    if ver and ver >= 2 then
        return nil, "bad http version" -- no raw socket under HTTP/2
    end
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
    local accepted, early = false, nil
    if typ == "request" and status == 0 then
        accepted, err = c:accept(opts.protocol, opts.headers)
        if not accepted then
            c:reject(500)
            status = 500
        end
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
    return ws
end

return _M
