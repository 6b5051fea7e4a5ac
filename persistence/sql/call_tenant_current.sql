-- A CTE of the statements that store a call event (persistence/calls.py): the tenant, when it is
-- still as the caller read it (secret, timezone, settings), once the event's customer lock is held.
-- Taken before the call row's lock: the customer's events go one at a time (`customer_lock_scope`).
tenant AS (
    SELECT id FROM tenants
    WHERE id = :tenant_id AND slug = :slug AND timezone = :timezone
        AND dialpad_webhook_secret IS NOT DISTINCT FROM CAST(:secret AS text)
        AND settings = CAST(:settings AS jsonb)
        AND pg_advisory_xact_lock({{customer_lock_class}}, hashtext(:lock_scope))::text = ''
)
