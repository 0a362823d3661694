-- Lifetimes as luv's: an open connection (and a listening server) is
-- never collected; a closed connection Lua dropped is.
local wskit = require "wskit"
local H = require "helper"

local function full_gc()
    collectgarbage("collect")
    collectgarbage("collect")
end

describe("garbage collection", function()
    it("never closes an open connection or a listening server", function()
        H.run(function()
            local weak = setmetatable({}, { __mode = "v" })
            local got, opened = {}, false
            do
                local srv = assert(wskit.serve{ host = "127.0.0.1", port = 0, on_message = function(ws, m)
                    ws:send(m)
                end })
                weak.srv = srv
                -- a callback-style client nobody keeps a reference to
                wskit.client{ url = "ws://127.0.0.1:" .. srv:port() .. "/",
                              on_open = function() opened = true end,
                              on_message = function(_, m) got[#got + 1] = m end }
                -- and a coroutine-style one, dropped as well
                local ws = assert(wskit.connect{ url = "ws://127.0.0.1:" .. srv:port() .. "/" })
                weak.ws = ws
            end
            full_gc()
            assert.is_not_nil(weak.srv)
            assert.is_not_nil(weak.ws)
            H.track(weak.srv)
            -- both open on our side too (the server counts a connection
            -- from its request on; a broadcast reaches open ones only)
            assert(H.wait_for(function() return weak.srv:count() == 2 and opened end))
            full_gc()
            assert.same({ 2, 0, 0 }, { weak.srv:broadcast("alive") })
            assert(H.wait_for(function() return #got == 1 end))
            assert.equal("alive", got[1])
            assert.equal("alive", (weak.ws:receive(5)))
            assert(weak.ws:send("echo?"))
            assert.equal("echo?", (weak.ws:receive(5)))
        end)
    end)

    it("frees a closed connection once Lua drops it", function()
        H.run(function()
            local weak = setmetatable({}, { __mode = "k" })
            local srv, url = H.echo_server{ on_open = function(ws) weak[ws] = "server side" end }
            local ws = assert(wskit.connect{ url = url })
            weak[ws] = "client side"
            assert(ws:send("x"))
            assert.equal("x", (ws:receive(5)))
            ws:close()
            ws:wait_closed(5)
            ws = nil
            assert(H.wait_for(function() return srv:count() == 0 end))
            wskit.sleep(0.02) -- the client object lets go on the next loop iteration
            full_gc()
            assert.is_nil(next(weak))
        end)
    end)

    it("keeps pending timers and waiting coroutines alive", function()
        H.run(function()
            local woke = false
            wskit.spawn(function()
                wskit.sleep(0.05)
                woke = true
            end)
            full_gc()
            assert(H.wait_for(function() return woke end, 2))
        end)
    end)
end)
