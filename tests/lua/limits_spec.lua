-- Limits crossed: message size (1009 both ways), the receive queue
-- (reading pauses), the write limit (send waits), the open timeout.
local wskit = require "wskit"
local H = require "helper"

describe("limits", function()
    it("closes with 1009 when a client sends more than the server's max_size", function()
        H.run(function()
            local _, url = H.echo_server{ max_size = 1000 }
            local ws = assert(wskit.connect{ url = url })
            assert(ws:send(string.rep("a", 1000)))
            assert.equal(1000, #ws:receive(5))
            assert(ws:send(string.rep("a", 1001)))
            local msg, err = ws:receive(5)
            assert.is_nil(msg)
            assert.matches("1009", err)
            assert.equal(1009, ws:close_info().code)
            -- and a python3-websockets client gets the same
            local p = H.py_client(url, "--count 1 --size 5000")
            assert.equal(1, p:wait())
            assert.matches("1009", p:output())
        end)
    end)

    it("pauses reading while the receive queue is full", function()
        H.run(function()
            local got, peak = {}, 0
            local _, url = H.echo_server{ max_queue = 8, handler = function(ws)
                local inbox = ws:_state().inbox
                while #got < 200 do
                    if inbox:count() > peak then peak = inbox:count() end
                    local msg = ws:receive()
                    if not msg then return end
                    got[#got + 1] = msg
                    if #got % 20 == 0 then wskit.sleep(0.01) end -- a slow consumer
                end
                ws:send("done")
            end }
            local ws = assert(wskit.connect{ url = url })
            for i = 1, 200 do
                assert(ws:send(tostring(i)))
            end
            assert.equal("done", (ws:receive(10)))
            assert.equal(200, #got)
            for i = 1, 200 do
                assert.equal(tostring(i), got[i])
            end
            assert.is_true(peak <= 8)
            ws:close()
        end, 15)
    end)

    it("makes send wait while the write queue is over write_limit", function()
        H.run(function()
            local received, paused = 0, nil
            local _, url = H.echo_server{ max_size = 2 ^ 20,
                on_open = function(ws)
                    paused = ws
                    ws:pause() -- stop reading: the client's queue must fill up
                end,
                on_message = function(ws, msg)
                    received = received + #msg
                end }
            local limit, chunk = 65536, string.rep("z", 65536)
            local ws = assert(wskit.connect{ url = url, write_limit = limit, compression = false })
            local resumer = wskit.spawn(function()
                wskit.sleep(0.3)
                paused:resume()
            end)
            assert(resumer)
            local t0, peak = wskit.now(), 0
            for _ = 1, 256 do -- 16 MiB: far more than the kernel buffers hold
                assert(ws:send(chunk))
                if ws:buffered() > peak then peak = ws:buffered() end
            end
            assert.is_true(wskit.now() - t0 >= 0.25) -- it had to wait for the resume
            assert.is_true(peak <= limit + #chunk + 64)
            assert(H.wait_for(function() return received == 256 * #chunk end, 10))
            ws:close()
        end, 20)
    end)

    it("fails the handshake after open_timeout", function()
        H.run(function()
            local _, url = H.echo_server{ process_request = function() wskit.sleep(5) end }
            local t0 = wskit.now()
            local ws, err = wskit.connect{ url = url, open_timeout = 0.2 }
            assert.is_nil(ws)
            assert.matches("^ETIMEDOUT", err)
            assert.is_true(wskit.now() - t0 < 2)
        end)
    end)
end)
