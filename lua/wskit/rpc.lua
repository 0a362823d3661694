-- wskit.rpc: answering JSON-RPC 2.0 calls from a method table.
--
--   methods = {
--     add = function(ws, params) return params[1] + params[2] end,
--   }
--
-- Each call runs in its own coroutine (a method may sleep or make
-- requests of its own). A method answers with its return value (nil is
-- JSON null), with `nil, message` (error -32000), or by raising
-- { code = N, message = "...", data = ... }; any other error is reported
-- (wskit.on_error) and answered with -32603. Notifications (no id) are
-- run and never answered. Unknown methods get -32601.
local sched = require "wskit.sched"

local type, tostring = type, tostring

local M = {}

local function answer(ws, id, ok, res, err)
    if ws:state() ~= "open" then
        return -- the connection ended while the method ran
    end
    if ok then
        if res == nil and err ~= nil then
            ws:rpc_error(id, -32000, tostring(err))
        else
            ws:rpc_result(id, res)
        end
    elseif type(res) == "table" and type(res.code) == "number" then
        ws:rpc_error(id, res.code, res.message and tostring(res.message) or nil)
    else
        ws:rpc_error(id, -32603, "Internal error")
    end
end

-- dispatcher(methods) -> on_rpc(ws, method, params, id) for wskit.core
function M.dispatcher(methods)
    return function(ws, method, params, id)
        local fn = methods[method]
        if type(fn) ~= "function" then
            if id ~= nil then
                ws:rpc_error(id, -32601, nil)
            end
            return
        end
        sched.spawn_with(function(ok, res, err)
            if not ok and not (type(res) == "table" and res.code) then
                sched.report(err, ws) -- err: the traceback
            end
            if id ~= nil then
                answer(ws, id, ok, res, err)
            end
        end, fn, ws, params)
    end
end

return M
