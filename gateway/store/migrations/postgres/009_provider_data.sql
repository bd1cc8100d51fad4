-- PostgreSQL dialect of ../009_provider_data.sql: what a provider asks to keep with its order
-- id (`ProviderOrderRef.data`), stored with the id and handed back on every later call; NULL
-- where it keeps nothing, and on every order stored before this.

ALTER TABLE orders ADD COLUMN provider_data JSONB;
