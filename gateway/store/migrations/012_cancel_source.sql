-- Who asked for a cancel, not only which id: a cancel requested from the operator console is
-- credited `console` (actor: the operator), a client's `api` (actor: the client id), also
-- when the provider's webhook about it arrives before the answer to our call
-- (gateway/model/history.py `credit_cancel`). Requests noted before this were all clients'.

ALTER TABLE orders ADD COLUMN cancel_requested_source TEXT;
UPDATE orders SET cancel_requested_source = 'api' WHERE cancel_requested_by IS NOT NULL;
