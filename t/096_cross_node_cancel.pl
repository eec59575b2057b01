# Cross-node cancel: a session's process id names the node whose manager
# holds it, so a CancelRequest sent to another node's manager is relayed
# there and ends the query with 57014.  A wrong key is relayed too (the
# relaying node cannot tell) and cancels nothing; a request from a node's
# address, or naming a node past the list, is not relayed.
#
# Copyright (c) 2026, The connection_manager Authors; see LICENSE.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../test/perl";
use CmTest;
use IO::Select;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $extra = "connection_manager.probe_interval = 200\n";
my ($pg1, $pg2, $pg3) = cm_three_nodes($extra);
my $p1 = $pg1->port;
my $where = 'select inet_server_port(), pg_is_in_recovery()';
for my $node ($pg1, $pg2, $pg3)
{
	is(cm_psql_until($node->{cm_rw_port}, $where, qr/^$p1\|f$/), "$p1|f",
		$node->name . ': writes land on pg1');
}
my $user = getpwuid($<);
# a client outside the node list (127.0.0.1 is every node's address here)
my $outside = '127.0.0.3';

# A cancel counter of a node's read-write or read-only port (/metrics).
sub cancels
{
	my ($node, $result, $port) = @_;
	$port //= 'read_write';
	my ($status, $body) = cm_http($node->{cm_http_port}, '/metrics');
	return $body =~
	  /^connection_manager_cancel_requests_total\{port="$port",result="$result"\} (\d+)$/m
	  ? $1
	  : -1;
}

# Waits until a counter reaches want; returns its last value.
sub cancels_until
{
	my ($node, $result, $want, $port) = @_;
	my $n = -1;
	for (1 .. 100)
	{
		$n = cancels($node, $result, $port);
		return $n if $n >= $want;
		usleep(100_000);
	}
	return $n;
}

sub cancel_request
{
	my ($port, $pid, $key, $from) = @_;
	CmTest::cm_raw($port, pack('NNNN', 16, 80877102, $pid, $key),
		timeout => 2, ($from ? (local_addr => $from) : ()));
	return;
}

# Whether a pg_sleep of ours runs on one of the nodes, within 10 seconds.
sub sleeping
{
	for (1 .. 100)
	{
		for my $node ($pg1, $pg2, $pg3)
		{
			return 1
			  if $node->safe_psql('postgres',
				"select count(*) from pg_stat_activity where query = 'select pg_sleep(60)' and state = 'active'"
			  ) eq '1';
		}
		usleep(100_000);
	}
	return 0;
}

# What the session's socket says within timeout seconds: the SQLSTATE of
# an ErrorResponse, 'quiet' when nothing came, 'closed'.
sub answer
{
	my ($sock, $timeout) = @_;
	my $sel = IO::Select->new($sock);
	my $deadline = time + $timeout;
	my $buf = '';
	while (time < $deadline)
	{
		next unless $sel->can_read(0.1);
		return 'closed' unless sysread($sock, $buf, 65536, length $buf);
		my $f = cm_error_fields($buf);
		return $f->{C} if $f->{C};
	}
	return 'quiet';
}

# A session through pg2's port of kind (rw or ro), running pg_sleep(60).
sub sleeper
{
	my ($kind) = @_;
	my ($ok, $sock, $pid, $key) = cm_login(
		port => $pg2->{"cm_${kind}_port"},
		user => $user,
		hold => 1);
	is($ok, 'ok', "$kind: logged in through pg2");
	is($pid >> 25, 2, "$kind: its process id names pg2, the second node");
	my $q = "select pg_sleep(60)\0";
	syswrite($sock, 'Q' . pack('N', length($q) + 4) . $q);
	ok(sleeping(), "$kind: pg_sleep runs");
	return ($sock, $pid, $key);
}

my ($sock, $pid, $key) = sleeper('rw');

# A wrong key: pg3 relays it to pg2 (it cannot know), pg2 matches nothing.
my $relayed = cancels($pg3, 'relayed');
my $unmatched2 = cancels($pg2, 'unmatched');
cancel_request($pg3->{cm_rw_port}, $pid, $key ^ 1, $outside);
is(cancels_until($pg3, 'relayed', $relayed + 1), $relayed + 1,
	'a wrong key is relayed by pg3');
is(cancels_until($pg2, 'unmatched', $unmatched2 + 1), $unmatched2 + 1,
	'and matches nothing on pg2');

# The right key, but from a node's address: not relayed.
my $unmatched3 = cancels($pg3, 'unmatched');
cancel_request($pg3->{cm_rw_port}, $pid, $key, '127.0.0.1');
is(cancels_until($pg3, 'unmatched', $unmatched3 + 1), $unmatched3 + 1,
	'from a node\'s address: dropped by pg3');

# The right slot and key, naming a node past the list, or pg3 itself.
cancel_request($pg3->{cm_rw_port}, (9 << 25) | ($pid & 0x1ffffff), $key,
	$outside);
cancel_request($pg3->{cm_rw_port}, (3 << 25) | ($pid & 0x1ffffff), $key,
	$outside);
is(cancels_until($pg3, 'unmatched', $unmatched3 + 3), $unmatched3 + 3,
	'naming node 9 of 3, or pg3 itself: dropped by pg3');
is(cancels($pg3, 'relayed'), $relayed + 1, 'none of them relayed');
is(answer($sock, 1), 'quiet', 'the session still runs');

# The right key from outside the list: relayed, and the query is canceled.
my $forwarded = cancels($pg2, 'forwarded');
my $t0 = time;
cancel_request($pg3->{cm_rw_port}, $pid, $key, $outside);
is(answer($sock, 20), '57014', 'canceled through pg3: 57014');
cmp_ok(time - $t0, '<', 5, 'within seconds');
is(cancels($pg3, 'relayed'), $relayed + 2, 'pg3 relayed it');
is(cancels_until($pg2, 'forwarded', $forwarded + 1), $forwarded + 1,
	'pg2 sent it to the backend');
close $sock;

# A session on pg2's read-only port, canceled through pg1's read-only port.
($sock, $pid, $key) = sleeper('ro');
$relayed = cancels($pg1, 'relayed', 'read_only');
cancel_request($pg1->{cm_ro_port}, $pid, $key, $outside);
is(answer($sock, 20), '57014', 'read-only: canceled through pg1: 57014');
is(cancels($pg1, 'relayed', 'read_only'), $relayed + 1,
	'counted on pg1\'s read-only port');
close $sock;

done_testing();
