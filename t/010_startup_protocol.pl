# The first packets a client sends: encryption requests, malformed and
# half-sent packets.  Each bad one gets a FATAL ErrorResponse or a closed
# socket, and the manager goes on serving everybody else.
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
use Time::HiRes qw(time);

my $node = cm_primary('node');
$node->start;
my $port = $node->{cm_rw_port};
ok(cm_wait_for_port($port), 'read-write port answers');

my $login = cm_startup_packet('user', 'postgres', 'database', 'postgres');

# SSLRequest and GSSENCRequest are declined with 'N'; login follows.
my $ssl = pack('NN', 8, 80877103);
my $gss = pack('NN', 8, 80877104);
my ($resp) = cm_raw($port, $ssl, timeout => 1);
is($resp, 'N', 'SSLRequest answered N');
($resp) = cm_raw($port, $gss, timeout => 1);
is($resp, 'N', 'GSSENCRequest answered N');
my ($r, $closed, $sock) = cm_raw($port, $gss, timeout => 1, hold => 1);
syswrite($sock, $ssl);
my $buf = '';
sysread($sock, $buf, 1);
is($buf, 'N', 'GSSENCRequest then SSLRequest both declined');
syswrite($sock, $login);
my $sel = IO::Select->new($sock);
my $deadline = time + 10;
while (time < $deadline && $buf !~ /Z\0\0\0\x05I/)
{
	last unless $sel->can_read(1);
	last unless sysread($sock, $buf, 4096, length $buf);
}
like($buf, qr/Z\0\0\0\x05I/, 'login completes after both requests');
close $sock;
my ($rc, $out, $err) =
  cm_psql($port, 'select 1', conn => 'sslmode=prefer gssencmode=prefer');
is($out, '1', 'psql with sslmode=prefer logs in in plaintext');

# Bytes pipelined behind an SSLRequest are refused.
($resp) = cm_raw($port, $ssl . $login);
my $e = cm_error_fields($resp);
is($e->{C}, '08P01', 'data pipelined after SSLRequest refused');
like($e->{M}, qr/unencrypted data after an encryption request/,
	'pipelined data: message');

# Malformed first packets: [name, bytes, sqlstate].
my @bad = (
	[ 'length below 8', pack('NN', 4, 196608), '08P01' ],
	[ 'negative length', pack('NN', 0x80000000, 196608), '08P01' ],
	[ 'huge length', pack('NN', 0x7fffffff, 196608), '08P01' ],
	[ 'length above 10000', pack('NN', 10001, 196608), '08P01' ],
	[ 'SSLRequest of length 12', pack('NNN', 12, 80877103, 0), '08P01' ],
	[ 'cancel of length 12', pack('NNN', 12, 80877102, 1), '08P01' ],
	[ 'protocol 2.0', pack('NN', 8, 0x20000), '0A000' ],
	[ 'protocol 4.0', pack('NN', 8, 0x40000), '0A000' ],
	[ 'unknown request code', pack('NN', 8, 80877199), '0A000' ],
	[
		'missing terminator', pack('NN', 17, 196608) . "user\0postgres",
		'08P01'
	],
	[
		'name without value', pack('NN', 14, 196608) . "user\0\0",
		'08P01'
	],
	[
		'bytes after the terminator',
		pack('NN', 24, 196608) . "user\0postgres\0\0xx",
		'08P01'
	],
	[ 'no user', cm_startup_packet('database', 'postgres'), '28000' ],
	[
		'65 parameters',
		cm_startup_packet('user', 'postgres', map { ("p$_", 'v') } 1 .. 64),
		'08P01'
	],);
for my $case (@bad)
{
	my ($name, $bytes, $code) = @$case;
	my ($resp, $closed) = cm_raw($port, $bytes);
	my $e = cm_error_fields($resp);
	is($e->{S}, 'FATAL', "$name: FATAL");
	is($e->{C}, $code, "$name: SQLSTATE $code");
	ok($closed, "$name: socket closed");
}

# Garbage that is not even a length word, and an immediate close.
($resp, $closed) = cm_raw($port, "GET / HTTP/1.1\r\n\r\n");
ok($closed, 'HTTP request on the read-write port: closed');
is(cm_error_fields($resp)->{C}, '08P01', 'HTTP request: 08P01');
cm_raw($port, '', timeout => 0.1);

# A half-sent packet is held until authentication_timeout (2s here), while
# other clients are served meanwhile.
my $t0 = time;
my ($half, $hclosed, $hsock) =
  cm_raw($port, substr($login, 0, 10), timeout => 0.2, hold => 1);
($rc, $out) = cm_psql($port, 'select 42');
is($out, '42', 'served while another client sends half a packet');
$buf = '';
$sel = IO::Select->new($hsock);
$deadline = time + 15;
while (time < $deadline)
{
	last unless $sel->can_read(1) || time < $t0 + 3;
	my $n = sysread($hsock, $buf, 4096, length $buf);
	last if defined $n && $n == 0;
}
my $elapsed = time - $t0;
like(cm_error_fields($buf)->{M}, qr/authentication due to timeout/,
	'half-sent packet: timed out with a message');
cmp_ok($elapsed, '>=', 1.5, 'half-sent packet: held until the timeout');
cmp_ok($elapsed, '<', 10, 'half-sent packet: not held forever');

# One byte at a time is fine.
($r, $closed, $sock) = cm_raw($port, '', timeout => 0.01, hold => 1);
for my $byte (split //, $login)
{
	syswrite($sock, $byte);
}
$buf = '';
$sel = IO::Select->new($sock);
$deadline = time + 10;
while (time < $deadline && $buf !~ /Z\0\0\0\x05I/)
{
	last unless $sel->can_read(1);
	last unless sysread($sock, $buf, 4096, length $buf);
}
like($buf, qr/Z\0\0\0\x05I/, 'startup packet sent byte by byte logs in');
close $sock;

# After all this the workers are still the same processes and serving.
($rc, $out) = cm_psql($port, 'select 1');
is($out, '1', 'still serving after malformed input');
ok(!$node->log_contains('terminated by signal|server process .* exited'),
	'no worker crashed');

done_testing();
