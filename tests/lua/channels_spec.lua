-- The JSON channel protocol served by wskit.serve{channels_path = ...}
-- (in-process hub): to a python3-websockets client and to our own client,
-- with resume after dropped connections and server restarts, explicit
-- gaps, the authorize hook, and server:publish of text and JSON.
local wskit = require "wskit"
local H = require "helper"

local fast = { initial_delay = 0.02, min_delay = 0.05, max_delay = 0.2, jitter = 0 }

local function chan_server(extra)
    local o = { host = "127.0.0.1", port = 0, channels_path = "/channels" }
    for k, v in pairs(extra or {}) do o[k] = v end
    local srv = H.track(assert(wskit.serve(o)))
    return srv, "ws://127.0.0.1:" .. srv:port() .. "/channels"
end

local function chan_client(url, extra)
    local o = { url = url, reconnect = true, backoff = fast }
    for k, v in pairs(extra or {}) do o[k] = v end
    return H.track(assert(wskit.client(o)))
end

-- receive one channel message (fails on anything else)
local function next_msg(cl, timeout)
    local m, kind, gap = cl:receive(timeout or 5)
    assert(m, "no message: " .. tostring(kind))
    assert.equal("channel", kind)
    return m
end

local function drop_all(srv)
    for _, ws in ipairs(srv:connections()) do
        ws:free()
    end
end

describe("channels_path", function()
    it("serves a python3-websockets client: subscribe, messages, publish", function()
        H.run(function()
            local srv, url = chan_server()
            local py = H.py_channels(url, "news", 2, "--publish from-python")
            assert(H.wait_for(function() return srv:channel_count("news") == 1 end, 10))
            assert.equal(1, srv:publish("news", "one"))
            assert.equal(2, srv:publish("news", { n = 2, list = wskit.array({ 1, 2 }) }))
            py:expect("(DONE)", 10)
            local f = H.frames(py)
            assert.equal("subscribed", f[1].type)
            assert.equal("news", f[1].channel)
            assert.equal(0, f[1].seq)
            local epoch = f[1].epoch
            assert.same({ type = "message", channel = "news", seq = 1, epoch = epoch, data = "one" }, f[2])
            assert.same({ type = "message", channel = "news", seq = 2, epoch = epoch,
                data = { n = 2, list = { 1, 2 } } }, f[3])
            -- its own message comes back to it as a subscriber, then the answer
            assert.same({ type = "message", channel = "news", seq = 3, epoch = epoch,
                data = "from-python" }, f[4])
            assert.same({ type = "published", channel = "news", seq = 3 }, f[5])
            assert.equal(0, py:wait(10))
        end, 20)
    end)

    it("resumes a python3-websockets client from since/epoch (history)", function()
        H.run(function()
            local srv, url = chan_server()
            local first = H.py_channels(url, "news", 1)
            assert(H.wait_for(function() return srv:channel_count("news") == 1 end, 10))
            assert.equal(1, srv:publish("news", "a"))
            first:expect("(DONE)", 10)
            local epoch = H.frames(first)[1].epoch
            assert.equal(2, srv:publish("news", "b")) -- nobody listens: kept in the history
            assert.equal(3, srv:publish("news", "c"))
            local again = H.py_channels(url, "news", 2, "--since 1 --epoch " .. epoch)
            again:expect("(DONE)", 10)
            local f = H.frames(again)
            assert.equal("subscribed", f[1].type)
            assert.is_true(f[1].recovered)
            assert.same({ "b", "c" }, { f[2].data, f[3].data })
            assert.same({ 2, 3 }, { f[2].seq, f[3].seq })
        end, 20)
    end)

    it("our client subscribes, publishes, and the authorize hook refuses", function()
        H.run(function()
            local asked = {}
            local srv, url = chan_server({
                authorize = function(ws, action, channel)
                    asked[#asked + 1] = action .. " " .. channel .. " " .. tostring(ws.user)
                    return channel ~= "secret"
                end,
                authenticate = function(_, req) -- the handshake hook: -> ws.user
                    return wskit.auth.token_from_query(req)
                end,
            })
            local cl = chan_client(url .. "?token=abc")
            local r = assert(cl:subscribe("news"))
            assert.equal("subscribed", r.type)
            assert.equal(0, r.seq)
            assert.same({ nil, "forbidden: not allowed to subscribe" }, { cl:subscribe("secret") })
            assert.equal(1, srv:publish("news", "text"))
            assert.equal(2, srv:publish("news", { a = 1 }))
            local m = next_msg(cl)
            assert.same({ "news", 1, "text", "text" }, { m.channel, m.seq, m.kind, m.data })
            assert.equal(r.epoch, m.epoch)
            m = next_msg(cl)
            assert.same({ 2, "json", 1, '{"a":1}' }, { m.seq, m.kind, m.data.a, m.json })
            assert.equal(3, cl:publish("news", "from lua"))
            assert.equal("from lua", next_msg(cl).data)
            assert.same({ nil, "forbidden: not allowed to publish" }, { cl:publish("secret", "x") })
            assert.same({ 3, r.epoch }, { cl:position("news") })
            assert.same({ "subscribe news abc", "subscribe secret abc", "publish news abc",
                "publish secret abc" }, asked)
            -- client_publish = false refuses every publish
            local ro, ro_url = chan_server({ client_publish = false })
            local c2 = chan_client(ro_url)
            assert(c2:subscribe("news"))
            assert.same({ nil, "forbidden: not allowed to publish" }, { c2:publish("news", "x") })
            assert.equal(1, ro:publish("news", "server may"))
            assert.equal("server may", next_msg(c2).data)
        end, 20)
    end)

    it("resumes exactly once after the connection drops", function()
        H.run(function()
            local srv, url = chan_server()
            local opens = 0
            local cl = chan_client(url, { on_open = function() opens = opens + 1 end })
            assert(cl:subscribe("news"))
            srv:publish("news", "m1")
            assert.equal("m1", next_msg(cl).data)
            drop_all(srv) -- 1006 on the client: it reconnects
            assert(H.wait_for(function() return srv:channel_count("news") == 0 end))
            srv:publish("news", "m2")
            srv:publish("news", "m3")
            assert.equal("m2", next_msg(cl).data)
            assert.equal("m3", next_msg(cl).data)
            srv:publish("news", "m4")
            local m = next_msg(cl)
            assert.same({ "m4", 4 }, { m.data, m.seq })
            assert.same({ nil, "ETIMEDOUT: timed out" }, { cl:receive(0.3) }) -- no duplicate
            assert.equal(2, opens)
        end, 20)
    end)

    it("reports what the history no longer has as a gap, then goes on", function()
        H.run(function()
            local srv, url = chan_server({ history_size = 2 })
            local cl = chan_client(url)
            assert(cl:subscribe("news"))
            srv:publish("news", "m1")
            assert.equal("m1", next_msg(cl).data)
            drop_all(srv)
            assert(H.wait_for(function() return srv:channel_count("news") == 0 end))
            for i = 2, 6 do
                srv:publish("news", "m" .. i)
            end
            local m, err, gap = cl:receive(5)
            assert.is_nil(m)
            assert.matches("^EGAP: channel news: messages 2%.%.4 are gone", err)
            assert.same({ "news", 2, 4 }, { gap.channel, gap.from, gap.to })
            assert.equal("m5", next_msg(cl).data)
            assert.equal("m6", next_msg(cl).data)
        end, 20)
    end)

    it("after a server restart (history gone) the loss is explicit", function()
        H.run(function()
            local srv, url = chan_server()
            local port = srv:port()
            local cl = chan_client(url)
            assert(cl:subscribe("news"))
            srv:publish("news", "m1")
            srv:publish("news", "m2")
            assert.equal("m1", next_msg(cl).data)
            assert.equal("m2", next_msg(cl).data)
            local _, epoch = cl:position("news")
            srv:close()
            local again = H.track(assert(wskit.serve({ host = "127.0.0.1", port = port,
                channels_path = "/channels" })))
            assert(H.wait_for(function() return again:channel_count("news") == 1 end, 5))
            -- a new epoch: what the old one had after seq 2 cannot be known
            local m, err, gap = cl:receive(5)
            assert.is_nil(m)
            assert.equal("EGAP: channel news: the history was reset (epoch)", err)
            assert.same({ "news", "epoch" }, { gap.channel, gap.reason })
            assert.are_not.equal(epoch, gap.epoch)
            again:publish("news", "fresh")
            local got = next_msg(cl)
            assert.equal("fresh", got.data)
            assert.equal(1, got.seq)
            assert.equal(gap.epoch, got.epoch)
            assert.are_not.equal(epoch, got.epoch)
        end, 20)
    end)

    it("delivers to on_message and on_gap in the callback style", function()
        H.run(function()
            local srv, url = chan_server({ history_size = 1 })
            local got, gaps = {}, {}
            local cl = chan_client(url, {
                channels = { "news" },
                on_message = function(_, m, kind)
                    got[#got + 1] = kind .. " " .. m.data
                end,
                on_gap = function(_, g)
                    gaps[#gaps + 1] = tostring(g)
                end,
            })
            assert(H.wait_for(function() return srv:channel_count("news") == 1 end))
            srv:publish("news", "a")
            assert(H.wait_for(function() return #got == 1 end))
            drop_all(srv)
            assert(H.wait_for(function() return srv:channel_count("news") == 0 end))
            srv:publish("news", "b")
            srv:publish("news", "c")
            assert(H.wait_for(function() return #got == 2 end))
            assert.same({ "channel a", "channel c" }, got)
            assert.same({ "EGAP: channel news: messages 2..2 are gone (expired)" }, gaps)
            cl:close()
        end, 20)
    end)

    it("streams a channel as Server-Sent Events, resuming from Last-Event-ID", function()
        H.run(function()
            local asked = {}
            local srv = H.track(assert(wskit.serve({ host = "127.0.0.1", port = 0,
                sse_path = "/events", sse_retry = 0.5,
                authorize = function(_, action, channel)
                    asked[#asked + 1] = action .. " " .. channel
                    return channel ~= "secret"
                end })))
            local base = "http://127.0.0.1:" .. srv:port() .. "/events?channel="
            local sse = function(ch, n, args)
                return H.bg(("%s %s/py_sse.py %s %d %s"):format(H.python, H.peers, base .. ch, n,
                    args or ""))
            end
            local first = sse("news", 2)
            assert(H.wait_for(function() return srv:channel_count("news") == 1 end, 10))
            srv:publish("news", "one")
            srv:publish("news", { two = 2 })
            first:expect("(DONE)", 10)
            local out = first:output()
            assert.matches("STATUS 200", out)
            assert.matches("LINE retry: 500", out)
            local epoch = out:match("LINE id: ([^:\n]+):1\n")
            assert(epoch, out)
            assert.matches("LINE data: one", out)
            assert.matches('LINE data: {"two":2}', out, 1, true)
            srv:publish("news", "three")
            local again = sse("news", 1, "--last-event-id " .. epoch .. ":2")
            again:expect("(DONE)", 10)
            assert.matches("LINE id: " .. epoch .. ":3\nLINE data: three", again:output())
            local refused = sse("secret", 1)
            refused:expect("STATUS (%d+)", 10)
            assert.equal("403", refused:output():match("STATUS (%d+)"))
            assert.same({ "subscribe news", "subscribe news", "subscribe secret" }, asked)
        end, 20)
    end)

    it("raw subscribers and channel clients get the same publish", function()
        H.run(function()
            local raw = {}
            local srv, url = chan_server({
                on_open = function(ws) if ws:kind() == "websocket" then ws:subscribe("news") end end,
            })
            local cl = chan_client(url)
            assert(cl:subscribe("news"))
            local plain = H.track(assert(wskit.client({ url = "ws://127.0.0.1:" .. srv:port() .. "/app",
                on_message = function(_, msg, kind) raw[#raw + 1] = kind .. " " .. msg end })))
            assert(H.wait_for(function() return srv:channel_count("news") == 2 end))
            srv:publish("news", { k = "v" })
            srv:publish("news", "\1\2", "binary")
            local m = next_msg(cl)
            assert.equal("v", m.data.k)
            m = next_msg(cl)
            assert.same({ "binary", "\1\2" }, { m.kind, m.data })
            assert(H.wait_for(function() return #raw == 2 end))
            assert.same({ 'text {"k":"v"}', "binary \1\2" }, raw)
            plain:close()
        end, 20)
    end)
end)
