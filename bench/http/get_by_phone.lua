-- GET /customers/by-phone/<a random existing phone>
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
function init(args) read_args(args) end
function request()
  local phone = string.format("%d", phone_base + math.random(1, rows))
  return wrk.format("GET", "/customers/by-phone/" .. phone, headers)
end
