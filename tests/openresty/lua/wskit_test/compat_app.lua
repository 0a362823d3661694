-- One script written against lua-resty-websocket's API, run with either
-- lua-resty-websocket (Debian's nginx.websocket.*) or resty.wskit: only
-- the module passed in (the require) differs.
local _M = {}

-- Server: echo text and binary, answer pings, echo close, as the
-- lua-resty-websocket README's example does.
function _M.server(server)
    local wb, err = server:new{ timeout = 5000, max_payload_len = 65535 }
    if not wb then
        ngx.log(ngx.ERR, "failed to new websocket: ", err)
        return ngx.exit(444)
    end
    while true do
        local data, typ, err = wb:recv_frame()
        if not data then
            if not string.find(err, "timeout", 1, true) then
                return ngx.exit(444)
            end
        elseif typ == "close" then
            local bytes, err = wb:send_close(1000, "enough, enough!")
            return
        elseif typ == "ping" then
            local bytes, err = wb:send_pong(data)
            if not bytes then return ngx.exit(444) end
        elseif typ == "pong" then
            -- nothing
        elseif typ == "text" then
            local bytes, err = wb:send_text(data)
            if not bytes then return ngx.exit(444) end
        elseif typ == "binary" then
            local bytes, err = wb:send_binary(data)
            if not bytes then return ngx.exit(444) end
        end
    end
end

-- Client: connect to ?port=, send a text, a binary and a ping, read the
-- answers, close; print what was seen.
function _M.client(client)
    local args = ngx.req.get_uri_args()
    local wb, err = client:new{ timeout = 5000, max_payload_len = 65535 }
    local ok, err = wb:connect("ws://127.0.0.1:" .. args.port .. "/echo")
    if not ok then
        ngx.say("failed to connect: ", err)
        return
    end
    local seen = {}
    local bytes, err = wb:send_text("hello")
    local data, typ, err = wb:recv_frame()
    seen[#seen + 1] = tostring(typ) .. ":" .. tostring(data)
    bytes, err = wb:send_binary("\1\2\3")
    data, typ, err = wb:recv_frame()
    seen[#seen + 1] = tostring(typ) .. ":" .. tostring(data and #data)
    bytes, err = wb:send_ping("hb")
    data, typ, err = wb:recv_frame()
    seen[#seen + 1] = tostring(typ) .. ":" .. tostring(data)
    bytes, err = wb:send_close(1000, "bye")
    data, typ, err = wb:recv_frame()
    seen[#seen + 1] = tostring(typ) .. ":" .. tostring(err)
    wb:close()
    ngx.say(table.concat(seen, " "))
end

return _M
