# The HTTP API on three nodes that know each other: PGD's endpoints, the
# checks HAProxy and Kubernetes ask Patroni for, /group/*-info and /status,
# on the primary and on a standby, before and after a promotion; the lag
# of a paused standby in /replica?lag=.
#
# Copyright (c) 2026, The connection_manager Authors; see LICENSE.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../test/perl";
use CmTest;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my @all = cm_three_nodes("connection_manager.probe_interval = 200\n");
my ($pg1, $pg2, $pg3) = @all;
my ($p1, $p2, $p3) = map { $_->port } @all;
my %http = map { $_->name => $_->{cm_http_port} } @all;

# Asks until the status is the one wanted (the monitors decide each
# probe_interval); returns the last status and body.
sub http_until
{
	my ($node, $path, $want) = @_;
	my ($status, $body);
	for (1 .. 150)
	{
		($status, $body) = cm_http($http{$node}, $path);
		return ($status, $body) if $status == $want;
		usleep(100_000);
	}
	return ($status, $body);
}

sub status_of
{
	my ($node) = @_;
	my ($status, $body) = cm_http($http{$node}, '/status');
	return $status == 200 ? decode_json($body) : undef;
}

# Every node must see the pool of two before the checks are read.
for my $n (qw(pg1 pg2 pg3))
{
	my ($st, $body) = http_until($n, '/group/read-only-info', 200);
	for (1 .. 150)
	{
		last if $body =~ /"pg2".*"pg3"/;
		usleep(100_000);
		($st, $body) = cm_http($http{$n}, '/group/read-only-info');
	}
}

# status of each path on (pg1, pg2): the primary, a standby in the pool
my @matrix = (
	[ '/connection/is-live', 200, 200 ],
	[ '/connection/is-ready', 200, 200 ],
	[ '/connection/is-ready-rw', 200, 200 ],
	[ '/connection/is-ready-ro', 200, 200 ],
	[ '/node/is-read-write', 200, 503 ],
	[ '/node/is-read-only', 503, 200 ],
	[ '/group/read-write-info', 200, 200 ],
	[ '/group/read-only-info', 200, 200 ],
	[ '/primary', 200, 503 ],
	[ '/read-write', 200, 503 ],
	[ '/leader', 200, 503 ],
	[ '/replica', 503, 200 ],
	[ '/replica?lag=1GB', 503, 200 ],
	[ '/read-only', 200, 200 ],
	[ '/health', 200, 200 ],
	[ '/liveness', 200, 200 ],
	[ '/readiness', 200, 200 ],
	[ '/status', 200, 200 ],
	[ '/metrics', 200, 200 ],
	[ '/', 200, 200 ],);
sub check_matrix
{
	my ($when, $primary, $standby) = @_;
	for my $m (@matrix)
	{
		my ($path, $on_primary, $on_standby) = @$m;
		my ($st) = cm_http($http{$primary}, $path);
		is($st, $on_primary, "$when: $path on the primary $primary: $on_primary");
		($st) = cm_http($http{$standby}, $path);
		is($st, $on_standby, "$when: $path on the standby $standby: $on_standby");
	}
}
check_matrix('before', 'pg1', 'pg2');

# Bodies and methods.
my ($st, $body) = cm_http($http{pg2}, '/group/read-write-info');
is($body, qq([{"id":1,"name":"pg1","host":"127.0.0.1","port":$p1,"dbname":null}]),
	'read-write-info: the leader, as PGD lists it');
($st, $body) = cm_http($http{pg3}, '/group/read-only-info');
is($body,
	qq([{"id":2,"name":"pg2","host":"127.0.0.1","port":$p2,"dbname":null},)
	  . qq({"id":3,"name":"pg3","host":"127.0.0.1","port":$p3,"dbname":null}]),
	'read-only-info: the pool');
($st, $body) = cm_http($http{pg1}, '/primary');
my $check = decode_json($body);
is($check->{role}, 'primary', 'the check\'s body says the role, as Patroni\'s does');
is($check->{connection_manager}{write_leader}, JSON::PP::true, 'and the leader');
($st, $body) = cm_http($http{pg2}, '/replica');
$check = decode_json($body);
is($check->{role}, 'replica', 'a standby is a replica');
ok(defined $check->{xlog}{replayed_location}, 'with its replayed position');
my $raw = cm_http_raw($http{pg1}, "OPTIONS / HTTP/1.0\r\n\r\n");
like($raw, qr/\AHTTP\/1\.1 200 .*Content-Length: 0\r\n.*\r\n\r\n\z/s,
	'OPTIONS / (HAProxy\'s default check): the primary check, no body');
$raw = cm_http_raw($http{pg2}, "OPTIONS / HTTP/1.0\r\n\r\n");
like($raw, qr/\AHTTP\/1\.1 503 /, 'OPTIONS / on a standby: 503');
$raw = cm_http_raw($http{pg2}, "OPTIONS /replica HTTP/1.1\r\nHost: x\r\n\r\n");
like($raw, qr/\AHTTP\/1\.1 200 .*\r\n\r\n\z/s, 'OPTIONS /replica: 200, no body');
$raw = cm_http_raw($http{pg1}, "HEAD /primary HTTP/1.1\r\nHost: x\r\n\r\n");
like($raw, qr/\AHTTP\/1\.1 200 .*Content-Length: [1-9]\d*\r\n.*\r\n\r\n\z/s,
	'HEAD /primary: the headers of the answer, no body');
($st, $body) = cm_http($http{pg1}, '/');
like($body, qr/<title>connection_manager<\/title>/, 'GET /: the status page');
unlike($body, qr/(?:src|href)="?(?:https?:)?\/\//, 'with no external asset');
$raw = cm_http_raw($http{pg1}, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
like($raw, qr/^Content-Security-Policy: default-src 'none';.* connect-src 'self';.* frame-ancestors 'none'\r$/m,
	'the page may load nothing but /status and may not be framed');
like($raw, qr/^X-Content-Type-Options: nosniff\r$/m, 'no content sniffing');
for my $bad ('/replica?lag=abc', '/replica?lag=10mb', '/replica?lag=-1',
	'/read-only?lag=', '/readiness?lag=99999999999999999999')
{
	($st) = cm_http($http{pg2}, $bad);
	is($st, 400, "$bad: 400");
}
for my $ok ('/replica?lag=1048576', '/replica?lag=1024kB', '/replica?lag=10MB',
	'/replica?x=1&lag=1GB')
{
	($st) = cm_http($http{pg2}, $ok);
	is($st, 200, "$ok: 200");
}

# /status: what this manager sees.
my $s = status_of('pg3');
is($s->{node}, 'pg3', '/status: this node');
is($s->{leader}, 'pg1', '/status: the leader');
like($s->{leader_reason}, qr/node "pg1" is the one primary on timeline 1/, '/status: and why');
is_deeply($s->{read_only}{pool}, [ 'pg2', 'pg3' ], '/status: the pool');
is($s->{consensus}{majority}, JSON::PP::true, '/status: consensus');
is($s->{consensus}{reachable}, 3, '/status: three nodes answer');
is(scalar @{ $s->{nodes} }, 3, '/status: every node');
my ($n3) = grep { $_->{name} eq 'pg3' } @{ $s->{nodes} };
is($n3->{self}, JSON::PP::true, '/status: this node is marked');
is($n3->{role}, 'standby', '/status: role');
ok(defined $n3->{lag} && $n3->{lag} >= 0, '/status: its lag');
ok($n3->{probe}{count} > 0, '/status: probes counted');

# A paused standby falls behind: /replica?lag= below its lag says 503.
$pg3->safe_psql('postgres', 'select pg_wal_replay_pause()');
$pg1->safe_psql('postgres',
	"insert into t select g, repeat('x', 200) from generate_series(1, 20000) g");
($st) = http_until('pg3', '/replica?lag=100kB', 503);
is($st, 503, 'paused standby: /replica?lag=100kB is 503');
($st) = cm_http($http{pg3}, '/readiness?lag=100kB');
is($st, 503, 'and /readiness?lag=100kB');
($st) = cm_http($http{pg3}, '/replica?lag=1GB');
is($st, 200, 'within a larger lag: 200');
($st) = cm_http($http{pg3}, '/replica');
is($st, 200, 'without a lag: 200 (read_only_max_lag is -1, it stays in the pool)');
# its monitor may still hold the leader's new position against its own old
# one for a round or two
($st) = http_until('pg2', '/replica?lag=100kB', 200);
is($st, 200, 'the other standby, replaying, is within 100kB');
$s = status_of('pg1');
($n3) = grep { $_->{name} eq 'pg3' } @{ $s->{nodes} };
ok($n3->{lag} > 100 * 1024, "/status shows the paused standby's lag ($n3->{lag} bytes)");
$pg3->safe_psql('postgres', 'select pg_wal_replay_resume()');
($st) = http_until('pg3', '/replica?lag=100kB', 200);
is($st, 200, 'resumed: within 100kB again');

# Promotion: pg1 stops, pg2 is promoted, pg3 follows pg2.
$pg1->stop('fast');
($st) = http_until('pg2', '/connection/is-ready-rw', 503);
is($st, 503, 'primary gone: no node is ready for read-write sessions');
($st, $body) = cm_http($http{pg2}, '/group/read-write-info');
is("$st $body", '503 []', 'read-write-info: no leader, 503 and an empty list');
$pg2->promote;
$pg3->enable_streaming($pg2);
$pg3->restart;
($st) = http_until('pg3', '/replica', 200);
is($st, 200, 'pg3 follows the new primary and is back in the pool');
($st) = http_until('pg2', '/primary', 200);
check_matrix('after', 'pg2', 'pg3');
($st, $body) = cm_http($http{pg3}, '/group/read-write-info');
is($body, qq([{"id":2,"name":"pg2","host":"127.0.0.1","port":$p2,"dbname":null}]),
	'read-write-info: the new leader');
$s = status_of('pg2');
is($s->{leader}, 'pg2', '/status: the new leader');
is($s->{previous_leader}, 'pg1', '/status: the previous one');
is($s->{consensus}{reachable}, 2, '/status: two of three answer');
is($s->{timeline_mark}, 2, '/status: the mark rose');
my ($n1) = grep { $_->{name} eq 'pg1' } @{ $s->{nodes} };
is($n1->{reachable}, JSON::PP::false, '/status: pg1 unreachable');
ok($n1->{probe}{failures} > 0, '/status: its probes fail');

done_testing();
