-- Who may connect and how much they may send: credentials in the
-- handshake (query token, cookie, Authorization header) through the
-- authenticate hook and wskit.auth, first-message authentication with
-- first_message_auth (close 1008), the Host allowlist, message rates (error / drop / close) and
-- connections per IP (429 / 1013). Every limit is crossed.
local wskit = require "wskit"
local H = require "helper"

local USERS = { t1 = { name = "alice" }, s1 = { name = "bob" }, k1 = { name = "carol" } }

-- a server greeting ws.user, then echoing
local function greeter(extra)
    local o = {
        host = "127.0.0.1", port = 0,
        handler = function(ws)
            ws:send("hello " .. (ws.user and ws.user.name or "nobody"))
            while true do -- (Lua 5.1 cannot yield inside a for iterator)
                local msg = ws:receive()
                if not msg then break end
                ws:send(msg)
            end
        end,
    }
    for k, v in pairs(extra or {}) do
        if v == false then v = nil end -- handler = false: the callback style
        o[k] = v
    end
    local srv = H.track(assert(wskit.serve(o)))
    return srv, "ws://127.0.0.1:" .. srv:port() .. "/"
end

local function connect(url, extra)
    local o = { url = url }
    for k, v in pairs(extra or {}) do o[k] = v end
    local ws, err = wskit.connect(o)
    if ws then H.track(ws) end
    return ws, err
end

-- authenticate(ws, req) -> user data (ws.user) or nil (401)
local function handshake_auth(hook)
    return greeter({
        authenticate = function(_, req)
            return USERS[hook(req) or ""]
        end,
    })
end

describe("handshake credentials", function()
    it("token in the query string", function()
        H.run(function()
            local _, url = handshake_auth(function(req) return wskit.auth.token_from_query(req) end)
            local ws = assert(connect(url .. "chat?room=x&token=t1"))
            assert.equal("hello alice", ws:receive(5))
            assert.same({ nil, "EHANDSHAKE: the server answered 401" },
                { connect(url .. "chat?token=nope") })
            assert.same({ nil, "EHANDSHAKE: the server answered 401" }, { connect(url) })
        end)
    end)

    it("cookie", function()
        H.run(function()
            local _, url = handshake_auth(function(req) return wskit.auth.cookie(req, "session") end)
            local ws = assert(connect(url, { headers = { Cookie = "theme=dark; session=s1" } }))
            assert.equal("hello bob", ws:receive(5))
            assert.same({ nil, "EHANDSHAKE: the server answered 401" },
                { connect(url, { headers = { Cookie = "session=s2" } }) })
        end)
    end)

    it("Authorization: Bearer header", function()
        H.run(function()
            local _, url = handshake_auth(function(req) return wskit.auth.bearer(req) end)
            local ws = assert(connect(url, { headers = { Authorization = "Bearer k1" } }))
            assert.equal("hello carol", ws:receive(5))
            assert.same({ nil, "EHANDSHAKE: the server answered 401" },
                { connect(url, { headers = { Authorization = "Basic k1" } }) })
        end)
    end)

    it("nil, status, body refuses with that status; false with 401", function()
        H.run(function()
            local _, url = greeter({
                authenticate = function(_, req)
                    local t = wskit.auth.token_from_query(req)
                    if t == "banned" then return nil, 403, "banned\n" end
                    if t == "no" then return false end
                    return USERS[t or ""]
                end,
            })
            assert.same({ nil, "EHANDSHAKE: the server answered 403" }, { connect(url .. "?token=banned") })
            assert.same({ nil, "EHANDSHAKE: the server answered 401" }, { connect(url .. "?token=no") })
            local ws = assert(connect(url .. "?token=t1"))
            assert.equal("hello alice", ws:receive(5))
        end)
    end)

    it("an error in authenticate answers 500 and is reported", function()
        H.run(function()
            local errors, restore = H.capture_errors()
            local _, url = greeter({ authenticate = function() error("db down") end })
            local r = { connect(url .. "?token=t1") }
            restore()
            assert.same({ nil, "EHANDSHAKE: the server answered 500" }, r)
            assert.matches("db down", errors[1])
        end)
    end)

    it("runs after process_request, may wait, and sets ws.user for every hook", function()
        H.run(function()
            local order, closed_user = {}, nil
            local _, url = greeter({
                process_request = function(_, req)
                    order[#order + 1] = "process_request " .. req.path
                    if req.path == "/health" then return 418 end -- refuses first
                end,
                authenticate = function(ws, req)
                    order[#order + 1] = "authenticate " .. req.path
                    wskit.sleep(0.05) -- a hook may wait (a session store, say)
                    assert.is_nil(ws.user)
                    return USERS[wskit.auth.bearer(req) or ""]
                end,
                on_close = function(ws) closed_user = ws.user end,
            })
            assert.same({ nil, "EHANDSHAKE: the server answered 418" }, { connect(url .. "health") })
            local ws = assert(connect(url .. "chat", { headers = { Authorization = "Bearer k1" } }))
            assert.equal("hello carol", ws:receive(5))
            ws:close()
            assert(H.wait_for(function() return closed_user ~= nil end))
            assert.equal("carol", closed_user.name)
            assert.same({ "process_request /health", "process_request /chat", "authenticate /chat" }, order)
        end)
    end)

    it("hosts allowlist refuses other Host headers with 403", function()
        H.run(function()
            local _, url = greeter({ hosts = { "chat.example" } })
            assert.same({ nil, "EHANDSHAKE: the server answered 403" }, { connect(url) })
            local _, ok_url = greeter({ hosts = { "chat.example", "127.0.0.1" } })
            local ws = assert(connect(ok_url))
            assert.equal("hello nobody", ws:receive(5))
        end)
    end)
end)

describe("first-message authentication", function()
    local function first_message_server(extra)
        local o = {
            auth_timeout = 2,
            first_message_auth = function(ws, msg)
                local t = wskit.json_decode(msg)
                wskit.sleep(0.05) -- a hook may wait (a database, say)
                return USERS[t.token]
            end,
        }
        for k, v in pairs(extra or {}) do o[k] = v end
        return greeter(o)
    end

    it("passes, holds later messages until then, and sets ws.user", function()
        H.run(function()
            local _, url = first_message_server()
            local ws = assert(connect(url))
            assert(ws:send('{"token":"t1"}'))
            assert(ws:send("m1")) -- sent before the answer: held by the core
            assert(ws:send("m2"))
            assert.same({ "hello alice", "m1", "m2" }, { (ws:receive(5)), (ws:receive(5)), (ws:receive(5)) })
        end)
    end)

    it("refuses a bad token with 1008", function()
        H.run(function()
            local _, url = first_message_server()
            local ws = assert(connect(url))
            assert(ws:send('{"token":"bad"}'))
            assert(ws:send("m1"))
            local msg, err = ws:receive(5)
            assert.is_nil(msg)
            assert.matches("^ECLOSED: connection closed %(1008", err)
        end)
    end)

    it("closes with 1008 when no first message comes in auth_timeout", function()
        H.run(function()
            local _, url = first_message_server({ auth_timeout = 0.2 })
            local ws = assert(connect(url))
            local info = ws:wait_closed(5)
            assert.equal(1008, info.code)
        end)
    end)

    it("errors in the messages it releases are reported as such", function()
        H.run(function()
            local errors, restore = H.capture_errors()
            local _, url = first_message_server({
                handler = false,
                on_message = function(_, msg) error("boom " .. msg) end,
            })
            local ws = assert(connect(url))
            assert(ws:send('{"token":"t1"}'))
            assert(ws:send("m1")) -- delivered from inside the hook's answer
            local info = ws:wait_closed(5)
            restore()
            assert.equal(1011, info.code)
            assert.matches("boom m1", errors[1])
        end)
    end)

    it("after authenticate: the handshake user, then the first message", function()
        H.run(function()
            local _, url = first_message_server({
                authenticate = function(_, req) return USERS[wskit.auth.token_from_query(req) or ""] end,
                first_message_auth = function(ws, msg)
                    return msg == "pin " .. ws.user.name and ws.user or nil -- a second factor
                end,
            })
            assert.same({ nil, "EHANDSHAKE: the server answered 401" }, { connect(url) })
            local ws = assert(connect(url .. "?token=s1"))
            assert(ws:send("pin bob"))
            assert.equal("hello bob", ws:receive(5))
            local bad = assert(connect(url .. "?token=s1"))
            assert(bad:send("pin alice"))
            assert.equal(1008, bad:wait_closed(5).code)
        end)
    end)

    it("python3-websockets client gets 1008 on a bad first message", function()
        H.run(function()
            local _, url = first_message_server({
                first_message_auth = function(_, msg) return USERS[msg] end, -- the text is the token
            })
            local peer = H.py_client(url, "--expect-close 1008")
            -- py_peer's first message is "message 0 ": not a token
            assert.equal(0, peer:wait(15))
            assert.matches("OK close=1008", peer:output())
        end, 20)
    end)
end)

describe("message rate", function()
    local function rate_server(policy)
        local conns = {}
        local srv, url = greeter({
            message_rate = 1, message_burst = 2, rate_policy = policy,
            on_open = function(ws) conns[#conns + 1] = ws end,
        })
        return srv, url, conns
    end

    it("error: over the rate gets a rate_limited error, counted", function()
        H.run(function()
            local _, url, conns = rate_server("error")
            local ws = assert(connect(url))
            assert.equal("hello nobody", ws:receive(5))
            for i = 1, 5 do assert(ws:send("m" .. i)) end
            local got = {}
            for i = 1, 5 do got[i] = assert(ws:receive(5)) end
            local echoes, errors = 0, 0
            for _, m in ipairs(got) do
                if m:match('"code":"rate_limited"') then
                    errors = errors + 1
                else
                    echoes = echoes + 1
                end
            end
            assert.same({ 2, 3 }, { echoes, errors })
            local st = conns[1]:stats()
            assert.equal(3, st.rate_limited)
            assert.equal(5, st.messages_in) -- every message read is counted
            assert(ws:is_open())
        end)
    end)

    it("drop: over the rate is discarded silently", function()
        H.run(function()
            local _, url, conns = rate_server("drop")
            local ws = assert(connect(url))
            assert.equal("hello nobody", ws:receive(5))
            for i = 1, 5 do assert(ws:send("m" .. i)) end
            assert.same({ "m1", "m2" }, { (ws:receive(5)), (ws:receive(5)) })
            assert.same({ nil, "ETIMEDOUT: timed out" }, { ws:receive(0.3) })
            assert.equal(3, conns[1]:stats().rate_limited)
        end)
    end)

    it("close: over the rate closes with 1008", function()
        H.run(function()
            local _, url = rate_server("close")
            local ws = assert(connect(url))
            for i = 1, 5 do ws:send("m" .. i) end
            local info = ws:wait_closed(5)
            assert.equal(1008, info.code)
        end)
    end)
end)

describe("connections per IP", function()
    it("reject: the one over the limit gets 429; the count is visible", function()
        H.run(function()
            local srv, url = greeter({ max_connections_per_ip = 2 })
            local a = assert(connect(url))
            local b = assert(connect(url))
            assert.equal(2, srv:ip_count("127.0.0.1"))
            assert.same({ nil, "EHANDSHAKE: the server answered 429" }, { connect(url) })
            a:close()
            assert(H.wait_for(function() return srv:ip_count("127.0.0.1") == 1 end))
            local c = assert(connect(url))
            assert.equal("hello nobody", c:receive(5))
            assert.equal("hello nobody", b:receive(5))
        end)
    end)

    it("close: the one over the limit is accepted, then closed with 1013", function()
        H.run(function()
            local opened = 0
            local srv, url = greeter({ max_connections_per_ip = 1, ip_limit_policy = "close",
                on_open = function() opened = opened + 1 end })
            local a = assert(connect(url))
            local b = assert(connect(url))
            local info = b:wait_closed(5)
            assert.equal(1013, info.code)
            assert.equal(1, opened) -- the application never saw it
            assert.equal(1, srv:ip_count("127.0.0.1"))
            assert.equal("hello nobody", a:receive(5))
        end)
    end)
end)
