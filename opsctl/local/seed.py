"""Role, database and a FreshTrack-shaped schema with deterministic content, generated inside the server."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

DB_NAME = "frostguard"
ROLE_NAME = "frostguard"

# Calibrated once here (PostgreSQL 15.18, this schema, after ANALYZE): seed(readings=1_000_000) gave
# pg_database_size = 132_111_719 B against 7_471_619 B for an empty database, i.e. 124.6 B per reading
# (heap + primary key + (sensor_id, recorded_at) index; the other tables scale with readings too).
BYTES_PER_READING = 125
EMPTY_DB_BYTES = 7_500_000

SCHEMA = """
CREATE TABLE organizations (
    id bigserial PRIMARY KEY,
    name text NOT NULL,
    slug text NOT NULL UNIQUE,
    plan text NOT NULL DEFAULT 'standard',
    created_at timestamptz NOT NULL
);
CREATE TABLE users (
    id bigserial PRIMARY KEY,
    organization_id bigint NOT NULL,
    email text NOT NULL UNIQUE,
    full_name text NOT NULL,
    role text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE TABLE sites (
    id bigserial PRIMARY KEY,
    organization_id bigint NOT NULL,
    name text NOT NULL,
    timezone text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE TABLE sensors (
    id bigserial PRIMARY KEY,
    site_id bigint NOT NULL,
    serial text NOT NULL UNIQUE,
    kind text NOT NULL,
    location text NOT NULL,
    min_temp_c numeric(5,2) NOT NULL,
    max_temp_c numeric(5,2) NOT NULL,
    installed_at timestamptz NOT NULL
);
CREATE TABLE temperature_readings (
    id bigserial PRIMARY KEY,
    sensor_id bigint NOT NULL,
    recorded_at timestamptz NOT NULL,
    temperature_c numeric(5,2) NOT NULL,
    humidity numeric(5,2),
    battery smallint
);
CREATE TABLE alert_rules (
    id bigserial PRIMARY KEY,
    organization_id bigint NOT NULL,
    sensor_id bigint,
    name text NOT NULL,
    metric text NOT NULL,
    operator text NOT NULL,
    threshold numeric(6,2) NOT NULL,
    duration_minutes integer NOT NULL,
    enabled boolean NOT NULL DEFAULT true
);
CREATE TABLE alerts (
    id bigserial PRIMARY KEY,
    rule_id bigint NOT NULL,
    sensor_id bigint NOT NULL,
    severity text NOT NULL,
    value numeric(6,2) NOT NULL,
    message text NOT NULL,
    triggered_at timestamptz NOT NULL,
    resolved_at timestamptz
);
CREATE TABLE audit_log (
    id bigserial PRIMARY KEY,
    organization_id bigint NOT NULL,
    user_id bigint,
    action text NOT NULL,
    entity text NOT NULL,
    entity_id bigint,
    details jsonb NOT NULL,
    created_at timestamptz NOT NULL
);
"""

# Constraints and secondary indexes are added after the load: one pass each instead of per-row work.
CONSTRAINTS = """
ALTER TABLE users ADD FOREIGN KEY (organization_id) REFERENCES organizations(id);
ALTER TABLE sites ADD FOREIGN KEY (organization_id) REFERENCES organizations(id);
ALTER TABLE sensors ADD FOREIGN KEY (site_id) REFERENCES sites(id);
ALTER TABLE temperature_readings ADD FOREIGN KEY (sensor_id) REFERENCES sensors(id);
ALTER TABLE alert_rules ADD FOREIGN KEY (organization_id) REFERENCES organizations(id);
ALTER TABLE alert_rules ADD FOREIGN KEY (sensor_id) REFERENCES sensors(id);
ALTER TABLE alerts ADD FOREIGN KEY (rule_id) REFERENCES alert_rules(id);
ALTER TABLE alerts ADD FOREIGN KEY (sensor_id) REFERENCES sensors(id);
ALTER TABLE audit_log ADD FOREIGN KEY (organization_id) REFERENCES organizations(id);
ALTER TABLE audit_log ADD FOREIGN KEY (user_id) REFERENCES users(id);
CREATE INDEX temperature_readings_sensor_time_idx ON temperature_readings (sensor_id, recorded_at);
CREATE INDEX alerts_sensor_time_idx ON alerts (sensor_id, triggered_at);
CREATE INDEX audit_log_created_idx ON audit_log (created_at);
"""

BASE_TS = "2026-01-01 00:00:00+00"


@dataclass(frozen=True)
class SeedSizes:
    organizations: int
    users: int
    sites: int
    sensors: int
    readings: int
    alert_rules: int
    alerts: int
    audit_log: int


def sizes_for(readings: int) -> SeedSizes:
    """Row counts of every table for a given number of temperature readings."""
    if readings < 0:
        raise ValueError("readings must be >= 0")
    sensors = max(10, readings // 10_000)
    sites = max(2, sensors // 5)
    organizations = max(1, sites // 4)
    return SeedSizes(
        organizations=organizations,
        users=organizations * 5,
        sites=sites,
        sensors=sensors,
        readings=readings,
        alert_rules=sensors * 2,
        alerts=max(10, readings // 1_000),
        audit_log=max(50, readings // 200),
    )


def estimate_readings_for_mb(mb: float) -> int:
    """Readings needed for a database of about ``mb`` megabytes (MiB) on disk (pg_database_size)."""
    return max(0, math.ceil((mb * 1024 * 1024 - EMPTY_DB_BYTES) / BYTES_PER_READING))


def _data_sql(s: SeedSizes) -> list[tuple[str, dict[str, Any]]]:
    p = {
        "orgs": s.organizations,
        "users": s.users,
        "sites": s.sites,
        "sensors": s.sensors,
        "readings": s.readings,
        "rules": s.alert_rules,
        "alerts": s.alerts,
        "audit": s.audit_log,
        "base": BASE_TS,
    }
    return [
        (
            """INSERT INTO organizations (name, slug, plan, created_at)
               SELECT 'Organization ' || g, 'org-' || g, (ARRAY['standard','pro','enterprise'])[1 + g %% 3],
                      %(base)s::timestamptz - g * interval '1 day'
               FROM generate_series(1::bigint, %(orgs)s) g""",
            p,
        ),
        (
            """INSERT INTO users (organization_id, email, full_name, role, created_at)
               SELECT 1 + (g - 1) %% %(orgs)s, 'user' || g || '@example.test', 'User ' || g,
                      (ARRAY['admin','manager','staff','viewer'])[1 + g %% 4],
                      %(base)s::timestamptz - g * interval '1 hour'
               FROM generate_series(1::bigint, %(users)s) g""",
            p,
        ),
        (
            """INSERT INTO sites (organization_id, name, timezone, created_at)
               SELECT 1 + (g - 1) %% %(orgs)s, 'Site ' || g,
                      (ARRAY['Europe/Berlin','America/New_York','UTC'])[1 + g %% 3],
                      %(base)s::timestamptz - g * interval '2 hours'
               FROM generate_series(1::bigint, %(sites)s) g""",
            p,
        ),
        (
            """INSERT INTO sensors (site_id, serial, kind, location, min_temp_c, max_temp_c, installed_at)
               SELECT 1 + (g - 1) %% %(sites)s, 'FT-' || lpad(g::text, 8, '0'),
                      (ARRAY['fridge','freezer','cold-room'])[1 + g %% 3], 'Unit ' || g,
                      CASE g %% 3 WHEN 1 THEN -25 ELSE 0 END, CASE g %% 3 WHEN 1 THEN -15 ELSE 8 END,
                      %(base)s::timestamptz - interval '90 days'
               FROM generate_series(1::bigint, %(sensors)s) g""",
            p,
        ),
        (
            # Reading g belongs to sensor 1 + (g-1) %% sensors, one reading per sensor every 5 minutes.
            """INSERT INTO temperature_readings (sensor_id, recorded_at, temperature_c, humidity, battery)
               SELECT 1 + (g - 1) %% %(sensors)s,
                      %(base)s::timestamptz + ((g - 1) / %(sensors)s) * interval '5 minutes',
                      round((4 + 2.5 * sin(g / 97.0) + ((g * 7919) %% 100) / 100.0)::numeric, 2),
                      round((45 + 10 * cos(g / 131.0))::numeric, 2),
                      (100 - ((g - 1) / %(sensors)s) %% 100)::smallint
               FROM generate_series(1::bigint, %(readings)s) g""",
            p,
        ),
        (
            """INSERT INTO alert_rules (organization_id, sensor_id, name, metric, operator, threshold,
                                        duration_minutes, enabled)
               SELECT 1 + (g - 1) %% %(orgs)s, 1 + (g - 1) %% %(sensors)s, 'Rule ' || g,
                      (ARRAY['temperature','humidity'])[1 + g %% 2], (ARRAY['>','<'])[1 + (g / 2) %% 2],
                      8 + g %% 5, 5 + g %% 30, g %% 7 <> 0
               FROM generate_series(1::bigint, %(rules)s) g""",
            p,
        ),
        (
            """INSERT INTO alerts (rule_id, sensor_id, severity, value, message, triggered_at, resolved_at)
               SELECT 1 + (g - 1) %% %(rules)s, 1 + (g - 1) %% %(sensors)s,
                      (ARRAY['warning','critical'])[1 + g %% 2], 8 + (g %% 50) / 10.0,
                      'Temperature out of range on sensor ' || (1 + (g - 1) %% %(sensors)s),
                      %(base)s::timestamptz + g * interval '7 minutes',
                      CASE WHEN g %% 10 = 0 THEN NULL
                           ELSE %(base)s::timestamptz + g * interval '7 minutes' + interval '20 minutes' END
               FROM generate_series(1::bigint, %(alerts)s) g""",
            p,
        ),
        (
            """INSERT INTO audit_log (organization_id, user_id, action, entity, entity_id, details,
                                      created_at)
               SELECT 1 + (g - 1) %% %(orgs)s, 1 + (g - 1) %% %(users)s,
                      (ARRAY['create','update','delete','login'])[1 + g %% 4],
                      (ARRAY['sensor','alert_rule','site','user'])[1 + (g / 4) %% 4], g,
                      jsonb_build_object('ip', '10.0.' || (g %% 250) || '.' || (g %% 200),
                                         'user_agent', 'FreshTrack/1.2', 'seq', g),
                      %(base)s::timestamptz + g * interval '3 minutes'
               FROM generate_series(1::bigint, %(audit)s) g""",
            p,
        ),
    ]


def create_empty_database(conn_info: str | Mapping[str, Any]) -> str:
    """Role ``frostguard`` (LOGIN) and an empty database ``frostguard`` it owns (an existing one is dropped):
    what the compose's postgres service holds after its first start (``POSTGRES_USER``/``POSTGRES_DB``), before
    any migration. ``conn_info`` connects as a superuser; the conninfo string is returned."""
    base = conn_info if isinstance(conn_info, str) else make_conninfo(**dict(conn_info))
    with psycopg.connect(base, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE_NAME,)).fetchone()
        if not exists:
            admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(ROLE_NAME)))
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DB_NAME)))
        admin.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(DB_NAME), sql.Identifier(ROLE_NAME)))
    return base


def seed(conn_info: str | Mapping[str, Any], readings: int) -> SeedSizes:
    """Create role and database ``frostguard`` (dropping an existing one) and fill the schema.

    ``conn_info`` connects as a superuser to any database (a conninfo string or psycopg keyword arguments).
    """
    sizes = sizes_for(readings)
    base = create_empty_database(conn_info)
    with psycopg.connect(make_conninfo(base, dbname=DB_NAME)) as conn:
        with conn.transaction():
            conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(ROLE_NAME)))
            conn.execute(SCHEMA)
            for statement, params in _data_sql(sizes):
                conn.execute(statement, params)
            conn.execute(CONSTRAINTS)
        conn.autocommit = True
        conn.execute("ANALYZE")
    return sizes
