-- chat_server.lua [PORT]: a chat room on 127.0.0.1:PORT (0: a free port,
-- printed first). Each connection's first message is its name; then
--   "/join ROOM"      subscribe to a channel     "/leave ROOM"  leave it
--   "/say ROOM TEXT"  publish to a channel       anything else  to everyone
-- JSON-RPC: "who" returns the names online, "rooms" the channels joined.
-- GET /health answers "ok" (plain HTTP). SIGTERM/SIGINT: shut down with 1001.
local wskit = require "wskit"

local names = {} -- ws -> name (removed when the connection ends)
local rooms = {} -- ws -> { room = true }
local server, sigint, sigterm

local function chat(ws)
    local name = ws:receive(30)
    if not name then
        return ws:close(1008, "say your name first")
    end
    names[ws], rooms[ws] = name, {}
    server:broadcast(name .. " joined")
    while true do
        local msg = ws:receive()
        if not msg then
            break
        end
        local cmd, rest = msg:match("^/(%a+)%s*(.*)$")
        if cmd == "join" then
            ws:subscribe(rest)
            rooms[ws][rest] = true
            ws:send("joined " .. rest)
        elseif cmd == "leave" then
            ws:unsubscribe(rest)
            rooms[ws][rest] = nil
            ws:send("left " .. rest)
        elseif cmd == "say" then
            local room, text = rest:match("^(%S+)%s+(.*)$")
            if room then
                server:publish(room, ("[%s] %s: %s"):format(room, name, text))
            end
        else
            server:broadcast(name .. ": " .. msg)
        end
    end
end

server = assert(wskit.serve{
    host = "127.0.0.1",
    port = tonumber(arg[1]) or 0,
    handler = chat,
    on_close = function(ws)
        local name = names[ws]
        names[ws], rooms[ws] = nil, nil
        if name and not server:closed() then
            server:broadcast(name .. " left")
        end
    end,
    methods = {
        who = function()
            local list = {}
            for _, n in pairs(names) do
                list[#list + 1] = n
            end
            table.sort(list)
            return wskit.array(list)
        end,
        rooms = function(ws)
            local list = {}
            for r in pairs(rooms[ws] or {}) do
                list[#list + 1] = r
            end
            return wskit.array(list)
        end,
    },
    on_http = function(req)
        if req.path == "/health" then
            return 200, "ok\n", { ["Content-Type"] = "text/plain" }
        end
    end,
    on_shutdown = function()
        sigint:stop()
        sigterm:stop()
    end,
})
print("listening " .. server:port())
io.stdout:flush()

-- graceful shutdown: close every connection with 1001, wait up to 5 s
local function stop(sig)
    print("shutting down on " .. sig)
    io.stdout:flush()
    server:shutdown(1001, 5)
end
sigint = wskit.on_signal("SIGINT", stop)
sigterm = wskit.on_signal("SIGTERM", stop)
wskit.run()
