-- GET /customers/<a random existing id>
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
function init(args) read_args(args) end
function request()
  return wrk.format("GET", "/customers/" .. math.random(1, rows), headers)
end
