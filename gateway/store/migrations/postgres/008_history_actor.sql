-- Who did it: every order and return history entry names its `actor` beside its `source`
-- (api: the client id; webhook, poll: the provider; submitter: "submitter"), see
-- gateway/model/history.py. Entries written before this get the actor their source implies.
-- A client's cancel sent to the provider is noted on the order (`cancel_requested_by/_at`),
-- so that the provider's webhook announcing the cancellation, which may arrive before the
-- provider's answer to the call, records the cancellation as the client's.
-- (008: number 007 is reserved for a change made alongside this one.)

ALTER TABLE order_history ADD COLUMN actor TEXT;
ALTER TABLE return_history ADD COLUMN actor TEXT;
ALTER TABLE orders ADD COLUMN cancel_requested_by TEXT;
ALTER TABLE orders ADD COLUMN cancel_requested_at DOUBLE PRECISION;

UPDATE order_history h SET actor = CASE h.source
    WHEN 'submitter' THEN 'submitter'
    WHEN 'api' THEN o.client_id
    ELSE o.provider
END FROM orders o WHERE o.id = h.order_id;
UPDATE return_history h SET actor = CASE h.source
    WHEN 'submitter' THEN 'submitter'
    WHEN 'api' THEN r.client_id
    ELSE r.provider
END FROM returns r WHERE r.id = h.return_id;
