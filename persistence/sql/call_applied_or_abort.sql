-- The row as written; when nothing was stored (the row was not the version seen, the tenant changed,
-- or the event was stored already) the statement fails on purpose with LOST_RACE, undoing itself.
SELECT updated.*, CASE WHEN NOT EXISTS (SELECT 1 FROM stored)
    THEN calltrax_abort('{{lost_race}}', 'the call changed since its events were read') END AS lost_race
FROM (SELECT 1) AS one LEFT JOIN updated ON true
