-- wskit.inbox: the receive queue behind receive(). One per server or
-- plain client connection; one per reconnecting client (shared by its
-- successive connections). When it holds max_queue messages the
-- connection feeding it is paused (the kernel's buffers, then TCP, push
-- back on the peer) and resumed once receive() brought it down to a
-- quarter of that.
local sched = require "wskit.sched"

local resume, yield = sched.resume, coroutine.yield

local M = {}
M.__index = M

-- new(max_queue): max_queue false/0 = unbounded; { high, low } allowed.
function M.new(max_queue)
    local high, low = 16, 4
    if max_queue == false or max_queue == 0 then
        high = nil
    elseif type(max_queue) == "table" then
        high, low = max_queue[1], max_queue[2] or math.floor(max_queue[1] / 4)
    elseif max_queue ~= nil then
        high, low = max_queue, math.floor(max_queue / 4)
    end
    return setmetatable({ msgs = {}, kinds = {}, head = 1, tail = 0, high = high, low = low }, M)
end

function M:count()
    return self.tail - self.head + 1
end

-- A message from `ws`: hand it to a waiting receive() or queue it.
function M:push(ws, msg, kind)
    local co = self.co
    if co then -- receive() without a timeout is parked: the fast path
        self.co = nil
        return resume(co, msg, kind)
    end
    local w = self.waiter
    if w then
        self.waiter = nil
        if sched.wake(w, msg, kind) then
            return
        end
    end
    local t = self.tail + 1
    self.tail = t
    self.msgs[t], self.kinds[t] = msg, kind
    if self.high and t - self.head + 1 >= self.high and not self.paused then
        self.paused = ws
        ws:pause()
    end
end

-- The feeding connection ended: never resume it.
function M:forget(ws)
    if self.paused == ws then
        self.paused = nil
    end
end

-- No more messages will come; err is what receive() returns after the
-- queued ones.
function M:close(err)
    self.err = err
    self.paused = nil
    local co = self.co
    if co then
        self.co = nil
        resume(co, nil, err)
    end
    local w = self.waiter
    if w then
        self.waiter = nil
        sched.wake(w, nil, err)
    end
end

local function pop(self)
    local h = self.head
    local msg, kind = self.msgs[h], self.kinds[h]
    self.msgs[h], self.kinds[h] = nil, nil
    if h == self.tail then
        self.head, self.tail = 1, 0
    else
        self.head = h + 1
    end
    local p = self.paused
    if p and self.tail - self.head + 1 <= self.low then
        self.paused = nil
        p:resume() -- may deliver more messages right here: they queue
    end
    return msg, kind
end

-- receive([timeout_s]) -> msg, kind | nil, err
function M:receive(timeout)
    if self.tail >= self.head then
        return pop(self)
    end
    if self.err then
        return nil, self.err
    end
    if self.waiter or self.co then
        error("wskit: two coroutines are receiving on the same connection", 3)
    end
    if not timeout then
        -- nothing can wake us between here and the yield, so no waiter
        -- object is needed: push() or close() resumes this coroutine
        local co = sched.current()
        if not co then
            error("receive must run inside wskit.spawn", 3)
        end
        self.co = co
        return yield()
    end
    local w = sched.waiter("receive")
    self.waiter = w
    local msg, kind = sched.wait(w, timeout)
    if self.waiter == w then
        self.waiter = nil
    end
    return msg, kind
end

-- try_receive() -> msg, kind | nil (nothing queued) | nil, err
function M:try_receive()
    if self.tail >= self.head then
        return pop(self)
    end
    return nil, self.err
end

return M
