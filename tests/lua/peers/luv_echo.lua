-- Run by luv_spec.lua in its own interpreter: luv is required first, so
-- wskit runs on luv's loop; a luv timer starts a wskit client against a
-- wskit server, and uv.run() drives both. Prints OK or FAIL.
local uv = require "luv"
local wskit = require "wskit"

local srv = assert(wskit.serve{ host = "127.0.0.1", port = 0, on_message = function(ws, m)
    ws:send(m)
end })
local result, slept
local t = uv.new_timer()
uv.timer_start(t, 10, 0, function()
    uv.close(t)
    wskit.spawn(function()
        local ws = assert(wskit.connect{ url = "ws://127.0.0.1:" .. srv:port() .. "/" })
        ws:send("via luv")
        result = ws:receive(5)
        local t0 = uv.now()
        wskit.sleep(0.02)
        slept = uv.now() - t0
        ws:close()
        srv:close()
    end)
end)
local guard = uv.new_timer()
uv.timer_start(guard, 5000, 0, function() uv.stop() end)
uv.unref(guard)
wskit.run()
print((result == "via luv" and slept >= 15) and "OK" or ("FAIL " .. tostring(result) .. " " .. tostring(slept)))
