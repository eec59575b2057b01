# Failover seen through the node list: with the primary gone there is no
# write leader; a promoted standby becomes the leader on its new timeline;
# the old primary, back on the old timeline, never takes writes again; two
# primaries on the highest timeline mean no leader at all.
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
use Time::HiRes qw(usleep);

my $extra = "connection_manager.probe_interval = 200\n"
  . "connection_manager.leader_wait_timeout = 1000\n";
my $pg1 = cm_primary('pg1', derived_ports => 1, extra => $extra);
$pg1->start;
$pg1->safe_psql('postgres', 'create table t (id int)');
$pg1->backup('b');
my $pg2 = cm_standby('pg2', $pg1, 'b', derived_ports => 1, extra => $extra);
my $pg3 = cm_standby('pg3', $pg1, 'b', derived_ports => 1, extra => $extra);
my @all = ($pg1, $pg2, $pg3);
my $nodes = join(', ', map { $_->name . '=127.0.0.1:' . $_->port } @all);
$_->append_conf('postgresql.conf', "connection_manager.nodes = '$nodes'\n")
  for @all;
$pg1->restart;
$pg2->start;
$pg3->start;
$pg1->wait_for_catchup($_) for ($pg2, $pg3);

my ($p1, $p2) = ($pg1->port, $pg2->port);
my $where = 'select inet_server_port(), pg_is_in_recovery()';

is(cm_psql_until($pg3->{cm_rw_port}, $where, qr/^$p1\|f$/), "$p1|f",
	'before: pg3\'s read-write port lands on pg1');

# The primary stops: no node is a primary, so no leader.
$pg1->stop('fast');
like(cm_psql_until($pg3->{cm_rw_port}, $where, qr/no write leader/),
	qr/FATAL:  no write leader is available\nDETAIL:  no reachable node of this cluster is a primary/,
	'primary gone: read-write sessions are refused with the reason');

# pg2 is promoted: timeline 2, the new leader for every node.
$pg2->promote;
is(cm_psql_until($pg3->{cm_rw_port}, $where, qr/^$p2\|f$/), "$p2|f",
	'promoted pg2 takes read-write sessions from pg3\'s port');
is(cm_psql_until($pg2->{cm_rw_port}, $where, qr/^$p2\|f$/), "$p2|f",
	'and from its own');
ok($pg3->log_contains(qr/Node "pg2" is the write leader, on timeline 2/),
	'pg3 logs the new leader and its timeline');
$pg2->safe_psql('postgres', 'insert into t values (2)');

# The old primary comes back on timeline 1: below the mark, never a leader.
$pg1->start;
is(cm_psql_until($pg1->{cm_rw_port}, $where, qr/^$p2\|f$/), "$p2|f",
	'the returning old primary sends its own read-write sessions to pg2');
for (1 .. 5)
{
	my ($rc, $out) = cm_psql($pg3->{cm_rw_port}, $where);
	is($out, "$p2|f", "writes through pg3 still land on pg2 ($_)");
	usleep(200_000);
}
is((cm_http($pg1->{cm_http_port}, '/node/is-read-write'))[1], 'false',
	'the old primary does not call itself the write leader');
my ($rc, $out) = cm_psql($pg1->{cm_rw_port}, 'insert into t values (3) returning inet_server_port()');
is($out, $p2, 'a write through the old primary\'s port is done on pg2');
is($pg1->safe_psql('postgres', 'select count(*) from t where id = 3'), '0',
	'and never on the old primary');

# pg3 is promoted too: two primaries on timeline 2, no leader.
$pg3->promote;
like(cm_psql_until($pg2->{cm_rw_port}, $where, qr/no write leader/),
	qr/DETAIL:  nodes "pg2" and "pg3" are both primaries on timeline 2/,
	'two primaries on the highest timeline: no leader, the reason says so');
($rc, $out) = cm_psql($pg1->{cm_rw_port}, 'select 1');
isnt($rc, 0, 'read-write sessions are refused on every node');
is((cm_http($pg2->{cm_http_port}, '/node/is-read-write'))[1], 'false',
	'neither primary calls itself the write leader');

# The mark is kept on disk: pg1 learnt timeline 2 from the others, and
# alone (a list of itself only) after a restart it still refuses to lead.
is(PostgreSQL::Test::Utils::slurp_file($pg1->data_dir . '/connection_manager.timeline_mark'),
	"2\n", 'the old primary keeps the mark it learnt from the others');
ok($pg1->log_contains(qr/the highest timeline seen is now 2\n.*DETAIL:  Node "pg\d" reported it/),
	'the rise of the mark is logged with the node that reported it');
$pg2->stop;
$pg3->stop;
$pg1->append_conf('postgresql.conf',
	"connection_manager.nodes = 'pg1=127.0.0.1:$p1'\n");
$pg1->restart;
like(cm_psql_until($pg1->{cm_rw_port}, 'select 1', qr/no write leader/),
	qr/DETAIL:  node "pg1" is a primary on timeline 1, below the highest timeline seen \(2\)/,
	'after a restart the mark still keeps the old primary from leading');

done_testing();
