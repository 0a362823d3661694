-- resty.wskit.rpc: request/response as JSON-RPC 2.0 over text messages.
--
--   local res, err = ws:request("sum", {1, 2}, 5000)  -- waits for the reply
--   ws:notify("log", {"hello"})                       -- no reply
--   ws:on_request("sum", function(params, ws) return params[1] + params[2] end)
--
-- Which reply answers which request, and when a request has waited too
-- long, is the core's correlation table (wskit.proto.rpc); cjson makes
-- the envelopes. Replies and requests for a registered method are taken
-- out of the message stream as recv_* reads it; everything else reaches
-- the user. A request waits by reading the connection itself (other
-- messages are kept for recv_*) or, while another light thread reads,
-- until that read is done (whoever reads matches the replies).
local cjson = require "cjson.safe"
local proto = require "wskit.proto"
local conn = require "resty.wskit.conn"

local ngx = ngx
local null = cjson.null
local now_ms = conn.now_ms
local next_event = conn.next_event
local byte = string.byte
local type = type
local pcall = pcall
local pairs = pairs
local next = next
local tostring = tostring
local setmetatable = setmetatable

local _M = {}

local R = {}
local Rmt = { __index = R }

local TIMEOUT, CLOSED = {}, {} -- how a request ended without a reply

-- Attach request/response state to a connection (once). `handlers` may
-- map method names to functions (params, ws) -> result | nil, err.
function _M.enable(ws, handlers)
    local st = ws.rpc
    if not st then
        st = setmetatable({
            ws = ws,
            table = proto.rpc(),
            results = {},  -- id -> the reply, TIMEOUT or CLOSED
            handlers = {},
        }, Rmt)
        ws.rpc = st
    end
    if type(handlers) == "table" then
        for k, v in pairs(handlers) do
            st.handlers[k] = v
        end
    end
    return st
end

local function finish(st, id, how)
    st.results[id] = how
end

function R.cancel_all(st)
    local ids = st.table:cancel_all()
    for i = 1, #ids do
        finish(st, ids[i], CLOSED)
    end
end

local function expire(st)
    local ids = st.table:expire(now_ms())
    for i = 1, #ids do
        finish(st, ids[i], TIMEOUT)
    end
end

local function reply(ws, id, result, err)
    local msg
    if err == nil then
        if result == nil then
            result = null
        end
        msg = { jsonrpc = "2.0", id = id, result = result }
    else
        if type(err) ~= "table" then
            err = { code = -32000, message = tostring(err) }
        end
        msg = { jsonrpc = "2.0", id = id, error = err }
    end
    local text = cjson.encode(msg)
    if text then
        ws:send_text(text)
    end
end

-- A text message: true when it was a reply or a request we handled.
function R.intercept(st, text)
    if byte(text, 1) ~= 123 then -- "{"; batches are left to the user
        return false
    end
    local msg = cjson.decode(text)
    if type(msg) ~= "table" or msg.jsonrpc ~= "2.0" then
        return false
    end
    local method, id = msg.method, msg.id
    if method == nil then
        if type(id) == "number" and (msg.result ~= nil or msg.error ~= nil)
            and st.table:resolve(id)
        then
            finish(st, id, msg)
            return true
        end
        return false -- late, duplicate or someone else's: the user decides
    end
    if type(method) ~= "string" then
        return false
    end
    local h = st.handlers[method]
    if not h then
        if id ~= nil and next(st.handlers) then
            reply(st.ws, id, nil, { code = -32601, message = "Method not found" })
            return true
        end
        return false
    end
    local ok, res, err = pcall(h, msg.params, st.ws)
    if id == nil then
        return true -- a notification: never answered
    end
    if not ok then
        ngx.log(ngx.ERR, "wskit rpc handler ", method, " failed: ", res)
        reply(st.ws, id, nil, { code = -32603, message = "Internal error" })
    elseif res == nil and err ~= nil then
        reply(st.ws, id, nil, err)
    else
        reply(st.ws, id, res)
    end
    return true
end

-- ws:request(method, params, timeout_ms) -> result | nil, err, error object
-- (err "timeout", "closed", or "rpc error <code>: <message>").
function _M.request(ws, method, params, timeout)
    if ws.fatal then
        return nil, "fatal error already happened"
    end
    local st = _M.enable(ws)
    local t = st.table
    local id = t:next_id()
    local deadline = now_ms() + (timeout or ws.rpc_timeout or 30000)
    local text, jerr = cjson.encode({ jsonrpc = "2.0", id = id, method = method, params = params })
    if not text then
        return nil, "cannot encode the request: " .. tostring(jerr)
    end
    t:add(id, deadline)
    local ok, err = ws:send_text(text)
    if not ok then
        t:resolve(id)
        return nil, err
    end
    -- wait: read ourselves, or (while another light thread reads) sleep
    -- until its read is done; replies are matched whoever reads them
    local results = st.results
    while not results[id] do
        local typ, data, a, b, d = next_event(ws, deadline)
        if typ then
            if not (typ == "text" and st:intercept(data)) then
                ws:push_backlog(typ, data, a, b, d)
            end
        elseif data ~= "timeout" and data ~= conn.RETRY then
            ws.fatal = true
            st:cancel_all()
        end
        if not results[id] and now_ms() >= deadline then
            expire(st) -- the core decides what timed out
        end
    end
    local msg = results[id]
    results[id] = nil
    if msg == TIMEOUT then
        return nil, "timeout"
    elseif msg == CLOSED then
        return nil, "closed"
    elseif msg.error ~= nil then
        local e = msg.error
        local code = type(e) == "table" and e.code or "?"
        local message = type(e) == "table" and e.message or tostring(e)
        return nil, "rpc error " .. tostring(code) .. ": " .. tostring(message), e
    end
    return msg.result
end

function _M.notify(ws, method, params)
    local text, jerr = cjson.encode({ jsonrpc = "2.0", method = method, params = params })
    if not text then
        return nil, "cannot encode the notification: " .. tostring(jerr)
    end
    return ws:send_text(text)
end

function _M.on_request(ws, method, handler)
    local st = _M.enable(ws)
    st.handlers[method] = handler
    return true
end

return _M
