-- The event, stored once the call row is written (its key deduplicates redeliveries).
stored AS (
    INSERT INTO call_events (tenant_id, call_external_id, state, event_timestamp_ms, format, raw)
    SELECT tenant_id, :call_id, :state, :event_ms, :format, :raw FROM updated
    ON CONFLICT (tenant_id, call_external_id, state, event_timestamp_ms) DO NOTHING
    RETURNING id
),
