-- The rockspec builds both C modules with `luarocks make` for this
-- interpreter's Lua version, and the installed tree works from outside
-- the checkout.
local lua = os.getenv("WSKIT_LUA")

local function sh(cmd)
    local r = os.execute(cmd)
    return r == true or r == 0
end

describe("wskit-0.1.0-1.rockspec", function()
    if not lua or not sh("command -v luarocks > /dev/null") then
        it("needs luarocks and WSKIT_LUA", function()
            error("luarocks or WSKIT_LUA missing (apt-get install -y luarocks; run tests/lua/run.sh)")
        end)
        return
    end
    it("builds and installs with luarocks make", function()
        local v = lua == "lua5.4" and "5.4" or "5.1"
        local tree = os.tmpname()
        os.remove(tree)
        local log = tree .. ".log"
        local ok = sh(("timeout 300 luarocks --lua-version %s make --tree %s wskit-0.1.0-1.rockspec > %s 2>&1")
            :format(v, tree, log))
        local f = io.open(log)
        local out = f and f:read("*a") or ""
        if f then f:close() end
        assert(ok, out)
        local smoke = [[
local wskit = require "wskit"
assert(require("wskit.proto").url("ws://h/").host == "h")
local srv = assert(wskit.serve{ host = "127.0.0.1", on_message = function(ws, m) ws:send(m) end })
wskit.run(function()
  local ws = assert(wskit.connect{ url = "ws://127.0.0.1:" .. srv:port() .. "/" })
  ws:send("rock")
  assert(ws:receive(5) == "rock")
  ws:close()
  srv:close()
  print("ROCK OK")
end)]]
        local script = tree .. ".lua"
        f = assert(io.open(script, "w"))
        f:write(smoke)
        f:close()
        local env = ("cd /tmp && LUA_PATH='%s/share/lua/%s/?.lua;%s/share/lua/%s/?/init.lua;;' LUA_CPATH='%s/lib/lua/%s/?.so;;'")
            :format(tree, v, tree, v, tree, v)
        local p = io.popen(env .. " timeout 20 " .. lua .. " " .. script .. " 2>&1")
        local res = p:read("*a")
        p:close()
        sh("rm -rf " .. tree .. " " .. log .. " " .. script)
        assert.matches("ROCK OK", res)
    end)
end)
