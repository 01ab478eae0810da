-- wrk script for bench/bench.py: POSTs one valid ATOL v4 sell receipt per request, each with an
-- external_id of its own (a repeat would be answered from the registry without reaching Kafka),
-- round-robin over the tenants in BENCH_TENANTS, a file of lines
-- "group_code token inn payment_address" (bench.py writes it).
--
-- With BENCH_RATE (receipts per second across BENCH_THREADS threads) the load is open-loop at that
-- rate: wrk is closed-loop (a connection sends when its previous answer is in), and `delay()`
-- holds each request until its slot in a per-thread schedule, so with enough connections the
-- schedule, not the answers, sets the rate. Without it, every connection sends as fast as it is
-- answered (the ingress scenario). wrk costs a few hundredths of a millisecond of CPU per post,
-- which leaves the machine's two cores to the cluster (`kassa load` cost 0.22 ms).
local tenants = {}
for line in io.lines(os.getenv("BENCH_TENANTS")) do
    local group, token, inn, address = line:match("^(%S+) (%S+) (%S+) (%S+)$")
    if group then
        tenants[#tenants + 1] = {group = group, token = token, inn = inn, address = address}
    end
end
assert(#tenants > 0, "BENCH_TENANTS lists no tenant")

-- BENCH_PATH: one path for every request (the ingress's no-op endpoint) instead of the tenant's sell.
local fixed_path = os.getenv("BENCH_PATH")
local run = tostring(os.time())
local counter = 0

function setup(thread)
    setup_count = (setup_count or 0) + 1
    thread:set("thread_id", setup_count)
end

function request()
    counter = counter + 1
    local tenant = tenants[(counter % #tenants) + 1]
    local body = string.format([[{"timestamp":"%s","external_id":"wrk-%s-%d-%d","receipt":{"client":{"email":"buyer@example.com"},"company":{"email":"shop@example.com","sno":"osn","inn":"%s","payment_address":"%s"},"items":[{"name":"Tea, 100 g","price":250.00,"quantity":2,"sum":500.00,"measurement_unit":"pcs","payment_method":"full_payment","payment_object":"commodity","vat":{"type":"vat20"}}],"payments":[{"type":1,"sum":500.00}],"total":500.00}}]],
        os.date("!%d.%m.%Y %H:%M:%S"), run, thread_id or 0, counter, tenant.inn, tenant.address)
    return wrk.format("POST", fixed_path or ("/possystem/v4/" .. tenant.group .. "/sell"),
                      {["Content-Type"] = "application/json; charset=utf-8", ["Token"] = tenant.token}, body)
end

local rate = tonumber(os.getenv("BENCH_RATE") or "")
if rate then
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
    local threads = tonumber(os.getenv("BENCH_THREADS") or "2")
    local interval = 1000 * threads / rate
    local next_at = nil

    -- Defined only when pacing: wrk then waits this many milliseconds before each request.
    function delay()
        local now = now_ms()
        if next_at == nil then
            -- Threads start a fraction of an interval apart so their slots interleave.
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
end
