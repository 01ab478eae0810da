-- The registry's per-receipt commit in isolation (`bench/run registry-commit`, bench.py's registry_commit): PostgreSQL time of one
-- commit_and_intend call, with the kassa's next intent (:'next' = 'with') or without it.
-- Commits :calls receipts on kassas and jobs of a tenant of its own, committed beforehand as
-- in service (rows inserted by the timing transaction itself would fire foreign-key checks
-- that a dispatcher's commit never fires), prints the figure as a NOTICE, and removes them.
\set ON_ERROR_STOP on
INSERT INTO tenants (group_code, inn, payment_address, sno, login, password_salt, password_hash)
VALUES ('bench-commit', '7707083893', 'https://bench.example', '{osn}', 'bench-commit', 'x', 'x');
INSERT INTO kassas (tenant_id, site, rack, assembly, slot, address, fn_serial, registration_number,
                    fn_capacity, fn_expires_at, lease_epoch)
SELECT (SELECT id FROM tenants WHERE group_code = 'bench-commit'), 'bench', 'bench', 'bench-commit', g,
       '127.0.0.1:1', 'bench-commit-' || g, '0000000000000001', 1000000, now() + interval '1 year', 7
FROM generate_series(1, :calls) g;
CREATE TABLE bench_commit_plan AS
SELECT k.id AS kassa, gen_random_uuid() AS job, gen_random_uuid() AS next, k.fn_serial, row_number() OVER (ORDER BY k.id) AS n
FROM kassas k WHERE k.assembly = 'bench-commit';
INSERT INTO jobs (uuid, tenant_id, group_code, external_id, operation, accepted_at)
SELECT u, (SELECT id FROM tenants WHERE group_code = 'bench-commit'), 'bench-commit', u::text, 'sell', now()
FROM (SELECT job AS u FROM bench_commit_plan UNION ALL SELECT next FROM bench_commit_plan) x;
INSERT INTO intents (kassa_id, job_uuid, lease_epoch, last_document_number)
SELECT kassa, job, 7, 0 FROM bench_commit_plan;
SELECT set_config('bench.next', :'next', false);
DO $$
DECLARE
    r record;
    answer record;
    started timestamptz := clock_timestamp();
    with_next boolean := current_setting('bench.next') = 'with';
    calls integer := 0;
    committed integer := 0;
BEGIN
    FOR r IN SELECT * FROM bench_commit_plan ORDER BY n LOOP
        SELECT * INTO answer FROM commit_and_intend(r.job, r.kassa, 7, 1, r.fn_serial, '0000000000000001', 123456,
                                                    1, 1, '24.11.2026 12:00:00', 50000,
                                                    CASE WHEN with_next THEN r.next END);
        calls := calls + 1;
        IF answer.inserted AND (NOT with_next OR answer.next_inserted) THEN committed := committed + 1; END IF;
    END LOOP;
    RAISE NOTICE 'bench-commit % next: % calls, % committed, % us per call', current_setting('bench.next'), calls, committed,
        round(extract(epoch FROM clock_timestamp() - started) * 1e6 / greatest(calls, 1));
END
$$;
DELETE FROM intents WHERE kassa_id IN (SELECT kassa FROM bench_commit_plan);
DELETE FROM results WHERE kassa_id IN (SELECT kassa FROM bench_commit_plan);
DELETE FROM jobs WHERE uuid IN (SELECT job FROM bench_commit_plan UNION ALL SELECT next FROM bench_commit_plan);
DELETE FROM kassas WHERE assembly = 'bench-commit';
DELETE FROM tenants WHERE group_code = 'bench-commit';
DROP TABLE bench_commit_plan;
