# Read-only port routing: a standby takes its own read-only sessions while
# its replay lag is within read_only_max_lag; past it, sessions fall back to
# the write leader (still locked) or are refused; a server that cannot
# confirm the lock never gets a read-only session; a client cannot unlock
# its session through startup parameters.
#
# Copyright (c) 2026, The connection_manager Authors; see LICENSE.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../test/perl";
use CmTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = cm_primary('primary');
$primary->start;
$primary->safe_psql('postgres', 'create table t (id int)');
$primary->backup('b');
my $standby = cm_standby('standby', $primary, 'b',
	extra => "connection_manager.read_only_max_lag = '64kB'\n");
$standby->start;
$primary->safe_psql('postgres', 'insert into t values (1)');
$primary->wait_for_catchup($standby);

my $ro = $standby->{cm_ro_port};
my $where =
  q{select inet_server_port(), pg_is_in_recovery(), current_setting('transaction_read_only')};

my $sp = $standby->port;
my $pp = $primary->port;
is(cm_psql_until($ro, $where, qr/^\d+\|t\|on$/), "$sp|t|on",
	'standby within the lag limit takes its own read-only sessions');
my ($rc, $out, $err) = cm_psql($ro, 'insert into t values (2)');
like($err, qr/25006: cannot execute INSERT in a read-only transaction/,
	'a write through the read-only port fails with 25006');

# A client that asks to unlock: options, and raw startup parameters.
($rc, $out) = cm_psql($ro, 'show transaction_read_only',
	conn => "options='-c default_transaction_read_only=off'");
is($out, 'on', 'options=-c default_transaction_read_only=off: still locked');
($rc, $out, $err) = cm_psql($ro, 'show transaction_read_only',
	conn => "options='-c transaction_read_only=off'");
ok($out eq 'on' || $err =~ /FATAL/,
	'options=-c transaction_read_only=off: locked or refused');
($rc, $out, $err) = cm_psql($ro, 'show transaction_read_only',
	conn => "options='-c connection_manager.session_read_only=off'");
ok($out eq 'on' || $err =~ /FATAL/,
	'options=-c connection_manager.session_read_only=off: locked or refused');
my $query = 'Q' . pack('N', 4 + length("show transaction_read_only") + 1)
  . "show transaction_read_only\0";
my ($resp) = cm_raw(
	$ro,
	cm_startup_packet(
		'user', 'postgres', 'database', 'postgres',
		'default_transaction_read_only', 'off',
		'transaction_read_only', 'off',
		'connection_manager.session_read_only', 'off')
	  . $query,
	until => qr/C\0\0\0\x09SHOW\0/);
like($resp, qr/D\0\0\0\x0c\0\x01\0\0\0\x02on/,
	'raw startup parameters asking to unlock: session still locked');

# Lag: pause replay and write on the primary; the standby's own sessions
# move to the leader, locked.
$standby->safe_psql('postgres', 'select pg_wal_replay_pause()');
$primary->safe_psql('postgres',
	'insert into t select generate_series(1, 20000)');
is(cm_psql_until($ro, $where, qr/^$pp\|/), "$pp|f|on",
	'lagging standby: read-only sessions fall back to the leader, locked');
($rc, $out, $err) = cm_psql($ro, 'insert into t values (3)');
like($err, qr/25006/, 'fallback session on the leader cannot write');
ok($standby->log_contains(qr/replay lag of \d+ bytes is over read_only_max_lag/),
	'the fallback is logged with its reason');

# read_only_fallback = refuse: no target, a clear error.
$standby->append_conf('postgresql.conf',
	"connection_manager.read_only_fallback = refuse\n");
$standby->reload;
like(
	cm_psql_until($ro, 'select 1', qr/no read-only target/),
	qr/FATAL:  no read-only target is available\nDETAIL:  this standby's replay lag of \d+ bytes is over read_only_max_lag \(65536 bytes\)/,
	'fallback refuse: 57P03 with the reason');
my ($e) = cm_raw($ro, cm_startup_packet('user', 'postgres'));
is(cm_error_fields($e)->{C}, '57P03', 'fallback refuse: SQLSTATE 57P03');

# Replay resumes: back to the standby.
$standby->safe_psql('postgres', 'select pg_wal_replay_resume()');
is(cm_psql_until($ro, $where, qr/^$sp\|/), "$sp|t|on",
	'caught up: read-only sessions return to the standby');

# A primary without the extension never gets a read-only session: the
# fallback from its standby is refused because the lock is not confirmed.
my $plain = PostgreSQL::Test::Cluster->new('plain');
$plain->init(allows_streaming => 1);
$plain->append_conf('postgresql.conf', "listen_addresses = '127.0.0.1'\n");
# the follower's manager logs in from its own address (see CmTest)
PostgreSQL::Test::Utils::append_to_file($plain->data_dir . '/pg_hba.conf',
	"host all all 127.0.0.2/32 trust\n");
$plain->start;
$plain->backup('pb');
my $follower = cm_standby('follower', $plain, 'pb',
	extra => "connection_manager.read_only_max_lag = 0\n");
$follower->start;
$follower->safe_psql('postgres', 'select pg_wal_replay_pause()');
$plain->safe_psql('postgres', 'create table big as select generate_series(1, 20000) g');
my $fro = $follower->{cm_ro_port};
like(
	cm_psql_until($fro, 'select 1', qr/could not lock/),
	qr/FATAL:  the target server could not lock the session read-only/,
	'a server without the extension gets no read-only session');
($e) = cm_raw($fro, cm_startup_packet('user', 'postgres'));
is(cm_error_fields($e)->{C}, '08004', 'unconfirmed lock: SQLSTATE 08004');
like(cm_error_fields($e)->{D}, qr/shared_preload_libraries/,
	'unconfirmed lock: the detail says what is missing');
ok(!cm_error_fields($e)->{M} || $e !~ /Z\0\0\0\x05I/,
	'unconfirmed lock: the client never saw ReadyForQuery');
is($plain->safe_psql('postgres', 'select count(*) from big'),
	'20000', 'the plain primary is untouched');

done_testing();
