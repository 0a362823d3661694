-- echo_server.lua [PORT] [--handler]: a WebSocket echo server on
-- 127.0.0.1:PORT (0 or none: a free port; the first line printed says
-- which). Default: the callback style (on_message, no coroutine, the
-- fastest); --handler: one coroutine per connection with ws:receive().
-- SIGINT ends it (Ctrl-C).
--
--   lua5.4 examples/lua/echo_server.lua 8080
--   luajit examples/lua/echo_server.lua 8080 --handler
local wskit = require "wskit"

local port = tonumber(arg[1]) or 0
local coroutines = arg[2] == "--handler"

local opts = { host = "127.0.0.1", port = port, max_size = 64 * 1024 * 1024 }
if coroutines then
    opts.handler = function(ws)
        while true do -- (not `for ... in ws:messages()`: Lua 5.1 cannot yield in an iterator)
            local msg, kind = ws:receive()
            if not msg then
                return
            end
            ws:send(msg, kind)
        end
    end
else
    opts.on_message = function(ws, msg, kind)
        ws:send(msg, kind)
    end
end

local server = assert(wskit.serve(opts))
print("listening " .. server:port())
io.stdout:flush()
wskit.run()
