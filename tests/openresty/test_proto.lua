-- Unit tests of the C module wskit.proto with no sockets: a client and a
-- server connection wired back to back. Runs under LuaJIT and Lua 5.4:
--   luajit tests/openresty/test_proto.lua build/lua
--   lua5.4 tests/openresty/test_proto.lua build/lua54
-- Last line: "N passed, M failed".
package.cpath = (arg[1] or "build/lua") .. "/?.so;" .. package.cpath
local proto = require "wskit.proto"

local tests = {}
local function test(name, fn)
    tests[#tests + 1] = { name, fn }
end

local function eq(a, b, what)
    if a ~= b then
        error((what or "value") .. ": expected " .. tostring(b) .. ", got " .. tostring(a), 2)
    end
end

-- Move one side's output into the other and collect the events it gives.
local function pump(from, to, now)
    local evs = {}
    local out = from:take()
    if out then
        assert(to:feed(out, now or 0))
        while true do
            local e = { to:event() }
            if not e[1] then break end
            evs[#evs + 1] = e
        end
    end
    return evs
end

local function pair(copts, sopts)
    copts = copts or {}
    sopts = sopts or {}
    copts.role, copts.host = "client", copts.host or "example.com"
    sopts.role = "server"
    local cl = assert(proto.new(copts, 0))
    local sv = assert(proto.new(sopts, 0))
    local evs = pump(cl, sv)
    eq(evs[1][1], "request", "server event")
    eq(evs[1][3], 0, "request status")
    assert(sv:accept())
    eq(sv:event(), "open", "server open")
    local cevs = pump(sv, cl)
    eq(cevs[1][1], "open", "client event")
    eq(cevs[1][3], 101, "status")
    return cl, sv, cevs[1][4]
end

test("handshake opens both sides and negotiates deflate and subprotocol", function()
    local cl, sv, headers = pair({ protocols = { "b", "a" } }, { protocols = { "a", "c" } })
    eq(cl:state(), "open")
    eq(sv:state(), "open")
    eq(cl:subprotocol(), "a")
    eq(sv:subprotocol(), "a")
    eq(headers["upgrade"]:lower(), "websocket")
    assert(cl:deflate() and sv:deflate(), "deflate negotiated by default")
end)

test("compression = false negotiates none", function()
    local cl, sv = pair({ compression = false })
    eq(cl:deflate(), nil)
    eq(sv:deflate(), nil)
end)

test("text and binary messages cross, send returns the bytes it framed", function()
    local cl, sv = pair({ compression = false })
    local n = cl:send(1, "héllo")
    eq(n, 2 + 4 + #"héllo", "masked small frame size")
    local evs = pump(cl, sv)
    eq(evs[1][1], "text")
    eq(evs[1][2], "héllo")
    sv:send(2, "\0\1\2")
    evs = pump(sv, cl)
    eq(evs[1][1], "binary")
    eq(evs[1][2], "\0\1\2")
end)

test("send with take returns the framed output; no event gives output and deadline", function()
    local cl, sv = pair({ compression = false })
    local n, out = cl:send(2, "abc", true)
    eq(n, 2 + 4 + 3)
    eq(#out, n)
    eq(cl:take(), nil, "nothing left")
    assert(sv:feed(out))
    eq(sv:event(), "binary")
    local typ, outlen, at = sv:event()
    eq(typ, nil)
    eq(outlen, 0)
    eq(at, 20000, "keepalive deadline")
end)

test("a fragmented message is reassembled by the core", function()
    local cl, sv = pair()
    local part = string.rep("x", 70000)
    cl:send_fragment(1, part, false)
    cl:send_fragment(1, part, false)
    cl:send_fragment(1, "end", true)
    local evs = pump(cl, sv)
    eq(#evs, 1, "one event")
    eq(evs[1][1], "text")
    eq(#evs[1][2], 140003)
end)

test("stream_fragments delivers pieces with first and fin", function()
    local cl, sv = pair({ compression = false }, { stream_fragments = true, compression = false })
    cl:send_fragment(2, "ab", false)
    cl:send_fragment(2, "cd", true)
    local evs = pump(cl, sv)
    eq(evs[1][1], "fragment")
    eq(evs[1][3], "binary")
    eq(evs[1][4], true, "first")
    eq(evs[1][5], false, "fin")
    eq(evs[#evs][5], true, "last fin")
end)

test("invalid UTF-8 text is refused and the connection stays open", function()
    local cl = pair()
    local ok, err, name = cl:send(1, "\255")
    eq(ok, nil)
    eq(name, "EUTF8")
    eq(cl:state(), "open")
end)

test("a message over max_message_size fails the connection with 1009", function()
    local cl, sv = pair({ compression = false }, { max_message_size = 1000, compression = false })
    cl:send(2, string.rep("z", 1001))
    local evs = pump(cl, sv)
    local last = evs[#evs]
    eq(last[1], "closed")
    eq(last[4], 1009, "sent code")
    local cevs = pump(sv, cl)
    eq(cevs[1][1], "close")
    eq(cevs[1][3], 1009)
end)

test("close handshake: code and reason, then clean closed", function()
    local cl, sv = pair()
    assert(cl:close(4000, "bye"))
    local evs = pump(cl, sv)
    eq(evs[1][1], "close")
    eq(evs[1][2], "bye")
    eq(evs[1][3], 4000)
    local cevs = pump(sv, cl) -- the echo
    eq(cevs[1][1], "close")
    eq(cevs[1][3], 4000)
    sv:feed_eof()
    cl:feed_eof()
    local typ, _, code, sent, clean = cl:event()
    eq(typ, "closed")
    eq(code, 4000)
    eq(sent, 4000)
    eq(clean, true)
end)

test("an unsendable close code is refused", function()
    local cl = pair()
    local ok, _, name = cl:close(1005)
    eq(ok, nil)
    eq(name, "EINVAL")
end)

test("ping ids are acknowledged by the pong", function()
    local cl, sv = pair()
    local id, bytes = cl:ping()
    eq(id, 1)
    assert(bytes > 0)
    local evs = pump(cl, sv)
    eq(evs[1][1], "ping")
    local cevs = pump(sv, cl) -- the automatic pong
    eq(cevs[1][1], "pong")
    eq(cevs[1][3], 1, "ping id acked")
    eq(cevs[1][4], 0, "latency")
end)

test("feeding before the events are drained is refused", function()
    local cl, sv = pair()
    cl:send(1, "a")
    cl:send(1, "b")
    assert(sv:feed(cl:take(), 0))
    eq(sv:event(), "text")
    local ok, _, name = sv:feed("x")
    eq(ok, nil)
    eq(name, "ESTATE")
    eq(sv:event(), "text")
    eq(sv:event(), nil)
    assert(sv:feed(""))
end)

test("a server refuses a wrong version with 426 and its header", function()
    local sv = assert(proto.new({ role = "server" }, 0))
    sv:feed("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" ..
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 12\r\n\r\n")
    local typ, _, status = sv:event()
    eq(typ, "request")
    eq(status, 426)
    assert(sv:reject())
    local out = sv:take()
    assert(out:find("^HTTP/1.1 426"), out)
    assert(out:find("Sec%-WebSocket%-Version: 13"), out)
    eq(sv:event(), "closed")
end)

test("accept takes extra headers as a map or as lines", function()
    for _, h in ipairs({ { ["X-A"] = "1" }, { "X-A: 1" } }) do
        local sv = assert(proto.new({ role = "server" }, 0))
        sv:feed("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" ..
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        eq(sv:event(), "request")
        assert(sv:accept(nil, h))
        local out = sv:take()
        assert(out:find("X%-A: 1\r\n"), out)
        assert(out:find("s3pPLMBiTxaQ9kYGzzhZRbK%+xOo="), out)
    end
end)

test("keepalive: a ping at the interval, 1011 when no pong comes", function()
    local cl, sv = pair({}, { ping_interval = 100, ping_timeout = 50 })
    eq(sv:deadline(), 100)
    sv:tick(100)
    local evs = pump(sv, cl, 100)
    eq(evs[1][1], "ping")
    sv:tick(151)
    local typ, _, code, sent = sv:event()
    eq(typ, "closed")
    eq(sent, 1011)
end)

test("the open timeout ends a handshake that never completes", function()
    local cl = assert(proto.new({ role = "client", host = "h", open_timeout = 100 }, 0))
    cl:take()
    cl:tick(100)
    local typ, err = cl:event()
    eq(typ, "closed")
    assert(err:find("timed out"), err)
end)

test("a refusal reaches the client with status, headers and body", function()
    local cl = assert(proto.new({ role = "client", host = "h" }, 0))
    cl:take()
    cl:feed("HTTP/1.1 403 Forbidden\r\nX-Why: test\r\nContent-Length: 4\r\n\r\nnope")
    local typ, body, status, headers = cl:event()
    eq(typ, "rejected")
    eq(status, 403)
    eq(body, "nope")
    eq(headers["x-why"], "test")
end)

test("repeated response headers are joined", function()
    local cl = assert(proto.new({ role = "client", host = "h" }, 0))
    cl:take()
    cl:feed("HTTP/1.1 500 Oops\r\nX-A: 1\r\nX-A: 2\r\nContent-Length: 0\r\n\r\n")
    local _, _, _, headers = cl:event()
    eq(headers["x-a"], "1, 2")
end)

test("bad options raise", function()
    assert(not pcall(proto.new, { role = "nobody" }))
    assert(not pcall(proto.new, { role = "client" }), "a client needs host")
    assert(not pcall(proto.new, { role = "server", compression = { server_max_window_bits = 7 } }))
    assert(not pcall(proto.new, { role = "server", max_message_size = -1 }))
end)

test("url parsing", function()
    local u = assert(proto.url("wss://user:pw@[::1]:9000/a b?x=1"))
    eq(u.secure, true)
    eq(u.host, "::1")
    eq(u.ipv6, true)
    eq(u.port, 9000)
    eq(u.resource, "/a%20b?x=1")
    eq(u.userinfo, "user:pw")
    local bad, err, name = proto.url("http://x/")
    eq(bad, nil)
    eq(name, "EURL")
end)

test("backoff: first delay within initial, give up after max_attempts", function()
    local b = proto.backoff { initial_delay = 100, min_delay = 50, max_delay = 80, max_attempts = 3 }
    local d1, d2, d3 = b:next(), b:next(), b:next()
    assert(d1 >= 0 and d1 <= 100, d1)
    assert(d2 >= 40 and d2 <= 80, d2)
    assert(d3 <= 80, d3)
    eq(b:next(), nil)
    eq(b:attempts(), 3)
    b:reset()
    assert(b:next())
end)

test("retry classification", function()
    eq(proto.retryable("closed", 1006), true)
    eq(proto.retryable("closed", 1000), false)
    eq(proto.retryable("http_status", 503), true)
    eq(proto.retryable("http_status", 403), false)
    eq(proto.retryable("tls_verify"), false)
    eq(proto.retryable("refused"), true)
end)

test("rpc table: resolve once, expire by deadline, cancel the rest", function()
    local t = proto.rpc()
    local a, b, c = t:next_id(), t:next_id(), t:next_id()
    assert(t:add(a, 10))
    assert(t:add(b, 20))
    assert(t:add(c, -1))
    eq(t:resolve(a), true)
    eq(t:resolve(a), false)
    eq(t:next_deadline(), 20)
    local ids = t:expire(25)
    eq(#ids, 1)
    eq(ids[1], b)
    ids = t:cancel_all()
    eq(#ids, 1)
    eq(ids[1], c)
    eq(t:count(), 0)
end)

test("freed connections refuse calls; collection frees the rest", function()
    local c = assert(proto.new({ role = "server" }, 0))
    c:free()
    assert(not pcall(c.event, c))
    for _ = 1, 200 do
        proto.new({ role = "client", host = "h", protocols = { "x" } }, 0)
    end
    collectgarbage()
    collectgarbage()
end)

local passed, failed = 0, 0
for _, t in ipairs(tests) do
    local ok, err = pcall(t[2])
    if ok then
        passed = passed + 1
    else
        failed = failed + 1
        print("FAIL " .. t[1] .. ": " .. tostring(err))
    end
end
print(passed .. " passed, " .. failed .. " failed")
os.exit(failed == 0 and 0 or 1)
