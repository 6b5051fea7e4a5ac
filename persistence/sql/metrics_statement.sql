-- The metrics statement: every figure of `Metrics` for a batch of (tenant, range) requests, one
-- result row per request (persistence/metrics.py reads it; docs/metrics.md defines each figure).
--
-- Parameters (arrays, one element per request, in request order): :tenant_ids, :tzs, :froms, :tos,
-- :slas (seconds), :business_slas, :details (also the breakdowns), :first_contacts (also the time to
-- first contact figures and contacted within the SLA); :now; the business clock's
-- :s_tenants, :s_dows, :s_opens, :s_closes, :h_tenants, :h_days (persistence/business_clock.py
-- `clock_parameters`).
--
-- A name in double braces marks a fragment generated at import from the rule's one home (the
-- business clock from persistence/business_clock.py, the speed bands from domain/metrics.py): print
-- the statement as sent with `python -m persistence.metrics` and run it with psql (\set each
-- parameter: the statement's :name placeholders are psql's variables too).
--
-- Cost: every read is an index range of the tenant's period, one range per tenant day (a row's day
-- is then known without a time zone conversion per row). Leads come from ix_leads_metrics, calls
-- from ix_calls_metrics, both index-only: the per-lead and per-call facts the breakdowns need
-- (attempts to contact, the first attempt's agent, a missed call's callback) are kept on the rows
-- by call processing (persistence/sql/call_attempt_facts.sql), so no lead is joined to its calls.
WITH
-- One row per request: its range, SLA, and the start of each tenant day of the range (local
-- midnights through AT TIME ZONE, so a 23- or 25-hour day is right), then the range's end.
params AS MATERIALIZED (
    SELECT p.idx, p.tenant_id, p.tz, p.range_from, p.range_to, p.sla, p.business_sla, p.details,
           p.first_contact, f.first_day, f.last_day - f.first_day + 1 AS days,
           date_part('epoch', CAST(:now AS timestamptz)) AS now_epoch,
           ARRAY(SELECT greatest(p.range_from, (f.first_day + g.n)::timestamp AT TIME ZONE p.tz)
                 FROM generate_series(0, f.last_day - f.first_day) AS g(n) ORDER BY g.n) || p.range_to AS day_bounds
    FROM unnest(CAST(:tenant_ids AS uuid[]), CAST(:tzs AS text[]), CAST(:froms AS timestamptz[]),
                CAST(:tos AS timestamptz[]), CAST(:slas AS float8[]), CAST(:business_slas AS bool[]),
                CAST(:details AS bool[]), CAST(:first_contacts AS bool[]))
         WITH ORDINALITY AS p(tenant_id, tz, range_from, range_to, sla, business_sla, details, first_contact, idx)
    CROSS JOIN LATERAL (
        SELECT (p.range_from AT TIME ZONE p.tz)::date AS first_day,
               ((p.range_to - interval '1 microsecond') AT TIME ZONE p.tz)::date AS last_day
    ) AS f
),
-- One row per tenant day of each request, as [day_from, day_to) instants.
days AS MATERIALIZED (
    SELECT p.idx, p.tenant_id, p.sla, p.business_sla, p.details, p.first_contact, p.now_epoch, p.first_day + g.n AS day,
           p.day_bounds[g.n + 1] AS day_from, p.day_bounds[g.n + 2] AS day_to
    FROM params p
    CROSS JOIN LATERAL generate_series(0, p.days - 1) AS g(n)
),
-- The tenant days each request's business clock covers: from the day before the range (or now) to
-- the day after its end (or now).
span AS (
    SELECT p.idx, p.tenant_id, p.tz,
           (least(p.range_from, CAST(:now AS timestamptz)) AT TIME ZONE p.tz)::date - 1 AS first_day,
           (greatest(p.range_to, CAST(:now AS timestamptz)) AT TIME ZONE p.tz)::date + 1 AS last_day
    FROM params p
),
-- business_clock(idx, bounds, cums): the open intervals of each span (persistence/business_clock.py).
{{business_clock_ctes}},
-- The range's leads, one index range per day (ix_leads_metrics, index-only), with their stored
-- facts and their place on their business clock (binary searches), computed once per lead. A call
-- before the lead's creation never counts for it; the SLA counts the first attempt or the first
-- conversation, whichever came first.
lead_clock AS (
    SELECT d.idx, d.tenant_id, d.sla, d.business_sla, d.details, d.first_contact, d.now_epoch, d.day,
           bc.bounds, bc.cums, l.*
    FROM days d
    LEFT JOIN business_clock bc ON bc.idx = d.idx
    CROSS JOIN LATERAL (
        SELECT l.source, l.attempts_to_contact AS attempts, l.first_attempt_agent_id AS first_agent,
               l.booked_at >= l.created_at AS booked,
               a.attempt_at IS NOT NULL AS attempted,
               k.contact_at IS NOT NULL AS contacted,
               r.response_at IS NOT NULL AS answered,
               date_part('epoch', l.created_at) AS created_epoch,
               -- Until the first attempt or, while unattempted, until now.
               date_part('epoch', coalesce(a.attempt_at, CAST(:now AS timestamptz))) AS until_epoch,
               date_part('epoch', coalesce(r.response_at, CAST(:now AS timestamptz))) AS response_epoch,
               date_part('epoch', coalesce(k.contact_at, CAST(:now AS timestamptz))) AS contact_epoch,
               width_bucket(date_part('epoch', l.created_at), bc.bounds) AS created_bucket,
               width_bucket(date_part('epoch', coalesce(a.attempt_at, CAST(:now AS timestamptz))), bc.bounds)
                   AS until_bucket,
               CASE WHEN d.first_contact THEN
                   width_bucket(date_part('epoch', coalesce(k.contact_at, CAST(:now AS timestamptz))), bc.bounds)
               END AS contact_bucket
        FROM leads l
        CROSS JOIN LATERAL (
            SELECT CASE WHEN l.first_attempt_at >= l.created_at THEN l.first_attempt_at END AS attempt_at
        ) AS a
        -- First contact: the first connected call either way.
        CROSS JOIN LATERAL (
            SELECT CASE WHEN l.first_connected_at >= l.created_at THEN l.first_connected_at END AS contact_at
        ) AS k
        CROSS JOIN LATERAL (SELECT LEAST(a.attempt_at, k.contact_at) AS response_at) AS r
        WHERE l.tenant_id = d.tenant_id AND l.created_at >= d.day_from AND l.created_at < d.day_to
        -- An index range per day (a join here may be planned as one scan of all the tenant's leads).
        OFFSET 0
    ) AS l
),
-- Each lead's open seconds at creation, at its first attempt (or now) and at its first contact, and
-- its deadlines, in a step of their own: each is then computed once per lead, where an expression
-- written into every figure that reads it would be computed again for each (a third of the
-- statement's time at 100,000 leads went there).
lead_open AS (
    SELECT c.idx, c.details, c.first_contact, c.day, c.source, c.attempts, c.first_agent, c.booked,
           c.attempted, c.contacted, c.answered, c.now_epoch, c.created_epoch, c.until_epoch, c.contact_epoch,
           c.response_epoch,
           {{open_created}} AS open_created,
           {{open_until}} AS open_until,
           CASE WHEN c.first_contact THEN {{open_contact}} END AS open_contact,
           dl.business_deadline, dl.sla_deadline
    FROM lead_clock c
    {{deadlines}} AS dl
    OFFSET 0
),
-- Each lead's speeds (wall and open seconds, to the first attempt and to the first contact) and its
-- SLA states against the deadline of its tenant's SLA clock (persistence/business_clock.py). The
-- first-contact figures only for the requests that ask for them (`first_contact`): they are a
-- third of the per-lead work, and the pre-issue-17 figures and the overview do not read them.
lead_rows AS MATERIALIZED (
    SELECT c.idx, c.details, c.day, c.source, c.attempts, c.first_agent,
           coalesce(c.booked, false) AS booked, c.attempted, c.contacted,
           CASE WHEN c.attempted THEN c.until_epoch - c.created_epoch END AS speed,
           -- Business seconds to the attempt or, while unattempted, to now.
           c.open_until - c.open_created AS business,
           CASE WHEN c.first_contact AND c.contacted THEN c.contact_epoch - c.created_epoch END AS contact_speed,
           CASE WHEN c.first_contact THEN c.open_contact - c.open_created END AS contact_business,
           {{speed_state}} AS speed_state,
           {{business_state}} AS business_state,
           CASE WHEN c.first_contact THEN {{contact_state}} END AS contact_state,
           CASE WHEN c.first_contact THEN {{contact_business_state}} END AS contact_business_state
    FROM lead_open c
),
-- Per request: lead counts, the four speed figures (average, median and p90 from one sort each,
-- SLA states, bands) and, for the breakdowns, the attempts to contact.
lead_totals AS (
    SELECT idx AS lead_idx,
        count(*) AS leads,
        count(*) FILTER (WHERE attempted) AS attempted,
        count(*) FILTER (WHERE contacted) AS contacted,
        count(*) FILTER (WHERE contact_state = 1) AS contacted_within,
        {{speed_aggregates}},
        {{business_aggregates}},
        {{contact_aggregates}},
        {{contact_business_aggregates}},
        avg(attempts) FILTER (WHERE details AND contacted) AS attempts_avg,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY attempts) FILTER (WHERE details AND contacted)
            AS attempts_median,
        {{never_reached}}
    -- Each lead's speed band per figure, computed once (not once per band).
    FROM (SELECT r.*, {{bands}} FROM lead_rows r) AS r
    GROUP BY idx
),
-- Per request and tenant day: leads and their median speed (the trend).
lead_days AS MATERIALIZED (
    SELECT g.idx, g.day, g.leads, (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY s) FROM unnest(g.speeds) AS s)
               AS speed_median
    FROM (
        -- Grouped by hashing (an ordered-set aggregate would sort every lead by its group first),
        -- each group's speeds then sorted on their own.
        SELECT idx, day, count(*) AS leads, array_agg(speed) FILTER (WHERE speed IS NOT NULL) AS speeds
        FROM lead_rows
        GROUP BY idx, day
    ) AS g
),
-- The range's customer calls (primary legs), read once: one index range per tenant day
-- (ix_calls_metrics, index-only). Without the breakdowns (an overview) the day's counts; with them
-- (`details`) the same per agent of the day, and what the breakdowns need of each call beyond
-- counts rides along in small arrays (talk times, callback delays) for their medians, so the calls
-- are neither kept nor scanned again.
call_groups AS MATERIALIZED (
    SELECT d.idx, d.day, d.details, c.*
    FROM days d
    CROSS JOIN LATERAL (
        SELECT NULL::text AS agent_id, count(*) AS calls,
               count(*) FILTER (WHERE c.connected_at IS NOT NULL) AS connected,
               count(*) FILTER (WHERE c.connected_at IS NOT NULL AND c.booked) AS booked,
               count(*) FILTER (WHERE c.direction = 'outbound') AS outbound,
               count(*) FILTER (WHERE c.direction = 'outbound' AND c.connected_at IS NOT NULL) AS outbound_connected,
               NULL::float8[] AS talks, 0::bigint AS missed, 0::bigint AS abandoned, 0::bigint AS voicemail,
               NULL::float8[] AS callbacks
        FROM calls c
        WHERE NOT d.details AND c.tenant_id = d.tenant_id AND c.started_at >= d.day_from
            AND c.started_at < d.day_to AND c.is_primary_leg
        HAVING NOT d.details
        UNION ALL
        SELECT c.agent_id,
               count(*) AS calls,
               count(*) FILTER (WHERE c.connected_at IS NOT NULL) AS connected,
               count(*) FILTER (WHERE c.connected_at IS NOT NULL AND c.booked) AS booked,
               count(*) FILTER (WHERE c.direction = 'outbound') AS outbound,
               count(*) FILTER (WHERE c.direction = 'outbound' AND c.connected_at IS NOT NULL) AS outbound_connected,
               array_agg(date_part('epoch', c.ended_at - c.connected_at))
                   FILTER (WHERE c.ended_at >= c.connected_at) AS talks,
               -- Missed inbound calls (missed, abandoned or voicemail) and their callbacks.
               count(*) FILTER (WHERE c.direction = 'inbound' AND c.status = 'missed') AS missed,
               count(*) FILTER (WHERE c.direction = 'inbound' AND c.status = 'abandoned') AS abandoned,
               count(*) FILTER (WHERE c.direction = 'inbound' AND c.status = 'voicemail') AS voicemail,
               array_agg(date_part('epoch', c.callback_at - c.started_at))
                   FILTER (WHERE c.callback_at IS NOT NULL AND c.direction = 'inbound'
                           AND c.status IN ('missed', 'abandoned', 'voicemail')) AS callbacks
        FROM calls c
        WHERE d.details AND c.tenant_id = d.tenant_id AND c.started_at >= d.day_from
            AND c.started_at < d.day_to AND c.is_primary_leg
        GROUP BY c.agent_id
    ) AS c
),
-- Per request and tenant day (every day of the range, with or without calls): the trend's counts.
call_days AS MATERIALIZED (
    SELECT d.idx, d.day, coalesce(sum(g.calls), 0)::bigint AS calls,
           coalesce(sum(g.connected), 0)::bigint AS connected, coalesce(sum(g.booked), 0)::bigint AS booked,
           coalesce(sum(g.outbound), 0)::bigint AS outbound,
           coalesce(sum(g.outbound_connected), 0)::bigint AS outbound_connected
    FROM days d
    LEFT JOIN call_groups g ON g.idx = d.idx AND g.day = d.day
    GROUP BY d.idx, d.day
),
call_totals AS (
    SELECT idx AS call_idx, sum(calls) AS calls, sum(connected) AS connected, sum(booked) AS booked,
           sum(outbound) AS outbound, sum(outbound_connected) AS outbound_connected
    FROM call_days
    GROUP BY idx
),
-- Per agent: their calls of the range.
agent_calls AS (
    SELECT g.idx, g.agent_id, sum(g.outbound) AS attempts, sum(g.outbound_connected) AS connects,
           sum(g.connected) AS connected, sum(g.booked) AS bookings
    FROM call_groups g
    WHERE g.details AND g.agent_id IS NOT NULL
    GROUP BY g.idx, g.agent_id
),
-- Per agent: the median talk time of the calls a person talked on (grouped bytewise, as below).
agent_talk AS (
    SELECT g.idx, g.agent_id COLLATE "C" AS agent_id,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY t.talk) AS talk_median
    FROM call_groups g
    CROSS JOIN unnest(g.talks) AS t(talk)
    WHERE g.details AND g.agent_id IS NOT NULL
    GROUP BY g.idx, g.agent_id COLLATE "C"
),
-- Per agent: the range's leads whose first attempt was theirs (the lead's stored fact).
agent_leads AS (
    SELECT g.idx, g.agent_id COLLATE "default" AS agent_id, g.leads,
           (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY s) FROM unnest(g.speeds) AS s) AS speed_median
    FROM (
        -- Grouped bytewise (an equal id is an equal id in any collation): a sort by a collation's
        -- rules costs several times more.
        SELECT idx, first_agent COLLATE "C" AS agent_id, count(*) AS leads,
               array_agg(speed) FILTER (WHERE speed IS NOT NULL) AS speeds
        FROM lead_rows
        WHERE details AND first_agent IS NOT NULL
        GROUP BY idx, first_agent COLLATE "C"
    ) AS g
),
agent_rows AS MATERIALIZED (
    SELECT coalesce(ac.idx, al.idx) AS idx, coalesce(ac.agent_id, al.agent_id) AS agent_id,
           coalesce(ac.attempts, 0) AS attempts, coalesce(al.leads, 0) AS leads, al.speed_median,
           coalesce(ac.connects, 0) AS connects, coalesce(ac.connected, 0) AS connected,
           coalesce(ac.bookings, 0) AS bookings, at.talk_median
    FROM agent_calls ac
    FULL JOIN agent_leads al ON al.idx = ac.idx AND al.agent_id = ac.agent_id
    LEFT JOIN agent_talk at ON at.idx = ac.idx AND at.agent_id = ac.agent_id
),
-- Inbound calls of the range that were missed, and their callbacks (the call's stored fact).
missed_totals AS (
    SELECT g.idx AS missed_idx, sum(g.missed + g.abandoned + g.voicemail) AS missed_total,
        sum(g.missed) AS missed_missed, sum(g.abandoned) AS missed_abandoned,
        sum(g.voicemail) AS missed_voicemail,
        sum(coalesce(cardinality(g.callbacks), 0)) AS called_back,
        (SELECT percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY t.delay)
         FROM call_groups m CROSS JOIN unnest(m.callbacks) AS t(delay)
         WHERE m.idx = g.idx) AS callback_percentiles
    FROM call_groups g
    WHERE g.details
    GROUP BY g.idx
),
-- Per lead source.
source_rows AS MATERIALIZED (
    SELECT g.idx, g.source COLLATE "default" AS source, g.leads,
           (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY s) FROM unnest(g.speeds) AS s) AS speed_median,
           g.within_sla, g.contacted, g.booked
    FROM (
        SELECT r.idx, r.source COLLATE "C" AS source, count(*) AS leads,
            array_agg(speed) FILTER (WHERE speed IS NOT NULL) AS speeds,
            count(*) FILTER (WHERE speed_state = 1) AS within_sla,
            count(*) FILTER (WHERE contacted) AS contacted,
            count(*) FILTER (WHERE booked) AS booked
        FROM lead_rows r
        WHERE r.details
        GROUP BY r.idx, r.source COLLATE "C"
    ) AS g
)
SELECT p.idx, p.details, lt.*, ct.*, mt.*,
       (SELECT json_agg(json_build_array(cd.day, coalesce(ld.leads, 0), ld.speed_median,
                                         cd.calls, cd.connected, cd.booked) ORDER BY cd.day)
        FROM call_days cd
        LEFT JOIN lead_days ld ON ld.idx = cd.idx AND ld.day = cd.day
        WHERE cd.idx = p.idx) AS trend,
       (SELECT json_agg(json_build_array(a.agent_id, a.attempts, a.leads, a.speed_median, a.connects,
                                         a.connected, a.bookings, a.talk_median) ORDER BY a.agent_id)
        FROM agent_rows a WHERE a.idx = p.idx) AS agents,
       (SELECT json_agg(json_build_array(s.source, s.leads, s.speed_median, s.within_sla, s.contacted,
                                         s.booked) ORDER BY s.source)
        FROM source_rows s WHERE s.idx = p.idx) AS sources
FROM params p
LEFT JOIN lead_totals lt ON lt.lead_idx = p.idx
LEFT JOIN call_totals ct ON ct.call_idx = p.idx
LEFT JOIN missed_totals mt ON mt.missed_idx = p.idx
ORDER BY p.idx
