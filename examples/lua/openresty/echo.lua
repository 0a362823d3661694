-- An echo endpoint: every message back as it came, close codes echoed.
local server = require "resty.wskit.server"

return function()
    local ws, err = server:new{
        timeout = 60000,            -- recv_message gives "timeout" after 60 s idle
        max_payload_len = 1048576,  -- whole messages; bigger ones close with 1009
        ping_interval = 20000,      -- keepalive (the core's default)
    }
    if not ws then
        -- a refused handshake has been answered (400/403/426) already
        ngx.log(ngx.INFO, "not a WebSocket handshake: ", err)
        return
    end
    while true do
        local data, typ, err = ws:recv_message()
        if not data then
            if err ~= "timeout" then
                return -- closed, or a protocol error (the core sent the close)
            end
        elseif typ == "text" then
            ws:send_text(data)
        elseif typ == "binary" then
            ws:send_binary(data)
        elseif typ == "close" then
            return -- the core has echoed the close frame
        end
        -- pings were answered by the core; pongs need nothing
    end
end
