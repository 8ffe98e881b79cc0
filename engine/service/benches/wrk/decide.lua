-- wrk script for POST /v1/decide: one static request (the same body every time),
-- so wrk formats it once per thread and sends it without calling Lua per request.
--
-- Environment (set by ../load.sh):
--   BENCH_TOKEN      bearer token (any scope may call /v1/decide)
--   BENCH_BODY_FILE  the JSON body: {"policy": HASH, "record": {...}, "action": ..., "now": ...}

local function need(name)
  local v = os.getenv(name)
  if v == nil or v == "" then
    error(name .. " is not set (run this through engine/service/benches/load.sh)")
  end
  return v
end

local f = assert(io.open(need("BENCH_BODY_FILE"), "rb"))
local body = f:read("*a")
f:close()

wrk.method = "POST"
wrk.path = "/v1/decide"
wrk.body = body
wrk.headers["Authorization"] = "Bearer " .. need("BENCH_TOKEN")
wrk.headers["Content-Type"] = "application/json"
