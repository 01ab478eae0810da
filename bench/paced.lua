-- wrk script for bench/bench.py's dispatch scenario: an open-loop load at a fixed rate, spread
-- round-robin over every tenant of the cluster, each receipt with an external_id of its own.
--
-- wrk itself is closed-loop (a connection sends when its previous answer is in); `delay()` turns
-- it into a paced sender: each thread keeps a schedule of send times at BENCH_RATE / threads per
-- second and holds every request until its slot. With enough connections the schedule, not the
-- answers, sets the rate. A load generator this cheap leaves the machine's two cores to the
-- cluster (`kassa load` cost 0.22 ms of CPU per post, a sixth of the machine at K = 1,152).
--
-- BENCH_TENANTS names a file of lines "group_code token inn payment_address"; BENCH_RATE is
-- receipts per second across all threads; BENCH_THREADS is wrk's -t.
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clock_id, bench_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local now_ts = ffi.new("bench_timespec")

local function now_ms()
    ffi.C.clock_gettime(CLOCK_MONOTONIC, now_ts)
    return tonumber(now_ts.tv_sec) * 1000 + tonumber(now_ts.tv_nsec) / 1e6
end

local tenants = {}
for line in io.lines(os.getenv("BENCH_TENANTS")) do
    local group, token, inn, address = line:match("^(%S+) (%S+) (%S+) (%S+)$")
    if group then
        tenants[#tenants + 1] = {path = "/possystem/v4/" .. group .. "/sell", token = token, inn = inn, address = address}
    end
end
assert(#tenants > 0, "BENCH_TENANTS lists no tenant")

local threads = tonumber(os.getenv("BENCH_THREADS") or "2")
local interval = 1000 * threads / tonumber(os.getenv("BENCH_RATE"))
local run = tostring(os.time())
local counter = 0
local next_at = nil

function setup(thread)
    setup_count = (setup_count or 0) + 1
    thread:set("thread_id", setup_count)
end

function delay()
    local now = now_ms()
    if next_at == nil then
        -- Threads start half an interval apart so their slots interleave.
        next_at = now + interval * ((thread_id or 1) - 1) / threads
    end
    next_at = next_at + interval
    -- A schedule that fell far behind (every connection busy) restarts from now instead of
    -- bursting to catch up: the offered rate is a ceiling, and the bench reports what was sent.
    if next_at < now - 1000 then next_at = now end
    local wait = next_at - now
    if wait < 0 then return 0 end
    return math.floor(wait)
end

function request()
    counter = counter + 1
    local tenant = tenants[(counter % #tenants) + 1]
    local body = string.format([[{"timestamp":"%s","external_id":"paced-%s-%d-%d","receipt":{"client":{"email":"buyer@example.com"},"company":{"email":"shop@example.com","sno":"osn","inn":"%s","payment_address":"%s"},"items":[{"name":"Tea, 100 g","price":250.00,"quantity":2,"sum":500.00,"measurement_unit":"pcs","payment_method":"full_payment","payment_object":"commodity","vat":{"type":"vat20"}}],"payments":[{"type":1,"sum":500.00}],"total":500.00}}]],
        os.date("!%d.%m.%Y %H:%M:%S"), run, thread_id or 0, counter, tenant.inn, tenant.address)
    return wrk.format("POST", tenant.path, {["Content-Type"] = "application/json; charset=utf-8", ["Token"] = tenant.token}, body)
end
