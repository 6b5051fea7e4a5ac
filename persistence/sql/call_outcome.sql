-- What a call's change does to its leads: CTEs that follow a one-row CTE `inputs` (the call statement
-- `call_update.sql`, or the disposition statement in persistence/calls.py `_CALL_OUTCOME`) with:
--   tenant_id, call_payload (CALL_UPDATED's payload, or NULL), lead_id (the call's lead),
--   served_contact_id and served_until (the call's contact and start: it serves every open lead of
--   that person created at or before it), call_direction and call_primary (is the call an attempt),
--   attempt_at (the call's start, when its timing changed), connected_at (its connect, likewise),
--   contacted_from (the statuses a connect moves to CONTACTED), booked_at, booked_from,
--   booked_reason, changed_by (a booking, when given).
-- `contact_of_lead` (filled in by persistence/calls.py) finds the contact of a lead of `changed`.
--
-- Times only move earlier (LEAST), so facts from events in any order converge. Automatic moves start
-- from an open status, so a lead keeps its board column when it becomes CONTACTED and leaves the
-- board when BOOKED (the stage after a move is persistence/lead_status.py `stage_after_move_sql`).
-- The attempt facts (attempts to contact, first attempt's agent) follow in the leads trigger
-- (call_attempt_facts.sql).

-- The leads the call serves, locked in id order.
cur AS (
    SELECT l.id, l.tenant_id, l.contact_id, l.status, l.stage, l.created_at, l.first_attempt_at,
        l.first_connected_at, l.booked_at
    FROM leads AS l
    WHERE l.id = (SELECT lead_id FROM inputs)
        -- A call serves every open lead of its person created at or before it.
        OR (l.contact_id = (SELECT served_contact_id FROM inputs)
            AND l.created_at <= (SELECT served_until FROM inputs) AND l.status IN {{open_statuses}})
    ORDER BY l.id
    FOR NO KEY UPDATE
),
-- Each lead's first attempt (when the call is one: calltrax_is_attempt, the one attempt rule),
-- first connect and booking folded in, and the status a connect moves it to.
facts AS (
    SELECT cur.*,
        CASE WHEN calltrax_is_attempt(i.served_contact_id, i.call_direction, i.call_primary, i.attempt_at,
                                      cur.contact_id, cur.created_at)
            THEN LEAST(coalesce(cur.first_attempt_at, i.attempt_at), i.attempt_at)
            ELSE cur.first_attempt_at END AS new_attempt,
        CASE WHEN i.connected_at >= cur.created_at
            THEN LEAST(coalesce(cur.first_connected_at, i.connected_at), i.connected_at)
            ELSE cur.first_connected_at END AS new_connected,
        CASE WHEN i.booked_at IS NOT NULL
            THEN LEAST(coalesce(cur.booked_at, i.booked_at), i.booked_at)
            ELSE cur.booked_at END AS new_booked,
        CASE WHEN cur.status = ANY(i.contacted_from) THEN 'contacted' ELSE cur.status END AS mid_status,
        i.connected_at AS contacted_at, i.booked_at AS booked_at_input, i.booked_from, i.booked_reason,
        i.changed_by
    FROM cur CROSS JOIN inputs AS i
),
-- Then the booking's move, and when the last move happened.
moves AS (
    SELECT facts.*, m.new_status,
        CASE WHEN m.new_status <> facts.mid_status THEN facts.booked_at_input ELSE facts.contacted_at END
            AS moved_at
    FROM facts
    CROSS JOIN LATERAL (
        SELECT CASE WHEN facts.mid_status = ANY(facts.booked_from) THEN 'booked' ELSE facts.mid_status END
            AS new_status
    ) AS m
),
-- Only the leads that change, with their board column after the move.
target AS (
    SELECT moves.*,
        {{stage_after_move}} AS new_stage
    FROM moves
    WHERE new_attempt IS DISTINCT FROM first_attempt_at OR new_connected IS DISTINCT FROM first_connected_at
        OR new_booked IS DISTINCT FROM booked_at OR new_status <> status
),
-- The write, with what changed (LEAD_UPDATED's `changes`).
changed AS (
    UPDATE leads SET first_attempt_at = target.new_attempt, first_connected_at = target.new_connected,
        booked_at = target.new_booked, status = target.new_status, stage = target.new_stage,
        status_changed_at = CASE WHEN target.new_status <> target.status THEN target.moved_at
            ELSE leads.status_changed_at END,
        updated_at = now()
    FROM target WHERE leads.id = target.id
    RETURNING leads.*, target.status AS from_status, target.stage AS from_stage, (
        SELECT jsonb_agg(name ORDER BY name) FROM unnest(ARRAY[
            CASE WHEN target.new_attempt IS DISTINCT FROM target.first_attempt_at THEN 'first_attempt_at' END,
            CASE WHEN target.new_connected IS DISTINCT FROM target.first_connected_at
                THEN 'first_connected_at' END,
            CASE WHEN target.new_booked IS DISTINCT FROM target.booked_at THEN 'booked_at' END,
            CASE WHEN target.new_status <> target.status THEN 'status' END,
            CASE WHEN target.new_stage IS DISTINCT FROM target.stage THEN 'stage' END
        ]) AS name WHERE name IS NOT NULL
    ) AS changes
),
-- The status history of the automatic moves.
history AS (
    INSERT INTO lead_status_changes (tenant_id, lead_id, from_status, to_status, changed_by, reason, changed_at)
    SELECT tenant_id, id, status, 'contacted', NULL, 'call connected', contacted_at
    FROM target WHERE mid_status <> status
    UNION ALL
    SELECT tenant_id, id, mid_status, 'booked', changed_by, booked_reason, booked_at_input
    FROM target WHERE new_status <> mid_status
),
-- CALL_UPDATED (when given) and LEAD_UPDATED per changed lead (the relay numbers and publishes them).
recorded AS (
    INSERT INTO events (tenant_id, type, payload)
    SELECT tenant_id, 'CALL_UPDATED', call_payload FROM inputs WHERE call_payload IS NOT NULL
    UNION ALL
    SELECT changed.tenant_id, 'LEAD_UPDATED', jsonb_build_object(
        'lead', {{lead_snapshot}},
        'contact', {{contact_snapshot}},
        'changes', changed.changes) || CASE WHEN changed.status <> changed.from_status
            THEN jsonb_build_object('from_status', changed.from_status, 'from_stage', changed.from_stage,
                'to_stage', changed.stage)
            ELSE '{}' END
    FROM changed CROSS JOIN LATERAL ({{contact_of_lead}}) AS c
    RETURNING id
)
