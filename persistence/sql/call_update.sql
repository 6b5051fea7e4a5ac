-- A call's new projection, in one statement with what follows from it (one round trip while its
-- lock is held); persistence/calls.py `update_call`, `apply_known_event` (print every variant as
-- sent with `python -m persistence.calls`).
--
-- Variants (fragments chosen in persistence/calls.py):
-- * `_UPDATE_CALL`: the caller holds the call's lock (tenant_current, store_event empty; write_call
--   is call_update_row.sql; result: the row as written).
-- * `_APPLY_KNOWN_EVENT`: one autocommit statement for a caller that knows the call's events: the
--   tenant must be current (call_tenant_current.sql), the row the version the caller saw (its xmin)
--   and the event is stored and counted in the same write; otherwise the statement undoes itself
--   (call_applied_or_abort.sql, LOST_RACE).
-- * `_APPLY_FIRST_EVENT`: the same for a call's first event: write_call is call_insert_row.sql.
WITH {{tenant_current}}
-- The contact: the given one or, when :contact_phone is set, the tenant's contact with that E.164
-- phone, found or made, race-safe (as in persistence/contacts.py).
ensured AS (
    INSERT INTO contacts (tenant_id, phone, name)
    SELECT :tenant_id, CAST(:contact_phone AS text), CAST(:contact_name AS text)
    WHERE CAST(:contact_phone AS text) IS NOT NULL
    ON CONFLICT (tenant_id, phone) DO UPDATE SET name = coalesce(contacts.name, EXCLUDED.name)
    RETURNING contacts.*
),
contact AS (SELECT coalesce((SELECT id FROM ensured), CAST(:contact_id AS uuid)) AS id),
-- The call row, written with its projection, contact, lead (the contact's latest lead created at or
-- before the call started) and, when given, disposition.
updated AS ({{write_call}}
    RETURNING *, xmin::text AS row_version
),{{store_event}}
-- What the call's change means for its leads (the `inputs` of call_outcome.sql): when its lead,
-- direction, start or connect changed, its start (an attempt, if it is one) and connect; a connect
-- moves leads on from `contacted_from`; a booking (`booked_*`) books them. CALL_UPDATED's payload is
-- the call as written (`kind`).
inputs AS (
    SELECT u.tenant_id,
        CASE WHEN CAST(:kind AS text) IS NOT NULL THEN jsonb_build_object(
            'call', {{call_snapshot}},
            'kind', CAST(:kind AS text)) END AS call_payload,
        u.lead_id, u.contact_id AS served_contact_id, u.started_at AS served_until,
        u.direction AS call_direction, u.is_primary_leg AS call_primary,
        CASE WHEN moved.timing THEN u.started_at END AS attempt_at,
        CASE WHEN moved.timing THEN u.connected_at END AS connected_at,
        CASE WHEN moved.timing AND u.connected_at IS NOT NULL THEN CAST(:contacted_from AS text[])
            ELSE CAST('{}' AS text[]) END AS contacted_from,
        CAST(:booked_at AS timestamptz) AS booked_at, CAST(:booked_from AS text[]) AS booked_from,
        CAST(:booked_reason AS text) AS booked_reason, CAST(:changed_by AS text) AS changed_by
    FROM updated AS u CROSS JOIN LATERAL (
        SELECT u.lead_id IS DISTINCT FROM CAST(:before_lead_id AS uuid)
            OR u.direction IS DISTINCT FROM CAST(:before_direction AS text)
            OR u.started_at IS DISTINCT FROM CAST(:before_started_at AS timestamptz)
            OR u.connected_at IS DISTINCT FROM CAST(:before_connected_at AS timestamptz) AS timing
    ) AS moved
),
-- The leads' facts, status moves, history and events (call_outcome.sql).
{{outcome}}
{{result}}
