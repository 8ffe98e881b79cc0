-- wrk script for POST /v1/opportunities/{id}/activities {"kind":"call"}: a durable
-- command per request, with a unique Idempotency-Key per request (run id, wrk
-- thread, counter), spread round-robin over the seeded opportunities (each thread
-- starts at a different one).
--
-- Environment (set by ../load.sh):
--   BENCH_TOKEN   bearer token of a caller that may act on every seeded opportunity
--                 (channel ops)
--   BENCH_PREFIX  opportunity id prefix, e.g. "O-BENCH-"; ids are PREFIX .. %05d
--   BENCH_OPPS    how many opportunities were seeded (ids 1..BENCH_OPPS)
--   BENCH_RUN     a tag unique to this run, so that keys never repeat across runs

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
local run = need("BENCH_RUN")
local body = '{"kind":"call"}'

-- setup() runs in the main Lua state, once per thread: number the threads.
local next_thread = 0
function setup(thread)
  next_thread = next_thread + 1
  thread:set("tid", next_thread)
end

local counter = 0
local at = 0
local headers = {
  ["Authorization"] = "Bearer " .. token,
  ["Content-Type"] = "application/json",
}

function init(args)
  -- tid is set by setup() before init() runs in the thread's own state.
  at = ((tid or 1) * 7919) % opps
end

function request()
  counter = counter + 1
  at = at % opps + 1
  headers["Idempotency-Key"] = string.format("%s-t%d-%d", run, tid or 0, counter)
  local path = string.format("/v1/opportunities/%s%05d/activities", prefix, at)
  return wrk.format("POST", path, headers, body)
end
