-- The examples in examples/lua run as documented, in their own
-- interpreter (the one running this spec).
local wskit = require "wskit"
local H = require "helper"

local lua = os.getenv("WSKIT_LUA")

local function start(script, args)
    local p = H.bg(("%s examples/lua/%s %s"):format(lua, script, args or ""))
    return p, tonumber(p:expect("listening (%d+)"))
end

describe("examples/lua", function()
    if not lua then -- tests/lua/run.sh sets it
        it("needs WSKIT_LUA", function() error("WSKIT_LUA is not set: run tests/lua/run.sh") end)
        return
    end

    it("echo_server.lua answers python3-websockets in both styles", function()
        H.run(function()
            for _, mode in ipairs({ "", "--handler" }) do
                local _, port = start("echo_server.lua", "0 " .. mode)
                local c = H.py_client("ws://127.0.0.1:" .. port .. "/", "--count 10 --size 1000")
                assert.equal(0, c:wait(), c:output())
            end
        end, 20)
    end)

    it("chat_server.lua chats, answers RPC and HTTP, shuts down on SIGTERM", function()
        H.run(function()
            local p, port = start("chat_server.lua")
            local url = "ws://127.0.0.1:" .. port .. "/"
            local ann = assert(wskit.connect{ url = url })
            ann:send("ann")
            assert.equal("ann joined", (ann:receive(5)))
            local bob = assert(wskit.connect{ url = url })
            bob:send("bob")
            assert.equal("bob joined", (ann:receive(5)))
            assert.equal("bob joined", (bob:receive(5)))
            assert.same({ "ann", "bob" }, ann:request("who", {}, 5))
            bob:send("/join lua")
            assert.equal("joined lua", (bob:receive(5)))
            ann:send("/say lua hello")
            assert.equal("[lua] ann: hello", (bob:receive(5)))
            ann:send("hi all")
            assert.equal("ann: hi all", (bob:receive(5)))
            local get = H.bg(("%s %s/py_peer.py get http://127.0.0.1:%d/health"):format(H.python, H.peers, port))
            assert.equal(0, get:wait())
            assert.matches("200 ok", get:output())
            p:kill() -- SIGTERM: graceful shutdown
            assert.equal(1001, ann:wait_closed(5).code)
            assert.equal(1001, bob:wait_closed(5).code)
            assert.equal(0, p:wait(10))
            assert.matches("shutting down on SIGTERM", p:output())
        end, 20)
    end)

    it("channels_server.lua: two instances share channels through redis", function()
        H.run(function()
            local _, redis = H.redis()
            local pa, port_a = start("channels_server.lua", "0 " .. redis)
            local _, port_b = start("channels_server.lua", "0 " .. redis)
            local function client(port, token)
                return H.track(assert(wskit.client{ reconnect = true,
                    url = ("ws://127.0.0.1:%d/channels?token=%s"):format(port, token) }))
            end
            local alice, bob, guest = client(port_a, "alice"), client(port_b, "bob"), client(port_b, "x")
            assert(alice:subscribe("chat.lobby"))
            assert(bob:subscribe("chat.lobby"))
            assert(guest:subscribe("clock"))
            local tick = assert(guest:receive(5))
            assert.equal("number", type(tick.data.time))
            assert.same({ nil, "forbidden: not allowed to publish" }, { guest:publish("chat.lobby", "hi") })
            assert.same({ nil, "forbidden: not allowed to publish" }, { bob:publish("clock", "hi") })
            local seq = assert(bob:publish("chat.lobby", "hi from b"))
            for _, cl in ipairs({ alice, bob }) do
                local m = assert(cl:receive(5))
                assert.same({ "hi from b", seq }, { m.data, m.seq })
            end
            pa:kill()
            assert.equal(0, pa:wait(10))
            assert.matches("shutting down on SIGTERM", pa:output())
        end, 30)
    end)

    it("reconnecting_bot.lua comes back after the server restarts", function()
        H.run(function()
            local seen = {}
            local srv, url = H.echo_server{ on_message = function(ws, m)
                seen[#seen + 1] = m
                if m == "bot" then ws:send("ping") end
            end }
            local port = srv:port()
            local bot = H.bg(("%s examples/lua/reconnecting_bot.lua %s"):format(lua, url))
            assert(H.wait_for(function() return seen[2] == "pong" end, 10), bot:output())
            srv:close()
            bot:expect("retrying in", 5)
            srv = H.echo_server{ port = port, on_message = function(ws, m)
                seen[#seen + 1] = m
            end }
            assert(H.wait_for(function() return seen[3] == "bot" end, 10), bot:output())
            local _, n = bot:output():gsub("connected", "")
            assert.equal(2, n)
        end, 25)
    end)
end)
