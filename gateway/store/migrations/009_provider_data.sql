-- What a provider asks to keep with its order id (`ProviderOrderRef.data`, e.g. Flexport's
-- `{"kind": "b2b"}`: which of its APIs holds the order), stored in the same step that stores
-- the id and handed back to the provider on every later call about the order. JSON text;
-- NULL where the provider keeps nothing, and on every order stored before this, for which
-- the provider does without (Flexport asks each of its APIs).

ALTER TABLE orders ADD COLUMN provider_data TEXT;
