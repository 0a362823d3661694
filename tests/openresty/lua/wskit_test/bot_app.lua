-- A reconnecting bot in an ngx.timer, driven by /bot?action=...:
--   start&port=P&path=/flaky   run a bot (small backoff) in a timer
--   status                     what it has seen so far (JSON)
--   stop                       stop it
local reconnect = require "resty.wskit.reconnect"
local cjson = require "cjson"

local _M = {}
local bot, state

local function worker(premature, url, opts)
    if premature then return end
    local ok, err = bot:run(function(ws)
        state.connects = state.connects + 1
        ws:send_text("hello from bot " .. state.connects)
        while true do
            local data, typ, rerr = ws:recv_message()
            if not data then
                state.last_error = rerr
                return
            end
            if typ == "text" then
                state.messages[#state.messages + 1] = data
            end
        end
    end)
    state.done = true
    state.result = ok and "stopped" or err
    state.failure = bot.last_failure
end

function _M.run()
    local args = ngx.req.get_uri_args()
    if args.action == "start" then
        state = { connects = 0, messages = {}, retries = {}, done = false }
        bot = reconnect.new("ws://127.0.0.1:" .. args.port .. (args.path or "/"), {
            client = { timeout = 5000 },
            poll = 100,
            backoff = { initial_delay = 20, min_delay = 50, max_delay = 200,
                        max_attempts = tonumber(args.max_attempts) or 0 },
            on_retry = function(failure, delay)
                state.retries[#state.retries + 1] = { kind = failure.kind,
                    detail = failure.detail, delay = delay }
            end,
        })
        local ok, err = ngx.timer.at(0, worker)
        ngx.say(cjson.encode({ started = ok, err = err }))
    elseif args.action == "stop" then
        if bot then bot:stop() end
        ngx.say(cjson.encode({ stopping = true }))
    else
        ngx.say(cjson.encode(state or {}))
    end
end

return _M
