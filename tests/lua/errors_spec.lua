-- Errors the Lua way: errors in callbacks close that connection with 1011
-- and go to wskit.on_error while the loop goes on; bad arguments raise;
-- runtime failures return nil, "ENAME: message".
local wskit = require "wskit"
local H = require "helper"

describe("errors in callbacks", function()
    it("close the connection with 1011 and are reported; others go on", function()
        local errors, restore = H.capture_errors()
        H.run(function()
            local _, url = H.echo_server{ on_message = function(ws, msg)
                if msg == "explode" then error("kaboom") end
                ws:send(msg)
            end }
            local good = assert(wskit.connect{ url = url })
            local bad = assert(wskit.connect{ url = url })
            bad:send("explode")
            local msg, err = bad:receive(5)
            assert.is_nil(msg)
            assert.matches("1011", err)
            assert.equal(1011, bad:close_info().code)
            good:send("still fine")
            assert.equal("still fine", (good:receive(5)))
            good:close()
        end)
        restore()
        assert.equal(1, #errors)
        assert.matches("kaboom", errors[1])
        assert.matches("traceback", errors[1])
    end)

    it("in a handler, in on_open and in on_close", function()
        local errors, restore = H.capture_errors()
        H.run(function()
            local _, url1 = H.echo_server{ handler = function(ws)
                ws:receive()
                error("handler failed")
            end }
            local ws = assert(wskit.connect{ url = url1 })
            ws:send("go")
            assert.equal(1011, ws:wait_closed(5).code)
            local _, url2 = H.echo_server{ on_open = function() error("open failed") end,
                                           on_close = function() error("close failed") end }
            ws = assert(wskit.connect{ url = url2 })
            assert.equal(1011, ws:wait_closed(5).code)
            assert(H.wait_for(function() return #errors == 3 end))
        end)
        restore()
        local all = table.concat(errors, "\n")
        assert.matches("handler failed", all)
        assert.matches("open failed", all)
        assert.matches("close failed", all)
    end)

    it("in a client's on_message", function()
        local errors, restore = H.capture_errors()
        H.run(function()
            local srv, url = H.echo_server()
            local closed
            wskit.client{ url = url,
                on_open = function(ws) ws:send("x") end,
                on_message = function() error("client callback failed") end,
                on_close = function(_, info) closed = info end }
            assert(H.wait_for(function() return closed end))
            assert.equal(1011, closed.sent_code)
            assert.equal(0, srv:count())
        end)
        restore()
        assert.matches("client callback failed", errors[1])
    end)
end)

describe("bad arguments raise", function()
    it("for sends, closes and broadcasts", function()
        H.run(function()
            local srv, url = H.echo_server()
            local ws = assert(wskit.connect{ url = url })
            assert.has_error(function() ws:send({}) end)
            assert.has_error(function() ws:send("x", "bogus") end)
            assert.has_error(function() ws:close(999) end)
            assert.has_error(function() srv:broadcast(nil) end)
            assert.has_error(function() ws:request({}) end)
            assert.has_error(function() ws:request("m", { math.huge }) end)
            ws:close()
        end)
    end)

    it("for blocking calls outside wskit.spawn", function()
        assert.has_error(function() wskit.sleep(0) end)
        assert.has_error(function() wskit.sleep(-1) end)
    end)
end)

describe("runtime failures return nil, err", function()
    it("for a closed connection, bad UTF-8, a long reason, a used port", function()
        H.run(function()
            local srv, url = H.echo_server()
            local ws = assert(wskit.connect{ url = url })
            assert.same({ nil, "EUTF8: invalid UTF-8" }, { ws:send("\255\254") })
            local ok, err = ws:close(1000, string.rep("r", 124))
            assert.is_nil(ok)
            assert.matches("^EINVAL", err)
            ws:close()
            ws:wait_closed(5)
            ok, err = ws:send("late")
            assert.is_nil(ok)
            assert.matches("^ECLOSED", err)
            local s2, e2 = wskit.serve{ host = "127.0.0.1", port = srv:port(), on_message = print }
            assert.is_nil(s2)
            assert.matches("^EIO: .*in use", e2)
        end)
    end)
end)
