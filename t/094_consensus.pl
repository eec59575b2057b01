# The consensus timeouts: a node that stops reaching a majority of the list
# keeps sending read-write sessions to the last write leader for
# read_write_consensus_timeout, then refuses them, and serves again once
# the other nodes are back.
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
  . "connection_manager.leader_wait_timeout = 300\n"
  . "connection_manager.read_write_consensus_timeout = 8000\n";
my ($pg1, $pg2, $pg3) = cm_three_nodes($extra);
my $p1 = $pg1->port;
my $where = 'select inet_server_port(), pg_is_in_recovery()';

is(cm_psql_until($pg1->{cm_rw_port}, $where, qr/^$p1\|f$/), "$p1|f",
	'before: writes through pg1 land on pg1');

# Every node votes for pg1 before the others stop, so that the rounds in
# between keep a majority of votes.
sub votes_for_pg1
{
	my ($instance) =
	  (cm_http($pg1->{cm_http_port}, '/node/state'))[1] =~ /"instance":"(\w+)"/;
	for (1 .. 100)
	{
		my $all = 1;
		for my $node ($pg1, $pg2, $pg3)
		{
			my $body = (cm_http($node->{cm_http_port}, '/node/state'))[1];
			$all = 0 unless $body =~ /"vote":"$instance"/;
		}
		return 1 if $all;
		usleep(100_000);
	}
	return 0;
}
ok(votes_for_pg1(), 'every node votes for pg1');

# pg1 loses both other nodes: 1 of 3, no majority.
my $offset = -s $pg1->logfile;
$_->stop('immediate') for ($pg2, $pg3);
my $kept = 0;
for (1 .. 100)
{
	$kept = 1
	  if $pg1->log_contains(
		qr/reaches 1 of the 3 nodes, not a majority.*\n.*DETAIL:  Read-write sessions go on as before for up to 8000 ms/,
		$offset);
	last if $kept;
	usleep(100_000);
}
ok($kept, 'pg1 logs that it lost the majority and keeps the leader for 8 s');
my ($rc, $out) = cm_psql($pg1->{cm_rw_port}, $where);
is($out, "$p1|f", 'meanwhile, new read-write sessions still go to pg1');

like(
	cm_psql_until($pg1->{cm_rw_port}, $where, qr/not a majority/),
	qr/FATAL:  no write leader is available\nDETAIL:  this connection manager reaches 1 of the 3 nodes, not a majority/,
	'past the timeout they are refused, the detail says why');

# Back to a majority: served again.
$_->start for ($pg2, $pg3);
is(cm_psql_until($pg1->{cm_rw_port}, $where, qr/^$p1\|f$/), "$p1|f",
	'with the nodes back, writes through pg1 land on pg1 again');

# With the default of 0, the leader is dropped at the first round without
# a majority.
$pg1->append_conf('postgresql.conf',
	"connection_manager.read_write_consensus_timeout = 0\n");
$pg1->reload;
ok(votes_for_pg1(), 'every node votes for pg1 again');
$offset = -s $pg1->logfile;
$_->stop('immediate') for ($pg2, $pg3);
like(
	cm_psql_until($pg1->{cm_rw_port}, $where, qr/not a majority/),
	qr/reaches 1 of the 3 nodes, not a majority/,
	'timeout 0: refused at once');
ok(!$pg1->log_contains(qr/go on as before/, $offset),
	'and nothing is kept');

done_testing();
