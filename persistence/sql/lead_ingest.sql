-- The lead intake: one statement writes a lead posted to a lead webhook, with its contact merge and
-- its LEAD_CREATED event row (persistence/leads.py `ingest` runs it on the driver, autocommit: no
-- BEGIN/COMMIT round trips, and still atomic).
--
-- Parameters (SQLAlchemy's :name form): the webhook :token; :check_region with :timezone and
-- :default_region, the tenant's region inputs the caller assumed when it normalised a national phone;
-- the lead's :idempotency_key, :external_id, :source, :status, :notes, :city, :raw_data; the
-- contact's :phone (E.164 or NULL), :phone_raw, :phone_invalid, :email, :name, :metadata; :at, when
-- it arrived; :event_type (LEAD_CREATED).
-- Placeholders {{ name }} are SQL generated from a rule's one home, filled in at import
-- (persistence/sql_files.py `load_sql`): what a merged contact gains (persistence/contacts.py
-- `contact_gains_sql`), the stage of a new lead (persistence/lead_stages.py `stage_sql`), the
-- event's snapshots (persistence/snapshots.py) and the SQLSTATE of a lost race
-- (persistence/errors.py `LOST_RACE`).
-- Run it by itself: `.venv/bin/python -m persistence.sql_files persistence.leads:INGEST` prints it
-- filled in as a PREPARE for psql, its parameters numbered; then EXECUTE it inside BEGIN ... ROLLBACK.
--
-- It returns one row when the token is an active webhook (and the region check holds), none
-- otherwise: tenant_id; existing_lead_id and existing_contact_id when an earlier lead has the same key
-- (nothing was written); lead_id and contact_id when the lead was written.
WITH
-- The token's webhook and its tenant. Rotation and deactivation take effect at once; with
-- :check_region, only while the tenant's timezone and default region are what the caller assumed.
hook AS (
    SELECT lw.id AS webhook_id, lw.tenant_id, lw.label, t.settings
    FROM lead_webhooks AS lw JOIN tenants AS t ON t.id = lw.tenant_id
    WHERE lw.token = :token AND lw.active
      AND (NOT (SELECT :check_region)
           OR (t.timezone = :timezone AND coalesce(t.settings ->> 'default_region', '') = :default_region))
),
-- An earlier lead of the tenant with the same idempotency key, else the same source id: then nothing
-- below is written and the caller answers it as a duplicate. (SELECT :param) keeps each branch an
-- index lookup whatever the parameter is (NULL matches nothing).
existing AS (
    SELECT found.id, found.contact_id FROM (
        SELECT l.id, l.contact_id, 1 AS rank
        FROM leads AS l JOIN hook ON l.tenant_id = hook.tenant_id
        WHERE l.idempotency_key = (SELECT :idempotency_key)
        UNION ALL
        SELECT l.id, l.contact_id, 2 AS rank
        FROM leads AS l JOIN hook ON l.tenant_id = hook.tenant_id
        WHERE l.external_id = (SELECT :external_id)
    ) AS found
    ORDER BY found.rank LIMIT 1
),
-- The contact merge: the tenant's contact is found by phone, else by email; it gains the fields it
-- lacked and never loses a value (on metadata keys the existing value wins). Exactly one of the four
-- branches below yields the row, as `contact`. Racing inserts of one new phone (or one new phoneless
-- email) meet on a unique index and merge.
--
-- A new phone whose email belongs to a phoneless contact: that contact gains the phone. (A racing
-- request that claims the phone first makes this fail on uq_contacts_tenant_id_phone: the caller
-- retries, persistence/contacts.py `ContactRaced`.)
contact_adopted AS (
    UPDATE contacts AS c SET
        phone = :phone, phone_raw = :phone_raw, phone_invalid = false,
        name = coalesce(c.name, :name), city = coalesce(c.city, :city),
        metadata = :metadata || c.metadata, updated_at = :at
    FROM hook
    WHERE NOT EXISTS (SELECT 1 FROM existing) AND (SELECT :phone) IS NOT NULL
      AND c.tenant_id = hook.tenant_id AND c.phone IS NULL AND c.email = (SELECT :email)
      AND NOT EXISTS (SELECT 1 FROM contacts AS p WHERE p.tenant_id = hook.tenant_id AND p.phone = :phone)
    RETURNING c.*
),
-- A phone: the tenant's contact with it, made or merged: it gains the email and raw phone it lacked,
-- then its name, city and metadata keys (persistence/contacts.py `contact_gains_sql`: updated_at
-- moves only when it gained something, the email included).
contact_by_phone AS (
    INSERT INTO contacts AS c (tenant_id, phone, phone_raw, email, name, city, metadata, created_at, updated_at)
    SELECT hook.tenant_id, :phone, :phone_raw, :email, :name, :city, :metadata, :at, :at
    FROM hook
    WHERE NOT EXISTS (SELECT 1 FROM existing) AND (SELECT :phone) IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM contact_adopted)
    ON CONFLICT (tenant_id, phone) DO UPDATE SET
        email = coalesce(c.email, EXCLUDED.email),
        phone_raw = coalesce(c.phone_raw, EXCLUDED.phone_raw),
        {{ gains_by_phone }}
    RETURNING c.*
),
-- No usable phone: the tenant's oldest contact with this email gains what it lacked.
contact_by_email AS (
    UPDATE contacts AS c SET
        name = coalesce(c.name, :name), city = coalesce(c.city, :city),
        phone_raw = coalesce(c.phone_raw, :phone_raw),
        phone_invalid = c.phone_invalid OR (c.phone IS NULL AND c.phone_raw IS NULL AND :phone_invalid),
        metadata = :metadata || c.metadata,
        updated_at = CASE
            WHEN (c.name IS NULL AND :name IS NOT NULL)
              OR (c.city IS NULL AND :city IS NOT NULL)
              OR (c.phone_raw IS NULL AND :phone_raw IS NOT NULL)
              OR (:metadata || c.metadata) <> c.metadata
            THEN :at ELSE c.updated_at END
    WHERE NOT EXISTS (SELECT 1 FROM existing) AND (SELECT :phone) IS NULL
      AND c.id = (
        SELECT e.id FROM contacts AS e JOIN hook ON e.tenant_id = hook.tenant_id
        WHERE e.email = (SELECT :email) ORDER BY e.created_at, e.id LIMIT 1
      )
    RETURNING c.*
),
-- No usable phone and no contact with this email yet: a new phoneless contact (racing twins merge on
-- the partial unique index of phoneless emails, the raw phone and `contact_gains_sql` as above).
contact_new_by_email AS (
    INSERT INTO contacts AS c
        (tenant_id, phone_raw, phone_invalid, email, name, city, metadata, created_at, updated_at)
    SELECT hook.tenant_id, :phone_raw, :phone_invalid, :email, :name, :city, :metadata, :at, :at
    FROM hook
    WHERE NOT EXISTS (SELECT 1 FROM existing) AND (SELECT :phone) IS NULL
      AND NOT EXISTS (SELECT 1 FROM contact_by_email)
    ON CONFLICT (tenant_id, email) WHERE phone IS NULL AND email IS NOT NULL DO UPDATE SET
        phone_raw = coalesce(c.phone_raw, EXCLUDED.phone_raw),
        phone_invalid = c.phone_invalid OR (c.phone_raw IS NULL AND EXCLUDED.phone_invalid),
        {{ gains_by_email }}
    RETURNING c.*
),
-- The merged contact: the one row of whichever branch ran (none when `existing` found a lead).
contact AS (
    SELECT * FROM contact_adopted UNION ALL SELECT * FROM contact_by_phone
    UNION ALL SELECT * FROM contact_by_email UNION ALL SELECT * FROM contact_new_by_email
),
-- The lead. A new lead is open, so it starts in the column of age zero (Follow Up 1 unless the
-- tenant's first bound is zero). ON CONFLICT covers both partial unique keys (idempotency key, source
-- id): when a concurrent duplicate committed first it inserts nothing, and the final SELECT fails.
new_lead AS (
    INSERT INTO leads AS l (tenant_id, contact_id, lead_webhook_id, source, status, notes, city, raw_data,
                           external_id, idempotency_key, created_at, updated_at, stage)
    SELECT hook.tenant_id, contact.id, hook.webhook_id, coalesce(:source, hook.label, 'webhook'), :status,
           :notes, :city, :raw_data, :external_id, :idempotency_key, :at, :at,
           {{ new_lead_stage }}
    FROM hook JOIN contact ON true
    ON CONFLICT DO NOTHING
    RETURNING l.*
),
-- The LEAD_CREATED event row, with the snapshots subscribers read (no query per event); the relay
-- numbers it after the commit.
new_event AS (
    INSERT INTO events (tenant_id, type, payload)
    SELECT new_lead.tenant_id, :event_type, jsonb_build_object(
        'lead', {{ lead_snapshot }},
        'contact', {{ contact_snapshot }})
    FROM new_lead JOIN contact ON true
    RETURNING id
)
-- A contact merged but no lead written: a concurrent duplicate won. Fail on purpose (SQLSTATE
-- LOST_RACE), so this statement's contact merge is undone too; the caller's retry finds the winner.
SELECT hook.tenant_id AS tenant_id, existing.id AS existing_lead_id, existing.contact_id AS existing_contact_id,
       new_lead.id AS lead_id, contact.id AS contact_id,
       CASE WHEN new_lead.id IS NULL AND contact.id IS NOT NULL
            THEN calltrax_abort('{{ lost_race }}', 'a concurrent duplicate lead committed first') END AS lost_race
FROM hook
LEFT JOIN existing ON true
LEFT JOIN new_lead ON true
LEFT JOIN contact ON true
