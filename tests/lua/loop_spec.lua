-- The loop: sleep and timeouts, spawn, signals, run.
local wskit = require "wskit"
local H = require "helper"

local function wall()
    local p = io.popen("date +%s%N")
    local ns = tonumber(p:read("*l"))
    p:close()
    return ns / 1e9
end

describe("loop", function()
    it("sleeps for the time asked, counted from the call even after Lua blocked", function()
        H.run(function()
            local t0 = wall()
            os.execute("sleep 0.3") -- blocks the loop: its cached time goes stale
            wskit.sleep(0.2)
            assert.is_true(wall() - t0 >= 0.48)
        end)
    end)

    it("reports errors of spawned coroutines and goes on", function()
        local errors, restore = H.capture_errors()
        H.run(function()
            wskit.spawn(function()
                wskit.sleep(0.01)
                error("spawned failure")
            end)
            wskit.sleep(0.05)
        end)
        restore()
        assert.equal(1, #errors)
        assert.matches("spawned failure", errors[1])
    end)

    it("delivers signals to on_signal until stopped", function()
        H.run(function()
            local f = assert(io.open("/proc/self/stat"))
            local pid = f:read("*l"):match("^(%d+)")
            f:close()
            local got = {}
            local h = wskit.on_signal("SIGUSR1", function(name) got[#got + 1] = name end)
            os.execute("kill -USR1 " .. pid)
            assert(H.wait_for(function() return #got == 1 end, 5))
            assert.equal("SIGUSR1", got[1])
            assert.is_true(h:stop())
            assert.is_false(h:stop())
            assert.has_error(function() wskit.on_signal("SIGKILL", print) end)
        end)
    end)

    it("refuses to run the loop inside the loop", function()
        H.run(function()
            wskit.sleep(0) -- now resumed from inside the loop
            assert.has_error(function() wskit.run() end)
        end)
    end)
end)
