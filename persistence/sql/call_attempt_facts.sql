-- The attempt rule and the per-lead and per-call facts derived from it, kept on the write path so the
-- metrics statement reads one index row per lead and per call (docs/metrics.md, "Cost").
--
-- Run by migration 0017 (and again by any later migration that changes a rule here): every object is
-- CREATE OR REPLACE, so running the file twice is harmless. Runnable on its own with psql.
--
-- Facts are recomputed from the calls, never incremented, so events that arrive late, out of order
-- or twice leave the same facts as any other order:
-- * a lead's `attempts_to_contact` and `first_attempt_agent_id` (leads BEFORE trigger when its own
--   times change; calls AFTER trigger when a call of its contact changes);
-- * an inbound call's `callback_at` (calls AFTER trigger, for every inbound call of the contact).


-- AN ATTEMPT of a lead: an outbound customer call (its primary leg's row) to the lead's contact at or
-- after the lead's creation. The only definition: the facts below, the call statement's
-- `first_attempt_at` fold (persistence/sql/call_outcome.sql) and `leads(filter: {attemptedBy})`
-- (persistence/lead_queries.py) all call it. An SQL function of one expression: the planner inlines
-- it, so index conditions on the call's contact and start still apply.
CREATE OR REPLACE FUNCTION calltrax_is_attempt(
    call_contact uuid, call_direction text, call_primary boolean, call_started timestamptz,
    lead_contact uuid, lead_created timestamptz
) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT call_contact = lead_contact AND call_direction = 'outbound' AND call_primary
        AND call_started >= lead_created
$$;


-- A lead's attempt facts, from its calls and its own first attempt and first contact (a time before
-- the lead's creation is none of its):
-- * attempts: its attempts up to and including its first contact (all of them while never reached);
-- * first_agent: the agent of its first attempt (the call at `first_attempt`; the lowest agent id
--   when two started at once). One index range of the contact's calls (ix_calls_contact_id_started_at).
-- RETURNS TABLE (one row) rather than a record: the planner inlines a set-returning SQL function
-- into the query that calls it (planned once with it), not a scalar one with a FROM clause.
DROP FUNCTION IF EXISTS calltrax_lead_attempt_facts(uuid, timestamptz, timestamptz, timestamptz);
CREATE FUNCTION calltrax_lead_attempt_facts(
    lead_contact uuid, lead_created timestamptz, first_attempt timestamptz, first_connected timestamptz
) RETURNS TABLE (attempts integer, first_agent text)
LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
AS $$
    SELECT count(*) FILTER (
               WHERE c.started_at <= CASE WHEN first_connected >= lead_created THEN first_connected
                                          ELSE 'infinity' END)::integer,
           min(c.agent_id) FILTER (WHERE first_attempt >= lead_created AND c.started_at = first_attempt)
    FROM calls AS c
    WHERE c.contact_id = lead_contact AND c.started_at >= lead_created
        AND calltrax_is_attempt(c.contact_id, c.direction, c.is_primary_leg, c.started_at, lead_contact,
                                lead_created)
$$;


-- An inbound customer call's callback: the start of the next outbound customer call to the same
-- contact (NULL for other calls, and until one follows). A one-row table, inlined like the above.
DROP FUNCTION IF EXISTS calltrax_callback_at(uuid, text, boolean, timestamptz);
CREATE FUNCTION calltrax_callback_at(
    call_contact uuid, call_direction text, call_primary boolean, call_started timestamptz
) RETURNS TABLE (callback_at timestamptz)
LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
AS $$
    SELECT min(o.started_at)
    FROM calls AS o
    WHERE call_direction = 'inbound' AND call_primary
        AND o.contact_id = call_contact AND o.started_at > call_started
        AND o.direction = 'outbound' AND o.is_primary_leg
$$;


-- Recompute the facts of every lead and inbound call of one contact (after a change to one of its
-- calls). Writes only rows whose facts differ, so most call events write nothing here.
CREATE OR REPLACE FUNCTION calltrax_refresh_contact_facts(contact uuid) RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    IF contact IS NULL THEN
        RETURN;
    END IF;
    UPDATE leads AS l SET attempts_to_contact = f.attempts, first_attempt_agent_id = f.first_agent
    FROM leads AS x
    CROSS JOIN LATERAL calltrax_lead_attempt_facts(x.contact_id, x.created_at, x.first_attempt_at,
                                                   x.first_connected_at) AS f
    WHERE x.contact_id = contact AND l.id = x.id
        AND (l.attempts_to_contact, l.first_attempt_agent_id) IS DISTINCT FROM (f.attempts, f.first_agent);
    UPDATE calls AS m SET callback_at = f.callback_at
    FROM calls AS x
    CROSS JOIN LATERAL calltrax_callback_at(x.contact_id, x.direction, x.is_primary_leg, x.started_at) AS f
    WHERE x.contact_id = contact AND x.direction = 'inbound' AND m.id = x.id
        AND m.callback_at IS DISTINCT FROM f.callback_at;
END
$$;


-- Recompute every lead's and inbound call's facts of one tenant (every tenant when NULL) from the
-- stored calls: the migration's backfill, and bulk loads made with the triggers off (the bench).
CREATE OR REPLACE FUNCTION calltrax_backfill_facts(tenant uuid) RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    UPDATE leads AS l SET attempts_to_contact = f.attempts, first_attempt_agent_id = f.first_agent
    FROM leads AS x
    CROSS JOIN LATERAL calltrax_lead_attempt_facts(x.contact_id, x.created_at, x.first_attempt_at,
                                                   x.first_connected_at) AS f
    WHERE (tenant IS NULL OR x.tenant_id = tenant) AND l.id = x.id
        AND (l.attempts_to_contact, l.first_attempt_agent_id) IS DISTINCT FROM (f.attempts, f.first_agent);
    UPDATE calls AS m SET callback_at = f.callback_at
    FROM calls AS x
    CROSS JOIN LATERAL calltrax_callback_at(x.contact_id, x.direction, x.is_primary_leg, x.started_at) AS f
    WHERE (tenant IS NULL OR x.tenant_id = tenant) AND x.direction = 'inbound' AND m.id = x.id
        AND m.callback_at IS DISTINCT FROM f.callback_at;
END
$$;


-- Leads: the facts follow the lead's own contact, creation, first attempt and first contact (set
-- by the call statement). BEFORE, so the row is written once and RETURNING shows the facts.
CREATE OR REPLACE FUNCTION calltrax_lead_facts_trigger() RETURNS trigger
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    SELECT f.attempts, f.first_agent INTO NEW.attempts_to_contact, NEW.first_attempt_agent_id
    FROM calltrax_lead_attempt_facts(NEW.contact_id, NEW.created_at, NEW.first_attempt_at,
                                     NEW.first_connected_at) AS f;
    RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS calltrax_lead_facts ON leads;
CREATE TRIGGER calltrax_lead_facts
    BEFORE INSERT OR UPDATE OF contact_id, created_at, first_attempt_at, first_connected_at ON leads
    FOR EACH ROW EXECUTE FUNCTION calltrax_lead_facts_trigger();


-- Calls: a change to what makes a call an attempt or a callback (its contact, direction, leg, start,
-- agent) refreshes the facts of its contact, and of its former contact. AFTER: row triggers of a
-- statement fire at its end, so the refresh sees every row the statement wrote (a call event's
-- statement writes the call and its leads in one go; the legs statement several calls).
CREATE OR REPLACE FUNCTION calltrax_call_facts_trigger() RETURNS trigger
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM calltrax_refresh_contact_facts(OLD.contact_id);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND (TG_OP = 'INSERT' OR NEW.contact_id IS DISTINCT FROM OLD.contact_id) THEN
        PERFORM calltrax_refresh_contact_facts(NEW.contact_id);
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS calltrax_call_facts_insert ON calls;
CREATE TRIGGER calltrax_call_facts_insert
    AFTER INSERT ON calls
    FOR EACH ROW WHEN (NEW.contact_id IS NOT NULL)
    EXECUTE FUNCTION calltrax_call_facts_trigger();

DROP TRIGGER IF EXISTS calltrax_call_facts_update ON calls;
CREATE TRIGGER calltrax_call_facts_update
    AFTER UPDATE OF contact_id, direction, is_primary_leg, started_at, agent_id ON calls
    FOR EACH ROW WHEN (
        (OLD.contact_id, OLD.direction, OLD.is_primary_leg, OLD.started_at, OLD.agent_id)
        IS DISTINCT FROM (NEW.contact_id, NEW.direction, NEW.is_primary_leg, NEW.started_at, NEW.agent_id)
    )
    EXECUTE FUNCTION calltrax_call_facts_trigger();

DROP TRIGGER IF EXISTS calltrax_call_facts_delete ON calls;
CREATE TRIGGER calltrax_call_facts_delete
    AFTER DELETE ON calls
    FOR EACH ROW WHEN (OLD.contact_id IS NOT NULL)
    EXECUTE FUNCTION calltrax_call_facts_trigger();
