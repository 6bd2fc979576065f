-- Runs once, when the data volume is empty (the image's /docker-entrypoint-initdb.d).
-- The schema and its indexes come from the API's migrations, not from here.

-- Query statistics for operators and postgres-exporter (preloaded by postgresql.conf).
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;

-- Read-only role for postgres-exporter: statistics views only (pg_monitor), no table access.
-- It shares the owner's password secret, so no extra secret file is needed.
\getenv monitor_password POSTGRES_PASSWORD
CREATE ROLE monitor LOGIN PASSWORD :'monitor_password' CONNECTION LIMIT 3;
GRANT pg_monitor TO monitor;
