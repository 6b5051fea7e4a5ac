-- `_APPLY_FIRST_EVENT`'s write: the call's row, made with its projection (the projected columns and
-- their typed parameters are generated from persistence/calls.py PROJECTED_COLUMNS), unless it exists
-- already (then nothing is written and the statement undoes itself).
INSERT INTO calls (tenant_id, external_id, {{projected_columns}}, contact_id, disposition,
    disposition_raw, booked, lead_id, event_count)
SELECT tenant.id, :call_id, {{projected_values}},
    (SELECT id FROM contact), CAST(:disposition AS text), CAST(:disposition_raw AS text),
    coalesce(CAST(:booked AS boolean), false), ({{lead_of_call}}), 1
FROM tenant
ON CONFLICT (tenant_id, external_id) DO NOTHING
