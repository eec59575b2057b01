# Read-write port: sessions through the manager of every node land on the
# primary, several workers serve at once, and what cannot be served gets a
# clear error.
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
my $standby = cm_standby('standby', $primary, 'b');
$standby->start;
$primary->safe_psql('postgres', 'insert into t values (1)');
$primary->wait_for_catchup($standby);

my $pport = $primary->port;
for my $node ($primary, $standby)
{
	my $name = $node->name;
	ok(cm_wait_for_port($node->{cm_rw_port}), "$name: read-write port answers");
	my ($rc, $out, $err) = cm_psql($node->{cm_rw_port},
		'select pg_is_in_recovery(), inet_server_port()');
	is($out, "f|$pport", "$name: read-write session lands on the primary");
	($rc, $out) = cm_psql($node->{cm_rw_port},
		'insert into t values (2) returning id');
	is($out, '2', "$name: a write through the read-write port succeeds");
}

# pgbench through both managers, plain and extended protocol.
command_ok(
	[
		'pgbench', '-i', '-q', '-h', '127.0.0.1', '-p',
		$primary->{cm_rw_port}, 'postgres'
	],
	'pgbench -i through the read-write port');
for my $node ($primary, $standby)
{
	for my $mode ('simple', 'extended')
	{
		command_like(
			[
				'pgbench', '-n', '-c', '4', '-j', '2', '-T', '2', '-M', $mode,
				'-h', '127.0.0.1', '-p', $node->{cm_rw_port}, 'postgres'
			],
			qr/number of failed transactions: 0 /,
			$node->name . ": pgbench -M $mode through the read-write port");
	}
}
my $count = $primary->safe_psql('postgres',
	"select count(*) from pg_stat_activity where application_name = 'pgbench'");
is($count, '0', 'pgbench sessions closed with their clients');

# Several workers serve concurrently: sixteen sessions held open at once are
# spread over both proxy workers (SO_REUSEPORT hashes the client's port).
my @held;
push @held, cm_background_psql($primary->{cm_rw_port}) for 1 .. 16;
$_->query('select 1') for @held;
my $ss = `ss -Htnp state established '( sport = :$primary->{cm_rw_port} )'`;
my %pids = map { $_ => 1 } ($ss =~ /pid=(\d+)/g);
cmp_ok(scalar(keys %pids), '>=', 2,
	'sessions are served by more than one proxy worker');
is( $primary->safe_psql(
		'postgres',
		"select count(*) from pg_stat_activity where backend_type = 'client backend' and pid <> pg_backend_pid()"
	),
	'16',
	'sixteen concurrent sessions reached the server');
$_->quit for @held;

# Replication connections are refused.
my ($rc, $out, $err) =
  cm_psql($primary->{cm_rw_port}, 'select 1', conn => 'replication=database');
isnt($rc, 0, 'replication connection refused');
like($err, qr/replication connections are not supported/,
	'replication refusal says why');

# connection_manager.* startup parameters are stripped: a real one that the
# server would refuse at connection start (a restart-only setting) gets in.
my ($resp) = cm_raw(
	$primary->{cm_rw_port},
	cm_startup_packet(
		'user', 'postgres', 'database', 'postgres',
		'connection_manager.workers', '7'),
	until => qr/Z\0\0\0\x05I/);
like($resp, qr/R\0\0\0\x08\0\0\0\0/, 'login with a connection_manager.* parameter succeeds');
like($resp, qr/Z\0\0\0\x05I/, 'and reaches ReadyForQuery');
like($resp, qr/K\0\0\0\x0c/, 'the client gets a BackendKeyData');

# A standby with no upstream: new sessions wait for a leader, then 57P03.
my $orphan = PostgreSQL::Test::Cluster->new('orphan');
$orphan->init_from_backup($primary, 'b', has_streaming => 0);
$orphan->set_standby_mode;
cm_fix_secret($orphan);
CmTest::cm_configure($orphan,
	extra => "connection_manager.leader_wait_timeout = '1s'\n");
$orphan->start;
my $login = cm_startup_packet('user', 'postgres', 'database', 'postgres');
my $t0 = time;
($resp) = cm_raw($orphan->{cm_rw_port}, $login);
my $e = cm_error_fields($resp);
is($e->{C}, '57P03', 'no write leader: 57P03');
is($e->{S}, 'FATAL', 'no write leader: FATAL');
is($e->{M}, 'no write leader is available', 'no write leader: message');
like($e->{D}, qr/upstream is not known/, 'no write leader: detail says why');
cmp_ok(time - $t0, '>=', 0.9, 'the session waited leader_wait_timeout');
($rc, $out, $err) = cm_psql($orphan->{cm_rw_port}, 'select 1');
like($err, qr/FATAL:  no write leader is available/, 'psql shows the refusal');
ok($orphan->log_contains('no write leader is available'),
	'the missing leader is logged');

# The primary gone: the standby's manager reports the failed connection.
$primary->stop('immediate');
($resp) = cm_raw($standby->{cm_rw_port}, $login);
$e = cm_error_fields($resp);
is($e->{C}, '08006', 'primary down: 08006');
like($e->{M}, qr/could not connect to server "127.0.0.1:$pport": Connection refused/,
	'primary down: the message names the target');

$primary->start;
ok(cm_wait_for_port($standby->{cm_rw_port}),
	'primary back: the standby routes again');

done_testing();
