-- wss (TLS with verification on by default) and HTTP CONNECT proxies,
-- with our server, our client, python3-websockets and a small proxy.
local wskit = require "wskit"
local H = require "helper"

local function tls_server(extra)
    local c = H.certs()
    local o = { tls_cert_file = c.cert, tls_key_file = c.key }
    for k, v in pairs(extra or {}) do o[k] = v end
    local srv = H.echo_server(o)
    return srv, "wss://localhost:" .. srv:port() .. "/", c
end

describe("TLS", function()
    it("echoes over wss with the CA given", function()
        H.run(function()
            local _, url, c = tls_server()
            local ws = assert(wskit.connect{ url = url, tls_ca_file = c.ca })
            assert(ws:send("secret"))
            assert.equal("secret", (ws:receive(5)))
            ws:close()
            assert.equal(1000, ws:wait_closed(5).code)
        end)
    end)

    it("verifies certificates by default, and does not retry a failed verification", function()
        H.run(function()
            local _, url = tls_server()
            local ws, err = wskit.connect{ url = url }
            assert.is_nil(ws)
            assert.matches("^ECRYPTO", err)
            local closes = {}
            local cl = H.track(assert(wskit.connect{ url = url, reconnect = true,
                on_close = function(_, info) closes[#closes + 1] = info.will_retry end }))
            assert.is_nil((cl:wait_open(5)))
            assert.same({ false }, closes)
            -- tls_insecure turns verification off
            ws = assert(wskit.connect{ url = url, tls_insecure = true })
            ws:close()
        end)
    end)

    it("serves python3-websockets over wss and connects to its wss server", function()
        H.run(function()
            local _, url, c = tls_server()
            local p = H.py_client(url, "--count 5 --cafile " .. c.ca)
            assert.equal(0, p:wait(), p:output())
            local _, port = H.py_server(("--cert %s --key %s"):format(c.cert, c.key))
            local ws = assert(wskit.connect{ url = "wss://127.0.0.1:" .. port .. "/", tls_ca_file = c.ca })
            ws:send("to python")
            assert.equal("to python", (ws:receive(5)))
            ws:close()
        end)
    end)
end)

describe("HTTP CONNECT proxy", function()
    it("tunnels ws and wss through the proxy option", function()
        H.run(function()
            local proxy = H.bg(H.python .. " " .. H.peers .. "/py_proxy.py")
            local pport = tonumber(proxy:expect("PORT (%d+)"))
            local srv, url = H.echo_server()
            local ws = assert(wskit.connect{ url = url, proxy = "http://127.0.0.1:" .. pport })
            ws:send("via proxy")
            assert.equal("via proxy", (ws:receive(5)))
            ws:close()
            assert.matches("CONNECT 127.0.0.1:" .. srv:port(), proxy:output())
            local _, surl, c = tls_server()
            ws = assert(wskit.connect{ url = surl, tls_ca_file = c.ca, proxy = "http://127.0.0.1:" .. pport })
            ws:send("tls via proxy")
            assert.equal("tls via proxy", (ws:receive(5)))
            ws:close()
        end)
    end)

    it("reports the proxy's refusal", function()
        H.run(function()
            local proxy = H.bg(H.python .. " " .. H.peers .. "/py_proxy.py --auth u:p")
            local pport = tonumber(proxy:expect("PORT (%d+)"))
            local _, url = H.echo_server()
            local ws, err, info = wskit.connect{ url = url, proxy = "http://127.0.0.1:" .. pport }
            assert.is_nil(ws)
            assert.matches("proxy answered 407", err)
            assert.equal(407, info.proxy_status)
            ws = assert(wskit.connect{ url = url, proxy = "http://u:p@127.0.0.1:" .. pport })
            ws:close()
        end)
    end)
end)
