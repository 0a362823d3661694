-- JSON-RPC 2.0 request/response both ways: our server's method table
-- against our client, the server calling the client, and our client
-- against the C example chat_server.
local wskit = require "wskit"
local H = require "helper"

local notified = {}
local methods = {
    add = function(_, p) return p[1] + p[2] end,
    echo = function(_, p) return p end,
    slow = function(_, p) wskit.sleep(p.seconds) return "late" end,
    fail_table = function() error({ code = 4001, message = "not allowed" }) end,
    fail_soft = function() return nil, "soft failure" end,
    crash = function() error("boom") end,
    note = function(_, p) notified[#notified + 1] = p[1] end,
    nothing = function() end,
}

describe("request/response", function()
    it("calls a Lua server's methods from a Lua client", function()
        H.run(function()
            local _, url = H.echo_server{ methods = methods }
            local ws = assert(wskit.connect{ url = url })
            assert.equal(5, ws:request("add", { 2, 3 }, 5))
            local doc = { name = "wskit", list = { 1, 2.5, "x", true }, nested = { deep = { ok = false } },
                          utf8 = "h\195\169llo" }
            assert.same(doc, ws:request("echo", doc, 5))
            assert.equal("late", ws:request("slow", { seconds = 0.05 }, 5))
            assert.equal(wskit.null, ws:request("nothing", {}, 5))
            -- plain messages still flow next to the calls
            ws:send("plain")
            assert.equal("plain", (ws:receive(5)))
            ws:close()
        end)
    end)

    it("answers errors: unknown method, error tables, nil+err, raised errors", function()
        local errors, restore = H.capture_errors()
        H.run(function()
            local _, url = H.echo_server{ methods = methods }
            local ws = assert(wskit.connect{ url = url })
            local res, err, obj = ws:request("missing", {}, 5)
            assert.is_nil(res)
            assert.matches("^ERPC: Method not found", err)
            assert.equal(-32601, obj.code)
            res, err, obj = ws:request("fail_table", {}, 5)
            assert.is_nil(res)
            assert.same({ 4001, "not allowed" }, { obj.code, obj.message })
            res, err, obj = ws:request("fail_soft", {}, 5)
            assert.same({ -32000, "soft failure" }, { obj.code, obj.message })
            res, err, obj = ws:request("crash", {}, 5)
            assert.equal(-32603, obj.code)
            -- the connection survives all of them
            assert.equal(7, ws:request("add", { 3, 4 }, 5))
            ws:close()
        end)
        restore()
        assert.equal(1, #errors)
        assert.matches("boom", errors[1])
    end)

    it("times out, and cancels when the connection closes", function()
        H.run(function()
            local _, url = H.echo_server{ methods = methods }
            local ws = assert(wskit.connect{ url = url })
            local res, err = ws:request("slow", { seconds = 1 }, 0.1)
            assert.is_nil(res)
            assert.matches("^ETIMEDOUT", err)
            local results = {}
            ws:request("slow", { seconds = 1 }, 5, function(r, e) results[#results + 1] = { r, e } end)
            ws:close()
            assert(H.wait_for(function() return #results == 1 end))
            assert.is_nil(results[1][1])
            assert.matches("^ECANCELED", results[1][2])
            res, err = ws:request("add", { 1, 1 })
            assert.is_nil(res)
            assert.matches("^ECLOSED", err)
        end)
    end)

    it("runs notifications without answering", function()
        H.run(function()
            local _, url = H.echo_server{ methods = methods }
            local ws = assert(wskit.connect{ url = url })
            assert(ws:notify("note", { "n1" }))
            assert(H.wait_for(function() return notified[1] == "n1" end))
            assert.same({ nil, "ETIMEDOUT: timed out" }, { ws:receive(0.1) })
            ws:close()
        end)
    end)

    it("lets the server call the client", function()
        H.run(function()
            local answer
            local _, url = H.echo_server{ handler = function(ws)
                answer = { ws:request("whoami", { "server asks" }, 5) }
                ws:receive()
            end }
            local ws = assert(wskit.connect{ url = url, methods = {
                whoami = function(_, p) return { me = "client", you = p[1] } end } })
            assert(H.wait_for(function() return answer end))
            assert.same({ me = "client", you = "server asks" }, answer[1])
            ws:close()
        end)
    end)
end)

describe("request/response vs the C chat_server", function()
    it("echoes params, counts connections, times out on ignore", function()
        H.run(function()
            local _, port = H.chat_server()
            local ws = assert(wskit.connect{ url = "ws://127.0.0.1:" .. port .. "/" })
            assert.same({ 1, "two", { three = 3 } }, ws:request("echo", { 1, "two", { three = 3 } }, 5))
            assert.equal(1, ws:request("count", nil, 5))
            local res, err = ws:request("ignore", {}, 0.2)
            assert.is_nil(res)
            assert.matches("^ETIMEDOUT", err)
            -- JSON text as params goes out as is
            assert.same({ a = wskit.null }, ws:request("echo", '{"a":null}', 5))
            ws:close()
        end)
    end)
end)
