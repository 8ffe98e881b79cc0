-- wrk script for GET /v1/opportunities/{id}: round-robin over the seeded
-- opportunities (each thread starts at a different one).
--
-- Environment (set by ../load.sh):
--   BENCH_TOKEN   bearer token that sees every seeded opportunity (viewer)
--   BENCH_PREFIX  opportunity id prefix; ids are PREFIX .. %05d
--   BENCH_OPPS    how many opportunities were seeded (ids 1..BENCH_OPPS)

local function need(name)
  local v = os.getenv(name)
  if v == nil or v == "" then
    error(name .. " is not set (run this through engine/service/benches/load.sh)")
  end
  return v
end

local token = need("BENCH_TOKEN")
local prefix = need("BENCH_PREFIX")
local opps = tonumber(need("BENCH_OPPS"))

local next_thread = 0
function setup(thread)
  next_thread = next_thread + 1
  thread:set("tid", next_thread)
end

local at = 0
local headers = { ["Authorization"] = "Bearer " .. token }

function init(args)
  at = ((tid or 1) * 7919) % opps
end

function request()
  at = at % opps + 1
  return wrk.format("GET", string.format("/v1/opportunities/%s%05d", prefix, at), headers)
end
