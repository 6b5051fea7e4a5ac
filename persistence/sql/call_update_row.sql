-- The write of `_UPDATE_CALL` and `_APPLY_KNOWN_EVENT`: the call's projection (generated from
-- persistence/calls.py PROJECTED_COLUMNS), contact, lead, and disposition when given. The known-event
-- variant also counts the event and writes only the row version the caller saw (`known_version`).
UPDATE calls SET {{projected_sets}},
    contact_id = (SELECT id FROM contact),
    disposition = coalesce(CAST(:disposition AS text), disposition),
    disposition_raw = coalesce(CAST(:disposition_raw AS text), disposition_raw),
    booked = coalesce(CAST(:booked AS boolean), booked),
    lead_id = ({{lead_of_call}}),
    updated_at = now(){{count_event}}
WHERE id = :id{{known_version}}
