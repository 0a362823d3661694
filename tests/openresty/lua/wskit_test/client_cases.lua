-- resty.wskit.client cases, run inside a request against the Python
-- peer on ?port= (and ?tls_port=, ?bad_tls_port=). /client?case=NAME
-- answers with a JSON object the pytest side checks.
local client = require "resty.wskit.client"
local cjson = require "cjson"

local _M = {}
local cases = {}

local function base(args)
    return "ws://127.0.0.1:" .. args.port
end

local function connect(args, path, opts, copts)
    local ws, err = client:new(opts or { timeout = 5000 })
    if not ws then return nil, err end
    local ok, cerr, res = ws:connect(base(args) .. path, copts)
    if not ok then return nil, cerr, res, ws end
    return ws
end

function cases.echo(args)
    local ws, err = connect(args, "/echo", nil, { protocols = { "b", "a" } })
    if not ws then return { error = err } end
    local r = { protocol = ws.protocol, compression = ws:compression() ~= nil }
    ws:send_text("hello")
    r.text, r.text_typ = ws:recv_message()
    ws:send_binary("\0\1\2")
    local d, t = ws:recv_message()
    r.binary, r.binary_typ = ngx.encode_base64(d), t
    ws:send_text(string.rep("compress me ", 1000))
    d = ws:recv_message()
    r.long_ok = d == string.rep("compress me ", 1000)
    r.close = ws:close(1000, "done")
    return r
end

-- 1 MiB each way: the peer sends it fragmented, we echo it fragmented
function cases.big(args)
    local ws, err = connect(args, "/big", { timeout = 10000, max_payload_len = 4 * 1048576 })
    if not ws then return { error = err } end
    local data, typ, rerr = ws:recv_message()
    if not data then return { error = rerr } end
    local r = { len = #data, typ = typ, md5 = ngx.md5(data) }
    local size, i = 65536, 1
    while i <= #data do
        local j = math.min(i + size - 1, #data)
        local ok, serr = ws:send_frame(j >= #data, i == 1 and 0x2 or 0x0, data:sub(i, j))
        if not ok then return { error = serr } end
        i = j + 1
    end
    r.peer = ws:recv_message()
    ws:close()
    return r
end

function cases.close_code(args)
    local ws, err = connect(args, "/close?code=4003&reason=bye")
    if not ws then return { error = err } end
    ws:send_text("go")
    local data, typ, code = ws:recv_frame()
    local d2, t2, e2 = ws:recv_frame()
    return { reason = data, typ = typ, code = code, after = e2, fatal = ws.fatal,
             info = ws:close_info() }
end

function cases.client_close(args)
    local ws, err = connect(args, "/echo")
    if not ws then return { error = err } end
    ws:send_close(4002, "client says bye")
    local data, typ, code = ws:recv_frame()
    local d2, t2, e2 = ws:recv_frame()
    return { typ = typ, code = code, after = e2, info = ws:close_info() }
end

function cases.too_big(args)
    local ws, err = connect(args, "/send?n=2048", { timeout = 5000, max_payload_len = 1024 })
    if not ws then return { error = err } end
    local data, typ, rerr = ws:recv_message()
    return { data = data, err = rerr, fatal = ws.fatal, info = ws:close_info() }
end

function cases.rejected(args)
    local ws, err, res = connect(args, "/reject")
    return { ok = ws ~= nil, err = err, status = res and res.status, body = res and res.body,
             failure = ws == nil and nil }
end

function cases.refused(args)
    local ws = client:new{ timeout = 2000 }
    local ok, err = ws:connect("ws://127.0.0.1:" .. args.closed_port .. "/")
    return { ok = ok, err = err, failure = ws:failure_info() }
end

-- a peer that accepts TCP and never answers the handshake
function cases.open_timeout(args)
    local ws = client:new{ open_timeout = 300, connect_timeout = 1000 }
    local t0 = ngx.now()
    local ok, err = ws:connect("ws://127.0.0.1:" .. args.silent_port .. "/")
    ngx.update_time()
    return { ok = ok, err = err, failure = ws:failure_info(), took = ngx.now() - t0 }
end

local function tls(args, port, copts)
    local ws = client:new{ timeout = 5000 }
    local ok, err = ws:connect("wss://127.0.0.1:" .. port .. "/echo", copts)
    if not ok then return { ok = false, err = err, failure = ws:failure_info() } end
    ws:send_text("over tls")
    local d = ws:recv_message()
    ws:close()
    return { ok = true, echo = d }
end

function cases.tls_verified(args)
    return tls(args, args.tls_port, { server_name = "localhost" })
end

function cases.tls_untrusted(args)
    return tls(args, args.bad_tls_port, { server_name = "localhost" })
end

function cases.tls_noverify(args)
    return tls(args, args.bad_tls_port, { server_name = "localhost", ssl_verify = false })
end

-- a client certificate (the server's own pair will do: same CA)
function cases.tls_client_cert(args)
    local ssl = require "ngx.ssl"
    local function read(path)
        local f = assert(io.open(path))
        local d = f:read("*a")
        f:close()
        return d
    end
    local cert = assert(ssl.parse_pem_cert(read(args.cert)))
    local key = assert(ssl.parse_pem_priv_key(read(args.key)))
    local with = tls(args, args.mtls_port, { server_name = "localhost",
                                             client_cert = cert, client_priv_key = key })
    local without = tls(args, args.mtls_port, { server_name = "localhost" })
    return { with = with, without = without }
end

function cases.timeout(args)
    local ws, err = connect(args, "/silent", { timeout = 200 })
    if not ws then return { error = err } end
    local data, typ, rerr = ws:recv_message()
    local r = { err = rerr, fatal = ws.fatal or false }
    ws:send_text("wake")
    ws:set_timeout(5000)
    r.after = ws:recv_message()
    ws:close()
    return r
end

function cases.ping(args)
    local ws, err = connect(args, "/echo")
    if not ws then return { error = err } end
    local bytes, perr, id = ws:send_ping()
    local data, typ, e, acked, latency = ws:recv_frame()
    ws:close()
    return { bytes = bytes, id = id, typ = typ, acked = acked, latency_ok = latency >= 0 }
end

function cases.utf8_out(args)
    local ws, err = connect(args, "/echo")
    if not ws then return { error = err } end
    local ok, serr = ws:send_text("\255")
    local r = { ok = ok, err = serr, fatal = ws.fatal or false }
    ws:send_text("still fine")
    r.after = ws:recv_message()
    ws:close()
    return r
end

function cases.rpc(args)
    local ws, err = connect(args, "/rpc")
    if not ws then return { error = err } end
    local r = {}
    r.sum = ws:request("sum", { 1, 2 }, 2000)
    local res, rerr, eobj = ws:request("fail", {}, 2000)
    r.fail_err, r.fail_code = rerr, eobj and eobj.code
    res, rerr = ws:request("never", {}, 200)
    r.never = rerr
    ws:notify("note", { "x" })
    -- a message that is not a reply reaches recv_message
    ws:send_text("plain")
    r.plain = ws:recv_message()
    -- the peer's own request is answered by our handler
    ws:on_request("double", function(p) return p[1] * 2 end)
    ws:send_text("ask me")
    r.asked = ws:recv_message()
    -- concurrent requests from two light threads, one of them reading
    local t1 = ngx.thread.spawn(function() return ws:request("sum", { 10, 20 }, 2000) end)
    local t2 = ngx.thread.spawn(function() return ws:request("sum", { 1, 1 }, 2000) end)
    local _, a = ngx.thread.wait(t1)
    local _, b = ngx.thread.wait(t2)
    r.concurrent = { a, b }
    ws:close()
    return r
end

function cases.keepalive(args)
    local ws, err = connect(args, "/echo")
    if not ws then return { error = err } end
    ws:send_text(string.rep("pooled ", 100))
    local first = ws:recv_message()
    local ok, kerr = ws:set_keepalive(10000, 4)
    local ws2 = client:new{ timeout = 5000 }
    local ok2, err2 = ws2:connect(base(args) .. "/echo")
    local reused = ws2.sock:getreusedtimes()
    ws2:send_text(string.rep("pooled ", 100))
    local second = ws2:recv_message()
    ws2:close()
    return { keepalive = ok, kerr = kerr, connected = ok2, err2 = err2, reused = reused,
             same = first == second }
end

function _M.run()
    local args = ngx.req.get_uri_args()
    local case = cases[args.case]
    if not case then
        return ngx.exit(404)
    end
    local ok, r = pcall(case, args)
    if not ok then
        r = { lua_error = tostring(r) }
    end
    ngx.header.content_type = "application/json"
    ngx.say(cjson.encode(r))
end

return _M
