-- Reconnecting clients: the core's backoff, retries across server
-- restarts (python3-websockets and our own server), the offline queue,
-- and the failures that end the client.
local wskit = require "wskit"
local H = require "helper"

local fast = { initial_delay = 0.02, min_delay = 0.05, max_delay = 0.2, jitter = 0 }

local function recorder()
    local events = {}
    return events, {
        on_connecting = function(_, attempt) events[#events + 1] = "connecting " .. attempt end,
        on_open = function() events[#events + 1] = "open" end,
        on_close = function(_, info)
            events[#events + 1] = ("close %d %s"):format(info.code, tostring(info.will_retry))
        end,
    }
end

local function has(events, e)
    for _, x in ipairs(events) do
        if x == e then return true end
    end
    return false
end

local function client(url, extra)
    local events, cbs = recorder()
    local o = { url = url, reconnect = true, backoff = fast }
    for k, v in pairs(cbs) do o[k] = v end
    for k, v in pairs(extra or {}) do o[k] = v end
    return H.track(assert(wskit.connect(o))), events
end

describe("reconnecting client", function()
    it("reconnects after a python3-websockets server restart", function()
        H.run(function()
            local peer, port = H.py_server()
            local cl, events = client("ws://127.0.0.1:" .. port .. "/")
            assert(cl:wait_open(5))
            assert(cl:send("one"))
            assert.equal("one", (cl:receive(5)))
            peer:kill()
            assert(H.wait_for(function() return has(events, "close 1006 true") end))
            local again = H.py_server("--port " .. port)
            assert(again)
            assert(cl:wait_open(5))
            assert(cl:send("two"))
            assert.equal("two", (cl:receive(5)))
            cl:close()
            assert.same({ nil, "ECLOSED: connection closed (1000)" }, { cl:receive(5) })
            assert.equal("close 1000 false", events[#events])
            assert.is_true(cl:closed())
        end, 20)
    end)

    it("reconnects after our own server restarts, with queued sends", function()
        H.run(function()
            local srv, url = H.echo_server()
            local port = srv:port()
            local cl, events = client(url, { offline_queue = 1000 })
            assert(cl:wait_open(5))
            srv:shutdown(1012) -- "service restart": retryable
            assert(H.wait_for(function() return has(events, "close 1012 true") end))
            assert(cl:send("queued while away"))
            srv = H.echo_server{ port = port }
            assert.equal("queued while away", (cl:receive(5)))
            local opens = 0
            for _, e in ipairs(events) do
                if e == "open" then opens = opens + 1 end
            end
            assert.equal(2, opens)
            cl:close()
        end, 20)
    end)

    it("gives up after max_attempts", function()
        H.run(function()
            local srv = assert(wskit.serve{ host = "127.0.0.1", port = 0, on_message = function() end })
            local port = srv:port()
            srv:close()
            local b = { initial_delay = 0.01, min_delay = 0.01, max_delay = 0.02, max_attempts = 2 }
            local cl, events = client("ws://127.0.0.1:" .. port .. "/", { backoff = b })
            local ws, err = cl:wait_open(5)
            assert.is_nil(ws)
            assert.matches("^EIO", err)
            assert.same({ "connecting 1", "close 1006 true", "connecting 2", "close 1006 true",
                          "connecting 3", "close 1006 false" }, events)
            assert.is_nil((cl:receive(1)))
        end)
    end)

    it("does not retry a 4xx refusal", function()
        H.run(function()
            local _, url = H.echo_server{ process_request = function() return 403 end }
            local cl, events = client(url)
            local ws, err, info = cl:wait_open(5)
            assert.is_nil(ws)
            assert.matches("403", err)
            assert.equal(403, info.http_status)
            assert.same({ "connecting 1", "close 1006 false" }, events)
        end)
    end)

    it("stops when closed between attempts", function()
        H.run(function()
            local srv = assert(wskit.serve{ host = "127.0.0.1", port = 0, on_message = function() end })
            local port = srv:port()
            srv:close()
            local cl, events = client("ws://127.0.0.1:" .. port .. "/",
                                      { backoff = { initial_delay = 5, min_delay = 5 } })
            assert(H.wait_for(function() return events[#events] == "close 1006 true" end))
            cl:close()
            assert.is_true(cl:closed())
            local msg, err = cl:receive(1)
            assert.is_nil(msg)
            assert.matches("closed", err)
        end)
    end)
end)
