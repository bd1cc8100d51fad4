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
ALTER TABLE orders ADD COLUMN cancel_requested_at REAL;

UPDATE order_history SET actor = CASE source
    WHEN 'submitter' THEN 'submitter'
    WHEN 'api' THEN (SELECT client_id FROM orders WHERE orders.id = order_history.order_id)
    ELSE (SELECT provider FROM orders WHERE orders.id = order_history.order_id)
END;
UPDATE return_history SET actor = CASE source
    WHEN 'submitter' THEN 'submitter'
    WHEN 'api' THEN (SELECT client_id FROM returns WHERE returns.id = return_history.return_id)
    ELSE (SELECT provider FROM returns WHERE returns.id = return_history.return_id)
END;
