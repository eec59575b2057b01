# The backend-side read-only lock: a session started with
# connection_manager.session_read_only=on must never write, by any route,
# on a primary or on a hot standby, and the server must say so in a
# ParameterStatus.  Every escape attempt is followed by a write that must
# fail with SQLSTATE 25006 and a check that the session still reports
# read-only; at the end an unlocked session checks that nothing was written.
#
# Copyright (c) 2026, The connection_manager Authors; see LICENSE.
use strict;
use warnings;

use IO::Select;
use IO::Socket::UNIX;
use Socket qw(SOCK_STREAM);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $LOCK = '-c connection_manager.session_read_only=on -c lock_timeout=5s';
my $user = getpwuid($<);
my $tmp = PostgreSQL::Test::Utils::tempdir;

# The matrix runs twice per node: with the lock asked for directly in the
# startup packet, and through the connection manager's read-only port,
# which must put it there itself.
my $primary = PostgreSQL::Test::Cluster->new('ro_primary');
$primary->init(allows_streaming => 1);
my $primary_rw = PostgreSQL::Test::Cluster::get_free_port();
$primary->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'pg_stat_statements,connection_manager'
listen_addresses = '127.0.0.1'
connection_manager.read_write_port = $primary_rw
connection_manager.read_only_port = 0
connection_manager.server_source_addresses = '127.0.0.2'
connection_manager.proof_required_from = '127.0.0.2/32'
max_prepared_transactions = 5
wal_receiver_status_interval = 1s
});
# The manager logs in from 127.0.0.2 by trust, with a proof; test clients
# use 127.0.0.1 and its own trust line (see CmTest).
PostgreSQL::Test::Utils::append_to_file($primary->data_dir . '/pg_hba.conf',
	"host all all 127.0.0.2/32 trust\n");
$primary->start;

# Objects the attempts use, made by an unlocked session.  The aggregate
# reaches lowrite() as a transition function; cm_px is another session's
# prepared write that a locked session must not be able to commit.
$primary->safe_psql(
	'postgres', q{
CREATE EXTENSION pg_stat_statements;
CREATE TABLE t (i int PRIMARY KEY);
CREATE SEQUENCE s;
CREATE ROLE alice LOGIN;
GRANT ALL ON t, s TO alice;
CREATE FUNCTION f_insert(int) RETURNS void LANGUAGE sql
  AS 'INSERT INTO t VALUES ($1)';
CREATE FUNCTION f_definer_insert(int) RETURNS void LANGUAGE plpgsql
  SECURITY DEFINER AS $$BEGIN INSERT INTO t VALUES ($1); END$$;
CREATE FUNCTION f_dtro_off(int) RETURNS void LANGUAGE plpgsql
  SET default_transaction_read_only = off
  AS $$BEGIN INSERT INTO t VALUES ($1); END$$;
CREATE FUNCTION f_tro_off(int) RETURNS void LANGUAGE plpgsql
  SET transaction_read_only = off
  AS $$BEGIN INSERT INTO t VALUES ($1); END$$;
CREATE PROCEDURE p_commit_insert(int) LANGUAGE plpgsql
  AS $$BEGIN COMMIT; INSERT INTO t VALUES ($1); END$$;
CREATE PROCEDURE p_commit_rw_insert(int) LANGUAGE plpgsql
  AS $$BEGIN COMMIT; SET TRANSACTION READ WRITE; INSERT INTO t VALUES ($1); END$$;
CREATE PROCEDURE p_rollback_insert(int) LANGUAGE plpgsql
  AS $$BEGIN ROLLBACK; INSERT INTO t VALUES ($1); END$$;
CREATE PROCEDURE p_chain_insert(int) LANGUAGE plpgsql
  AS $$BEGIN COMMIT AND CHAIN; INSERT INTO t VALUES ($1); END$$;
CREATE PROCEDURE p_commit_set_config_insert(int) LANGUAGE plpgsql
  AS $$BEGIN
    COMMIT;
    PERFORM set_config('default_transaction_read_only', 'off', false);
    COMMIT;
    INSERT INTO t VALUES ($1);
  END$$;
CREATE AGGREGATE lo_agg(bytea) (sfunc = lowrite, stype = int4, initcond = '0');
SELECT lo_create(4242);
BEGIN;
INSERT INTO t VALUES (-1);
PREPARE TRANSACTION 'cm_px';
});

$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('ro_standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
chmod 0600, $standby->data_dir . '/connection_manager.secret';
my $standby_rw = PostgreSQL::Test::Cluster::get_free_port();
$standby->append_conf('postgresql.conf',
	"connection_manager.read_write_port = $standby_rw\n");
$standby->start;

# Read-only ports, after the backup so that the standby's differs.
my %ro_port;
for my $node ($primary, $standby)
{
	$ro_port{ $node->name } = PostgreSQL::Test::Cluster::get_free_port();
	$node->append_conf('postgresql.conf',
		"connection_manager.read_only_port = $ro_port{ $node->name }\n");
	$node->restart;
}
$primary->safe_psql('postgres', 'SELECT lo_get(4242)');
$primary->wait_for_catchup($standby);

my $import_file = "$tmp/import.txt";
PostgreSQL::Test::Utils::append_to_file($import_file, "large object\n");

# [name, SQL, SQLSTATEs allowed besides 25006 and 25P02].  {ID} becomes a
# value unique to the attempt, so that any row that got through is found.
# Every attempt must draw at least one 25006 (55P02 where noted).
my @attempts = (
	# the two settings, by every statement that can change them
	[
		'SET default_transaction_read_only = off',
		'SET default_transaction_read_only = off; INSERT INTO t VALUES ({ID});'
	],
	[
		'SET default_transaction_read_only = 0',
		'SET default_transaction_read_only = 0; INSERT INTO t VALUES ({ID});'
	],
	[
		'SET SESSION default_transaction_read_only TO false',
		'SET SESSION default_transaction_read_only TO false;'
		  . ' INSERT INTO t VALUES ({ID});'
	],
	[
		'SET default_transaction_read_only TO DEFAULT',
		'SET default_transaction_read_only TO DEFAULT;'
		  . ' INSERT INTO t VALUES ({ID});'
	],
	[
		'RESET default_transaction_read_only',
		'RESET default_transaction_read_only; INSERT INTO t VALUES ({ID});'
	],
	[
		'SET transaction_read_only = off (implicit transaction)',
		'SET transaction_read_only = off; INSERT INTO t VALUES ({ID});'
	],
	[
		'BEGIN; SET transaction_read_only = off',
		'BEGIN; SET transaction_read_only = off; INSERT INTO t VALUES ({ID});'
		  . ' COMMIT;'
	],
	[
		'BEGIN; SET LOCAL transaction_read_only = off',
		'BEGIN; SET LOCAL transaction_read_only = off;'
		  . ' INSERT INTO t VALUES ({ID}); COMMIT;'
	],
	[
		'SET LOCAL default_transaction_read_only = off, next transaction',
		'BEGIN; SET LOCAL default_transaction_read_only = off; COMMIT;'
		  . ' BEGIN; INSERT INTO t VALUES ({ID}); COMMIT;'
	],
	[
		'BEGIN; RESET transaction_read_only',
		'BEGIN; RESET transaction_read_only; INSERT INTO t VALUES ({ID});'
		  . ' COMMIT;'
	],
	[
		'BEGIN; SET transaction_read_only TO DEFAULT',
		'BEGIN; SET transaction_read_only TO DEFAULT;'
		  . ' INSERT INTO t VALUES ({ID}); COMMIT;'
	],
	[
		'BEGIN; SET TRANSACTION READ WRITE',
		'BEGIN; SET TRANSACTION READ WRITE; INSERT INTO t VALUES ({ID});'
		  . ' COMMIT;'
	],
	[
		'BEGIN READ WRITE',
		'BEGIN READ WRITE; INSERT INTO t VALUES ({ID}); COMMIT;'
	],
	[
		'START TRANSACTION READ WRITE',
		'START TRANSACTION READ WRITE; INSERT INTO t VALUES ({ID}); COMMIT;'
	],
	# a standby refuses SERIALIZABLE itself (0A000)
	[
		'BEGIN ISOLATION LEVEL SERIALIZABLE, READ WRITE',
		'BEGIN ISOLATION LEVEL SERIALIZABLE, READ WRITE;'
		  . ' INSERT INTO t VALUES ({ID}); COMMIT;',
		['0A000']
	],
	[
		'BEGIN READ ONLY; SET TRANSACTION READ WRITE',
		'BEGIN READ ONLY; SET TRANSACTION READ WRITE;'
		  . ' INSERT INTO t VALUES ({ID}); COMMIT;'
	],
	[
		'SET TRANSACTION READ WRITE in a savepoint',
		'BEGIN; SAVEPOINT a; SET TRANSACTION READ WRITE; ROLLBACK TO a;'
		  . ' INSERT INTO t VALUES ({ID}); COMMIT;'
	],
	[
		'SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE',
		'SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE;'
		  . ' BEGIN; INSERT INTO t VALUES ({ID}); COMMIT;'
	],
	[
		'set_config(default_transaction_read_only, off, false)',
		q{SELECT set_config('default_transaction_read_only', 'off', false);}
		  . ' INSERT INTO t VALUES ({ID});'
	],
	[
		'set_config(default_transaction_read_only, off, true), next statement',
		q{BEGIN; SELECT set_config('default_transaction_read_only', 'off', true);}
		  . ' INSERT INTO t VALUES ({ID}); COMMIT;'
	],
	[
		'set_config(transaction_read_only, off, true)',
		q{BEGIN; SELECT set_config('transaction_read_only', 'off', true);}
		  . ' INSERT INTO t VALUES ({ID}); COMMIT;'
	],
	[
		'set_config(transaction_read_only, off, false)',
		q{SELECT set_config('transaction_read_only', 'off', false);}
		  . ' INSERT INTO t VALUES ({ID});'
	],
	[
		'UPDATE pg_settings',
		q{UPDATE pg_settings SET setting = 'off'}
		  . q{ WHERE name = 'default_transaction_read_only';}
		  . ' INSERT INTO t VALUES ({ID});'
	],
	[ 'RESET ALL', 'RESET ALL; INSERT INTO t VALUES ({ID});' ],
	[ 'DISCARD ALL', 'DISCARD ALL; INSERT INTO t VALUES ({ID});' ],
	[
		'DISCARD ALL; BEGIN; RESET transaction_read_only',
		'DISCARD ALL; BEGIN; RESET transaction_read_only;'
		  . ' INSERT INTO t VALUES ({ID}); COMMIT;'
	],
	[
		'SET ROLE; RESET ALL',
		'SET ROLE alice; RESET ALL; INSERT INTO t VALUES ({ID});'
	],
	[
		'SET SESSION AUTHORIZATION',
		'SET SESSION AUTHORIZATION alice; INSERT INTO t VALUES ({ID});'
	],
	[
		'ALTER ROLE CURRENT_USER SET default_transaction_read_only',
		'ALTER ROLE CURRENT_USER SET default_transaction_read_only = off;'
	],
	[
		'ALTER SYSTEM SET default_transaction_read_only',
		'ALTER SYSTEM SET default_transaction_read_only = off;'
	],

	# the lock's own setting
	[
		'SET connection_manager.session_read_only = off',
		'SET connection_manager.session_read_only = off;'
		  . ' INSERT INTO t VALUES ({ID});',
		['55P02']
	],
	[
		'RESET connection_manager.session_read_only',
		'RESET connection_manager.session_read_only;'
		  . ' INSERT INTO t VALUES ({ID});',
		['55P02']
	],
	[
		'set_config(connection_manager.session_read_only, off)',
		q{SELECT set_config('connection_manager.session_read_only', 'off', false);}
		  . ' INSERT INTO t VALUES ({ID});',
		['55P02']
	],

	# code that runs statements of its own
	[ 'DO with INSERT', 'DO $$BEGIN INSERT INTO t VALUES ({ID}); END$$;' ],
	[
		'DO with SET default_transaction_read_only',
		'DO $$BEGIN SET default_transaction_read_only = off; END$$;'
		  . ' INSERT INTO t VALUES ({ID});'
	],
	[
		'DO with EXECUTE SET TRANSACTION READ WRITE',
		q{DO $$BEGIN EXECUTE 'SET TRANSACTION READ WRITE';}
		  . ' INSERT INTO t VALUES ({ID}); END$$;'
	],
	[
		'DO with COMMIT then SET TRANSACTION READ WRITE',
		'DO $$BEGIN COMMIT; SET TRANSACTION READ WRITE;'
		  . ' INSERT INTO t VALUES ({ID}); END$$;'
	],
	[
		'DO with set_config(transaction_read_only)',
		q{DO $$BEGIN PERFORM set_config('transaction_read_only', 'off', true);}
		  . ' INSERT INTO t VALUES ({ID}); END$$;'
	],
	[ 'CALL: COMMIT; INSERT', 'CALL p_commit_insert({ID});' ],
	[
		'CALL: COMMIT; SET TRANSACTION READ WRITE; INSERT',
		'CALL p_commit_rw_insert({ID});'
	],
	[ 'CALL: ROLLBACK; INSERT', 'CALL p_rollback_insert({ID});' ],
	[ 'CALL: COMMIT AND CHAIN; INSERT', 'CALL p_chain_insert({ID});' ],
	[
		'CALL: COMMIT; set_config; COMMIT; INSERT',
		'CALL p_commit_set_config_insert({ID});'
	],
	[ 'function that inserts', 'SELECT f_insert({ID});' ],
	[ 'SECURITY DEFINER function', 'SELECT f_definer_insert({ID});' ],
	[
		'function with SET default_transaction_read_only = off',
		'SELECT f_dtro_off({ID});'
	],
	[
		'function with SET transaction_read_only = off',
		'SELECT f_tro_off({ID});'
	],
	[
		'PREPARE/EXECUTE INSERT',
		'PREPARE ins(int) AS INSERT INTO t VALUES ($1); EXECUTE ins({ID});'
	],
	[
		'PREPARE/EXECUTE set_config',
		q{PREPARE sc AS SELECT set_config('default_transaction_read_only', 'off', false);}
		  . ' EXECUTE sc; INSERT INTO t VALUES ({ID});'
	],
	[
		'EXPLAIN ANALYZE INSERT',
		'EXPLAIN ANALYZE INSERT INTO t VALUES ({ID});'
	],
	[
		'data-modifying WITH',
		'WITH x AS (INSERT INTO t VALUES ({ID}) RETURNING i) SELECT * FROM x;'
	],
	[ 'SELECT FOR UPDATE', 'SELECT * FROM t FOR UPDATE;' ],
	[ 'SELECT FOR KEY SHARE', 'SELECT * FROM t FOR KEY SHARE;' ],
	[
		'cursor WITH HOLD materialised at COMMIT',
		q{BEGIN; DECLARE c CURSOR WITH HOLD FOR SELECT nextval('s'); COMMIT;}
	],
	[
		'LOCK TABLE ACCESS EXCLUSIVE',
		'BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE; COMMIT;'
	],
	[ 'LOCK TABLE SHARE', 'BEGIN; LOCK TABLE t IN SHARE MODE; COMMIT;' ],
	[ 'nextval', q{SELECT nextval('s');} ],
	[ 'setval', q{SELECT setval('s', 100);} ],
	# if COPY is refused, psql reads the data line as SQL (42601)
	[ 'COPY FROM STDIN', "COPY t FROM STDIN;\n{ID}\n\\.\n", ['42601'] ],
	[ 'CREATE TEMP TABLE', 'CREATE TEMP TABLE tt (i int);' ],
	[ 'CREATE TABLE', 'CREATE TABLE t2 (i int);' ],
	[ 'SELECT INTO', 'SELECT 1 AS i INTO t3;' ],
	[ 'TRUNCATE', 'TRUNCATE t;' ],

	# side effects core allows in read-only transactions
	[ 'lo_create', 'SELECT lo_create(0);' ],
	[ 'lo_creat', 'SELECT lo_creat(-1);' ],
	[ 'lo_from_bytea', q{SELECT lo_from_bytea(0, 'x');} ],
	[ 'lowrite', q{SELECT lowrite(lo_open(4242, 131072), 'x');} ],
	[ 'lo_put', q{SELECT lo_put(4242, 0, 'x');} ],
	[ 'lo_truncate', 'SELECT lo_truncate(lo_open(4242, 131072), 0);' ],
	[ 'lo_unlink', 'SELECT lo_unlink(4242);' ],
	[ 'lo_import (server side)', qq{SELECT lo_import('$import_file');} ],
	[ 'lo_export (server side)', qq{SELECT lo_export(4242, '$tmp/export');} ],
	[ 'psql \lo_import (fast path)', "\\lo_import '$import_file'" ],
	[ 'psql \lo_unlink (fast path)', "\\lo_unlink 4242" ],
	[ 'aggregate with lowrite transition', q{SELECT lo_agg('x'::bytea);} ],
	[
		'PL/pgSQL simple expression lo_create',
		'DO $$DECLARE v oid; BEGIN v := lo_create(0); END$$;'
	],
	[ 'pg_notify', q{SELECT pg_notify('ch', 'x');} ],
	[ 'NOTIFY', 'NOTIFY ch;' ],
	[ 'DO with PERFORM pg_notify', q{DO $$BEGIN PERFORM pg_notify('ch', 'x'); END$$;} ],
	[ 'PREPARE TRANSACTION', q{BEGIN; PREPARE TRANSACTION 'cm_mine';} ],
	[ 'COMMIT PREPARED', q{COMMIT PREPARED 'cm_px';} ],
	[ 'ROLLBACK PREPARED', q{ROLLBACK PREPARED 'cm_px';} ],
	[ 'ALTER SYSTEM', q{ALTER SYSTEM SET work_mem = '8MB';} ],
	[ 'VACUUM', 'VACUUM t;' ],
	[ 'ANALYZE', 'ANALYZE t;' ],
	[ 'VACUUM FULL', 'VACUUM FULL t;' ],
	[ 'CLUSTER', 'CLUSTER t USING t_pkey;' ],
	[ 'REINDEX', 'REINDEX TABLE t;' ],
	[ 'CHECKPOINT', 'CHECKPOINT;' ],
	[ 'txid_current', 'SELECT txid_current();' ],
	[ 'pg_current_xact_id', 'SELECT pg_current_xact_id();' ],
	[
		'pg_logical_emit_message',
		q{SELECT pg_logical_emit_message(true, 'p', 'x');}
	],
	[ 'pg_switch_wal', 'SELECT pg_switch_wal();' ],
	[ 'pg_create_restore_point', q{SELECT pg_create_restore_point('x');} ],
	[
		'pg_create_physical_replication_slot',
		q{SELECT pg_create_physical_replication_slot('cm_slot');}
	],
	[
		'pg_replication_origin_create',
		q{SELECT pg_replication_origin_create('cm_origin');}
	],
	[ 'COPY TO file', qq{COPY t TO '$tmp/copy_out';} ],
	[ 'COPY TO PROGRAM', q{COPY t TO PROGRAM 'cat > /dev/null';} ],
	[ 'pg_promote', 'SELECT pg_promote(false);' ],);

# Runs one attempt in a fresh locked session, then the probe: a write that
# must fail with 25006 and both settings still on.  Returns the problems.
sub run_attempt
{
	my ($node, $id, $attempt, $via) = @_;
	my ($name, $sql, $extra) = @$attempt;
	my %allowed = map { $_ => 1 } ('25006', '25P02', @{ $extra // [] });
	my $want = grep({ $_ eq '55P02' } @{ $extra // [] }) ? '55P02' : '25006';
	$sql =~ s/\{ID\}/$id/g;
	my $script =
	    "\\set VERBOSITY verbose\n$sql\nROLLBACK;\n\\warn \@\@probe\@\@\n"
	  . "INSERT INTO t VALUES (-$id);\n"
	  . q{SELECT '@@state ' || current_setting('transaction_read_only') || ' '}
	  . " || current_setting('default_transaction_read_only');\n";	# through the read-only port the client asks for nothing itself
	local $ENV{PGOPTIONS} = $via ? '-c lock_timeout=5s' : $LOCK;
	my ($out, $err) = ('', '');
	my $rc = $node->psql(
		'postgres', $script,
		$via ? (connstr => $via) : (),
		stdout => \$out,
		stderr => \$err,
		on_error_stop => 0,
		timeout => $PostgreSQL::Test::Utils::timeout_default);
	my @problems;
	push @problems, "psql exit code $rc" if $rc != 0;
	my ($before, $after) = split(/\@\@probe\@\@/, $err, 2);
	$after //= '';
	my @codes = $before =~ /ERROR:\s+([0-9A-Z]{5}):/g;
	push @problems, "no $want refusal" unless grep { $_ eq $want } @codes;
	push @problems, "unexpected SQLSTATE $_"
	  for grep { !$allowed{$_} } @codes;
	my @probe = $after =~ /ERROR:\s+([0-9A-Z]{5}):/g;
	push @problems, 'probe write not refused with 25006'
	  unless "@probe" eq '25006'
	  && $after =~ /cannot execute INSERT in a read-only transaction/;
	push @problems, 'session no longer reports read-only'
	  unless $out =~ /^\@\@state on on$/m;
	diag("$name:\n$sql\n--- stdout:\n$out\n--- stderr:\n$err") if @problems;
	return @problems;
}

# A small protocol client over the node's Unix socket, for what psql
# cannot do: read ParameterStatus, make fast-path calls by function OID,
# send extended-protocol messages one by one.
sub pg_connect
{
	my ($node, @params) = @_;
	my $path = $node->host . '/.s.PGSQL.' . $node->port;
	my $sock = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Peer => $path)
	  or die "connect to $path: $!";
	# parameters go out in the order given
	my @p = (user => $user, database => 'postgres', @params);
	my $body = pack('N', 196608) . join('', map { "$_\0" } @p) . "\0";
	syswrite($sock, pack('N', 4 + length $body) . $body);
	my $c = { sock => $sock, buf => '', status => {} };
	my $r = pg_read_until_ready($c);
	$c->{startup} = $r;
	return $c;
}

sub pg_read_message
{
	my ($c) = @_;
	my $sel = IO::Select->new($c->{sock});
	for (;;)
	{
		if (length $c->{buf} >= 5)
		{
			my $len = unpack('N', substr($c->{buf}, 1, 4));
			if (length $c->{buf} >= 1 + $len)
			{
				my $type = substr($c->{buf}, 0, 1);
				my $body = substr($c->{buf}, 5, $len - 4);
				substr($c->{buf}, 0, 1 + $len) = '';
				return ($type, $body);
			}
		}
		return () unless $sel->can_read($PostgreSQL::Test::Utils::timeout_default);
		my $n = sysread($c->{sock}, $c->{buf}, 65536, length $c->{buf});
		return () unless $n;
	}
}

# Reads until ReadyForQuery (or EOF); returns errors, rows and results.
sub pg_read_until_ready
{
	my ($c) = @_;
	my $r = { errors => [], rows => [], results => [], ready => 0 };
	while (my ($type, $body) = pg_read_message($c))
	{
		if ($type eq 'R')
		{
			my $code = unpack('N', $body);
			die "authentication method $code requested" if $code != 0;
		}
		elsif ($type eq 'S')
		{
			my ($k, $v) = split(/\0/, $body);
			$c->{status}{$k} = $v;
		}
		elsif ($type eq 'E')
		{
			my %f;
			$f{$1} = $2 while $body =~ /\G([^\0])([^\0]*)\0/gc;
			push @{ $r->{errors} }, \%f;
		}
		elsif ($type eq 'D')
		{
			my $n = unpack('n', $body);
			my ($pos, @cols) = (2);
			for (1 .. $n)
			{
				my $len = unpack('l>', substr($body, $pos, 4));
				$pos += 4;
				push @cols, $len < 0 ? undef : substr($body, $pos, $len);
				$pos += $len if $len > 0;
			}
			push @{ $r->{rows} }, \@cols;
		}
		elsif ($type eq 'V')
		{
			my $len = unpack('l>', $body);
			push @{ $r->{results} }, $len < 0 ? undef : substr($body, 4, $len);
		}
		elsif ($type eq 'Z')
		{
			$r->{ready} = 1;
			last;
		}
	}
	return $r;
}

sub pg_send
{
	my ($c, $type, $body) = @_;
	syswrite($c->{sock}, $type . pack('N', 4 + length $body) . $body);
	return;
}

sub pg_query
{
	my ($c, $sql) = @_;
	pg_send($c, 'Q', "$sql\0");
	return pg_read_until_ready($c);
}

# FunctionCall with text arguments and a text result.
sub pg_fastpath
{
	my ($c, $oid, @args) = @_;
	my $body = pack('N', $oid) . pack('nn', 1, 0) . pack('n', scalar @args);
	$body .= pack('N/a*', $_) for @args;
	pg_send($c, 'F', $body . pack('n', 0));
	return pg_read_until_ready($c);
}

# Parse, Bind, Execute, Sync of one statement without parameters.
sub pg_extended
{
	my ($c, $sql) = @_;
	pg_send($c, 'P', "\0$sql\0" . pack('n', 0));
	pg_send($c, 'B', "\0\0" . pack('nnn', 0, 0, 0));
	pg_send($c, 'E', "\0" . pack('N', 0));
	pg_send($c, 'S', '');
	return pg_read_until_ready($c);
}

sub codes
{
	my ($r) = @_;
	return join(',', map { $_->{C} } @{ $r->{errors} });
}

sub pg_close
{
	my ($c) = @_;
	pg_send($c, 'X', '');
	close($c->{sock});
	return;
}

# Fast path, extended protocol and ParameterStatus, on one node.
sub protocol_checks
{
	my ($node, $label, $base) = @_;
	my $c = pg_connect($node, 'connection_manager.session_read_only' => 'on');
	ok($c->{startup}{ready}, "$label: locked session starts");
	is($c->{status}{'connection_manager.session_read_only'},
		'on', "$label: ParameterStatus connection_manager.session_read_only=on");
	is($c->{status}{default_transaction_read_only},
		'on', "$label: ParameterStatus default_transaction_read_only=on");

	my $r = pg_query($c, 'SET default_transaction_read_only = off');
	is(codes($r), '25006', "$label: SET default_transaction_read_only refused");
	$r = pg_fastpath($c, 1574, 's');    # nextval(regclass)
	is(codes($r), '25006', "$label: fast-path nextval refused");
	$r = pg_fastpath($c, 957, '-1');    # lo_creat(int4)
	is(codes($r), '25006', "$label: fast-path lo_creat refused");
	$r = pg_fastpath($c, 715, '0');     # lo_create(oid)
	is(codes($r), '25006', "$label: fast-path lo_create refused");
	$r = pg_fastpath($c, 3036, 'ch', 'x');    # pg_notify(text, text)
	is(codes($r), '25006', "$label: fast-path pg_notify refused");
	# set_config(text, text, bool)
	$r = pg_fastpath($c, 2078, 'default_transaction_read_only', 'off', 'f');
	is(codes($r), '25006', "$label: fast-path set_config refused");
	$r = pg_fastpath($c, 2943);    # txid_current()
	is(codes($r), '25006', "$label: fast-path txid_current refused");
	$r = pg_fastpath($c, 1574, 's');
	is(codes($r), '25006', "$label: fast-path nextval still refused");

	# RESET of transaction_read_only skips check hooks; a fast-path call in
	# the same transaction block sees no executor or utility hook.
	$r = pg_query($c, 'BEGIN; RESET transaction_read_only');
	is(codes($r), '', "$label: RESET transaction_read_only in a block runs");
	$r = pg_fastpath($c, 2077, 'transaction_read_only');    # current_setting
	is($r->{results}[0], 'on', "$label: ... and leaves it on");
	$r = pg_fastpath($c, 1574, 's');
	is(codes($r), '25006', "$label: ... fast-path nextval in that block refused");
	pg_query($c, 'ROLLBACK');

	$r = pg_extended($c, 'INSERT INTO t VALUES (' . ($base + 1) . ')');
	is(codes($r), '25006', "$label: extended-protocol INSERT refused");
	$r = pg_extended($c, 'BEGIN READ WRITE');
	is(codes($r), '25006', "$label: extended-protocol BEGIN READ WRITE refused");
	$r = pg_extended($c,
		q{SELECT set_config('default_transaction_read_only', 'off', false)});
	is(codes($r), '25006', "$label: extended-protocol set_config refused");
	$r = pg_extended($c, 'INSERT INTO t VALUES (' . ($base + 2) . ')');
	is(codes($r), '25006', "$label: extended-protocol INSERT still refused");
	$r = pg_query($c, 'SHOW transaction_read_only');
	is($r->{rows}[0][0], 'on', "$label: transaction_read_only still on");
	is($c->{status}{default_transaction_read_only},
		'on', "$label: no ParameterStatus turned read-write");
	pg_close($c);

	# An unlocked session reports the setting off.
	$c = pg_connect($node);
	is($c->{status}{'connection_manager.session_read_only'},
		'off', "$label: unlocked session reports the setting off");
	pg_close($c);
	return;
}

# pgbench with the extended and prepared protocols, through a locked session.
sub pgbench_checks
{
	my ($node, $label, $base) = @_;
	my %scripts = (
		'extended INSERT' =>
		  [ 'extended', "INSERT INTO t VALUES ($base + :client_id);\n" ],
		'prepared INSERT' =>
		  [ 'prepared', "INSERT INTO t VALUES ($base + 10 + :client_id);\n" ],
		'extended SET then INSERT' => [
			'extended',
			"SET default_transaction_read_only = off;\n"
			  . "INSERT INTO t VALUES ($base + 20 + :client_id);\n"
		],
		'extended BEGIN READ WRITE' => [
			'extended',
			"BEGIN READ WRITE;\n"
			  . "INSERT INTO t VALUES ($base + 30 + :client_id);\nEND;\n"
		],);
	my $n = 0;
	for my $name (sort keys %scripts)
	{
		my ($mode, $text) = @{ $scripts{$name} };
		my $file = "$tmp/pgbench_${label}_" . $n++ . '.sql';
		PostgreSQL::Test::Utils::append_to_file($file, $text);
		local $ENV{PGOPTIONS} = $LOCK;
		local $ENV{PGHOST} = $node->host;
		local $ENV{PGPORT} = $node->port;
		my ($out, $err) = ('', '');
		IPC::Run::run([ 'pgbench', '-n', '-M', $mode, '-t', '1', '-f', $file,
				'postgres' ],
			'>', \$out, '2>', \$err);
		my $rc = $? >> 8;
		ok($rc != 0 && $err =~ /read-only/, "$label: pgbench -M $name refused")
		  or diag("rc=$rc\n$out\n$err");
	}
	return;
}

for my $pair ([ $primary, 'primary', 100000 ], [ $standby, 'standby', 200000 ])
{
	my ($node, $label, $base) = @$pair;
	my $i = 0;
	for my $attempt (@attempts)
	{
		$i++;
		my @problems = run_attempt($node, $base + $i, $attempt);
		ok(!@problems, "$label: $attempt->[0]")
		  or diag(join('; ', @problems));
	}
	protocol_checks($node, $label, $base + 1000);
	pgbench_checks($node, $label, $base + 2000);
}

# The same matrix through each node's read-only port: the standby's sends
# sessions to itself, the primary's (no standby known, fallback leader) to
# itself, locked.
for my $pair ([ $standby, 400000 ], [ $primary, 300000 ])
{
	my ($node, $base) = @$pair;
	my $via = "host=127.0.0.1 port=$ro_port{ $node->name } dbname=postgres";
	my $label = $node->name . ' via the read-only port';
	my $where;
	for (1 .. 100)
	{		$where = `psql -XAtq -d "$via" -c "SHOW port" -c "SHOW connection_manager.session_read_only" 2>&1`;
		$where =~ s/\n/|/;		last if $where =~ /^\d+\|on$/m;
		select(undef, undef, undef, 0.1);
	}
	chomp $where;
	is($where, $node->port . '|on', "$label: lands on the node, locked");
	my $i = 0;
	for my $attempt (@attempts)
	{
		$i++;
		my @problems = run_attempt($node, $base + $i, $attempt, $via);
		ok(!@problems, "$label: $attempt->[0]")
		  or diag(join('; ', @problems));
	}
}
note(scalar(@attempts) . ' escape attempts per node');
cmp_ok(scalar(@attempts), '>=', 45, 'matrix has at least 45 attempts');

# Startup packet: the lock outranks the client's own options and cannot be
# taken back in the same packet.
{
	local $ENV{PGOPTIONS} =
	  '-c default_transaction_read_only=off -c connection_manager.session_read_only=on';
	is( $primary->safe_psql('postgres', 'SHOW default_transaction_read_only'),
		'on', 'a client option set before the lock is overridden');
}
for my $opts (
	'-c connection_manager.session_read_only=on -c connection_manager.session_read_only=off',
	'-c connection_manager.session_read_only=on -c default_transaction_read_only=off',
	'-c connection_manager.session_read_only=on -c transaction_read_only=off')
{
	local $ENV{PGOPTIONS} = $opts;
	my ($rc, $out, $err) = $primary->psql('postgres', 'SELECT 1');
	ok($rc != 0 && $err =~ /FATAL/, "startup refused: $opts")
	  or diag("rc=$rc $err");
}

# The same through the startup packet's own key/value pairs: "options" is
# applied first, then the pairs in order.
my $c = pg_connect(
	$primary,
	options => '-c default_transaction_read_only=off',
	'connection_manager.session_read_only' => 'on');
ok( $c->{startup}{ready}
	  && $c->{status}{default_transaction_read_only} eq 'on',
	'options before the lock are overridden');
pg_close($c);
$c = pg_connect(
	$primary,
	'connection_manager.session_read_only' => 'on',
	default_transaction_read_only => 'off');
is(codes($c->{startup}), '25006',
	'default_transaction_read_only=off after the lock: connection refused');

# A replication connection cannot be locked: walsender commands bypass
# every hook.
for my $mode ('database', 'true')
{
	local $ENV{PGOPTIONS} = $LOCK;
	my ($rc, $out, $err) =
	  $primary->psql('postgres', 'IDENTIFY_SYSTEM', replication => $mode);
	like(
		$err,
		qr/replication connection cannot be a read-only session/,
		"replication=$mode with the lock is refused");
}

# Role and database settings cannot lift the lock.
my ($rc, $out, $err) = $primary->psql('postgres',
	'ALTER ROLE alice SET connection_manager.session_read_only = off');
like($err, qr/cannot be set after connection start/,
	'ALTER ROLE ... SET connection_manager.session_read_only is refused');
($rc, $out, $err) = $primary->psql('postgres',
	'ALTER DATABASE postgres SET connection_manager.session_read_only = off');
like($err, qr/cannot be set after connection start/,
	'ALTER DATABASE ... SET connection_manager.session_read_only is refused');
$primary->safe_psql(
	'postgres', q{
ALTER ROLE alice SET default_transaction_read_only = off;
ALTER ROLE alice SET transaction_read_only = off;
ALTER DATABASE postgres SET default_transaction_read_only = off;
});
{
	local $ENV{PGOPTIONS} = $LOCK;
	($rc, $out, $err) = $primary->psql(
		'postgres',
		"SHOW default_transaction_read_only; SHOW transaction_read_only;\n"
		  . "INSERT INTO t VALUES (300001);",
		connstr => $primary->connstr('postgres') . ' user=alice',
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	is($out, "on\non", 'ALTER ROLE/DATABASE SET cannot turn the lock off');
	like($err, qr/25006: cannot execute INSERT in a read-only transaction/,
		'... and the write is refused');
}
$primary->safe_psql('postgres',
	'ALTER ROLE alice RESET ALL; ALTER DATABASE postgres RESET ALL');

# ALTER SYSTEM plus reload from an administrator's session: a session
# already open and a new one both stay locked.
my $held = pg_connect($primary, 'connection_manager.session_read_only' => 'on');
$primary->safe_psql('postgres',
	'ALTER SYSTEM SET default_transaction_read_only = off');
$primary->reload;
{
	local $ENV{PGOPTIONS} = $LOCK;
	is($primary->safe_psql('postgres', 'SHOW default_transaction_read_only'),
		'on', 'postgresql.auto.conf cannot turn a new locked session off');
}
is( codes(pg_query($held, 'INSERT INTO t VALUES (300002)')),
	'25006', 'a locked session stays locked across a reload');
$primary->safe_psql('postgres', 'ALTER SYSTEM RESET default_transaction_read_only');
$primary->reload;
pg_close($held);

# libpq's target_session_attrs sees a locked session as read-only.
{
	local $ENV{PGOPTIONS} = $LOCK;
	$primary->connect_ok(
		$primary->connstr('postgres') . ' target_session_attrs=read-only',
		'target_session_attrs=read-only accepts a locked primary session');
	$primary->connect_fails(
		$primary->connstr('postgres') . ' target_session_attrs=read-write',
		'target_session_attrs=read-write rejects a locked primary session',
		expected_stderr => qr/read-only/);
	$standby->connect_ok(
		$standby->connstr('postgres') . ' target_session_attrs=read-only',
		'target_session_attrs=read-only accepts a locked standby session');
}
$primary->connect_fails(
	$primary->connstr('postgres') . ' target_session_attrs=read-only',
	'target_session_attrs=read-only rejects an unlocked primary session',
	expected_stderr => qr/not read-only/);

# What stays allowed in a locked session.
{
	local $ENV{PGOPTIONS} = $LOCK;
	is( $primary->safe_psql(
			'postgres',
			'LISTEN ch; SET TRANSACTION ISOLATION LEVEL READ COMMITTED;'
			  . ' SET default_transaction_read_only = on; SELECT count(*) FROM t'),
		'0',
		'a locked session can read, LISTEN and set read-only again');
}

# Nothing any locked session tried was written, on either node.
is($primary->safe_psql('postgres', 'SELECT count(*) FROM t'),
	'0', 'no row was written');
is($primary->safe_psql('postgres', 'SELECT last_value, is_called FROM s'),
	'1|f', 'the sequence was not advanced');
is( $primary->safe_psql(
		'postgres',
		q{SELECT count(*), string_agg(lo_get(oid)::text, ',')}
		  . ' FROM pg_largeobject_metadata'),
	'1|\x',
	'no large object was created, written or removed');
is($primary->safe_psql('postgres', 'SELECT gid FROM pg_prepared_xacts'),
	'cm_px', 'the other session\'s prepared transaction is untouched');
is( $primary->safe_psql(
		'postgres',
		q{SELECT count(*) FROM pg_file_settings WHERE sourcefile LIKE '%auto.conf'}),
	'0',
	'ALTER SYSTEM wrote nothing');
for my $node ($primary, $standby)
{
	is( $node->safe_psql(
			'postgres',
			'SELECT (SELECT count(*) FROM pg_replication_slots)'
			  . ' + (SELECT count(*) FROM pg_replication_origin)'),
		'0',
		$node->name . ': no replication slot or origin was created');
}
ok(!-e "$tmp/export" && !-e "$tmp/copy_out", 'no server file was written');
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'),
	't', 'the standby was not promoted');

# Without the lock, the same statements write: the checks above can fail.
$primary->safe_psql(
	'postgres', q{
INSERT INTO t VALUES (1);
BEGIN READ WRITE; INSERT INTO t VALUES (2); COMMIT;
SELECT f_insert(3);
CALL p_commit_insert(4);
NOTIFY ch;
VACUUM t;
SELECT lo_unlink(lo_create(0));
});
{
	local $ENV{PGOPTIONS} = '-c connection_manager.session_read_only=off';
	$primary->safe_psql('postgres', 'INSERT INTO t VALUES (5)');
	my $file = "$tmp/pgbench_unlocked.sql";
	PostgreSQL::Test::Utils::append_to_file($file,
		"INSERT INTO t VALUES (6);\n");
	local $ENV{PGHOST} = $primary->host;
	local $ENV{PGPORT} = $primary->port;
	ok( IPC::Run::run(
			[ 'pgbench', '-n', '-M', 'extended', '-t', '1', '-f', $file,
				'postgres' ],
			'>', \my $o, '2>', \my $e),
		'pgbench -M extended writes without the lock');
}
$c = pg_connect($primary);
is(codes(pg_fastpath($c, 1574, 's')), '', 'fast-path nextval works unlocked');
pg_close($c);
is($primary->safe_psql('postgres', 'SELECT string_agg(i::text, \',\' ORDER BY i) FROM t'),
	'1,2,3,4,5,6', 'unlocked sessions wrote');
ok( $primary->safe_psql(
		'postgres',
		q{SELECT count(*) FROM pg_stat_statements WHERE query LIKE 'INSERT INTO t%'})
	  > 0,
	'hooks chain to pg_stat_statements');
$primary->safe_psql('postgres', q{ROLLBACK PREPARED 'cm_px'});

# Promotion under a locked session: it stays locked on the new primary.
$primary->wait_for_catchup($standby);
$held = pg_connect($standby, 'connection_manager.session_read_only' => 'on');
is($held->{status}{in_hot_standby}, 'on', 'held session starts on a standby');
$standby->promote;
$standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
  or die 'promotion timed out';
my $r = pg_query($held, 'INSERT INTO t VALUES (300003)');
is(codes($r), '25006', 'after promotion: INSERT refused in the held session');
is($held->{status}{in_hot_standby}, 'off', 'after promotion: in_hot_standby=off reported');
is(codes(pg_query($held, 'BEGIN READ WRITE')), '25006',
	'after promotion: BEGIN READ WRITE refused');
pg_query($held, 'ROLLBACK');
is(codes(pg_fastpath($held, 1574, 's')), '25006',
	'after promotion: fast-path nextval refused');
is(codes(pg_query($held, 'SELECT lo_create(0)')), '25006',
	'after promotion: lo_create refused');
pg_close($held);
is($standby->safe_psql('postgres', 'SELECT count(*) FROM t WHERE i > 300000'),
	'0', 'after promotion: nothing written');

$standby->stop;
$primary->stop;
done_testing();
