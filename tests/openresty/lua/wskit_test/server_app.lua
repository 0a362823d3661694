-- resty.wskit.server endpoints for the tests. The path picks the
-- behaviour, the query string the options:
--   /ws/echo     echo every message (recv_message), echo close codes
--   /ws/frag     echo each message back in fragments of ?frag= bytes
--   /ws/close    answer the first message by closing with ?code=&reason=
--   /ws/stream   recv_frame with stream_fragments: report the pieces
--   /ws/rpc      JSON-RPC handlers "sum" and "fail"; other text echoed
--   /ws/ping     send_ping, report the pong's id and latency
--   /ws/duplex   echo, while a second light thread sends ?n= messages
-- ?max= sets max_payload_len, ?compress=0 turns compression off,
-- ?protocols=a,b our subprotocols, ?ping_interval= keepalive (ms).
local server = require "resty.wskit.server"

local _M = {}

local function split(s)
    local out = {}
    for p in string.gmatch(s, "[^,]+") do
        out[#out + 1] = p
    end
    return out
end

local function options(args)
    return {
        timeout = tonumber(args.timeout) or 10000,
        max_payload_len = tonumber(args.max),
        compression = args.compress ~= "0",
        protocols = args.protocols and split(args.protocols) or nil,
        ping_interval = tonumber(args.ping_interval),
        ping_timeout = tonumber(args.ping_timeout),
        stream_fragments = args.stream == "1",
        origins = args.origins and split(args.origins) or nil,
        max_head = tonumber(args.max_head),
    }
end

local function echo_loop(ws, on_message)
    while true do
        local data, typ, err = ws:recv_message()
        if not data then
            if err ~= "timeout" then
                ngx.log(ngx.INFO, "wskit test server: ", err)
                return
            end
        elseif typ == "close" then
            ws:send_close(err) -- already echoed by the core: a no-op
        elseif typ == "text" or typ == "binary" then
            on_message(data, typ)
        end
    end
end

local handlers = {}

function handlers.echo(ws)
    echo_loop(ws, function(data, typ)
        if typ == "text" then ws:send_text(data) else ws:send_binary(data) end
    end)
end

function handlers.frag(ws, args)
    local size = tonumber(args.frag) or 65536
    echo_loop(ws, function(data, typ)
        local op = typ == "text" and 0x1 or 0x2
        local n = #data
        local i = 1
        repeat
            local j = math.min(i + size - 1, n)
            local fin = j >= n
            local ok, err = ws:send_frame(fin, i == 1 and op or 0x0, data:sub(i, j))
            if not ok then
                ngx.log(ngx.ERR, "send_frame: ", err)
                return
            end
            i = j + 1
        until i > n
    end)
end

function handlers.close(ws, args)
    local data, typ = ws:recv_message()
    if not data then return end
    ws:send_close(tonumber(args.code) or 1000, args.reason or "")
    -- read until the client's echo ends the connection
    while true do
        local d, t, err = ws:recv_message()
        if not d then return end
    end
end

function handlers.stream(ws)
    -- report each piece as "<typ>:<len>:<err>" then echo the summary
    local pieces = {}
    while true do
        local data, typ, err = ws:recv_frame()
        if not data then return end
        if typ == "close" then return end
        pieces[#pieces + 1] = typ .. ":" .. #data .. ":" .. tostring(err)
        if err ~= "again" then
            ws:send_text(table.concat(pieces, " "))
            pieces = {}
        end
    end
end

function handlers.rpc(ws)
    ws:on_request("sum", function(params)
        return params[1] + params[2]
    end)
    ws:on_request("fail", function()
        return nil, { code = 42, message = "asked to fail" }
    end)
    ws:on_request("call_back", function(params, w)
        -- a request from inside a handler: ask the client, answer with its reply
        ngx.thread.spawn(function()
            local res, err = w:request("double", { params[1] }, 2000)
            w:send_text("call_back:" .. tostring(res or err))
        end)
        return "started"
    end)
    handlers.echo(ws)
end

-- a writer light thread sends ?n= ticks while the main thread echoes
function handlers.duplex(ws, args)
    local n = tonumber(args.n) or 50
    local writer = ngx.thread.spawn(function()
        for i = 1, n do
            local ok, err = ws:send_text(("tick %d %s"):format(i, string.rep("t", 3000)))
            if not ok then return end
            if i % 10 == 0 then ngx.sleep(0.001) end
        end
    end)
    handlers.echo(ws)
    ngx.thread.wait(writer)
end

function handlers.ping(ws)
    local bytes, err, id = ws:send_ping()
    while true do
        local data, typ, perr, ping_id, latency = ws:recv_frame()
        if not data then return end
        if typ == "pong" then
            ws:send_text(("pong id=%s acked=%s latency_ok=%s"):format(
                tostring(id), tostring(ping_id), tostring(latency and latency >= 0)))
        elseif typ == "close" then
            return
        end
    end
end

function _M.run()
    local name = ngx.var.uri:match("^/ws/(%w+)")
    local h = handlers[name]
    if not h then
        return ngx.exit(404)
    end
    local args = ngx.req.get_uri_args()
    local ws, err, status = server:new(options(args))
    if not ws then
        ngx.log(ngx.INFO, "wskit test server refused: ", err, " ", tostring(status))
        return
    end
    h(ws, args)
end

return _M
