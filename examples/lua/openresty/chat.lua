-- A chat room: every text message goes to everybody else in the room.
-- Each connection has a reader (the request's main thread) and a writer
-- light thread that sends what others said; one connection's slow socket
-- does not hold up the others. The room is a table in this worker: with
-- several workers, publish through ngx.shared or Redis instead.
local server = require "resty.wskit.server"
local semaphore = require "ngx.semaphore"

local members = {}  -- member -> true

local function broadcast(text, from)
    for m in pairs(members) do
        if m ~= from and #m.queue < 256 then -- drop for members far behind
            m.queue[#m.queue + 1] = text
            m.wake:post(1)
        end
    end
end

return function()
    local ws, err = server:new{ timeout = 300000, max_payload_len = 65536 }
    if not ws then
        return
    end
    local me = { queue = {}, wake = semaphore.new(), name = ngx.var.remote_addr .. ":" .. ngx.var.remote_port }
    members[me] = true
    broadcast(me.name .. " joined", me)

    local writer = ngx.thread.spawn(function()
        while not me.gone do
            me.wake:wait(60)
            while #me.queue > 0 and not me.gone do
                if not ws:send_text(table.remove(me.queue, 1)) then
                    me.gone = true
                end
            end
        end
    end)

    while not me.gone do
        local data, typ, err = ws:recv_message()
        if not data then
            if err ~= "timeout" then break end
        elseif typ == "text" then
            broadcast(me.name .. ": " .. data, me)
        elseif typ == "close" then
            break
        end
    end

    me.gone = true
    members[me] = nil
    me.wake:post(1)
    ngx.thread.wait(writer)
    broadcast(me.name .. " left", me)
end
