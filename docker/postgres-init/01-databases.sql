-- Second database of the docker-compose `postgres` service.
--
-- The postgres image runs this file with psql, once, on an empty data volume, as the superuser
-- $POSTGRES_USER connected to $POSTGRES_DB (`airflow`: Airflow's metadata database, created by the
-- image itself). This file adds `listings`, our data, owned by its own non-superuser role.
--
-- No secret in here: the role's password is read from the container's environment
-- (LISTINGS_DB_PASSWORD, set in docker-compose.yaml from .env) with psql's \getenv (psql 15+).
--
-- It sorts before the PostGIS image's own 10_postgis.sh, so it creates the extensions it needs
-- itself. They are created here, as superuser, because `postgis` is not a trusted extension: the
-- Alembic migration's `create extension if not exists` is then a no-op for the `listings` role.

\getenv listings_password LISTINGS_DB_PASSWORD
\if :{?listings_password}
\else
    \warn 'LISTINGS_DB_PASSWORD is not set in the postgres container: refusing to create the listings role'
    DO $$ BEGIN RAISE EXCEPTION 'LISTINGS_DB_PASSWORD is not set'; END $$;
\endif

CREATE ROLE listings LOGIN PASSWORD :'listings_password';
\unset listings_password

CREATE DATABASE listings OWNER listings;

\connect listings
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
