-- The call's lead: its contact's latest lead created at or before the call started
-- (ix_leads_contact_id_created_at). A scalar subquery of call_insert_row.sql and call_update_row.sql.
SELECT leads.id FROM leads
WHERE leads.contact_id = (SELECT id FROM contact)
    AND leads.created_at <= CAST(:started_at AS timestamptz)
ORDER BY leads.created_at DESC, leads.id DESC LIMIT 1
