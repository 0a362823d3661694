-- Unit tests of wskit.proto's channel parts (proto_hub.c, proto_chan.c)
-- and the issue-6 connection additions, with no sockets. Runs under
-- LuaJIT and Lua 5.4 (and Lua 5.4 with ASan+UBSan):
--   luajit tests/openresty/test_proto_hub.lua build/lua
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

-- outs (flat list sub, rec, ...) -> list of {sub, rec}
local function pairs_of(outs)
    local r = {}
    for i = 1, #outs, 2 do
        r[#r + 1] = { outs[i], outs[i + 1] }
    end
    return r
end

test("chan_parse reads every client message and refuses bad ones", function()
    local f = assert(proto.chan_parse('{"type":"subscribe","channel":"a\\u00e9","since":4,"epoch":"e1","id":"x"}'))
    eq(f.type, "subscribe")
    eq(f.channel, "a\195\169")
    eq(f.since, 4)
    eq(f.epoch, "e1")
    eq(f.id, '"x"')
    f = assert(proto.chan_parse('{"type":"publish","channel":"c","data":"AAE=","binary":true}'))
    eq(f.kind, "b")
    eq(f.data, "\0\1")
    f = assert(proto.chan_parse('{"type":"publish","channel":"c","data":{"k":[1, 2]}}'))
    eq(f.kind, "j")
    eq(f.data, '{"k":[1, 2]}')
    local bad, why = proto.chan_parse("{nope")
    eq(bad, nil)
    assert(type(why) == "string" and #why > 0)
    eq((proto.chan_parse('{"type":"subscribe"}')), nil)
    eq((proto.chan_parse('{"type":"subscribe","channel":"c","since":-1}')), nil)
end)

test("builders round-trip through the parser", function()
    local s = assert(proto.chan_subscribed("c", "ep", 7, true, "3"))
    local f = assert(proto.chan_parse(s))
    eq(f.type, "subscribed"); eq(f.seq, 7); eq(f.recovered, true); eq(f.id, "3")
    f = assert(proto.chan_parse(assert(proto.chan_message("c", 2, "ep", "t", "hi\n"))))
    eq(f.type, "message"); eq(f.data, "hi\n"); eq(f.kind, "t"); eq(f.seq, 2)
    f = assert(proto.chan_parse(assert(proto.chan_gap("c", "ep", 1, 9, "expired"))))
    eq(f.from, 1); eq(f.to, 9); eq(f.reason, "expired")
    f = assert(proto.chan_parse(assert(proto.chan_error("forbidden", "no", "c", '"i"'))))
    eq(f.code, "forbidden"); eq(f.message, "no"); eq(f.channel, "c"); eq(f.id, '"i"')
    f = assert(proto.chan_parse(assert(proto.chan_published("c", 5))))
    eq(f.type, "published"); eq(f.seq, 5)
    f = assert(proto.chan_parse(assert(proto.chan_unsubscribed("c"))))
    eq(f.type, "unsubscribed")
    f = assert(proto.chan_parse(assert(proto.chan_subscribe("c", 3, "ep"))))
    eq(f.since, 3); eq(f.epoch, "ep")
    f = assert(proto.chan_parse(assert(proto.chan_publish("c", "b", "\255"))))
    eq(f.data, "\255"); eq(f.kind, "b")
    f = assert(proto.chan_parse(assert(proto.chan_unsubscribe("c"))))
    eq(f.type, "unsubscribe")
    -- invalid payloads are refused, not sent
    local r, err, name = proto.chan_message("c", 1, "ep", "t", "\255")
    eq(r, nil); eq(name, "EUTF8")
    r = proto.chan_publish("c", "j", "{bad")
    eq(r, nil)
    assert(not pcall(proto.chan_publish, "c", "x", "data"), "bad kind raises")
    eq(proto.json_valid('[1,{"a":null}]'), true)
    eq(proto.json_valid('[1,'), false)
end)

test("envelope, keys and scripts of the backplane", function()
    local env = assert(proto.envelope_build("origin1", "ch", 12, "ep", "b", "\0\1\2"))
    local e = assert(proto.envelope_parse(env))
    eq(e.origin, "origin1"); eq(e.channel, "ch"); eq(e.seq, 12); eq(e.epoch, "ep")
    eq(e.kind, "b"); eq(e.data, "\0\1\2")
    local bad, why = proto.envelope_parse("WSK1 nonsense")
    eq(bad, nil)
    assert(why)
    eq(proto.backplane_key(nil, "meta", "c"), "wskit:meta:c")
    eq(proto.backplane_key("p:", "hist", "c"), "p:hist:c")
    eq(proto.backplane_channel_of(nil, "wskit:msg:room"), "room")
    eq(proto.backplane_channel_of(nil, "other:msg:room"), nil)
    local o = assert(proto.backplane_origin())
    assert(#o == 16 and o:match("^[0-9a-f]+$"))
    assert(#proto.REDIS_PUBLISH_SCRIPT > 0 and #proto.REDIS_RECOVER_SCRIPT > 0)
end)

test("sse formatting and ids", function()
    eq(proto.sse_event("e:1", nil, "a\nb"), "id: e:1\ndata: a\ndata: b\n\n")
    eq(proto.sse_event(nil, "gap", ""), "event: gap\ndata: \n\n")
    eq(proto.sse_retry(2000), "retry: 2000\n\n")
    eq(proto.sse_comment(), ":\n\n")
    eq((proto.sse_event("bad\nid", nil, "x")), nil)
    eq(proto.sse_format_id("ep", 42), "ep:42")
    local ep, seq = proto.sse_parse_id("ep:42")
    eq(ep, "ep"); eq(seq, 42)
    eq((proto.sse_parse_id("nonsense")), nil)
end)

test("sse_hub_event: the core's SSE form of hub outputs", function()
    local h = assert(proto.hub{ history_size = 2 })
    local outs = assert(h:subscribe(1, "c", nil, nil, nil, 0))
    eq(proto.sse_hub_event(outs[2]), "", "subscribed is not sent")
    local _, o1 = h:publish("c", "t", "a\nb", 0)
    local ep = select(2, h:position("c"))
    eq(proto.sse_hub_event(o1[2]), "id: " .. ep .. ":1\ndata: a\ndata: b\n\n")
    local _, o2 = h:publish("c", "b", "\0\1\2", 0)
    eq(proto.sse_hub_event(o2[2]), "id: " .. ep .. ":2\ndata: AAEC\n\n")
    local _, o3 = h:publish("c", "j", '{"k":1}', 0)
    eq(proto.sse_hub_event(o3[2]), "id: " .. ep .. ':3\ndata: {"k":1}\n\n')
    h:publish("c", "t", "4", 0)
    -- resume after 0 with history 2 (3, 4): a gap 1..2, its id the gap's end
    local r = pairs_of(assert(h:subscribe(2, "c", 0, ep, nil, 0)))
    local gap
    for _, p in ipairs(r) do
        if p[2].kind == "gap" then gap = p[2] end
    end
    assert(gap, "a gap output")
    eq(proto.sse_hub_event(gap), "id: " .. ep .. ":" .. gap.to .. "\nevent: gap\ndata: " .. gap.json .. "\n\n")
    assert(not pcall(proto.sse_hub_event, { kind = "nope" }), "bad kind raises")
    h:free()
end)

test("chan_refusal carries the refused request's id and channel", function()
    local f = assert(proto.chan_parse(assert(proto.chan_refusal("rate_limited", "slow down",
        '{"type":"subscribe","channel":"news","id":7}'))))
    eq(f.type, "error"); eq(f.code, "rate_limited"); eq(f.channel, "news"); eq(f.id, "7")
    f = assert(proto.chan_parse(assert(proto.chan_refusal("rate_limited", "x", "not json"))))
    eq(f.code, "rate_limited"); eq(f.channel, nil); eq(f.id, nil)
    f = assert(proto.chan_parse(assert(proto.chan_refusal("rate_limited", "x"))))
    eq(f.channel, nil)
end)

test("host_allowed: the core's Host allowlist", function()
    local hosts = { "good.example", "127.0.0.1:8080" }
    eq(proto.host_allowed(hosts, "good.example"), true)
    eq(proto.host_allowed(hosts, "GOOD.example:9"), true, "no port: any port")
    eq(proto.host_allowed(hosts, "127.0.0.1:8080"), true)
    eq(proto.host_allowed(hosts, "127.0.0.1:8081"), false)
    eq(proto.host_allowed(hosts, "evil.example"), false)
    eq(proto.host_allowed(hosts, nil), false, "no Host")
    eq(proto.host_allowed(nil, "any"), true)
    eq(proto.host_allowed({}, nil), true)
    assert(not pcall(proto.host_allowed, { 1 }, "x"), "non-string entries raise")
end)

test("redact_target hides credentials in the query", function()
    eq(proto.redact_target("/ws?token=abc&x=1&API_KEY=k"), "/ws?token=***&x=1&API_KEY=***")
    eq(proto.redact_target("/plain"), "/plain")
end)

test("local hub: subscribe, publish to members, resume, gap", function()
    local h = assert(proto.hub{ history_size = 3 })
    local outs = assert(h:subscribe(1, "c", nil, nil, "7", 0))
    local p = pairs_of(outs)
    eq(#p, 1); eq(p[1][1], 1); eq(p[1][2].kind, "subscribed")
    assert(p[1][2].json:find('"id":7', 1, true))
    assert(h:subscribe(2, "c", nil, nil, nil, 0))
    local seq
    seq, outs = h:publish("c", "t", "one", 10)
    eq(seq, 1)
    p = pairs_of(outs)
    eq(#p, 2)
    eq(p[1][2], p[2][2], "one shared rec for a fanned-out message")
    eq(p[1][2].data, "one"); eq(p[1][2].ptype, "t"); eq(p[1][2].seq, 1)
    local top, epoch = h:position("c")
    eq(top, 1)
    for i = 2, 6 do
        h:publish("c", "j", tostring(i), 10)
    end
    eq(h:count("c"), 2)
    eq(h:is_member(1, "c"), true)
    eq(h:unsubscribe(1, "c"), true)
    eq(h:unsubscribe(1, "c"), false)
    -- resume after seq 1: 2 and 3 fell out of the 3-message history
    p = pairs_of(assert(h:subscribe(3, "c", 1, epoch, nil, 20)))
    eq(p[1][2].kind, "subscribed")
    eq(p[2][2].kind, "gap"); eq(p[2][2].from, 2); eq(p[2][2].to, 3)
    eq(p[2][2].reason, "expired")
    eq(p[3][2].seq, 4); eq(p[5][2].seq, 6); eq(#p, 5)
    local chans = h:channels()
    eq(#chans, 1); eq(chans[1], "c")
    eq(h:drop(3), 1)
    eq(h:drop(2), 1)
    eq(h:count("c"), 0)
    assert(not pcall(h.subscribe, h, 0, "c"), "subscriber ids start at 1")
    local r, _, name = h:publish("c", "t", "\255", 0)
    eq(r, nil); eq(name, "EUTF8")
end)

test("local hub: max_subscriptions is a limit", function()
    local h = assert(proto.hub{ max_subscriptions = 2 })
    assert(h:subscribe(1, "a"))
    assert(h:subscribe(1, "b"))
    local r, _, name = h:subscribe(1, "c")
    eq(r, nil); eq(name, "E2BIG")
end)

test("external hub: recover from a script reply, hold live messages, dispatch", function()
    local h = assert(proto.hub{ external = true })
    local r, since = h:subscribe(1, "c", 1, "ep", nil, 0)
    eq(r, false); eq(since, 1)
    -- a live message arrives while recovering: held
    local outs = assert(h:dispatch(assert(proto.envelope_build("o", "c", 4, "ep", "t", "four")), 0))
    eq(#outs, 0)
    local reply = { "ep", 3,
        proto.envelope_build("o", "c", 2, "ep", "t", "two"),
        proto.envelope_build("o", "c", 3, "ep", "t", "three") }
    local p = pairs_of(assert(h:recovered(1, "c", reply, 0)))
    eq(p[1][2].kind, "subscribed"); eq(p[1][2].recovered, true)
    eq(p[2][2].data, "two"); eq(p[3][2].data, "three"); eq(p[4][2].data, "four")
    eq(#p, 4)
    -- live now; a duplicate is not delivered twice
    outs = assert(h:dispatch(proto.envelope_build("o", "c", 4, "ep", "t", "four"), 0))
    eq(#outs, 0)
    local origin
    outs, origin = h:dispatch(proto.envelope_build("o2", "c", 5, "ep", "t", "five"), 0)
    eq(#outs, 2); eq(origin, "o2")
    eq((h:dispatch("garbage", 0)), nil)
    -- resync: everyone recovering again, fetched after their position
    local n, from = h:resync("c")
    eq(n, 1); eq(from, 5)
    p = pairs_of(assert(h:recovered(nil, "c", { "ep", 6,
        proto.envelope_build("o", "c", 6, "ep", "t", "six") }, 0)))
    eq(#p, 1); eq(p[1][2].data, "six")
    eq(select(3, h:publish("c", "t", "x", 0)), "ESTATE")
    assert(not pcall(h.recovered, h, 1, "c", { 1, 2 }, 0), "bad reply raises")
end)

-- two connections back to back
local function pump(from, to)
    local evs = {}
    local out = from:take()
    if out then
        assert(to:feed(out, 0))
        while true do
            local e = { to:event() }
            if not e[1] then break end
            evs[#evs + 1] = e
        end
    end
    return evs
end

local function pair(sopts)
    sopts.role = "server"
    local cl = assert(proto.new({ role = "client", host = "good.example", compression = false }, 0))
    local sv = assert(proto.new(sopts, 0))
    local evs = pump(cl, sv)
    eq(evs[1][1], "request")
    if evs[1][3] ~= 0 then
        return nil, evs[1][3]
    end
    assert(sv:accept())
    sv:event()
    pump(sv, cl)
    return cl, sv
end

test("hosts allowlist: 403 for other Host values", function()
    local _, status = pair({ hosts = { "other.example" } })
    eq(status, 403)
    assert(pair({ hosts = { "good.example" } }))
end)

test("message_rate: rate_limited events and stats", function()
    local cl, sv = pair({ message_rate = 1, message_burst = 2 })
    for i = 1, 4 do
        cl:send(1, "m" .. i)
    end
    local evs = pump(cl, sv)
    local kinds = {}
    for _, e in ipairs(evs) do
        kinds[#kinds + 1] = e[1]
    end
    eq(table.concat(kinds, ","), "text,text,rate_limited,rate_limited")
    eq(evs[3][2], "m3"); eq(evs[3][3], "text")
    local st = sv:stats()
    eq(st.rate_limited, 2)
    eq(st.messages_in >= 2, true)
    assert(not pcall(proto.new, { role = "server", rate_policy = "nope" }))
end)

test("auth_timeout: the first message waits for authenticate()", function()
    local cl, sv = pair({ auth_timeout = 1000 })
    eq(sv:authenticated(), false)
    cl:send(1, "login")
    cl:send(1, "second")
    local evs = pump(cl, sv)
    eq(#evs, 1); eq(evs[1][2], "login")
    assert(sv:authenticate(true))
    eq(sv:authenticated(), true)
    local e = { sv:event() }
    eq(e[1], "text"); eq(e[2], "second")
    cl, sv = pair({ auth_timeout = 1000 })
    cl:send(1, "bad")
    pump(cl, sv)
    assert(sv:authenticate(false, "nope"))
    local cevs = pump(sv, cl)
    eq(cevs[1][1], "close"); eq(cevs[1][3], 1008); eq(cevs[1][2], "nope")
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
collectgarbage()
print(passed .. " passed, " .. failed .. " failed")
os.exit(failed == 0 and 0 or 1)
