#!/usr/bin/env bash
# The warehouse the connector tests query, on the machine's PostgreSQL, idempotently:
#   - database airlock_warehouse, reachable over TCP only with scram-sha-256 passwords (a
#     pg_hba.conf line ahead of the machine's trust lines), so a wrong or revoked password
#     really fails;
#   - the login Vault administers it with (airlock_vault, CREATEROLE), owner of the data;
#   - schemas sales and hr with a little data.
# Usage: deploy/test-warehouse.sh ADMIN_URL   (a superuser URL; trust auth on these machines)
set -euo pipefail
admin="${1:?admin URL}"
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
hba="$(psql "$admin" -tAc 'show hba_file')"
line="host airlock_warehouse all 127.0.0.1/32 scram-sha-256"
if ! $sudo grep -qF "$line" "$hba"; then
  echo "pg_hba: passwords required for airlock_warehouse"
  $sudo sed -i "1i $line\nhost airlock_warehouse all ::1/128 scram-sha-256" "$hba"
  psql "$admin" -qtAc 'select pg_reload_conf()' >/dev/null
fi
psql "$admin" -v ON_ERROR_STOP=1 -q <<'SQL'
SET password_encryption = 'scram-sha-256';
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'airlock_vault') THEN
    CREATE ROLE airlock_vault LOGIN CREATEROLE PASSWORD 'vault-admin-7Hq2';
  ELSE
    ALTER ROLE airlock_vault LOGIN CREATEROLE PASSWORD 'vault-admin-7Hq2';
  END IF;
END $$;
SELECT 'CREATE DATABASE airlock_warehouse OWNER airlock_vault'
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'airlock_warehouse') \gexec
SQL
# The data, as its owner, over TCP with the password (the database takes nothing else).
hostport="${admin#*@}"; hostport="${hostport%%/*}"
db="postgres://airlock_vault@$hostport/airlock_warehouse"
PGOPTIONS='-c client_min_messages=warning' PGPASSWORD='vault-admin-7Hq2' psql "$db" -v ON_ERROR_STOP=1 -q <<'SQL'
REVOKE ALL ON DATABASE airlock_warehouse FROM PUBLIC;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
CREATE SCHEMA IF NOT EXISTS sales;
CREATE SCHEMA IF NOT EXISTS hr;
CREATE TABLE IF NOT EXISTS sales.orders (id int PRIMARY KEY, region text NOT NULL, amount numeric(10,2) NOT NULL, ordered_on date NOT NULL);
CREATE TABLE IF NOT EXISTS sales.customers (id int PRIMARY KEY, name text NOT NULL, region text NOT NULL);
CREATE TABLE IF NOT EXISTS hr.salaries (employee text PRIMARY KEY, salary numeric(10,2) NOT NULL);
-- Read only by the test that holds a lock on it to keep a query running.
CREATE TABLE IF NOT EXISTS sales.slow (id int);
INSERT INTO sales.orders VALUES
  (1, 'north', 120.50, '2026-01-05'), (2, 'south', 80.00, '2026-01-06'),
  (3, 'north', 42.25, '2026-02-01'), (4, 'east', 300.00, '2026-02-14'),
  (5, 'south', 15.75, '2026-03-03')
  ON CONFLICT DO NOTHING;
INSERT INTO sales.customers VALUES (1, 'Acme', 'north'), (2, 'Globex', 'south') ON CONFLICT DO NOTHING;
INSERT INTO hr.salaries VALUES ('alice', 91000), ('bob', 87000) ON CONFLICT DO NOTHING;
-- Personal data under column masks and row filters (tests/e2e/governed_sql.rs).
CREATE TABLE IF NOT EXISTS sales.contacts (id int PRIMARY KEY, tenant text NOT NULL, region text NOT NULL, name text NOT NULL, email text, card text);
INSERT INTO sales.contacts VALUES
  (1, 'acme', 'north', 'Ann Archer', 'ann@acme.test', '4111111111111111'),
  (2, 'acme', 'south', 'Bo Brand', 'bo@acme.test', '5500005555555559'),
  (3, 'globex', 'north', 'Cy Cole', 'cy@globex.test', '4012888888881881'),
  (4, 'globex', 'east', 'Di Dunn', 'di@globex.test', '378282246310005'),
  (5, 'acme', 'east', 'Ed Ek', NULL, '123')
  ON CONFLICT DO NOTHING;
SQL
echo "warehouse ready: $db (scram-sha-256 over TCP)"

# MariaDB (or MySQL): the same warehouse as databases sales and hr, administered by Vault with
# a mysql_native_password login, over TCP.
if ! command -v mariadb >/dev/null && ! command -v mysql >/dev/null; then
  echo "installing MariaDB"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq mariadb-server >/dev/null
fi
my="$(command -v mariadb || command -v mysql)"
if ! $sudo "$my" -uroot -e 'select 1' >/dev/null 2>&1; then
  $sudo service mariadb start >/dev/null 2>&1 || $sudo service mysql start >/dev/null 2>&1 || true
  for _ in $(seq 50); do $sudo "$my" -uroot -e 'select 1' >/dev/null 2>&1 && break; sleep 0.2; done
fi
$sudo "$my" -uroot <<'SQL'
CREATE DATABASE IF NOT EXISTS sales;
CREATE DATABASE IF NOT EXISTS hr;
CREATE TABLE IF NOT EXISTS sales.orders (id INT PRIMARY KEY, region VARCHAR(20) NOT NULL, amount DECIMAL(10,2) NOT NULL, ordered_on DATE NOT NULL);
CREATE TABLE IF NOT EXISTS hr.salaries (employee VARCHAR(40) PRIMARY KEY, salary DECIMAL(10,2) NOT NULL);
INSERT IGNORE INTO sales.orders VALUES
  (1, 'north', 120.50, '2026-01-05'), (2, 'south', 80.00, '2026-01-06'),
  (3, 'north', 42.25, '2026-02-01'), (4, 'east', 300.00, '2026-02-14'),
  (5, 'south', 15.75, '2026-03-03');
INSERT IGNORE INTO hr.salaries VALUES ('alice', 91000), ('bob', 87000);
CREATE TABLE IF NOT EXISTS sales.contacts (id INT PRIMARY KEY, tenant VARCHAR(20) NOT NULL, region VARCHAR(20) NOT NULL, name VARCHAR(40) NOT NULL, email VARCHAR(80), card VARCHAR(20));
INSERT IGNORE INTO sales.contacts VALUES
  (1, 'acme', 'north', 'Ann Archer', 'ann@acme.test', '4111111111111111'),
  (2, 'acme', 'south', 'Bo Brand', 'bo@acme.test', '5500005555555559'),
  (3, 'globex', 'north', 'Cy Cole', 'cy@globex.test', '4012888888881881'),
  (4, 'globex', 'east', 'Di Dunn', 'di@globex.test', '378282246310005'),
  (5, 'acme', 'east', 'Ed Ek', NULL, '123');
CREATE USER IF NOT EXISTS 'airlock_vault'@'%' IDENTIFIED BY 'vault-admin-7Hq2';
ALTER USER 'airlock_vault'@'%' IDENTIFIED BY 'vault-admin-7Hq2';
GRANT ALL PRIVILEGES ON *.* TO 'airlock_vault'@'%' WITH GRANT OPTION;
SQL
echo "warehouse ready: mysql://airlock_vault@127.0.0.1:3306/sales"
