/* sql/connection_manager--1.0.sql */
-- Copyright (c) 2026, The connection_manager Authors; see LICENSE.

-- complain if the script is sourced in psql rather than run by CREATE EXTENSION
\echo Use "CREATE EXTENSION connection_manager" to load this file. \quit

-- Functions read the connection manager's shared memory; the views below
-- are what users query.  Later versions add columns through upgrade
-- scripts (connection_manager--1.0--1.1.sql, ...): the functions take OUT
-- parameters, so a new column is a new function and a view replaced.

CREATE FUNCTION @extschema@.stat_ports(
	OUT port text, OUT port_number int,
	OUT sessions_active int, OUT sessions_total bigint,
	OUT connections_total bigint, OUT sessions_refused bigint,
	OUT server_connections_active int, OUT server_connections_total bigint,
	OUT bytes_from_clients bigint, OUT bytes_to_clients bigint,
	OUT tls_handshakes bigint, OUT tls_handshake_failures bigint,
	OUT authentications bigint, OUT authentication_failures bigint,
	OUT cancels_forwarded bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'cm_sql_stat'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

CREATE FUNCTION @extschema@.client_sessions(
	OUT worker int, OUT client_addr inet, OUT client_port int,
	OUT port text, OUT client_uses_tls boolean, OUT user_name text,
	OUT database text, OUT target_node text, OUT target_address text,
	OUT state text, OUT since timestamptz, OUT backend_pid int)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'cm_sql_connections'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

CREATE FUNCTION @extschema@.nodes_seen(
	OUT node_name text, OUT host text, OUT port int, OUT is_self boolean,
	OUT reachable boolean, OUT role text, OUT timeline bigint,
	OUT wal_lsn pg_lsn, OUT backend_sessions int, OUT lag_bytes bigint,
	OUT is_write_leader boolean, OUT in_read_only_pool boolean,
	OUT read_write_active int, OUT read_write_total bigint,
	OUT read_only_active int, OUT read_only_total bigint,
	OUT probe_ms float8, OUT probes bigint, OUT probe_failures bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'cm_sql_node_stats'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

CREATE FUNCTION @extschema@.routing_state(
	OUT write_leader text, OUT previous_write_leader text,
	OUT read_write_target text, OUT write_leader_reason text,
	OUT read_only_pool text[], OUT read_only_target text,
	OUT read_only_fallback_to_leader boolean, OUT read_only_reason text,
	OUT consensus boolean, OUT nodes_reachable int, OUT nodes_total int,
	OUT timeline_mark bigint, OUT alone boolean,
	OUT write_leader_changes bigint, OUT read_only_pool_changes bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'cm_sql_routing'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

CREATE FUNCTION @extschema@.hba_rules(
	OUT rule_number int, OUT file_name text, OUT line_number int,
	OUT type text, OUT database text[], OUT user_name text[],
	OUT address text, OUT netmask text, OUT auth_method text,
	OUT options text[], OUT skipped boolean, OUT skip_reason text,
	OUT error text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'cm_sql_hba_file_rules'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

CREATE FUNCTION @extschema@.backend_clients(
	OUT pid int, OUT client_addr inet, OUT client_port int,
	OUT session_read_only boolean)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'cm_sql_backend_clients'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

-- Totals and sessions open now, per port (PGD: bdr.stat_connection_manager).
CREATE VIEW @extschema@.stat AS
	SELECT * FROM @extschema@.stat_ports();

-- One row per client session of this node's connection manager.
CREATE VIEW @extschema@.connections AS
	SELECT * FROM @extschema@.client_sessions();

-- Every node as this connection manager sees it, and its server connections.
CREATE VIEW @extschema@.node_stats AS
	SELECT * FROM @extschema@.nodes_seen();

-- The write leader and why, the read-only pool, consensus.
CREATE VIEW @extschema@.routing AS
	SELECT * FROM @extschema@.routing_state();

-- pg_hba.conf as the connection manager reads it, skipped rules with why.
CREATE VIEW @extschema@.hba_file_rules AS
	SELECT * FROM @extschema@.hba_rules();

-- pg_stat_activity with the real client of sessions opened by any node's
-- connection manager, and whether the session is locked read-only.
CREATE VIEW @extschema@.stat_activity AS
	SELECT a.*,
		c.client_addr AS connection_manager_client_addr,
		c.client_port AS connection_manager_client_port,
		coalesce(c.session_read_only, false) AS session_read_only
	FROM pg_catalog.pg_stat_activity a
	LEFT JOIN @extschema@.backend_clients() c ON c.pid = a.pid;

-- pg_monitor members read them; nobody else by default.
REVOKE ALL ON FUNCTION @extschema@.stat_ports(), @extschema@.client_sessions(),
	@extschema@.nodes_seen(), @extschema@.routing_state(),
	@extschema@.hba_rules(), @extschema@.backend_clients() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.stat_ports(),
	@extschema@.client_sessions(), @extschema@.nodes_seen(),
	@extschema@.routing_state(), @extschema@.hba_rules(),
	@extschema@.backend_clients() TO pg_monitor;
REVOKE ALL ON @extschema@.stat, @extschema@.connections,
	@extschema@.node_stats, @extschema@.routing, @extschema@.hba_file_rules,
	@extschema@.stat_activity FROM PUBLIC;
GRANT SELECT ON @extschema@.stat, @extschema@.connections,
	@extschema@.node_stats, @extschema@.routing, @extschema@.hba_file_rules,
	@extschema@.stat_activity TO pg_monitor;
GRANT USAGE ON SCHEMA @extschema@ TO pg_monitor;
