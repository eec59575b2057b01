# HTTPS on the HTTP port (use_https) with the server's certificate: curl
# verifies it with --cacert, the nodes' monitors probe each other over
# HTTPS and verify it too (server_sslmode = verify-full), a client that
# trusts another CA is refused, plain HTTP gets no answer, stalled
# handshakes are closed and never lock the port, and a node whose
# certificate cannot be loaded says so and serves no HTTP at all until a
# reload finds one.
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
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $dir = PostgreSQL::Test::Utils::tempdir;

sub run_quiet
{
	my @cmd = @_;
	my ($out, $err);
	my $ok = IPC::Run::run(\@cmd, '>', \$out, '2>', \$err,
		IPC::Run::timeout(60));
	return ($ok, $out, $err);
}

sub openssl
{
	my ($ok, $out, $err) = run_quiet('openssl', @_);
	die "openssl @_: $err" unless $ok;
	return $out;
}

# A CA and a server certificate for 127.0.0.1; another CA nobody uses.
for my $ca ('ca', 'other_ca')
{
	openssl('req', '-x509', '-new', '-nodes', '-newkey', 'rsa:2048',
		'-keyout', "$dir/$ca.key", '-out', "$dir/$ca.crt", '-days', '2',
		'-subj', "/CN=$ca");
}
openssl('req', '-new', '-nodes', '-newkey', 'rsa:2048', '-keyout',
	"$dir/server.key", '-out', "$dir/server.csr", '-subj', '/CN=localhost');
PostgreSQL::Test::Utils::append_to_file("$dir/server.ext",
	"subjectAltName = DNS:localhost, IP:127.0.0.1\n");
openssl('x509', '-req', '-in', "$dir/server.csr", '-CA', "$dir/ca.crt",
	'-CAkey', "$dir/ca.key", '-CAcreateserial', '-out', "$dir/server.crt",
	'-days', '2', '-extfile', "$dir/server.ext");
chmod 0600, "$dir/server.key";

my @all = cm_three_nodes(qq{
connection_manager.probe_interval = 200
connection_manager.use_https = on
connection_manager.server_sslmode = verify-full
ssl = on
ssl_cert_file = '$dir/server.crt'
ssl_key_file = '$dir/server.key'
ssl_ca_file = '$dir/ca.crt'
});
my ($pg1, $pg2, $pg3) = @all;
my %http = map { $_->name => $_->{cm_http_port} } @all;

# curl over HTTPS: (exit code, HTTP status, body).
sub curl
{
	my ($node, $path, @args) = @_;
	my ($ok, $out, $err) = run_quiet(
		'curl', '-sS', '--max-time', '20', '--cacert', "$dir/ca.crt",
		'-w', '\n%{http_code}', @args,
		"https://127.0.0.1:$http{$node}$path");
	my $rc = $ok ? 0 : $? >> 8;
	return ($rc, 0, $err) unless $out =~ /\A(.*)\n(\d{3})\z/s;
	return ($rc, $2, $1);
}

sub curl_until
{
	my ($node, $path, $re) = @_;
	my @r;
	for (1 .. 150)
	{
		@r = curl($node, $path);
		return @r if "$r[1] $r[2]" =~ $re;
		usleep(100_000);
	}
	return @r;
}

ok($pg1->log_contains(qr/connection_manager: serving HTTPS on port $http{pg1}/),
	'the log says HTTPS is served');

# The probes go over HTTPS too: every node sees all three and the pool.
for my $n (qw(pg1 pg2 pg3))
{
	my ($rc, $st, $body) =
	  curl_until($n, '/group/read-only-info', qr/^200 .*"pg2".*"pg3"/);
	is($st, 200, "$n: /group/read-only-info over HTTPS");
	like($body, qr/"name":"pg2".*"name":"pg3"/,
		"$n: the pool of two, read by probes over HTTPS");
}
my ($rc, $st, $body) = curl('pg2', '/status');
is($rc, 0, 'curl --cacert verifies the server certificate');
my $s = decode_json($body);
is($s->{leader}, 'pg1', '/status over HTTPS: the leader');
is($s->{consensus}{reachable}, 3, '/status over HTTPS: three nodes answer');
is($s->{ports}{http}{https}, JSON::PP::true, '/status says HTTPS');
($rc, $st) = curl('pg1', '/primary');
is($st, 200, '/primary on the primary: 200');
($rc, $st) = curl('pg2', '/primary');
is($st, 503, '/primary on a standby: 503');
($rc, $st) = curl('pg3', '/replica?lag=16MB');
is($st, 200, '/replica?lag=16MB on a standby: 200');
($rc, $st, $body) = curl('pg1', '/metrics');
like($body, qr/^connection_manager_consensus 1$/m, '/metrics over HTTPS');
($rc, $st, $body) = curl('pg1', '/');
like($body, qr/<title>connection_manager<\/title>/, 'the status page over HTTPS');
($rc, $st) = curl('pg1', '/primary', '-X', 'POST');
is($st, 405, 'POST over HTTPS: 405');
($rc, $st, $body) = curl('pg1', '/connection/is-live', '--http1.0');
is("$st $body", '200 true', 'HTTP/1.0 inside TLS');

# A client that trusts another CA refuses the certificate.
($rc) = curl('pg1', '/status', '--cacert', "$dir/other_ca.crt");
is($rc, 60, 'curl with another CA: certificate not verified (exit 60)');

# Plain HTTP on the HTTPS port gets no HTTP answer.
my $raw = cm_http_raw($http{pg1},
	"GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
unlike($raw // '', qr/^HTTP\//, 'plain HTTP on the HTTPS port: no HTTP answer');

# Stalled handshakes: 70 connections that send nothing and 70 that send
# the first bytes of a ClientHello and stop.  The port still answers, and
# each stalled connection is closed, whether by its deadline or to make
# room for the answered ones.
my @stalled;
for my $i (1 .. 140)
{
	my $sock = IO::Socket::INET->new(
		PeerAddr => '127.0.0.1',
		PeerPort => $http{pg1},
		Proto => 'tcp',
		Timeout => 5) or last;
	syswrite($sock, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03") if $i % 2;
	push @stalled, $sock;
}
is(scalar @stalled, 140, '140 stalled handshakes opened');
($rc, $st, $body) = curl('pg1', '/connection/is-live');
is("$st $body", '200 true', 'the port answers while they stall');
my $sel = IO::Select->new(@stalled);
my %closed;
my $deadline = time + 30;
while (keys %closed < @stalled && time < $deadline)
{
	for my $sock ($sel->can_read(1))
	{
		next if $closed{$sock};
		my $n = sysread($sock, my $buf, 4096);
		if (!$n)
		{
			$closed{$sock} = 1;
			$sel->remove($sock);
		}
	}
}
is(scalar keys %closed, 140, 'every stalled handshake was closed by the port');
close $_ for @stalled;
($rc, $st, $s) = curl('pg3', '/status');
is(decode_json($s)->{consensus}{reachable}, 3, 'the probes still reach all three');

# A node whose certificate cannot be loaded serves no HTTP at all rather
# than falling back to plain HTTP; the others then see it unreachable.
$pg3->append_conf('postgresql.conf', "ssl_cert_file = '$dir/missing.crt'\nssl = off\n");
$pg3->restart;
my $said = 0;
for (1 .. 150)
{
	$said = $pg3->log_contains(
		qr/use_https is on but the server's certificate could not be loaded; the HTTP port is not served/
	);
	last if $said;
	usleep(100_000);
}
ok($said, 'no certificate: the log says the HTTP port is not served');
($rc, $st) = curl('pg3', '/status');
is($rc, 7, 'and it is not: curl cannot connect');
($st) = cm_http($http{pg3}, '/status');
is($st, 0, 'not even as plain HTTP');
($rc, $st, $body) = curl_until('pg1', '/status', qr/"reachable":2,/);
like($body, qr/"reachable":2,/, 'pg1 sees two of three nodes');

# The certificate back, a reload: the port opens, HTTPS with ssl = off.
$pg3->append_conf('postgresql.conf', "ssl_cert_file = '$dir/server.crt'\n");
$pg3->reload;
($rc, $st, $body) = curl_until('pg3', '/connection/is-live', qr/^200 /);
is("$st $body", '200 true', 'after a reload with the certificate back, pg3 serves HTTPS (ssl is off)');
($rc, $st, $body) = curl_until('pg1', '/status', qr/"reachable":3,/);
like($body, qr/"reachable":3,/, 'and pg1 reads it again');
ok(!$_->log_contains(qr/terminated by signal/), $_->name . ': no process crashed')
  for @all;

done_testing();
