#!/usr/bin/env bash
# PostgreSQL's first start (the image runs /docker-entrypoint-initdb.d/*.sh once, on an empty data
# folder, with the container's environment): one login role per service, each owning its own
# database and nothing else. No role is a superuser or may create roles or databases, and neither
# may connect to the other's database. Passwords come from the environment (.env), never this file.
set -eo pipefail # no -u: the image sources a script that is not executable
: "${CLIENTS_DB_PASSWORD:?CLIENTS_DB_PASSWORD is required}"
: "${GOALS_DB_PASSWORD:?GOALS_DB_PASSWORD is required}"

# psql's :'name' quotes a variable as a string literal, so any character in a password is safe.
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
	-v clients_password="$CLIENTS_DB_PASSWORD" -v goals_password="$GOALS_DB_PASSWORD" <<'SQL'
SET password_encryption = 'scram-sha-256';
CREATE ROLE clients LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD :'clients_password';
CREATE ROLE goals LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD :'goals_password';
CREATE DATABASE clients OWNER clients;
CREATE DATABASE goals OWNER goals;
-- PUBLIC may connect to every database by default: only the owner (and the superuser) may here
REVOKE ALL ON DATABASE clients FROM PUBLIC;
REVOKE ALL ON DATABASE goals FROM PUBLIC;
REVOKE CONNECT ON DATABASE postgres FROM PUBLIC;
SQL
