# A read-write port already held by another process is reported in the
# log and never shared; the server itself still starts.
#
# Copyright (c) 2026, The connection_manager Authors; see LICENSE.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../test/perl";
use CmTest;
use IO::Socket::INET;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $taken = PostgreSQL::Test::Cluster::get_free_port();
my $holder = IO::Socket::INET->new(
	LocalAddr => '127.0.0.1',
	LocalPort => $taken,
	Listen => 5,
	ReuseAddr => 1) or die "could not hold port $taken: $!";

my $node = cm_primary('node', rw_port => $taken);
$node->start;
is($node->safe_psql('postgres', 'select 1'), '1', 'server runs');
ok( $node->log_contains(
		qr/could not bind read-write port on address "127.0.0.1", port $taken: Address already in use/
	),
	'the taken port is logged');

# Connections to the port reach the holder, not the manager.
my $client = IO::Socket::INET->new(
	PeerAddr => '127.0.0.1',
	PeerPort => $taken) or die;
my $accepted = $holder->accept;
ok($accepted, 'the holder still gets its connections');

# Another node's manager on a port of the first: refused, not shared.
my $first = cm_primary('first');
$first->start;
ok(cm_wait_for_port($first->{cm_rw_port}), 'first manager serves');
my $second = cm_primary('second', rw_port => $first->{cm_rw_port});
$second->start;
ok( $second->log_contains(qr/could not bind read-write port .* Address already in use/),
	'a second cluster cannot join the first one\'s port');
for (1 .. 10)
{
	my ($rc, $out) =
	  cm_psql($first->{cm_rw_port}, 'select inet_server_port()');
	is($out, $first->port, 'sessions on the port all reach the first cluster');
}

done_testing();
