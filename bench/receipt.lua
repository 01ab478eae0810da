-- wrk script for bench/bench.py's ingress scenario: POSTs one valid ATOL v4 sell receipt per
-- request, each with an external_id of its own (a repeat would be answered from the registry
-- without reaching Kafka). BENCH_TOKEN, BENCH_INN and BENCH_ADDRESS come from the environment.
local counter = 0
local threads = 0
local token = os.getenv("BENCH_TOKEN") or ""
local inn = os.getenv("BENCH_INN") or "7707083893"
local address = os.getenv("BENCH_ADDRESS") or "https://bench.example"
local run = tostring(os.time())

function setup(thread)
    threads = threads + 1
    thread:set("thread_id", threads)
end

function request()
    counter = counter + 1
    local body = string.format([[{"timestamp":"%s","external_id":"wrk-%s-%d-%d","receipt":{"client":{"email":"buyer@example.com"},"company":{"email":"shop@example.com","sno":"osn","inn":"%s","payment_address":"%s"},"items":[{"name":"Tea, 100 g","price":250.00,"quantity":2,"sum":500.00,"measurement_unit":"pcs","payment_method":"full_payment","payment_object":"commodity","vat":{"type":"vat20"}}],"payments":[{"type":1,"sum":500.00}],"total":500.00}}]],
        os.date("!%d.%m.%Y %H:%M:%S"), run, thread_id or 0, counter, inn, address)
    return wrk.format("POST", nil, {["Content-Type"] = "application/json; charset=utf-8", ["Token"] = token}, body)
end
