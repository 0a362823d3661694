-- wskit.opts: option names shared with the other languages (docs/lua.md
-- lists them with their defaults). An unknown name raises, so a typo does
-- not silently fall back to a default.
local pairs, type, error = pairs, type, error

local M = {}

-- read by wskit.core (C): limits, timers, handshake
local common = {
    "max_size", "max_frame_size", "max_fragments", "max_line", "max_head", "max_headers",
    "write_limit", "open_timeout", "ping_interval", "ping_timeout", "close_timeout",
    "compression", "subprotocols",
    -- Lua side
    "max_queue", "methods", "on_open", "on_message", "on_close", "on_drain", "on_ping",
    "on_pong",
}
local server = {
    "host", "port", "unix", "handler", "headers", "origins", "backlog", "reuseport", "ipv6only",
    "tls_cert_file", "tls_key_file", "tls_client_ca_file", "process_request", "on_http",
    "on_shutdown",
    -- channels, backplane, SSE (docs/lua.md "Channels")
    "channels_path", "client_publish", "authorize", "history_size", "history_ttl",
    "backplane", "backplane_prefix", "sse_path", "sse_heartbeat", "sse_retry", "log",
    -- who may connect and how much they may send (docs/auth.md)
    "hosts", "auth_timeout", "authenticate", "first_message_auth", "message_rate",
    "message_burst", "rate_policy", "max_connections_per_ip", "ip_limit_policy",
}
local client = {
    "url", "headers", "additional_headers", "origin", "user_agent", "authorization",
    "reconnect", "backoff", "offline_queue", "tls_ca_file", "tls_insecure", "tls_cert_file",
    "tls_key_file", "proxy",
    "on_connecting",
    -- the JSON channel protocol (client:subscribe ...)
    "channels", "on_gap", "on_channel_reply",
}

local function set(...)
    local s = {}
    for _, list in pairs({ ... }) do
        for _, k in pairs(list) do
            s[k] = true
        end
    end
    return s
end
local known = { server = set(common, server), client = set(common, client) }

local callbacks = {
    "on_open", "on_message", "on_close", "on_drain", "on_ping", "on_pong", "on_connecting",
    "on_http", "on_shutdown", "handler", "process_request", "authorize", "authenticate",
    "first_message_auth", "log", "on_gap", "on_channel_reply",
}

-- check(kind, opts, level) -> a copy of opts (kind "server" or "client")
function M.check(kind, opts, level)
    level = (level or 1) + 1
    if type(opts) ~= "table" then
        error("wskit: options must be a table", level)
    end
    local k = known[kind]
    local o = {}
    for name, v in pairs(opts) do
        if type(name) == "number" and name == 1 and kind == "client" then
            name = "url" -- wskit.connect{"ws://..."}
        elseif not k[name] then
            error("wskit: unknown option " .. tostring(name), level)
        end
        o[name] = v
    end
    for _, name in pairs(callbacks) do
        if o[name] ~= nil and type(o[name]) ~= "function" then
            error("wskit: option " .. name .. " must be a function", level)
        end
    end
    if o.methods ~= nil and type(o.methods) ~= "table" then
        error("wskit: option methods must be a table of functions", level)
    end
    -- authenticate(ws, req) is the handshake hook, first_message_auth(ws,
    -- message, kind) the first-message one: the names of every binding
    if o.first_message_auth and not o.auth_timeout then
        o.auth_timeout = 10 -- first-message authentication is always bounded
    end
    if o.additional_headers ~= nil then -- the Python name
        o.headers = o.headers or o.additional_headers
        o.additional_headers = nil
    end
    return o
end

return M
