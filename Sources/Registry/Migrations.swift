import Logging

/// One schema change. Statements run in order inside one transaction, so a migration applies
/// completely or not at all (PostgreSQL DDL is transactional).
public struct Migration: Sendable {
    public let version: Int
    public let name: String
    /// One SQL statement per element: statements go through PQexecParams, which runs one at a
    /// time, and a failure then names the exact statement.
    public let statements: [String]

    public init(version: Int, name: String, statements: [String]) {
        self.version = version
        self.name = name
        self.statements = statements
    }
}

extension Registry {
    /// Key of the transaction-scoped advisory lock that serializes migrations across processes
    /// ("kassamig" in ASCII). Shared by every process running `migrate()`.
    static let migrationLockKey: Int64 = 0x6B61_7373_616D_6967

    /// All migrations, in version order. Append only: never edit one that has shipped.
    public static let migrations: [Migration] = [
        Migration(version: 1, name: "tenants, kassas, jobs, results, intents", statements: [
            """
            CREATE TABLE tenants (
                id              bigserial PRIMARY KEY,
                group_code      text NOT NULL UNIQUE,
                inn             text NOT NULL,
                payment_address text NOT NULL,
                sno             text[] NOT NULL,
                login           text NOT NULL UNIQUE,
                password_salt   text NOT NULL,
                password_hash   text NOT NULL,
                callback_url    text,
                callback_secret text,
                blocked         boolean NOT NULL DEFAULT false,
                created_at      timestamptz NOT NULL DEFAULT now()
            )
            """,
            """
            CREATE TABLE kassas (
                id                   bigserial PRIMARY KEY,
                tenant_id            bigint REFERENCES tenants (id),
                site                 text NOT NULL,
                rack                 text NOT NULL,
                assembly             text NOT NULL,
                slot                 integer NOT NULL CHECK (slot >= 0),
                address              text NOT NULL,
                fn_serial            text NOT NULL UNIQUE,
                registration_number  text NOT NULL,
                fn_capacity          integer NOT NULL CHECK (fn_capacity > 0),
                fn_expires_at        timestamptz NOT NULL,
                last_document_number bigint NOT NULL DEFAULT 0 CHECK (last_document_number >= 0),
                state                text NOT NULL DEFAULT 'active'
                                     CHECK (state IN ('active', 'drained', 'broken', 'retired')),
                lease_owner          text,
                lease_epoch          bigint NOT NULL DEFAULT 0,
                lease_expires_at     timestamptz,
                CHECK ((lease_owner IS NULL) = (lease_expires_at IS NULL))
            )
            """,
            // One module per slot. A retired kassa (its FN replaced, say) frees the slot for the
            // module's next registration while its history stays.
            "CREATE UNIQUE INDEX kassas_assembly_slot_key ON kassas (assembly, slot) WHERE state <> 'retired'",
            "CREATE INDEX kassas_tenant_idx ON kassas (tenant_id)",
            "CREATE INDEX kassas_lease_owner_idx ON kassas (lease_owner) WHERE lease_owner IS NOT NULL",
            """
            CREATE TABLE jobs (
                uuid          uuid PRIMARY KEY,
                tenant_id     bigint NOT NULL REFERENCES tenants (id),
                group_code    text NOT NULL,
                external_id   text NOT NULL,
                operation     text NOT NULL,
                status        text NOT NULL DEFAULT 'wait' CHECK (status IN ('wait', 'done', 'fail')),
                accepted_at   timestamptz NOT NULL,
                registered_at timestamptz NOT NULL DEFAULT now(),
                callback_url  text,
                kassa_id      bigint REFERENCES kassas (id),
                error_code    integer,
                error_type    text,
                error_text    text,
                finished_at   timestamptz,
                UNIQUE (group_code, external_id),
                CHECK ((status = 'wait') = (finished_at IS NULL))
            )
            """,
            "CREATE INDEX jobs_waiting_idx ON jobs (registered_at) WHERE status = 'wait'",
            "CREATE INDEX jobs_tenant_idx ON jobs (tenant_id, accepted_at)",
            """
            CREATE TABLE results (
                job_uuid                  uuid PRIMARY KEY REFERENCES jobs (uuid),
                kassa_id                  bigint NOT NULL REFERENCES kassas (id),
                lease_epoch               bigint NOT NULL,
                fn_serial                 text NOT NULL,
                registration_number       text NOT NULL,
                fiscal_document_number    bigint NOT NULL,
                fiscal_document_attribute bigint NOT NULL,
                fiscal_receipt_number     integer NOT NULL,
                shift_number              integer NOT NULL,
                receipt_datetime          text NOT NULL,
                total_kopecks             bigint NOT NULL,
                created_at                timestamptz NOT NULL DEFAULT now(),
                -- An FN document belongs to one job at most: a second claim on it is a bug.
                UNIQUE (fn_serial, fiscal_document_number)
            )
            """,
            "CREATE INDEX results_kassa_idx ON results (kassa_id, created_at)",
            """
            CREATE TABLE intents (
                kassa_id             bigint PRIMARY KEY REFERENCES kassas (id),
                job_uuid             uuid NOT NULL,
                lease_epoch          bigint NOT NULL,
                last_document_number bigint NOT NULL,
                created_at           timestamptz NOT NULL DEFAULT now()
            )
            """,
            "CREATE INDEX intents_job_idx ON intents (job_uuid)",
        ]),
        Migration(version: 2, name: "tenant in-doubt and deadline policy; job bodies, lateness and resends", statements: [
            // The tenant's choices for a job in doubt past `in_doubt_resend_after_ms` and for a
            // job still queued past `deadline_ms` (see `TenantPolicy`).
            """
            ALTER TABLE tenants
                ADD COLUMN in_doubt_policy          text NOT NULL DEFAULT 'wait'
                                                    CHECK (in_doubt_policy IN ('wait', 'resend-and-annul')),
                ADD COLUMN in_doubt_resend_after_ms integer NOT NULL DEFAULT 30000 CHECK (in_doubt_resend_after_ms > 0),
                ADD COLUMN deadline_ms              integer NOT NULL DEFAULT 300000 CHECK (deadline_ms > 0),
                ADD COLUMN deadline_action          text NOT NULL DEFAULT 'flag'
                                                    CHECK (deadline_action IN ('flag', 'fail'))
            """,
            // body: the job's Kafka JSON as published, so a failed receipt can be re-sent without
            // the topic (NULL for jobs registered before this migration: they cannot be re-sent).
            """
            ALTER TABLE jobs
                ADD COLUMN body           text,
                ADD COLUMN late_at        timestamptz,
                ADD COLUMN resend_count   integer NOT NULL DEFAULT 0 CHECK (resend_count >= 0),
                ADD COLUMN last_resent_at timestamptz
            """,
            // Listing a tenant's failed jobs for a resend.
            "CREATE INDEX jobs_failed_idx ON jobs (tenant_id, accepted_at) WHERE status = 'fail'",
        ]),
        Migration(version: 3, name: "annulments of duplicate documents", statements: [
            // A second document for a recorded job (resend-and-annul: the first kassa turned out
            // to have fiscalized it after all) and the refund job that cancels it. One row per
            // FN document; `annulled_at` is set when the refund's own result is committed.
            """
            CREATE TABLE annulments (
                job_uuid                  uuid NOT NULL REFERENCES jobs (uuid),
                kassa_id                  bigint NOT NULL REFERENCES kassas (id),
                fn_serial                 text NOT NULL,
                fiscal_document_number    bigint NOT NULL,
                fiscal_document_attribute bigint NOT NULL,
                total_kopecks             bigint NOT NULL,
                annul_job_uuid            uuid NOT NULL UNIQUE REFERENCES jobs (uuid),
                created_at                timestamptz NOT NULL DEFAULT now(),
                annulled_at               timestamptz,
                PRIMARY KEY (fn_serial, fiscal_document_number)
            )
            """,
            "CREATE INDEX annulments_job_idx ON annulments (job_uuid)",
            "CREATE INDEX annulments_pending_idx ON annulments (kassa_id) WHERE annulled_at IS NULL",
            // The job a refund annuls (NULL for the shops' own receipts).
            "ALTER TABLE jobs ADD COLUMN annuls uuid REFERENCES jobs (uuid)",
        ]),
        Migration(version: 4, name: "topology and the kassas each tenant needs", statements: [
            // The topology file as loaded: one row per assembly, in file order (`position`), so
            // the modules and their FN serials can be derived again exactly as the emulator does.
            """
            CREATE TABLE assemblies (
                name      text PRIMARY KEY,
                site      text NOT NULL,
                rack      text NOT NULL,
                host      text NOT NULL,
                base_port integer NOT NULL CHECK (base_port > 0 AND base_port < 65536),
                modules   integer NOT NULL CHECK (modules BETWEEN 1 AND 48),
                position  integer NOT NULL
            )
            """,
            "ALTER TABLE tenants ADD COLUMN kassas_wanted integer NOT NULL DEFAULT 0 CHECK (kassas_wanted >= 0)",
        ]),
        Migration(version: 5, name: "the intent write as one server-side call", statements: [
            // The steps of `Registry.writeIntent`, unchanged, in one round trip instead of five
            // (BEGIN, lock, look, insert, COMMIT). A VOLATILE plpgsql function takes a fresh
            // snapshot for each statement under READ COMMITTED, exactly as the separate
            // statements did: after waiting for the job's row lock, the look for an intent
            // elsewhere sees what the previous holder of the lock wrote.
            """
            CREATE FUNCTION write_intent(p_kassa bigint, p_job uuid, p_epoch bigint, p_last_document bigint,
                                         p_allow_elsewhere boolean)
            RETURNS TABLE (job_found boolean, job_status text, elsewhere bigint, fence_held boolean,
                           inserted boolean, seen_epoch bigint, held_job uuid, held_epoch bigint)
            LANGUAGE plpgsql VOLATILE AS $$
            BEGIN
                job_found := false; fence_held := false; inserted := false;
                SELECT j.status INTO job_status FROM jobs j WHERE j.uuid = p_job FOR UPDATE;
                IF NOT FOUND THEN RETURN NEXT; RETURN; END IF;
                job_found := true;
                IF job_status <> 'wait' THEN RETURN NEXT; RETURN; END IF;
                IF NOT p_allow_elsewhere THEN
                    SELECT i.kassa_id INTO elsewhere FROM intents i
                    WHERE i.job_uuid = p_job AND i.kassa_id <> p_kassa LIMIT 1;
                    IF FOUND THEN RETURN NEXT; RETURN; END IF;
                END IF;
                PERFORM 1 FROM kassas k WHERE k.id = p_kassa AND k.lease_epoch = p_epoch FOR SHARE;
                fence_held := FOUND;
                IF fence_held THEN
                    INSERT INTO intents (kassa_id, job_uuid, lease_epoch, last_document_number)
                    VALUES (p_kassa, p_job, p_epoch, p_last_document)
                    ON CONFLICT (kassa_id) DO NOTHING;
                    inserted := FOUND;
                END IF;
                SELECT k.lease_epoch INTO seen_epoch FROM kassas k WHERE k.id = p_kassa;
                SELECT i.job_uuid, i.lease_epoch INTO held_job, held_epoch FROM intents i WHERE i.kassa_id = p_kassa;
                RETURN NEXT;
            END
            $$
            """,
        ]),
        Migration(version: 6, name: "the result commit as one server-side call", statements: [
            // The exactly-once commit of `Registry.commitResult`: still ONE statement (one
            // snapshot, atomic), now inside a function so that a batch of commits can run it
            // once per result in one round trip (see `Registry.commitResults`).
            """
            CREATE FUNCTION commit_result(p_job uuid, p_kassa bigint, p_epoch bigint, p_document bigint,
                                          p_fn_serial text, p_registration text, p_attribute bigint,
                                          p_receipt_number integer, p_shift integer, p_datetime text, p_total bigint)
            RETURNS TABLE (fence_held boolean, inserted boolean, seen_epoch bigint)
            LANGUAGE plpgsql VOLATILE AS $$
            BEGIN
                RETURN QUERY
                WITH fenced AS (
                    UPDATE kassas SET last_document_number = greatest(last_document_number, p_document)
                    WHERE id = p_kassa AND lease_epoch = p_epoch
                    RETURNING id
                ), added AS (
                    INSERT INTO results (job_uuid, kassa_id, lease_epoch, fn_serial, registration_number,
                                         fiscal_document_number, fiscal_document_attribute,
                                         fiscal_receipt_number, shift_number, receipt_datetime, total_kopecks)
                    SELECT p_job, p_kassa, p_epoch, p_fn_serial, p_registration, p_document, p_attribute,
                           p_receipt_number, p_shift, p_datetime, p_total
                    FROM fenced
                    ON CONFLICT (job_uuid) DO NOTHING
                    RETURNING job_uuid
                ), finished AS (
                    UPDATE jobs SET status = 'done', kassa_id = p_kassa, finished_at = now(),
                                    error_code = NULL, error_type = NULL, error_text = NULL
                    WHERE uuid = p_job AND EXISTS (SELECT 1 FROM added)
                    RETURNING uuid
                ), annulled AS (
                    UPDATE annulments SET annulled_at = now()
                    WHERE annul_job_uuid = p_job AND annulled_at IS NULL AND EXISTS (SELECT 1 FROM added)
                    RETURNING annul_job_uuid
                ), cleared AS (
                    -- A duplicate keeps its intent until recordDuplicate (see CommitOutcome).
                    DELETE FROM intents
                    WHERE kassa_id = p_kassa AND job_uuid = p_job AND EXISTS (SELECT 1 FROM fenced)
                      AND (EXISTS (SELECT 1 FROM added)
                           OR EXISTS (SELECT 1 FROM results r WHERE r.job_uuid = p_job AND r.fn_serial = p_fn_serial
                                      AND r.fiscal_document_number = p_document))
                    RETURNING kassa_id
                )
                SELECT EXISTS (SELECT 1 FROM fenced), EXISTS (SELECT 1 FROM added),
                       (SELECT k.lease_epoch FROM kassas k WHERE k.id = p_kassa);
            END
            $$
            """,
        ]),
        Migration(version: 7, name: "write_intent answers a written intent without reading it back", statements: [
            // Migration 5's function, except that an intent it has just inserted is answered
            // from what it wrote: the fence held (the kassa's row locked FOR SHARE at p_epoch)
            // and the insert succeeded, so the epoch seen and the intent held are p_epoch and
            // p_job. Two of its six statements go from the common path; each costs an executor
            // start, a large share of the registry's CPU per receipt.
            """
            CREATE OR REPLACE FUNCTION write_intent(p_kassa bigint, p_job uuid, p_epoch bigint, p_last_document bigint,
                                                    p_allow_elsewhere boolean)
            RETURNS TABLE (job_found boolean, job_status text, elsewhere bigint, fence_held boolean,
                           inserted boolean, seen_epoch bigint, held_job uuid, held_epoch bigint)
            LANGUAGE plpgsql VOLATILE AS $$
            BEGIN
                job_found := false; fence_held := false; inserted := false;
                SELECT j.status INTO job_status FROM jobs j WHERE j.uuid = p_job FOR UPDATE;
                IF NOT FOUND THEN RETURN NEXT; RETURN; END IF;
                job_found := true;
                IF job_status <> 'wait' THEN RETURN NEXT; RETURN; END IF;
                IF NOT p_allow_elsewhere THEN
                    SELECT i.kassa_id INTO elsewhere FROM intents i
                    WHERE i.job_uuid = p_job AND i.kassa_id <> p_kassa LIMIT 1;
                    IF FOUND THEN RETURN NEXT; RETURN; END IF;
                END IF;
                PERFORM 1 FROM kassas k WHERE k.id = p_kassa AND k.lease_epoch = p_epoch FOR SHARE;
                fence_held := FOUND;
                IF fence_held THEN
                    INSERT INTO intents (kassa_id, job_uuid, lease_epoch, last_document_number)
                    VALUES (p_kassa, p_job, p_epoch, p_last_document)
                    ON CONFLICT (kassa_id) DO NOTHING;
                    inserted := FOUND;
                    IF inserted THEN
                        seen_epoch := p_epoch; held_job := p_job; held_epoch := p_epoch;
                        RETURN NEXT; RETURN;
                    END IF;
                END IF;
                SELECT k.lease_epoch INTO seen_epoch FROM kassas k WHERE k.id = p_kassa;
                SELECT i.job_uuid, i.lease_epoch INTO held_job, held_epoch FROM intents i WHERE i.kassa_id = p_kassa;
                RETURN NEXT;
            END
            $$
            """,
        ]),
        Migration(version: 8, name: "no foreign keys on the per-receipt rows that the fenced functions already imply", statements: [
            // Each of these cost a trigger and a key-share lock per receipt (PostgreSQL's CPU
            // per receipt at K = 1,152 went from 0.86 to 0.80-0.81 ms without them, in
            // alternating runs) to prove what the fenced writes already prove: write_intent and
            // commit_result find the kassa's row at the caller's epoch (FOR SHARE or UPDATE) in
            // the same statement, failJob likewise, and an intent or result is written only
            // for a job whose row was locked (write_intent) or found (commit_result, below).
            // Nothing deletes kassas or jobs. jobs -> tenants stays: admission relies on it to
            // answer an unknown tenant as not found.
            "ALTER TABLE results DROP CONSTRAINT results_job_uuid_fkey, DROP CONSTRAINT results_kassa_id_fkey",
            "ALTER TABLE intents DROP CONSTRAINT intents_kassa_id_fkey",
            "ALTER TABLE jobs DROP CONSTRAINT jobs_kassa_id_fkey",
            // Migration 6's function, except that a result is added only for a job on record
            // (what results -> jobs refused before). For an unknown job nothing is added (the
            // kassa's last document number still rises to the document's: its FN printed it)
            // and commitResult, finding no result to read, answers not found.
            """
            CREATE OR REPLACE FUNCTION commit_result(p_job uuid, p_kassa bigint, p_epoch bigint, p_document bigint,
                                                     p_fn_serial text, p_registration text, p_attribute bigint,
                                                     p_receipt_number integer, p_shift integer, p_datetime text,
                                                     p_total bigint)
            RETURNS TABLE (fence_held boolean, inserted boolean, seen_epoch bigint)
            LANGUAGE plpgsql VOLATILE AS $$
            BEGIN
                RETURN QUERY
                WITH fenced AS (
                    UPDATE kassas SET last_document_number = greatest(last_document_number, p_document)
                    WHERE id = p_kassa AND lease_epoch = p_epoch
                    RETURNING id
                ), added AS (
                    INSERT INTO results (job_uuid, kassa_id, lease_epoch, fn_serial, registration_number,
                                         fiscal_document_number, fiscal_document_attribute,
                                         fiscal_receipt_number, shift_number, receipt_datetime, total_kopecks)
                    SELECT p_job, p_kassa, p_epoch, p_fn_serial, p_registration, p_document, p_attribute,
                           p_receipt_number, p_shift, p_datetime, p_total
                    FROM fenced
                    WHERE EXISTS (SELECT 1 FROM jobs j WHERE j.uuid = p_job)
                    ON CONFLICT (job_uuid) DO NOTHING
                    RETURNING job_uuid
                ), finished AS (
                    UPDATE jobs SET status = 'done', kassa_id = p_kassa, finished_at = now(),
                                    error_code = NULL, error_type = NULL, error_text = NULL
                    WHERE uuid = p_job AND EXISTS (SELECT 1 FROM added)
                    RETURNING uuid
                ), annulled AS (
                    UPDATE annulments SET annulled_at = now()
                    WHERE annul_job_uuid = p_job AND annulled_at IS NULL AND EXISTS (SELECT 1 FROM added)
                    RETURNING annul_job_uuid
                ), cleared AS (
                    -- A duplicate keeps its intent until recordDuplicate (see CommitOutcome).
                    DELETE FROM intents
                    WHERE kassa_id = p_kassa AND job_uuid = p_job AND EXISTS (SELECT 1 FROM fenced)
                      AND (EXISTS (SELECT 1 FROM added)
                           OR EXISTS (SELECT 1 FROM results r WHERE r.job_uuid = p_job AND r.fn_serial = p_fn_serial
                                      AND r.fiscal_document_number = p_document))
                    RETURNING kassa_id
                )
                SELECT EXISTS (SELECT 1 FROM fenced), EXISTS (SELECT 1 FROM added),
                       (SELECT k.lease_epoch FROM kassas k WHERE k.id = p_kassa);
            END
            $$
            """,
        ]),
        Migration(version: 9, name: "a result commit that writes the kassa's next intent", statements: [
            // commit_result, then (when it recorded this very document, so this job's intent is
            // gone) write_intent for the kassa's next job, in one transaction: the dispatcher
            // makes one registry round trip between two sales on a kassa instead of two. The
            // next intent's document number is the one just committed, and it is durable before
            // the next sale goes out, exactly as a separate write_intent would be. Every commit
            // goes through here; p_next_job is NULL when there is no next job.
            """
            CREATE FUNCTION commit_and_intend(p_job uuid, p_kassa bigint, p_epoch bigint, p_document bigint,
                                              p_fn_serial text, p_registration text, p_attribute bigint,
                                              p_receipt_number integer, p_shift integer, p_datetime text,
                                              p_total bigint, p_next_job uuid)
            RETURNS TABLE (fence_held boolean, inserted boolean, seen_epoch bigint, next_tried boolean,
                           next_job_found boolean, next_job_status text, next_elsewhere bigint,
                           next_fence_held boolean, next_inserted boolean, next_held_job uuid,
                           next_held_epoch bigint)
            LANGUAGE plpgsql VOLATILE AS $$
            BEGIN
                SELECT c.fence_held, c.inserted, c.seen_epoch INTO fence_held, inserted, seen_epoch
                FROM commit_result(p_job, p_kassa, p_epoch, p_document, p_fn_serial, p_registration, p_attribute,
                                   p_receipt_number, p_shift, p_datetime, p_total) AS c;
                -- A repeat of a commit whose answer was lost finds its own document on record.
                next_tried := p_next_job IS NOT NULL AND fence_held
                    AND (inserted OR EXISTS (SELECT 1 FROM results r WHERE r.job_uuid = p_job
                                             AND r.fn_serial = p_fn_serial AND r.fiscal_document_number = p_document));
                IF next_tried THEN
                    SELECT w.job_found, w.job_status, w.elsewhere, w.fence_held, w.inserted, w.held_job, w.held_epoch
                    INTO next_job_found, next_job_status, next_elsewhere, next_fence_held, next_inserted,
                         next_held_job, next_held_epoch
                    FROM write_intent(p_kassa, p_next_job, p_epoch, p_document, false) AS w;
                END IF;
                RETURN NEXT;
            END
            $$
            """,
        ]),
        Migration(version: 10, name: "a job's commit is a HOT update", statements: [
            // Marking a job done rewrote its whole row (the receipt's body with it, about 1.5 KB
            // of WAL) and added an entry to each of its three indexes, because its status was in
            // two partial indexes' predicates: a third of the commit's cost. With no index on
            // status and room left in each page, the update stays on the row's page (HOT): no
            // index entries, and WAL for the changed bytes only.
            // Nothing reads waiting jobs in registration order.
            "DROP INDEX jobs_waiting_idx",
            // A failed job always carries its error code (every statement that fails one sets
            // it; a commit or a reopen clears it), so failures are listed by the code instead.
            "DROP INDEX jobs_failed_idx",
            "CREATE INDEX jobs_failed_idx ON jobs (tenant_id, accepted_at) WHERE error_code IS NOT NULL",
            // Inserts leave 30% of each page free for the rows' updates (a job's row is about
            // 0.7 KB, so a page holds about ten); pruning reclaims the old versions once no
            // snapshot needs them.
            "ALTER TABLE jobs SET (fillfactor = 70)",
        ]),
    ]

    /// Applies pending migrations in version order, each in its own transaction under
    /// `pg_advisory_xact_lock`, so processes migrating at the same time neither fail nor apply
    /// anything twice. Returns the versions this call applied (empty when up to date).
    public func migrate() async throws -> [Int] {
        var applied: [Int] = []
        for migration in Self.migrations.sorted(by: { $0.version < $1.version }) {
            let didApply = try await transaction { connection in
                try connection.execute("SELECT pg_advisory_xact_lock($1::bigint)", [String(Self.migrationLockKey)])
                // Under the lock: concurrent CREATE TABLE IF NOT EXISTS can still collide on the
                // catalog's unique index without it.
                try connection.execute("""
                    CREATE TABLE IF NOT EXISTS schema_migrations (
                        version    integer PRIMARY KEY,
                        name       text NOT NULL,
                        applied_at timestamptz NOT NULL DEFAULT now()
                    )
                    """)
                let existing = try connection.query(
                    "SELECT 1 FROM schema_migrations WHERE version = $1::integer", [String(migration.version)])
                guard existing.isEmpty else { return false }
                for statement in migration.statements { try connection.execute(statement) }
                try connection.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1::integer, $2, now())",
                    [String(migration.version), migration.name])
                return true
            }
            if didApply {
                applied.append(migration.version)
                logger.info("registry: applied migration", metadata: [
                    "version": "\(migration.version)", "name": "\(migration.name)",
                ])
            }
        }
        let newest = Self.migrations.map(\.version).max() ?? 0
        let unknown = try await withConnection { connection in
            try connection.query("SELECT version FROM schema_migrations WHERE version > $1::integer ORDER BY version",
                                 [String(newest)]).map { try $0.int("version") }
        }
        if !unknown.isEmpty {
            logger.warning("registry: database has migrations this build does not know (a newer release ran)",
                           metadata: ["versions": "\(unknown)"])
        }
        return applied
    }
}
