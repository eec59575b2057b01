# TLS termination on the client ports with the server's own certificate and
# settings: verify-full against the server certificate, a passphrase-
# protected key, client certificates checked against ssl_ca_file, PostgreSQL
# 17 direct TLS with ALPN, and plaintext when the server has ssl = off.
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
use Digest::MD5;

my $dir = PostgreSQL::Test::Utils::tempdir;

sub openssl
{
	my @args = @_;
	my ($out, $err);
	IPC::Run::run([ 'openssl', @args ], '>', \$out, '2>', \$err)
	  or die "openssl @args: $err";
	return $out;
}

# A CA, a server certificate for 127.0.0.1 and localhost with its key
# encrypted, a client certificate from the CA and one from another CA.
for my $ca ('ca', 'other_ca')
{
	openssl('req', '-x509', '-new', '-nodes', '-newkey', 'rsa:2048',
		'-keyout', "$dir/$ca.key", '-out', "$dir/$ca.crt", '-days', '2',
		'-subj', "/CN=$ca");
}
sub issue
{
	my ($name, $cn, $ca, $ext) = @_;
	openssl('req', '-new', '-nodes', '-newkey', 'rsa:2048',
		'-keyout', "$dir/$name.key", '-out', "$dir/$name.csr",
		'-subj', "/CN=$cn");
	PostgreSQL::Test::Utils::append_to_file("$dir/$name.ext", $ext);
	openssl('x509', '-req', '-in', "$dir/$name.csr", '-CA', "$dir/$ca.crt",
		'-CAkey', "$dir/$ca.key", '-CAcreateserial', '-out',
		"$dir/$name.crt", '-days', '2', '-extfile', "$dir/$name.ext");
	chmod 0600, "$dir/$name.key";
}
issue('server', 'localhost', 'ca',
	"subjectAltName = DNS:localhost, IP:127.0.0.1\n");
issue('alice', 'alice', 'ca', "basicConstraints = CA:FALSE\n");
issue('mallory', 'mallory', 'other_ca', "basicConstraints = CA:FALSE\n");
openssl('pkey', '-in', "$dir/server.key", '-out', "$dir/server_enc.key",
	'-aes256', '-passout', 'pass:s3cret');
chmod 0600, "$dir/server_enc.key";

my $node = cm_primary(
	'node', extra => qq{
ssl = on
ssl_cert_file = '$dir/server.crt'
ssl_key_file = '$dir/server_enc.key'
ssl_passphrase_command = 'echo s3cret'
ssl_ca_file = '$dir/ca.crt'
});
$node->start;
my $port = $node->{cm_rw_port};
ok(cm_wait_for_port($port), 'read-write port answers');

my $verify = "sslmode=verify-full sslrootcert=$dir/ca.crt";
my ($rc, $out, $err) = cm_psql($port, '\conninfo', conn => $verify);
like($out, qr/SSL connection \(protocol: TLSv1\.3/,
	'verify-full against the server certificate, passphrase-protected key');
($rc, $out) = cm_psql($port, 'select 1', conn => "$verify host=localhost");
is($out, '1', 'verify-full by host name');
($rc, $out, $err) = cm_psql($node->{cm_ro_port}, '\conninfo', conn => $verify);
like($out, qr/SSL connection/, 'the read-only port speaks TLS too');

# Volume both ways through TLS: a 20 MB result and a 4 MB parameter, and
# pgbench, exercise partial records and bytes OpenSSL holds back.
($rc, $out) = cm_psql($port,
	"select length(repeat('x', 20000000)), md5(repeat('y', 20000000))",
	conn => $verify);
is($out, '20000000|' . Digest::MD5::md5_hex('y' x 20000000),
	'a 20 MB value through TLS arrives intact');
PostgreSQL::Test::Utils::append_to_file("$dir/big.sql",
	"select length('" . ('z' x 4000000) . "');\n");
IPC::Run::run(
	[
		'psql', '-XAtq', '-d', "host=127.0.0.1 port=$port dbname=postgres $verify",
		'-f', "$dir/big.sql"
	],
	'>', \$out, '2>', \$err, IPC::Run::timeout(60));
chomp $out;
is($out, '4000000', 'a 4 MB query through TLS arrives intact');
{	local $ENV{PGSSLMODE} = 'require';
	command_ok(
		[ 'pgbench', '-i', '-q', '-h', '127.0.0.1', '-p', $port, 'postgres' ],
		'pgbench -i over TLS');
	command_like(
		[
			'pgbench', '-n', '-S', '-c', '4', '-j', '2', '-T', '2',
			'-h', '127.0.0.1', '-p', $port, 'postgres'
		],
		qr/number of failed transactions: 0 /,
		'pgbench over TLS through the read-write port');
}

# Client certificates: ours is accepted, one from another CA is refused.
($rc, $out, $err) = cm_psql($port, 'select 2',
	conn => "$verify sslcert=$dir/alice.crt sslkey=$dir/alice.key");
is($out, '2', 'a client certificate from ssl_ca_file is accepted');
($rc, $out, $err) = cm_psql($port, 'select 3',
	conn => "$verify sslcert=$dir/mallory.crt sslkey=$dir/mallory.key");
isnt($rc, 0, 'a client certificate from another CA is refused');
ok($node->log_contains(qr/could not accept SSL connection from 127\.0\.0\.1/),
	'the refused handshake is logged');

# The cert method and clientcert=verify-full, judged by the manager; its
# own login into the node then goes through the trust line for its
# address, with a proof.
$node->safe_psql('postgres',
	q{CREATE ROLE alice LOGIN; CREATE ROLE bob LOGIN PASSWORD 'bob pw';});
open my $hba, '>', $node->data_dir . '/pg_hba.conf' or die;
print $hba qq{local all all trust
host all all 127.0.0.2/32 trust
hostssl all alice,bob 127.0.0.1/32 cert
hostssl all dave,erin 127.0.0.1/32 cert map=certmap
hostssl all carol 127.0.0.1/32 scram-sha-256 clientcert=verify-full
host all all 127.0.0.1/32 trust
};
close $hba;
$node->safe_psql('postgres',
	q{CREATE ROLE carol LOGIN PASSWORD 'carol pw'; CREATE ROLE dave LOGIN; CREATE ROLE erin LOGIN;});
PostgreSQL::Test::Utils::append_to_file($node->data_dir . '/pg_ident.conf',
	"certmap alice dave\ncertmap /^(bo.*)\$ \\1\n");
# The manager logs in from 127.0.0.2 by trust with a proof; the node judges
# each client's certificate claim with these lines again.  The manager's own
# hop stays plaintext.
$node->append_conf('postgresql.conf', "connection_manager.server_sslmode = disable\n");
$node->reload;
sleep 1;
my $alice = "$verify sslcert=$dir/alice.crt sslkey=$dir/alice.key";
($rc, $out, $err) = cm_psql($port, 'select current_user', conn => "$alice user=alice");
is($out, 'alice', 'cert method: the certificate\'s CN logs in as alice');
($rc, $out, $err) = cm_psql($port, 'select current_user', conn => "$alice user=bob");
like($err, qr/certificate authentication failed for user "bob"/,
	'cert method: alice\'s certificate is not bob');
($rc, $out, $err) = cm_psql($port, 'select current_user', conn => "$alice user=dave");
is($out, 'dave', 'cert with map=: pg_ident.conf maps alice to dave');
($rc, $out, $err) = cm_psql($port, 'select current_user', conn => "$alice user=erin");
like($err, qr/certificate authentication failed for user "erin"/,
	'cert with map=: no line of the map allows alice as erin');
($rc, $out, $err) = cm_psql($port, 'select current_user', conn => "$verify user=alice");
like($err, qr/connection requires a valid client certificate/,
	'cert method: no certificate, no login');
{
	local $ENV{PGPASSWORD} = 'carol pw';
	($rc, $out, $err) = cm_psql($port, 'select current_user', conn => "$alice user=carol");
	like($err, qr/certificate authentication failed for user "carol"|FATAL/,
		'clientcert=verify-full: a certificate for another name is refused');
	($rc, $out, $err) = cm_psql($port, 'select current_user', conn => "$verify user=carol");
	like($err, qr/connection requires a valid client certificate/,
		'clientcert=verify-full: no certificate, no login');
}

# Pipelined plaintext behind the SSLRequest is still refused.
my ($resp) = cm_raw($port,
	pack('NN', 8, 80877103) . cm_startup_packet('user', 'postgres'));
is(cm_error_fields($resp)->{C}, '08P01', 'bytes pipelined behind SSLRequest refused');

# PostgreSQL 17 direct TLS: a ClientHello first, ALPN postgresql required.
my ($sout, $serr);
IPC::Run::run(
	[
		'openssl', 's_client', '-connect', "127.0.0.1:$port",
		'-alpn', 'postgresql', '-CAfile', "$dir/ca.crt"
	],
	'<', \'', '>', \$sout, '2>', \$serr, IPC::Run::timeout(30));
like($sout, qr/ALPN protocol: postgresql/, 'direct TLS with ALPN postgresql');
like($sout, qr/Verify return code: 0 \(ok\)/, 'direct TLS: certificate verifies');
IPC::Run::run(
	[ 'openssl', 's_client', '-connect', "127.0.0.1:$port", '-alpn', 'http/1.1' ],
	'<', \'', '>', \$sout, '2>', \$serr, IPC::Run::timeout(30));
unlike($sout, qr/ALPN protocol: http/, 'direct TLS without ALPN postgresql refused');

# Plain sessions still work, and ssl = off answers N after a reload.
($rc, $out) = cm_psql($port, 'select 4', conn => 'sslmode=disable');
is($out, '4', 'plaintext session with ssl = on');
$node->append_conf('postgresql.conf', "ssl = off\n");
$node->reload;
my $n;
for (1 .. 50)
{
	($n) = cm_raw($port, pack('NN', 8, 80877103), timeout => 1);
	last if $n eq 'N';
	select(undef, undef, undef, 0.1);
}
is($n, 'N', 'ssl = off after reload: SSLRequest answered N');
($rc, $out, $err) = cm_psql($port, 'select 5', conn => 'sslmode=require');
like($err, qr/server does not support SSL/, 'sslmode=require then fails');
ok(!$node->log_contains('terminated by signal'), 'no worker crashed');

done_testing();
