-- Our client (wskit.connect) against real servers: python3-websockets and
-- node ws, on loopback.
local wskit = require "wskit"
local H = require "helper"

describe("client vs python3-websockets", function()
    it("echoes text and binary with permessage-deflate negotiated", function()
        H.run(function()
            local _, port = H.py_server()
            local ws = assert(wskit.connect{ url = "ws://127.0.0.1:" .. port .. "/" })
            assert.is_table(ws:compression())
            assert(ws:send("hello"))
            assert.same({ "hello", "text" }, { ws:receive(5) })
            local bin = "\0\1\2\255"
            assert(ws:send(bin, "binary"))
            assert.same({ bin, "binary" }, { ws:receive(5) })
            local big = string.rep("abcdefgh", 25000)
            assert(ws:send(big))
            assert.equal(big, (ws:receive(5)))
            ws:close()
            assert.equal(1000, ws:wait_closed(5).code)
        end)
    end)

    it("negotiates a subprotocol", function()
        H.run(function()
            local _, port = H.py_server("--subprotocols chat,superchat")
            local ws = assert(wskit.connect{ url = "ws://127.0.0.1:" .. port .. "/",
                                             subprotocols = { "superchat", "other" } })
            assert.equal("superchat", ws:subprotocol())
            ws:close()
        end)
    end)

    it("sends custom headers, Origin and User-Agent", function()
        H.run(function()
            local _, port = H.py_server("--mode headers")
            local ws = assert(wskit.connect{ url = "ws://127.0.0.1:" .. port .. "/path?q=1",
                                             headers = { ["X-Token"] = "abc" },
                                             origin = "http://example.com",
                                             user_agent = "wskit-test/1" })
            local h = wskit.json_decode((ws:receive(5)))
            assert.equal("abc", h["x-token"])
            assert.equal("http://example.com", h.origin)
            assert.equal("wskit-test/1", h["user-agent"])
            ws:close()
        end)
    end)

    it("reports a refused handshake with its status", function()
        H.run(function()
            local _, port = H.py_server("--reject 403")
            local ws, err, info = wskit.connect{ url = "ws://127.0.0.1:" .. port .. "/" }
            assert.is_nil(ws)
            assert.matches("^EHANDSHAKE: .*403", err)
            assert.equal(403, info.http_status)
        end)
    end)

    it("closes with 1009 when a message is over max_size", function()
        H.run(function()
            local _, port = H.py_server("--mode big --size 300000")
            local ws = assert(wskit.connect{ url = "ws://127.0.0.1:" .. port .. "/", max_size = 100000 })
            local msg, err = ws:receive(5)
            assert.is_nil(msg)
            assert.matches("1009", err)
            assert.equal(1009, ws:close_info().sent_code)
        end)
    end)
end)

describe("client vs node ws", function()
    it("echoes with compression", function()
        H.run(function()
            local _, port = H.node_server()
            local ws = assert(wskit.connect{ url = "ws://127.0.0.1:" .. port .. "/" })
            assert.is_table(ws:compression())
            for i = 1, 20 do
                local m = ("message %d "):format(i) .. string.rep("q", i * 100)
                assert(ws:send(m))
                assert.equal(m, (ws:receive(5)))
            end
            ws:close(1000, "done")
            assert.equal(1000, ws:wait_closed(5).code)
        end)
    end)
end)

describe("client failures", function()
    it("returns nil, err when nothing listens", function()
        H.run(function()
            -- a port that was free a moment ago
            local srv = assert(wskit.serve{ host = "127.0.0.1", port = 0, on_message = function() end })
            local port = srv:port()
            srv:close()
            local ws, err = wskit.connect{ url = "ws://127.0.0.1:" .. port .. "/" }
            assert.is_nil(ws)
            assert.matches("^EIO: .*refused", err)
        end)
    end)

    it("returns nil, err for a bad URL", function()
        H.run(function()
            local ws, err = wskit.connect{ url = "http://example.com/" }
            assert.is_nil(ws)
            assert.matches("^EURL", err)
        end)
    end)

    it("raises on unknown options and bad argument types", function()
        assert.has_error(function() wskit.connect{ url = "ws://127.0.0.1:1/", no_such_option = 1 } end)
        assert.has_error(function() wskit.connect{ url = 42 } end)
        assert.has_error(function() wskit.connect{ url = "ws://127.0.0.1:1/", ping_interval = "x" } end)
    end)
end)

describe("callback-style client", function()
    it("runs on_open, on_message and on_close without a coroutine", function()
        local events = {}
        local _, url
        H.run(function()
            _, url = H.echo_server()
            local done = false
            -- called from a plain function: no coroutine involved
            local function start()
                return wskit.client{ url = url,
                    on_open = function(ws) events[#events + 1] = "open"; ws:send("ping") end,
                    on_message = function(ws, msg) events[#events + 1] = msg; ws:close() end,
                    on_close = function(_, info) events[#events + 1] = info.code; done = true end }
            end
            assert(start())
            assert(H.wait_for(function() return done end))
        end)
        assert.same({ "open", "ping", 1000 }, events)
    end)
end)
