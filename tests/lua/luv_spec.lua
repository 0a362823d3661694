-- wskit on luv's loop (optional: skipped when lua-luv is missing).
local H = require "helper"

local lua = os.getenv("WSKIT_LUA")
local has_luv = lua and os.execute(lua .. " -e 'require \"luv\"' 2>/dev/null")
has_luv = has_luv == true or has_luv == 0

describe("luv", function()
    if not has_luv then -- a missing peer fails, never passes quietly (.ci/run installs it)
        it("needs lua-luv", function()
            error("lua-luv is not installed for " .. tostring(lua) .. " (apt-get install -y lua-luv)")
        end)
        return
    end
    it("runs wskit objects and luv handles on one loop", function()
        H.run(function()
            local p = H.bg(lua .. " " .. H.peers .. "/luv_echo.lua")
            assert.equal(0, p:wait(10), p:output())
            assert.matches("^OK", p:output())
        end, 15)
    end)
end)
