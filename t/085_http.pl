# The HTTP port of a node alone: the health answers, the node's state, and
# requests that are malformed, too large, slow or of another method, which
# get a 4xx or a closed socket and never disturb the routing.
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
use Time::HiRes qw(time usleep);

my $primary = cm_primary('primary');
$primary->start;
$primary->backup('b');
my $standby = cm_standby('standby', $primary, 'b');
$standby->start;
my $http = $primary->{cm_http_port};
my $shttp = $standby->{cm_http_port};

my ($status, $body);
for (1 .. 100)
{
	($status, $body) = cm_http($http, '/connection/is-live');
	last if $status;
	usleep(100_000);
}
is("$status $body", '200 true', 'is-live: 200 true');
# the standby's monitor opens its port on its own schedule
for (1 .. 100)
{
	($status, $body) = cm_http($shttp, '/connection/is-live');
	last if $status;
	usleep(100_000);
}
is("$status $body", '200 true', 'standby is-live: 200 true');

# Health answers follow each node's routing.
my @cases = (
	[ $http, '/connection/is-ready', '200 true' ],
	[ $http, '/connection/is-ready-rw', '200 true' ],
	[ $http, '/connection/is-ready-ro', '200 true' ],
	[ $http, '/node/is-read-write', '200 true' ],
	[ $http, '/node/is-read-only', '503 false' ],
	[ $shttp, '/node/is-read-write', '503 false' ],
	[ $shttp, '/node/is-read-only', '200 true' ],
	[ $shttp, '/connection/is-ready-rw', '200 true' ],
	[ $http, '/connection/is-live?verbose=1', '200 true' ],);
for my $c (@cases)
{
	($status, $body) = cm_http($c->[0], $c->[1]);
	is("$status $body", $c->[2],
		($c->[0] == $http ? 'primary' : 'standby') . " $c->[1]: $c->[2]");
}

($status, $body) = cm_http($shttp, '/node/state');
is($status, 200, '/node/state: 200');
like($body, qr/"in_recovery":true/, '/node/state: the standby says so');
my $raw = cm_http_raw($http,
	"HEAD /connection/is-live HTTP/1.1\r\nHost: x\r\n\r\n");
like($raw, qr/\AHTTP\/1\.1 200 OK\r\n.*Content-Length: 4\r\n.*\r\n\r\n\z/s,
	'HEAD: the headers of the answer, no body');

# Everything else.
($status) = cm_http($http, '/no/such/thing');
is($status, 404, 'unknown path: 404');
($status) = cm_http($http, '/connection/is-live', method => 'POST');
is($status, 405, 'POST: 405');
$raw = cm_http_raw($http, "DELETE / HTTP/1.1\r\nHost: x\r\n\r\n");
like($raw, qr/\AHTTP\/1\.1 405 .*\r\nAllow: GET, HEAD, OPTIONS\r\n/s, '405 says what is allowed');
for my $path ('/connection/is-live/', '//connection/is-live', '/CONNECTION/IS-LIVE',
	'/connection/%69s-live', '/connection/../connection/is-live')
{
	($status) = cm_http($http, $path);
	is($status, 404, "$path: exact paths only, no decoding: 404");
}
$raw = cm_http_raw($http, "GET /connection/is-live HTTP/1.1\r\n\r\n");
like($raw, qr/\AHTTP\/1\.1 400 /, 'HTTP/1.1 without Host: 400');
$raw = cm_http_raw($http, "GET /connection/is-live HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
like($raw, qr/\AHTTP\/1\.1 400 /, 'two Host lines: 400');
$raw = cm_http_raw($http, "GET /connection/is-live HTTP/1.0\r\n\r\n");
like($raw, qr/\AHTTP\/1\.1 200 .*true\z/s, 'HTTP/1.0 without Host: served');
$raw = cm_http_raw($http,
	"GET /connection/is-live HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n"
	  . "GET /node/is-read-write HTTP/1.1\r\n\r\n");
like($raw, qr/\AHTTP\/1\.1 400 [^\n]*\r\n(?:(?!HTTP\/1).)*\z/s,
	'a request with a body (a smuggled second one): 400, one answer only');
$raw = cm_http_raw($http,
	"GET /connection/is-live HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
like($raw, qr/\AHTTP\/1\.1 400 /, 'Transfer-Encoding: 400');
$raw = cm_http_raw($http, "GET /connection/is-live HTTP/2.0\r\n\r\n");
like($raw, qr/\AHTTP\/1\.1 505 /, 'HTTP/2.0 request line: 505');
for my $bad ("garbage\r\n\r\n", "GET\r\n\r\n", "GET nopath HTTP/1.1\r\n\r\n",
	"GET / HTTP/1.1\r\nno colon here\r\n\r\n",
	"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", "\0\0\0\x08\x04\xd2\x16\x2f")
{
	$raw = cm_http_raw($http, $bad, timeout => 7);
	ok($raw =~ /\AHTTP\/1\.1 400 / || $raw eq '',
		'malformed request ' . join('', map { sprintf('%02x', ord) } split //, substr($bad, 0, 12))
		  . ': 400 or closed');
}
$raw = cm_http_raw($http, 'GET /' . ('a' x 300) . " HTTP/1.1\r\n\r\n");
like($raw, qr/\AHTTP\/1\.1 414 /, 'a path over 255 bytes: 414');
$raw = cm_http_raw($http, 'GET /' . ('a' x 9000) . " HTTP/1.1\r\n\r\n");
like($raw, qr/\AHTTP\/1\.1 431 /, 'a request over 8 kB: 431');

# A client that half-closes once its request is sent still gets the answer.
{
	my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $http, Proto => 'tcp');
	syswrite($sock, "GET /connection/is-live HTTP/1.1\r\nHost: x\r\n\r\n");
	shutdown($sock, 1);
	my $answer = '';
	while (sysread($sock, my $chunk, 4096)) { $answer .= $chunk; }
	close $sock;
	like($answer, qr/\AHTTP\/1\.1 200 .*\r\n\r\ntrue\z/s,
		'a request followed by a half-close is answered');
}
$raw = cm_http_raw($http, "GET / HTTP/1.1\r\n" . ("X-A: b\r\n" x 2000));
like($raw, qr/\AHTTP\/1\.1 431 /, 'headers over 8 kB: 431');

# A slow client is closed by the deadline; a crowd of idle ones does not
# stop the server from answering.
my $t0 = time;
$raw = cm_http_raw($http, "GET /connection/is-live HTTP/1.1\r\n", timeout => 20);
my $took = time - $t0;
is($raw, '', 'an unfinished request gets no answer');
ok($took < 15, 'and its socket is closed by the deadline');
my @idle;
for (1 .. 80)
{
	push @idle, IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $http, Proto => 'tcp');
}
usleep(200_000);
($status, $body) = cm_http($http, '/connection/is-live');
is("$status $body", '200 true',
	'with 80 idle connections held open, a new request is still answered');
$_ && close($_) for @idle;
@idle = ();
is($primary->safe_psql('postgres', 'select 1'), '1', 'the server is unharmed');
is((cm_psql($primary->{cm_rw_port}, 'select 1'))[1], '1', 'and so is routing');
ok(!$primary->log_contains(qr/server process .* was terminated|terminated by signal/),
	'no process crashed');

done_testing();
