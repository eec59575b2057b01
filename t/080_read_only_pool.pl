# Three nodes that know each other (connection_manager.nodes): each node's
# monitor reads every node's state over HTTP, the read-write port of every
# node lands on the primary, and read-only sessions spread over the
# standbys that follow it, least loaded first.  A lagging or stopped
# standby leaves the pool; with none left, read_only_fallback decides.
# Without a majority of the nodes, there is no write leader.
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
use Time::HiRes qw(time usleep);

my $extra = "connection_manager.probe_interval = 200\n";
my $primary = cm_primary('pg1', derived_ports => 1, extra => $extra);
$primary->start;
$primary->safe_psql('postgres', 'create table t (id int)');
$primary->backup('b');
my $s2 = cm_standby('pg2', $primary, 'b', derived_ports => 1, extra => $extra);
my $s3 = cm_standby('pg3', $primary, 'b', derived_ports => 1, extra => $extra);
my @all = ($primary, $s2, $s3);
my $nodes = join(', ', map { $_->name . '=127.0.0.1:' . $_->port } @all);
for my $n (@all)
{
	$n->append_conf('postgresql.conf', "connection_manager.nodes = '$nodes'\n");
}
$primary->reload;
$s2->start;
$s3->start;
$primary->wait_for_catchup($s2);
$primary->wait_for_catchup($s3);

my ($p1, $p2, $p3) = map { $_->port } @all;
my $ro = $primary->{cm_ro_port};

# Opens n sessions through a port and holds them; returns them and the
# server port each landed on.
sub hold_sessions
{
	my ($port, $n, %opt) = @_;
	my (@sessions, @ports);
	for (1 .. $n)
	{
		my $s = cm_background_psql($port, %opt);
		push @ports, $s->query('select inet_server_port()');
		push @sessions, $s;
	}
	return (\@sessions, \@ports);
}

# Waits until the primary's log, from offset on, matches.
sub pool_is
{
	my ($re, $offset) = @_;
	for (1 .. 150)
	{
		return 1
		  if PostgreSQL::Test::Utils::slurp_file($primary->logfile, $offset) =~ $re;
		usleep(100_000);
	}
	return 0;
}

sub count_of
{
	my ($ports, $port) = @_;
	return scalar grep { $_ eq $port } @$ports;
}

# The HTTP port: every node describes itself.
my $pp = $primary->port;
my ($status, $body) = cm_http($primary->{cm_http_port}, '/node/state');
is($status, 200, 'GET /node/state answers 200');
like($body,
	qr/^\{"name":"[^"]*","system_identifier":"\d+","port":$pp,"in_recovery":false,"timeline":1,"timeline_mark":[01],"wal_lsn":"[0-9A-F]+\/[0-9A-F]+","streaming":false,"sessions":\d+,"instance":"([0-9a-f]{16})","vote":"(\1|0{16})","vote_timeline":[01],"vote_hold_ms":\d+\}$/,
	'the primary describes itself');
($status, $body) = cm_http($s2->{cm_http_port}, '/node/state');
like($body, qr/"in_recovery":true,"timeline":1,.*"streaming":true/,
	'a standby describes itself as streaming');

# Every node's read-write port lands on the primary.
for my $n (@all)
{
	is(cm_psql_until($n->{cm_rw_port}, 'select inet_server_port()', qr/^$p1$/),
		$p1, 'read-write port of ' . $n->name . ' lands on the primary');
}
ok($primary->log_contains(qr/read-write sessions go to "127.0.0.1:$p1".*\n.*Node "pg1" is the write leader, on timeline 1/),
	'the leader decision is logged with its reason');
is((cm_http($primary->{cm_http_port}, '/node/is-read-write'))[1], 'true',
	'the primary is the write leader');
is((cm_http($s2->{cm_http_port}, '/node/is-read-write'))[1], 'false',
	'a standby is not');

# Read-only sessions through the primary's port spread over both standbys.
like(cm_psql_until($ro, 'select inet_server_port()', qr/^($p2|$p3)$/),
	qr/^($p2|$p3)$/, 'the primary\'s read-only port routes to a standby');
ok(pool_is(qr/read-only sessions go to the standbys pg2, pg3\n/, 0),
	'both standbys join the read-only pool');
my ($held, $ports) = hold_sessions($ro, 6);
cmp_ok(count_of($ports, $p2), '>=', 2, 'pg2 takes its share of 6 sessions')
  or diag("landed on: @$ports");
cmp_ok(count_of($ports, $p3), '>=', 2, 'pg3 takes its share of 6 sessions')
  or diag("landed on: @$ports");
is(count_of($ports, $p2) + count_of($ports, $p3), 6, 'all 6 on standbys');
is($held->[0]->query('show transaction_read_only'), 'on',
	'a pooled session is locked read-only');
$_->quit for @$held;

# By load: 8 sessions straight to pg2 (over its Unix socket) make it the busier standby; new
# read-only sessions all go to pg3 once a probe has seen them.
my ($direct) = hold_sessions($p2, 8, host => $s2->host);
my $seen = 0;
for (1 .. 100)
{
	my ($st, $b) = cm_http($s2->{cm_http_port}, '/node/state');
	if ($b =~ /"sessions":(\d+)/ && $1 >= 8) { $seen = 1; last; }
	usleep(100_000);
}
ok($seen, 'pg2 reports its 8 direct sessions');
usleep(600_000);    # a probe round of pg1 reads it
($held, $ports) = hold_sessions($ro, 4);
is(count_of($ports, $p3), 4, 'all 4 new read-only sessions go to the less loaded pg3')
  or diag("landed on: @$ports");
$_->quit for @$held, @$direct;

# A lagging standby leaves the pool, and its open read-only sessions end.
my $on_p2;
# the sessions held on pg2 a moment ago weigh on it until the next probe
for (1 .. 40)
{
	my $s = cm_background_psql($ro);
	if ($s->query('select inet_server_port()') eq $p2)
	{
		$on_p2 = $s;
		last;
	}
	$s->quit;
	usleep(250_000);
}
ok($on_p2, 'a read-only session is open on pg2');
$primary->append_conf('postgresql.conf',
	"connection_manager.read_only_max_lag = '64kB'\n");
$primary->reload;
my $offset = -s $primary->logfile;
$s2->safe_psql('postgres', 'select pg_wal_replay_pause()');
$primary->safe_psql('postgres', 'insert into t select generate_series(1, 20000)');
$primary->wait_for_catchup($s3);
ok(pool_is(qr/read-only sessions go to the standbys pg3\n/, $offset),
	'pg2, paused over read_only_max_lag, leaves the pool');
ok(pool_is(qr/ending 1 read-only session\(s\) whose target is no longer current/, $offset),
	'the worker ends the session open on pg2');
$on_p2->query('select 1');
like($on_p2->{err},
	qr/FATAL:  terminating connection because node "pg2" left the read-only pool/,
	'the session on pg2 got 57P01 naming the node that left the pool');
($held, $ports) = hold_sessions($ro, 4);
is(count_of($ports, $p3), 4, 'every read-only session goes to pg3')
  or diag("landed on: @$ports");
$_->quit for @$held;

# Neither standby qualifies: fallback to the leader, locked, then refuse.
$s3->safe_psql('postgres', 'select pg_wal_replay_pause()');
$primary->safe_psql('postgres', 'insert into t select generate_series(1, 20000)');
is(cm_psql_until($ro,
		q{select inet_server_port(), current_setting('transaction_read_only')},
		qr/^$p1\|/),
	"$p1|on", 'no standby within the lag: read-only sessions go to the leader, locked');
my ($rc, $out, $err) = cm_psql($ro, 'insert into t values (1)');
like($err, qr/25006/, 'the fallback session cannot write');
my $on_leader = cm_background_psql($ro);
is($on_leader->query('select inet_server_port()'), $p1,
	'a read-only session held on the leader');
$primary->append_conf('postgresql.conf',
	"connection_manager.read_only_fallback = refuse\n");
$primary->reload;
like(cm_psql_until($ro, 'select 1', qr/no read-only target/),
	qr/FATAL:  no read-only target is available\nDETAIL:  no standby qualifies: node "pg\d" replays further behind the write leader than read_only_max_lag/,
	'read_only_fallback = refuse: a clear error with the reason');
my ($e) = cm_raw($ro, cm_startup_packet('user', 'postgres'));
is(cm_error_fields($e)->{C}, '57P03', 'refused: SQLSTATE 57P03');

# Replay resumes: both standbys come back.
$offset = -s $primary->logfile;
$_->safe_psql('postgres', 'select pg_wal_replay_resume()') for ($s2, $s3);
$primary->wait_for_catchup($_) for ($s2, $s3);
ok(pool_is(qr/read-only sessions go to the standbys pg2, pg3\n/, $offset),
	'caught up: both standbys are back in the pool');
like(cm_psql_until($ro, 'select inet_server_port()', qr/^($p2|$p3)$/),
	qr/^($p2|$p3)$/, 'and read-only sessions go to the standbys again');
is($on_leader->query('select 1'), '1',
	'the read-only session on the leader stays while the pool changes')
  or diag($on_leader->{err});
$on_leader->quit;

# A stopped standby leaves the pool.
$offset = -s $primary->logfile;
$s3->stop;
ok(pool_is(qr/read-only sessions go to the standbys pg2\n/, $offset),
	'stopped pg3 leaves the pool');
($held, $ports) = hold_sessions($ro, 3);
is(count_of($ports, $p2), 3, 'every read-only session goes to pg2');
$_->quit for @$held;

# A monitor that stops publishing stops the writes it routed: new
# read-write sessions wait for it instead of trusting an old leader.
my ($monitor) = map { /^\s*(\d+)\s+.*connection_manager monitor/ ? $1 : () }
  split /\n/, `ps -o pid=,args= --ppid $primary->{_pid}`;
ok($monitor, 'the monitor process is found');
my $rw_open = cm_background_psql($primary->{cm_rw_port});
is($rw_open->query('select 1'), '1', 'a read-write session is open');
kill 'STOP', $monitor;
usleep(2_000_000);
($rc, $out, $err) = cm_psql($primary->{cm_rw_port}, 'select 1');
like($err,
	qr/FATAL:  no write leader is available\nDETAIL:  the monitor has not confirmed the write leader recently/,
	'a stopped monitor: read-write sessions are refused once its state expires');
$rw_open->query('select 1');
like($rw_open->{err},
	qr/FATAL:  terminating connection because node "pg1" is no longer the write leader\nDETAIL:  the monitor has not confirmed the write leader recently/,
	'and the session open through it is ended when the routing expires');
kill 'CONT', $monitor;
is(cm_psql_until($primary->{cm_rw_port}, 'select inet_server_port()', qr/^$p1$/),
	$p1, 'the monitor back: read-write sessions flow again');

# Only one node of three reachable: no majority, no write leader.
$s2->stop;
like(cm_psql_until($primary->{cm_rw_port}, 'select 1', qr/no write leader/),
	qr/FATAL:  no write leader is available\nDETAIL:  this connection manager reaches 1 of the 3 nodes, not a majority/,
	'without a majority of the nodes, read-write sessions are refused');
is((cm_http($primary->{cm_http_port}, '/node/is-read-write'))[1], 'false',
	'and the primary no longer says it is the write leader');
$s2->start;
is(cm_psql_until($primary->{cm_rw_port}, 'select inet_server_port()', qr/^$p1$/),
	$p1, 'a majority again: the primary takes read-write sessions');

done_testing();
