# A flood of busy connections on the HTTP ports of a majority of the
# nodes, from an address outside the node list (127.0.0.2, while the list
# says 127.0.0.1): each flood connection sends part of a request and waits,
# and is opened again as soon as the port closes it.  The nodes' probes of
# each other keep their own room, so every node keeps seeing a majority and
# the write leader stays.
#
# Copyright (c) 2026, The connection_manager Authors; see LICENSE.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../test/perl";
use CmTest;
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use POSIX ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my ($pg1, $pg2, $pg3) =
  cm_three_nodes("connection_manager.probe_interval = 500\n");
my $p1 = $pg1->port;
my $where = 'select inet_server_port()';

sub status
{
	my ($node) = @_;
	my ($st, $body) = cm_http($node->{cm_http_port}, '/status');
	return $st == 200 ? decode_json($body) : {};
}

is(cm_psql_until($pg3->{cm_rw_port}, $where, qr/^$p1$/), $p1,
	'before: read-write sessions land on pg1');
for (1 .. 100)
{
	last if (status($pg3)->{consensus}{reachable} // 0) == 3;
	usleep(100_000);
}
is(status($pg3)->{consensus}{reachable}, 3, 'before: pg3 reaches all three');

# The flood, in a child: 150 busy connections on each of pg1's and pg2's
# HTTP ports, reopened when closed, for as long as the parent checks.
my $flood_seconds = 8;
my @targets = ($pg1->{cm_http_port}, $pg2->{cm_http_port});
my $pid = fork();
die "fork: $!" unless defined $pid;
if ($pid == 0)
{
	my %socks;
	my $open = sub {
		my ($port) = @_;
		my $s = IO::Socket::INET->new(
			LocalAddr => '127.0.0.2',
			PeerAddr => '127.0.0.1',
			PeerPort => $port,
			Proto => 'tcp',
			Timeout => 2) or return;
		syswrite($s, "GET /status HTTP/1.1\r\nHost: flood\r\n");
		$socks{$s} = [ $s, $port ];
	};
	my $end = time + $flood_seconds;
	for my $port (@targets) { $open->($port) for 1 .. 150; }
	while (time < $end)
	{
		my $sel = IO::Select->new(map { $_->[0] } values %socks);
		for my $s ($sel->can_read(0.05))
		{
			my $port = $socks{$s}[1];
			delete $socks{$s};
			close $s;
			$open->($port);
		}
	}
	POSIX::_exit(0);
}

# Meanwhile: the leader stays, every node reaches the others.
usleep(500_000);
my ($lost, $landed, $checks) = (0, 0, 0);
my $deadline = time + $flood_seconds - 1.5;
while (time < $deadline)
{
	for my $n ($pg1, $pg2, $pg3)
	{
		my ($rc, $out) = cm_psql($n->{cm_rw_port}, $where);
		$landed++ if $rc == 0 && $out eq $p1;
		$checks++;
	}
	my $s = status($pg3);
	$lost++ unless ($s->{leader} // '') eq 'pg1';
	usleep(200_000);
}
waitpid($pid, 0);
is($landed, $checks, "during the flood every read-write session ($checks) landed on pg1");
is($lost, 0, 'and pg3 never lost the write leader');

# The flood did fill the room for other addresses, never the nodes'.
my ($st, $metrics) = cm_http($pg1->{cm_http_port}, '/metrics');
my ($refused_others) =
  $metrics =~ /^connection_manager_http_connections_refused_total\{from="others"\} (\d+)$/m;
my ($refused_nodes) =
  $metrics =~ /^connection_manager_http_connections_refused_total\{from="nodes"\} (\d+)$/m;
ok($refused_others > 0,
	"pg1 refused connections from elsewhere ($refused_others): the flood filled their room");
is($refused_nodes, 0, 'and none from the nodes\' addresses');
my $s = status($pg1);
for my $n (@{ $s->{nodes} })
{
	is($n->{reachable}, JSON::PP::true, "after: pg1 reaches $n->{name}");
}
ok(!$pg1->log_contains(qr/terminated by signal/), 'no process crashed');

done_testing();
