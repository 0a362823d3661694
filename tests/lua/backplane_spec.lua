-- Two Lua server instances sharing channels through a real redis-server
-- (started here on a free loopback port, no persistence): a publish
-- reaches the subscribers of both exactly once, with one numbering;
-- clients resume across a server restart from the Redis history; while
-- Redis is down publishes fail clearly and local clients keep working.
local wskit = require "wskit"
local H = require "helper"

local fast = { initial_delay = 0.02, min_delay = 0.05, max_delay = 0.2, jitter = 0 }

local function instance(redis_url, port, extra)
    local o = { host = "127.0.0.1", port = port or 0, channels_path = "/channels",
        backplane = redis_url, backplane_prefix = "wskit-lua-test:", log = function() end }
    for k, v in pairs(extra or {}) do o[k] = v end
    local srv = H.track(assert(wskit.serve(o)))
    assert(H.wait_for(function() return srv:backplane_up() end, 5), "backplane not up")
    return srv, "ws://127.0.0.1:" .. srv:port() .. "/channels"
end

local function chan_client(url)
    return H.track(assert(wskit.client({ url = url, reconnect = true, backoff = fast })))
end

local function next_msg(cl, timeout)
    local m, kind = cl:receive(timeout or 5)
    assert(m, "no message: " .. tostring(kind))
    assert.equal("channel", kind)
    return m
end

local function none_left(cl)
    assert.same({ nil, "ETIMEDOUT: timed out" }, { cl:receive(0.3) })
end

describe("backplane (redis)", function()
    it("a publish reaches both instances exactly once", function()
        H.run(function()
            local _, redis = H.redis()
            local a, url_a = instance(redis)
            local b, url_b = instance(redis)
            local ca, cb = chan_client(url_a), chan_client(url_b)
            local ra, rb = assert(ca:subscribe("room")), assert(cb:subscribe("room"))
            assert.equal(ra.epoch, rb.epoch) -- one history, in Redis
            local py = H.py_channels(url_b, "room", 3)
            assert(H.wait_for(function() return b:channel_count("room") == 2 end, 10))
            local seq = assert(a:publish("room", "from a"))       -- waits for Redis' number
            assert.equal(seq + 1, b:publish("room", { from = "b" }))
            assert.equal(seq + 2, ca:publish("room", "from client a"))
            for _, cl in ipairs({ ca, cb }) do
                local m1, m2, m3 = next_msg(cl), next_msg(cl), next_msg(cl)
                assert.same({ "from a", "b", "from client a" }, { m1.data, m2.data.from, m3.data })
                assert.same({ seq, seq + 1, seq + 2 }, { m1.seq, m2.seq, m3.seq })
                none_left(cl)
            end
            py:expect("(DONE)", 10)
            local f = H.frames(py)
            assert.equal(4, #f) -- subscribed + the three, nothing twice
            assert.same({ "from a", "from client a" }, { f[2].data, f[4].data })
        end, 30)
    end)

    it("a client resumes on a restarted instance from the Redis history", function()
        H.run(function()
            local _, redis = H.redis()
            local a, url_a = instance(redis)
            local b = instance(redis)
            local port = a:port()
            local cl = chan_client(url_a)
            assert(cl:subscribe("room"))
            a:publish("room", "m1")
            assert.equal("m1", next_msg(cl).data)
            a:close() -- the client retries meanwhile
            assert(b:publish("room", "m2"))
            assert(b:publish("room", "m3"))
            local again = instance(redis, port)
            assert(H.wait_for(function() return again:channel_count("room") == 1 end, 5))
            local m2, m3 = next_msg(cl), next_msg(cl)
            assert.same({ "m2", "m3" }, { m2.data, m3.data })
            assert.same({ 2, 3 }, { m2.seq, m3.seq })
            again:publish("room", "m4")
            assert.equal("m4", next_msg(cl).data)
            none_left(cl)
        end, 30)
    end)

    it("while redis is down publishes fail clearly, then it recovers", function()
        H.run(function()
            local lines = {}
            local redis_proc, redis = H.redis()
            local a, url_a = instance(redis, nil, {
                log = function(line) lines[#lines + 1] = line end,
            })
            local cl = chan_client(url_a)
            assert(cl:subscribe("room"))
            assert(a:publish("room", "before"))
            assert.equal("before", next_msg(cl).data)
            redis_proc:kill()
            assert(H.wait_for(function() return not a:backplane_up() end, 5))
            local ok, err = a:publish("room", "lost")
            assert.is_nil(ok)
            assert.matches("^EIO: ", err)
            assert.same({ nil, "unavailable: the backplane is unavailable" },
                { cl:publish("room", "lost too") })
            assert.is_true(cl:conn():is_open()) -- local clients stay connected
            local again = H.redis(redis_proc.port)
            assert(again)
            assert(H.wait_for(function() return a:backplane_up() end, 10), "no reconnect")
            assert(H.wait_for(function()
                return a:publish("room", "after") ~= nil
            end, 5))
            -- Redis lost its history with it: a gap may come first, never silence
            local m, e = cl:receive(5)
            if m == nil then
                assert.matches("^EGAP: channel room", e)
                m = next_msg(cl)
            end
            assert.equal("after", m.data)
            local text = table.concat(lines, "\n")
            assert.matches("backplane: lost redis", text)
            assert.matches("backplane: resubscribed", text)
        end, 40)
    end)
end)
