-- wskit.sched: coroutines on the libuv loop.
--
-- wskit.spawn(fn) runs fn in a coroutine that wskit manages. Inside one,
-- blocking-looking calls (receive, send over the write limit, connect,
-- request, sleep) park the coroutine with a waiter and return to the loop;
-- the event that completes them wakes it. Coroutines wskit did not start
-- are never yielded (a blocking call there raises), so wskit does not
-- fight other schedulers. Lua 5.1 (not LuaJIT) cannot yield across pcall:
-- there, do not wrap blocking calls in pcall.
local core = require "wskit.core"

local coroutine, error, select, type = coroutine, error, select, type
local tostring = tostring
local unpack = table.unpack or unpack
local traceback = debug.traceback

local M = {}

local managed = setmetatable({}, { __mode = "k" }) -- co -> true
local on_done = {}                                  -- co -> function(ok, ...)

-- Where errors go: wskit.on_error(err, ws), set by init.lua.
function M.report(err, ws)
    local hook = M.on_error
    if hook then
        local ok, e = pcall(hook, err, ws)
        if ok then return end
        io.stderr:write("wskit: error in on_error: ", tostring(e), "\n")
    end
    io.stderr:write("wskit: ", tostring(err), "\n")
end

-- The calling coroutine when wskit manages it, else nil.
local function current()
    local co = coroutine.running()
    if co and managed[co] then
        return co
    end
    return nil
end
M.current = current

local function finish(co, ok, ...)
    if coroutine.status(co) ~= "dead" then
        return
    end
    managed[co] = nil
    local done = on_done[co]
    on_done[co] = nil
    if done then
        done(ok, ...)
    elseif not ok then
        M.report(traceback(co, tostring((...))))
    end
end

-- Resume a managed coroutine; what it raises goes to its done callback
-- (or the error hook), never to the caller (a libuv callback).
function M.resume(co, ...)
    finish(co, coroutine.resume(co, ...))
end

-- spawn(fn, ...) -> co: run fn(...) now, in a new managed coroutine.
function M.spawn(fn, ...)
    if type(fn) ~= "function" then
        error("wskit.spawn: a function expected", 2)
    end
    local co = coroutine.create(fn)
    managed[co] = true
    M.resume(co, ...)
    return co
end

-- spawn_with(done, fn, ...): as spawn; done(true, results...) or
-- done(false, err, err_with_traceback) runs when fn ends.
function M.spawn_with(done, fn, ...)
    local co = coroutine.create(fn)
    managed[co] = true
    on_done[co] = function(ok, ...)
        if ok then
            return done(true, ...)
        end
        local err = ...
        return done(false, err, traceback(co, tostring(err)))
    end
    M.resume(co, ...)
    return co
end

-- ---- waiters ----
-- A waiter is one pending wake-up of one coroutine: wake() resumes it at
-- most once, with the values passed (or returns them from wait() when the
-- wake came before the coroutine got to yield).

-- waiter(what) -> w, for the calling managed coroutine (raises elsewhere).
function M.waiter(what)
    local co = current()
    if not co then
        error((what or "this call") .. " must run inside wskit.spawn", 3)
    end
    return { co = co }
end

-- wait(w[, timeout_s]) -> the values given to wake(w, ...), or nil,
-- "ETIMEDOUT: ..." when the timeout passed first.
function M.wait(w, timeout)
    if w.done then
        return unpack(w.vals, 1, w.vals.n)
    end
    if timeout then
        w.timer = core.timer(timeout * 1000, function()
            w.timer = nil
            M.wake(w, nil, "ETIMEDOUT: timed out")
        end)
    end
    w.yielded = true
    return coroutine.yield()
end

-- wake(w, ...) -> true when this call woke it (false: already woken).
function M.wake(w, ...)
    if w.done then
        return false
    end
    w.done = true
    if w.timer then
        w.timer:stop()
        w.timer = nil
    end
    if w.yielded and coroutine.status(w.co) == "suspended" then
        M.resume(w.co, ...)
    else
        w.vals = { n = select("#", ...), ... }
    end
    return true
end

-- sleep(s): wake up after s seconds (0: on the next loop iteration).
function M.sleep(s)
    if type(s) ~= "number" or s < 0 then
        error("wskit.sleep: seconds must be a non-negative number", 2)
    end
    local w = M.waiter("wskit.sleep")
    w.timer = core.timer(s * 1000, function()
        w.timer = nil
        M.wake(w, true)
    end)
    w.yielded = true
    return coroutine.yield()
end

return M
