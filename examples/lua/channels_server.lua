-- channels_server.lua [PORT [REDIS_URL]]: channels for browsers and bots
-- on 127.0.0.1:PORT (0: a free port, printed first).
--   ws://.../channels?token=T   the JSON channel protocol (docs/protocol.md)
--   GET /events?channel=NAME    the same channels as Server-Sent Events
-- Tokens name users (TOKENS below); anyone may subscribe, only users may
-- publish, and only to "chat.*". The channel "clock" gets the time every
-- second. With REDIS_URL (redis://127.0.0.1:6379/0) several instances
-- share the channels and their history. SIGTERM/SIGINT: shut down.
local wskit = require "wskit"

local TOKENS = { alice = { name = "alice" }, bob = { name = "bob" } }
local GUEST = { guest = true }

local server = assert(wskit.serve{
    host = "127.0.0.1",
    port = tonumber(arg[1]) or 0,
    channels_path = "/channels",
    sse_path = "/events",
    backplane = arg[2],
    history_size = 50,
    message_rate = 20, message_burst = 40,   -- per connection
    max_connections_per_ip = 100,
    -- the handshake hook: its answer is ws.user (nil would refuse with 401)
    authenticate = function(_, req)
        return TOKENS[wskit.auth.token_from_query(req) or ""] or GUEST
    end,
    authorize = function(ws, action, channel)
        if action == "subscribe" then
            return true
        end
        return ws.user ~= GUEST and channel:match("^chat%.") ~= nil
    end,
    log = function(line) io.stderr:write(line, "\n") end,
})
print("listening " .. server:port())
io.stdout:flush()

local ticking = true
wskit.spawn(function()
    while ticking do
        server:publish("clock", { time = os.time() })
        wskit.sleep(1)
    end
end)

-- graceful shutdown: close every connection with 1001 (clients come
-- back to another instance and resume there), wait up to 5 s. The
-- watchers stay (they do not keep the loop running): a repeated signal
-- must not kill us midway.
local function stop(name)
    if not ticking then
        return
    end
    print("shutting down on " .. name)
    io.stdout:flush()
    ticking = false
    wskit.spawn(function() server:shutdown(1001, 5) end)
end
wskit.on_signal("SIGTERM", stop)
wskit.on_signal("SIGINT", stop)
wskit.run()
