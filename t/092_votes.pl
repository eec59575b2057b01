# The write leader is the node a majority of the list votes for.  Two
# standbys promoted on one timeline, each unreachable from the other's
# monitor, would each be the only primary their monitor sees: neither gets
# a majority of votes, so neither takes writes.  A timeline mark file
# truncated by hand gives no leader, with a log saying how to repair it,
# until it is repaired.
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
  . "connection_manager.leader_wait_timeout = 500\n";
my ($pg1, $pg2, $pg3) = cm_three_nodes($extra);
my ($p1, $p2, $p3) = map { $_->port } ($pg1, $pg2, $pg3);
my $where = 'select inet_server_port(), pg_is_in_recovery()';

is(cm_psql_until($pg3->{cm_rw_port}, $where, qr/^$p1\|f$/), "$p1|f",
	'before: writes through pg3 land on pg1');

# pg3's mark file is truncated by hand.
$pg3->stop('fast');
my $mark = $pg3->data_dir . '/connection_manager.timeline_mark';
open(my $fh, '>', $mark) or die "open $mark: $!";
close($fh);
$pg3->start;
like(
	cm_psql_until($pg3->{cm_rw_port}, $where, qr/mark file/),
	qr/DETAIL:  the timeline mark file of this node is damaged; see the server log/,
	'an empty mark file: no write leader, and the reason says why');
ok( $pg3->log_contains(
		qr/the timeline mark file ".*connection_manager\.timeline_mark" is damaged/),
	'the log names the file');
ok($pg3->log_contains(qr/HINT:  Write the cluster's highest timeline into it/),
	'and says how to repair it');
is(cm_psql_until($pg1->{cm_rw_port}, $where, qr/^$p1\|f$/), "$p1|f",
	'the other nodes still route writes');
is((cm_http($pg3->{cm_http_port}, '/node/state'))[1] =~ /"vote":"0{16}"/
	? 1 : 0, 1, 'pg3 votes for nobody');

# Repaired: the monitor reads the file again at its next probe.
open($fh, '>', $mark) or die "open $mark: $!";
print $fh "1\n";
close($fh);
is(cm_psql_until($pg3->{cm_rw_port}, $where, qr/^$p1\|f$/), "$p1|f",
	'repaired by hand: writes through pg3 land on pg1 again, no restart');
ok($pg3->log_contains(qr/the timeline mark file is readable again, with timeline 1/),
	'the log says it is readable again');

# Garbage is damaged too; without the file the mark is learnt again.
open($fh, '>', $mark) or die "open $mark: $!";
print $fh "2x\n";
close($fh);
$pg3->restart;
like(cm_psql_until($pg3->{cm_rw_port}, $where, qr/mark file/),
	qr/timeline mark file of this node is damaged/,
	'a mark file holding "2x": no write leader');
unlink($mark) or die "unlink $mark: $!";
is(cm_psql_until($pg3->{cm_rw_port}, $where, qr/^$p1\|f$/), "$p1|f",
	'removed: the mark is learnt from the other nodes again');


# pg2 and pg3 cannot reach each other's HTTP port: each names the other at
# an address where nothing listens.  pg1 still reaches both.
sub nodes_with_unreachable
{
	my ($hidden) = @_;
	return join(', ',
		map { $_->name . '=127.0.0.' . ($_ == $hidden ? 9 : 1) . ':' . $_->port }
		  ($pg1, $pg2, $pg3));
}
$pg2->append_conf('postgresql.conf',
	"connection_manager.nodes = '" . nodes_with_unreachable($pg3) . "'\n");
$pg3->append_conf('postgresql.conf',
	"connection_manager.nodes = '" . nodes_with_unreachable($pg2) . "'\n");
$_->reload for ($pg2, $pg3);

# The primary stops; both standbys are promoted, both on timeline 2.  pg1
# comes back on timeline 1: below the mark, but it answers, so each of
# pg2's and pg3's monitors reaches two of the three nodes.
$pg1->stop('fast');
$pg2->promote;
$pg3->promote;
$pg1->start;
# the end-of-recovery checkpoint that records the new timeline may lag the
# promotion
ok($pg2->poll_query_until('postgres',
	'select timeline_id = 2 from pg_control_checkpoint()'),
	'pg2 is on timeline 2');
ok($pg3->poll_query_until('postgres',
	'select timeline_id = 2 from pg_control_checkpoint()'),
	'pg3 is on timeline 2');

like(
	cm_psql_until($pg2->{cm_rw_port}, $where, qr/1 of the 3 nodes vote for it/),
	qr/DETAIL:  node "pg2" is the only primary on timeline 2, but 1 of the 3 nodes vote for it, not a majority/,
	'pg2 sees only itself as a primary, but only its own vote');
like(
	cm_psql_until($pg3->{cm_rw_port}, $where, qr/1 of the 3 nodes vote for it/),
	qr/DETAIL:  node "pg3" is the only primary on timeline 2, but 1 of the 3 nodes vote for it, not a majority/,
	'pg3 likewise');
like(
	cm_psql_until($pg1->{cm_rw_port}, $where, qr/both primaries/),
	qr/nodes "pg2" and "pg3" are both primaries on timeline 2/,
	'pg1, which reaches both, sees two primaries and votes for neither');

# Well past the vote's hold (4 x 200 ms + 1 s), no write lands anywhere.
my $landed = 0;
for my $i (1 .. 15)
{
	for my $node ($pg1, $pg2, $pg3)
	{
		my ($rc) = cm_psql($node->{cm_rw_port},
			"insert into t values ($i, 'split')");
		$landed++ if $rc == 0;
	}
	usleep(200_000);
}
is($landed, 0, 'no write through any node\'s read-write port in 3 s');
is( $pg2->safe_psql('postgres', "select count(*) from t where pad = 'split'")
	  + $pg3->safe_psql('postgres', "select count(*) from t where pad = 'split'"),
	0,
	'neither promoted node holds a row written through the manager');
is((cm_http($pg2->{cm_http_port}, '/node/is-read-write'))[1],
	'false', 'pg2 does not call itself the write leader');

done_testing();
