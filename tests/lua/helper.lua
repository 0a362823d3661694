-- Shared helpers for the busted specs in tests/lua: run a scenario on the
-- loop with a deadline, start and stop peers (python3-websockets, node ws,
-- the C examples) in the background, and clean up after each test.
local wskit = require "wskit"
local core = require "wskit.core"
local sched = require "wskit.sched"

local H = {}

H.python = "/usr/bin/python3"
H.peers = "tests/lua/peers"
H.examples = os.getenv("WSKIT_EXAMPLES") or "build/examples"

local tracked = {}  -- servers, clients and processes to clean up after a test

-- Scratch files go to $WSKIT_TEST_TMP (tests/lua/run.sh makes one per run
-- and removes it), else next to os.tmpname()'s.
-- Names are unique per interpreter run (os.tmpname's), not math.random's:
-- its unseeded sequence repeats, and a killed peer of an earlier run
-- writes its .rc file after it was removed, so a later peer with the same
-- name would look finished at once.
local scratch_dir = os.getenv("WSKIT_TEST_TMP")
local scratch_n = 0
local scratch_tag
function H.scratch()
    if not scratch_dir then
        local base = os.tmpname()
        os.remove(base)
        return base
    end
    if not scratch_tag then
        local t = os.tmpname()
        os.remove(t)
        scratch_tag = t:match("([^/]+)$"):gsub("[^%w]", "")
    end
    scratch_n = scratch_n + 1
    return ("%s/%s-%d"):format(scratch_dir, scratch_tag, scratch_n)
end

function H.track(obj)
    tracked[#tracked + 1] = obj
    return obj
end

local function cleanup()
    for i = #tracked, 1, -1 do
        local o = tracked[i]
        tracked[i] = nil
        if o.remove then
            o:remove() -- kill, then delete its files
        elseif o.free then
            o:free()
        elseif o.close and not (o.closed and o:closed()) then
            o:close()
        end
    end
    -- let closing handles finish so the next test starts clean
    for _ = 1, 5 do
        core.run("nowait")
    end
end

-- run(fn[, timeout_s]): fn runs inside wskit.spawn; the loop runs until it
-- returns. Raises fn's error, or "timed out" after timeout_s (default 10).
function H.run(fn, timeout)
    local done, err = false, nil
    sched.spawn_with(function(ok, _, tb)
        done = true
        if not ok then
            err = tb
        end
        core.stop()
    end, fn)
    local timer = core.timer((timeout or 10) * 1000, function()
        err = err or ("timed out after " .. (timeout or 10) .. " s")
        core.stop()
    end)
    if not done then
        core.run("default")
    end
    timer:stop()
    cleanup()
    if err then
        error(err, 0)
    end
end

-- Wait (inside H.run) until cond() is true; false after timeout_s.
function H.wait_for(cond, timeout)
    local deadline = core.now() + (timeout or 5) * 1000
    while not cond() do
        if core.now() > deadline then
            return false
        end
        wskit.sleep(0.01)
    end
    return true
end

-- ---- background processes ----

local Proc = {}
Proc.__index = Proc

-- bg(cmd) -> proc: cmd runs under `timeout 60` with its output in a file.
function H.bg(cmd)
    local base = H.scratch()
    local p = setmetatable({ out = base .. ".out", rc = base .. ".rc", pidf = base .. ".pid", base = base }, Proc)
    -- children do not inherit an ASan preload meant for the interpreter
    local script = ("env -u LD_PRELOAD timeout 60 %s > %s 2>&1 & echo $! > %s; wait $!; echo $? > %s"):format(
        cmd, p.out, p.pidf, p.rc)
    os.execute("sh -c '" .. script .. "' > /dev/null 2>&1 &")
    return H.track(p)
end

local function slurp(path)
    local f = io.open(path)
    if not f then
        return nil
    end
    local s = f:read("*a")
    f:close()
    return s
end

function Proc:output()
    return slurp(self.out) or ""
end

-- the first capture of pattern in the output, waiting up to timeout_s
function Proc:expect(pattern, timeout)
    local found
    H.wait_for(function()
        found = self:output():match(pattern)
        return found ~= nil or self:exited()
    end, timeout or 10)
    found = found or self:output():match(pattern)
    if not found then
        error("peer output did not match " .. pattern .. ": " .. self:output(), 2)
    end
    return found
end

function Proc:exited()
    local rc = slurp(self.rc)
    return rc and tonumber(rc:match("%d+"))
end

-- wait for the process to end: exit status (nil after timeout_s)
function Proc:wait(timeout)
    H.wait_for(function()
        return self:exited() ~= nil
    end, timeout or 20)
    return self:exited()
end

function Proc:kill()
    if self.killed then
        return
    end
    self.killed = true
    local pid = slurp(self.pidf)
    if pid and not self:exited() then
        os.execute("kill " .. pid:match("%d+") .. " 2>/dev/null")
    end
end

function Proc:remove()
    self:kill()
    for _, f in ipairs({ self.out, self.rc, self.pidf }) do
        os.remove(f) -- (the rc file may come back when the process ends)
    end
end

-- a python3-websockets server: returns proc, port
function H.py_server(args)
    local p = H.bg(H.python .. " " .. H.peers .. "/py_peer.py server " .. (args or ""))
    return p, tonumber(p:expect("PORT (%d+)"))
end

function H.py_client(url, args)
    return H.bg(H.python .. " " .. H.peers .. "/py_peer.py client " .. url .. " " .. (args or ""))
end

function H.node_server()
    local p = H.bg("env NODE_PATH=/usr/share/nodejs node " .. H.peers .. "/node_peer.js server")
    return p, tonumber(p:expect("PORT (%d+)"))
end

function H.node_client(url, count, size)
    return H.bg(("env NODE_PATH=/usr/share/nodejs node %s/node_peer.js client %s %d %d"):format(
        H.peers, url, count or 3, size or 0))
end

-- a python3-websockets client of the channel protocol (peers/py_channels.py)
function H.py_channels(url, channel, count, args)
    return H.bg(("%s %s/py_channels.py %s %s %d %s"):format(H.python, H.peers, url, channel,
        count, args or ""))
end

-- the FRAME lines a py_channels peer printed, decoded
function H.frames(proc)
    local out = {}
    for line in proc:output():gmatch("FRAME ([^\n]+)") do
        out[#out + 1] = wskit.json_decode(line)
    end
    return out
end

-- a free TCP port on 127.0.0.1 (bound by the kernel, then released)
function H.free_port()
    local f = io.popen(H.python .. [[ -c "import socket; s=socket.socket(); ]]
        .. [[s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"]])
    local port = tonumber(f:read("*a"):match("%d+"))
    f:close()
    return port
end

-- a redis-server on a free loopback port, no persistence: proc, url.
-- port: reuse one (a restart).
function H.redis(port)
    port = port or H.free_port()
    local p = H.bg(("redis-server --port %d --bind 127.0.0.1 --save \"\" --appendonly no"):format(port))
    p:expect("(Ready to accept connections)")
    p.port = port
    return p, ("redis://127.0.0.1:%d/0"):format(port)
end

-- the C example chat_server (JSON-RPC echo/count/ignore): proc, port
function H.chat_server()
    local p = H.bg(H.examples .. "/chat_server 0")
    return p, tonumber(p:expect("listening (%d+)"))
end

-- a Lua echo server on a free port: server, url
function H.echo_server(opts)
    opts = opts or {}
    opts.host = opts.host or "127.0.0.1"
    if not opts.on_message and not opts.handler then
        opts.on_message = function(ws, msg, kind)
            ws:send(msg, kind)
        end
    end
    local srv = assert(wskit.serve(opts))
    H.track(srv)
    return srv, "ws://127.0.0.1:" .. srv:port() .. "/"
end

-- A throwaway CA and a server certificate for localhost and 127.0.0.1
-- (openssl CLI): { dir, ca, cert, key }.
local certs
function H.certs()
    if certs then
        return certs
    end
    local dir = H.scratch()
    assert(os.execute("mkdir -p " .. dir))
    local cmds = {
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key"
            .. " -out ca.pem -subj /CN=wskit-test-ca -days 2",
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key"
            .. " -out server.csr -subj /CN=localhost",
        "echo subjectAltName=DNS:localhost,IP:127.0.0.1 > ext",
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem"
            .. " -days 2 -extfile ext",
    }
    for _, c in ipairs(cmds) do
        local r = os.execute("cd " .. dir .. " && (" .. c .. ") > /dev/null 2>&1")
        assert(r == true or r == 0, "openssl failed: " .. c)
    end
    certs = { dir = dir, ca = dir .. "/ca.pem", cert = dir .. "/server.pem", key = dir .. "/server.key" }
    return certs
end

-- Capture what wskit.on_error reports during fn (restored afterwards).
function H.capture_errors()
    local errors = {}
    local saved = wskit.on_error
    wskit.on_error = function(err)
        errors[#errors + 1] = tostring(err)
    end
    return errors, function()
        wskit.on_error = saved
    end
end

return H
