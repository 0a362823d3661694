-- Our server (wskit.serve) against real clients (python3-websockets, node
-- ws) and our own client: both styles, handshake hooks, plain HTTP,
-- broadcast, channels and graceful shutdown.
local wskit = require "wskit"
local H = require "helper"

local function echo_handler(ws)
    while true do
        local msg, kind = ws:receive()
        if not msg then
            return
        end
        ws:send(msg, kind)
    end
end

describe("server vs python3-websockets client", function()
    it("echoes in the handler style, with compression", function()
        H.run(function()
            local _, url = H.echo_server{ handler = echo_handler }
            local p = H.py_client(url, "--count 20 --size 5000 --compress")
            assert.equal(0, p:wait())
            assert.matches("OK count=20 .*extensions=permessage%-deflate", p:output())
            local b = H.py_client(url, "--count 5 --binary --size 300")
            assert.equal(0, b:wait())
        end)
    end)

    it("echoes in the callback style", function()
        H.run(function()
            local _, url = H.echo_server()
            local p = H.py_client(url, "--count 50")
            assert.equal(0, p:wait(), p:output())
        end)
    end)

    it("closes every connection with 1001 on graceful shutdown", function()
        H.run(function()
            local srv, url = H.echo_server{ handler = echo_handler }
            local p = H.py_client(url, "--expect-close 1001")
            assert(H.wait_for(function() return #srv:connections() == 1 end))
            assert.equal(0, srv:shutdown(1001, 2)) -- waits; nothing aborted
            assert.is_true(srv:closed())
            assert.equal(0, p:wait(), p:output())
            assert.matches("OK close=1001", p:output())
        end)
    end)
end)

describe("server vs node ws client", function()
    it("echoes", function()
        H.run(function()
            local _, url = H.echo_server{ handler = echo_handler }
            local p = H.node_client(url, 10, 2000)
            assert.equal(0, p:wait(), p:output())
            assert.matches("OK count=10 extensions=permessage%-deflate", p:output())
        end)
    end)
end)

describe("server handshake hooks", function()
    it("process_request refuses or accepts, and may wait first", function()
        H.run(function()
            local seen
            local _, url = H.echo_server{ process_request = function(ws, req)
                seen = req
                wskit.sleep(0.01) -- an asynchronous check
                if not (req.query or ""):find("token=good") then
                    return 401, "no token\n"
                end
            end }
            local ws, err, info = wskit.connect{ url = url .. "?token=bad" }
            assert.is_nil(ws)
            assert.matches("401", err)
            assert.equal(401, info.http_status)
            ws = assert(wskit.connect{ url = url .. "chat?token=good", headers = { ["X-A"] = "1" } })
            assert.equal("/chat", seen.path)
            assert.equal("token=good", seen.query)
            assert.equal("1", seen.headers["x-a"])
            assert.equal("GET", seen.method)
            ws:send("x")
            assert.equal("x", (ws:receive(5)))
            ws:close()
        end)
    end)

    it("answers plain HTTP requests with on_http, else 426", function()
        H.run(function()
            local srv = H.echo_server{ on_http = function(req)
                if req.path == "/health" then
                    return 200, "ok\n", { ["Content-Type"] = "text/plain" }
                end
            end }
            local port = srv:port()
            local base = "http://127.0.0.1:" .. port
            local p = H.bg(("%s %s/py_peer.py get %s/health %s/nope"):format(H.python, H.peers, base, base))
            assert.equal(0, p:wait(), p:output())
            assert.matches("/health 200 ok", p:output())
            assert.matches("/nope 404", p:output())
            local plain = H.echo_server()
            local q = H.bg(("%s %s/py_peer.py get http://127.0.0.1:%d/health"):format(
                H.python, H.peers, plain:port()))
            assert.equal(0, q:wait(), q:output())
            assert.matches("/health 426", q:output())
        end)
    end)

    it("checks Origin against origins", function()
        H.run(function()
            local _, url = H.echo_server{ origins = { "http://good.example" } }
            local ws, err = wskit.connect{ url = url, origin = "http://evil.example" }
            assert.is_nil(ws)
            assert.matches("403", err)
            ws = assert(wskit.connect{ url = url, origin = "http://good.example" })
            ws:close()
        end)
    end)

    it("picks the first offered subprotocol it supports", function()
        H.run(function()
            local _, url = H.echo_server{ subprotocols = { "b", "a" } }
            local ws = assert(wskit.connect{ url = url, subprotocols = { "a", "b" } })
            assert.equal("a", ws:subprotocol())
            ws:close()
            ws = assert(wskit.connect{ url = url })
            assert.is_nil(ws:subprotocol())
            ws:close()
        end)
    end)
end)

describe("server broadcast and channels", function()
    it("broadcasts to every connection or to a list", function()
        H.run(function()
            local srv, url = H.echo_server()
            local clients = {}
            for i = 1, 3 do
                clients[i] = assert(wskit.connect{ url = url })
            end
            assert(H.wait_for(function() return #srv:connections() == 3 end))
            assert.same({ 3, 0, 0 }, { srv:broadcast("all") })
            for i = 1, 3 do
                assert.equal("all", (clients[i]:receive(5)))
            end
            local first = srv:connections()[1]
            assert.same({ 1, 0, 0 }, { srv:broadcast("one", "binary", { first }) })
            local got = 0
            for i = 1, 3 do
                local m = clients[i]:receive(0.2)
                if m then
                    assert.equal("one", m)
                    got = got + 1
                end
            end
            assert.equal(1, got)
            for i = 1, 3 do clients[i]:close() end
        end)
    end)

    it("publishes to a channel's subscribers only", function()
        H.run(function()
            local srv, url = H.echo_server{ on_message = function(ws, msg)
                local room = msg:match("^/join (.+)")
                if room then
                    ws:subscribe(room)
                    ws:send("joined")
                end
            end }
            local a = assert(wskit.connect{ url = url })
            local b = assert(wskit.connect{ url = url })
            a:send("/join lua")
            assert.equal("joined", (a:receive(5)))
            assert.equal(1, srv:channel_count("lua"))
            assert.equal(1, srv:publish("lua", "hi lua")) -- its seq in the channel
            assert.equal("hi lua", (a:receive(5)))
            assert.same({ nil, "ETIMEDOUT: timed out" }, { b:receive(0.1) })
            a:close()
            a:wait_closed(5)
            assert(H.wait_for(function() return srv:channel_count("lua") == 0 end))
            b:close()
        end)
    end)
end)

describe("server handler", function()
    it("closes with 1000 when the handler returns", function()
        H.run(function()
            local _, url = H.echo_server{ handler = function(ws)
                ws:send("bye")
            end }
            local ws = assert(wskit.connect{ url = url })
            assert.equal("bye", (ws:receive(5)))
            local msg, err = ws:receive(5)
            assert.is_nil(msg)
            assert.matches("1000", err)
            assert.equal(1000, ws:close_info().code)
        end)
    end)

    it("sees nil, err from receive once the client closed", function()
        H.run(function()
            local ended
            local _, url = H.echo_server{ handler = function(ws)
                local msg, err = ws:receive()
                ended = { msg, err }
            end }
            local ws = assert(wskit.connect{ url = url })
            ws:close(4000, "going")
            assert(H.wait_for(function() return ended end))
            assert.is_nil(ended[1])
            assert.matches("4000 going", ended[2])
        end)
    end)
end)
