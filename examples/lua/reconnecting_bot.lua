-- reconnecting_bot.lua URL: a bot that stays connected. It reconnects with
-- the core's backoff whenever the connection drops (server restart,
-- network loss), queues what it says while offline, answers "ping" with
-- "pong", and reports every event.
--
--   lua5.4 examples/lua/reconnecting_bot.lua ws://127.0.0.1:8080/
local wskit = require "wskit"

local url = arg[1] or "ws://127.0.0.1:8080/"
io.stdout:setvbuf("line") -- show events as they happen, also when piped

wskit.run(function()
    local bot = wskit.connect{
        url = url,
        reconnect = true,
        backoff = { initial_delay = 0.5, min_delay = 1, max_delay = 30 },
        offline_queue = 64 * 1024,  -- bytes sent while disconnected wait here
        on_connecting = function(_, attempt) print("connecting, attempt " .. attempt) end,
        on_open = function(ws) print("connected"); ws:send("bot") end,
        on_close = function(_, info)
            print(("closed: %d %s%s"):format(info.code, info.error or info.reason,
                info.will_retry and (", retrying in " .. info.retry_delay .. " s") or ", giving up"))
        end,
    }
    -- receive() spans reconnects: it returns nil only when the bot gives up
    while true do
        local msg, err = bot:receive()
        if not msg then
            print("done: " .. err)
            break
        end
        print("< " .. msg)
        if msg == "ping" then
            bot:send("pong")
        end
    end
end)
