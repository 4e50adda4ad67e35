-- Writes: half creates of new customers (phones in a range no one else uses: run number, thread,
-- counter), half partial updates of random existing customers.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local n = 0
function init(args)
  read_args(args)
  -- args[4]: a run number 20..99, distinct per wrk run, so that runs create distinct phones
  run = tonumber(args[4] or "20")
end
function request()
  n = n + 1
  if n % 2 == 0 then
    -- 7 9 rr t nnnnnn: 11 digits, mobile ranges the seeded rows (7910... to 7919...) do not use
    local phone = string.format("79%02d%d%06d", run, thread_id, n)
    local body = string.format('{"phone": "%s", "profile": {"first_name": "Bench", "city": "Moscow", "children_count": %d}}', phone, n % 5)
    return wrk.format("POST", "/customers", headers, body)
  end
  local id = math.random(1, rows)
  local body = string.format('{"loyalty_enabled": %s, "profile": {"children_count": %d}}', (n % 4 == 1) and "true" or "false", n % 7)
  return wrk.format("PATCH", "/customers/" .. id, headers, body)
end
