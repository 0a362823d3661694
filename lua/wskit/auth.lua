-- wskit.auth: credentials in a handshake request, for the authenticate
-- hook (or process_request; docs/auth.md). The parsing is the driver's
-- (csrc/uv/hooks.c); req is the table those hooks get.
--
--   authenticate = function(ws, req)   -- user data -> ws.user; nil -> 401
--       return SESSIONS[auth.token_from_query(req) or ""]
--   end
local core = require "wskit.core"

local M = {}

-- token_from_query(req[, name]) -> the percent-decoded ?token= value (or nil)
function M.token_from_query(req, name)
    if not req.query then
        return nil
    end
    return core.request_query(req.query, name or "token")
end

-- cookie(req, name) -> the value of the cookie `name` (or nil)
function M.cookie(req, name)
    local h = req.headers and req.headers["cookie"]
    if not h then
        return nil
    end
    return core.request_cookie(h, name)
end

-- bearer(req) -> the token of "Authorization: Bearer <token>" (or nil)
function M.bearer(req)
    local h = req.headers and req.headers["authorization"]
    if not h then
        return nil
    end
    local scheme, token = h:match("^(%S+)%s+(%S+)%s*$")
    if scheme and scheme:lower() == "bearer" then
        return token
    end
    return nil
end

return M
