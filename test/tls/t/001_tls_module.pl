# The TLS module (src/tls.c) inside a real server, through the tls_probe
# worker: the server's certificate and encrypted key through
# ssl_passphrase_command, client certificates against ssl_ca_file and a CRL,
# protocol versions, ciphers, curves and DH parameters, reloads that fail and
# keep the previous context, ssl = off, direct TLS with ALPN, large transfers
# with partial writes and pending bytes, no SIGPIPE, channel binding data,
# and the client side with every sslmode.
#
# Copyright (c) 2026, The connection_manager Authors; see LICENSE.
use strict;
use warnings;

use Digest::SHA qw(sha256_hex sha384_hex);
use File::Copy;
use FindBin;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $build = "$FindBin::RealBin/..";
my $certs = PostgreSQL::Test::Utils::tempdir;

sub ossl
{
	my @cmd = ('openssl', @_);
	my ($out, $err);
	IPC::Run::run(\@cmd, '>', \$out, '2>', \$err)
	  or BAIL_OUT("openssl @_ failed: $err");
	return $out;
}

sub write_file
{
	my ($path, $text) = @_;
	open my $fh, '>', $path or die "$path: $!";
	print $fh $text;
	close $fh;
}

# A CA, the server certificate (SAN localhost and 127.0.0.1), the same key
# signed with SHA-384, client certificates (one revoked), a rogue one.
ossl(qw(req -x509 -new -nodes -newkey rsa:2048 -days 30),
	'-keyout', "$certs/ca.key", '-out', "$certs/ca.crt",
	'-subj', '/CN=tls_probe CA',
	'-addext', 'basicConstraints=critical,CA:TRUE',
	'-addext', 'keyUsage=critical,keyCertSign,cRLSign');
write_file("$certs/server.ext",
	"subjectAltName=DNS:localhost,IP:127.0.0.1\n");

sub issue
{
	my ($name, $cn, $md, $ext) = @_;
	ossl(qw(req -new -nodes -newkey rsa:2048),
		'-keyout', "$certs/$name.key", '-out', "$certs/$name.csr",
		'-subj', "/CN=$cn");
	ossl(qw(x509 -req -days 30 -CAcreateserial), "-$md",
		'-in', "$certs/$name.csr", '-CA', "$certs/ca.crt",
		'-CAkey', "$certs/ca.key", '-out', "$certs/$name.crt",
		$ext ? ('-extfile', $ext) : ());
}
issue('server', 'localhost', 'sha256', "$certs/server.ext");
ossl(qw(x509 -req -days 30 -CAcreateserial -sha384),
	'-in', "$certs/server.csr", '-CA', "$certs/ca.crt",
	'-CAkey', "$certs/ca.key", '-out', "$certs/server384.crt",
	'-extfile', "$certs/server.ext");
issue('alice', 'alice', 'sha256');
issue('mallory', 'mallory', 'sha256');
ossl(qw(req -x509 -new -nodes -newkey rsa:2048 -days 30),
	'-keyout', "$certs/rogue.key", '-out', "$certs/rogue.crt",
	'-subj', '/CN=alice');
ossl(qw(pkey -aes256 -passout pass:secret),
	'-in', "$certs/server.key", '-out', "$certs/server_enc.key");
ossl(qw(genpkey -genparam -algorithm DH -pkeyopt dh_param:ffdhe3072),
	'-out', "$certs/dh3072.pem");

write_file("$certs/index.txt", '');
write_file("$certs/crlnumber", "01\n");
write_file(
	"$certs/ca.cnf", qq{[ ca ]
default_ca = probe_ca
[ probe_ca ]
database = $certs/index.txt
crlnumber = $certs/crlnumber
certificate = $certs/ca.crt
private_key = $certs/ca.key
default_md = sha256
default_crl_days = 30
});
ossl('ca', '-config', "$certs/ca.cnf", '-revoke', "$certs/mallory.crt");
ossl('ca', '-config', "$certs/ca.cnf", '-gencrl', '-out', "$certs/root.crl");

# The channel binding hashes a client must compute for each certificate.
sub der_hash
{
	my ($crt, $fn) = @_;
	ossl('x509', '-in', $crt, '-outform', 'DER', '-out', "$crt.der");
	open my $fh, '<:raw', "$crt.der" or die;
	local $/;
	return $fn->(<$fh>);
}
my $end_point256 = der_hash("$certs/server.crt", \&sha256_hex);
my $end_point384 = der_hash("$certs/server384.crt", \&sha384_hex);

# The node: certificates copied into the data directory, named relatively.
my $probe_port = PostgreSQL::Test::Cluster::get_free_port();
my $node = PostgreSQL::Test::Cluster->new('tls');
$node->init;
my $pgdata = $node->data_dir;
for my $f (
	qw(server.crt server384.crt server.key server_enc.key ca.crt root.crl
	dh3072.pem))
{
	copy("$certs/$f", "$pgdata/$f") or die "copy $f: $!";
}
chmod 0600, "$pgdata/server.key", "$pgdata/server_enc.key";
$node->append_conf(
	'postgresql.conf', qq{
listen_addresses = '127.0.0.1'
dynamic_library_path = '$build:\$libdir'
shared_preload_libraries = 'tls_probe'
tls_probe.port = $probe_port
include 'tls_settings.conf'
});

my %base = (
	ssl => 'on',
	ssl_cert_file => 'server.crt',
	ssl_key_file => 'server_enc.key',
	ssl_passphrase_command => 'echo secret',
	ssl_passphrase_command_supports_reload => 'off',
	ssl_ca_file => 'ca.crt',
	ssl_crl_file => 'root.crl');

sub settings
{
	my (%set) = (%base, @_);
	write_file("$pgdata/tls_settings.conf",
		join('', map { "$_ = '$set{$_}'\n" } sort keys %set));
}

# Reloads with these settings; returns the log offset before the reload.
sub reload_with
{
	my $offset = -s $node->logfile;
	settings(@_);
	$node->reload;
	$node->wait_for_log(qr/tls_probe: reload load=/, $offset);
	return $offset;
}

sub probe_log_since
{
	my ($offset) = @_;
	return PostgreSQL::Test::Utils::slurp_file($node->logfile, $offset);
}

# openssl s_client against the probe; returns (stdout, stderr).
sub s_client
{
	my (%o) = @_;
	my @cmd = (
		qw(openssl s_client -ign_eof),
		($o{brief} // 1) ? '-brief' : (), '-connect',
		"127.0.0.1:$probe_port", '-servername', 'localhost',
		'-CAfile', "$certs/ca.crt", '-verify_return_error');
	push @cmd, '-starttls', 'postgres' unless $o{direct};
	push @cmd, @{ $o{args} } if $o{args};
	my $in = $o{input} // "INFO\nQUIT\n";
	my ($out, $err) = ('', '');
	IPC::Run::run(\@cmd, '<', \$in, '>', \$out, '2>', \$err,
		IPC::Run::timeout(60));
	return ($out, $err);
}

settings();
$node->start;
$node->wait_for_log(qr/tls_probe: listening on port $probe_port/);
ok($node->log_contains('tls_probe: load=1 enabled=1'),
	'the encrypted key loads through ssl_passphrase_command at start');

my ($out, $err) = s_client();
like($out, qr/^version=TLSv1\.3 cipher=TLS_\S+ cert=0 /m,
	'SSLRequest then TLS 1.3, no client certificate');
like($err, qr/Verification: OK/, 'the client verifies our certificate');
like($err, qr/Server Temp Key: ECDH, prime256v1/,
	'ssl_ecdh_curve (prime256v1) is the only group offered');
like($out, qr/endpoint=$end_point256$/m,
	'tls-server-end-point is SHA-256 of our certificate');

# Client certificates: verified against ssl_ca_file, revoked by the CRL.
($out, $err) = s_client(
	args => [ '-cert', "$certs/alice.crt", '-key', "$certs/alice.key" ]);
like($out, qr/cert=1 cn=alice dn=CN=alice verified=1/,
	'a client certificate from our CA is verified');

my $offset = -s $node->logfile;
($out, $err) = s_client(
	args => [ '-cert', "$certs/rogue.crt", '-key', "$certs/rogue.key" ]);
is($out, '', 'a certificate from another CA gets nothing');
$node->wait_for_log(
	qr/handshake failed: could not accept SSL connection: certificate verify failed: self-signed certificate/,
	$offset);
pass('a certificate from another CA fails the handshake');

$offset = -s $node->logfile;
($out, $err) = s_client(
	args => [ '-cert', "$certs/mallory.crt", '-key', "$certs/mallory.key" ]);
is($out, '', 'a revoked certificate gets nothing');
$node->wait_for_log(qr/certificate verify failed: certificate revoked/,
	$offset);
pass('ssl_crl_file revokes a client certificate');

# Direct TLS (PostgreSQL 17 clients): ALPN "postgresql" is required there.
$offset = -s $node->logfile;
($out, $err) = s_client(
	direct => 1,
	brief => 0,
	args => [ '-alpn', 'postgresql' ]);
like($out, qr/^version=TLSv1\.3/m, 'direct TLS with ALPN postgresql');
like($out, qr/^ALPN protocol: postgresql$/m, 'ALPN postgresql is selected');
unlike($out, qr/New Session Ticket/, 'no TLS 1.3 session tickets');
($out, $err) = s_client(direct => 1);
is($out, '', 'direct TLS without ALPN gets nothing');
$node->wait_for_log(
	qr/handshake failed: received direct SSL connection request without ALPN/,
	$offset);
($out, $err) = s_client(direct => 1, args => [ '-alpn', 'http/1.1' ]);
is($out, '', 'direct TLS with another protocol gets nothing');
$node->wait_for_log(qr/handshake failed: .*no application protocol/,
	$offset);
($out, $err) = s_client(brief => 0, args => [ '-alpn', 'http/1.1' ]);
like($out, qr/No ALPN negotiated/, 'no ALPN after SSLRequest without postgresql');
like($out, qr/^version=TLSv1\.3/m,
	'after SSLRequest, another ALPN protocol is ignored, as PostgreSQL 15 does'
);

# Large transfers: partial writes and WANT_WRITE out, SSL_pending in.
$offset = -s $node->logfile;
($out, $err) = s_client(input => "BIG 3000000\nQUIT\n");
is(length($out), 3000001, 'three megabytes arrive whole');
is($out =~ tr/x//, 3000000, '... and intact');
$node->wait_for_log(qr/tls_probe: BIG done, [1-9]\d* write waits/, $offset);
pass('... though writes had to wait for the socket');
my $data = join('', map { chr(32 + ($_ * 7) % 90) } 0 .. 199999);
my $sum = 0;
$sum += ord($_) for split //, $data;
($out, $err) = s_client(input => "ECHO 200000\n${data}QUIT\n");
like($out, qr/^got=200000 sum=$sum pending_reads=[1-9]\d*$/m,
	'200000 bytes read 7 at a time, most of them from SSL_pending');

# A client that vanishes in the middle of a large write: EPIPE, no SIGPIPE
# (the probe sets SIGPIPE to SIG_DFL, which would kill it).
$offset = -s $node->logfile;
{
	my $in = "BIG 200000000\n";
	my ($o, $e) = ('', '');
	my $h = IPC::Run::start(
		[
			qw(openssl s_client -quiet -ign_eof -starttls postgres),
			'-connect', "127.0.0.1:$probe_port"
		],
		'<', \$in, '>', \$o, '2>', \$e);
	$h->pump until length($o) > 1_000_000;
	$h->kill_kill;
}
$node->wait_for_log(qr/BIG write stopped: could not write/, $offset);
($out, $err) = s_client();
like($out, qr/^version=/m, 'the worker lives on after the peer vanished');

# A client that leaves, and our writes after it left: EPIPE, still no signal.
$offset = -s $node->logfile;
{
	my $in = "INFO\n";
	my ($o, $e) = ('', '');
	IPC::Run::run(
		[
			qw(openssl s_client -quiet -no_ign_eof -starttls postgres),
			'-connect', "127.0.0.1:$probe_port"
		],
		'<', \$in, '>', \$o, '2>', \$e, IPC::Run::timeout(60));
}
$node->wait_for_log(qr/tls_probe: write after close: -1 \d .*Broken pipe/,
	$offset);
($out, $err) = s_client();
like($out, qr/^version=/m, 'EPIPE raised no SIGPIPE');

# Protocol versions, ciphers, DH parameters, through reloads.
($out, $err) = s_client(args => ['-tls1_2']);
like($out, qr/^version=TLSv1\.2 /m, 'TLS 1.2 by default');

$offset = reload_with(
	ssl_passphrase_command_supports_reload => 'on',
	ssl_min_protocol_version => 'TLSv1.3');
like(probe_log_since($offset), qr/tls_probe: reload load=1 enabled=1/,
	'the encrypted key reloads when the command supports it');
($out, $err) = s_client(args => ['-tls1_2']);
is($out, '', 'TLS 1.2 is refused with ssl_min_protocol_version TLSv1.3');
$node->wait_for_log(
	qr/handshake failed: could not accept SSL connection: unsupported protocol \(the client may not support any SSL protocol version between TLSv1\.3 and TLSv1\.3\)/,
	$offset);

reload_with(
	ssl_passphrase_command_supports_reload => 'on',
	ssl_max_protocol_version => 'TLSv1.2',
	ssl_ciphers => 'ECDHE-RSA-AES128-GCM-SHA256',
	ssl_ecdh_curve => 'secp384r1');
($out, $err) = s_client();
like(
	$out,
	qr/^version=TLSv1\.2 cipher=ECDHE-RSA-AES128-GCM-SHA256 /m,
	'ssl_max_protocol_version and ssl_ciphers');
like($err, qr/Server Temp Key: ECDH, secp384r1/, 'ssl_ecdh_curve');

# A CRL directory instead of a file.
mkdir "$pgdata/crl" or die;
copy("$certs/root.crl", "$pgdata/crl/root.crl") or die;
ossl('rehash', "$pgdata/crl");
$offset = reload_with(
	ssl_passphrase_command_supports_reload => 'on',
	ssl_crl_file => '',
	ssl_crl_dir => 'crl');
($out, $err) = s_client(
	args => [ '-cert', "$certs/mallory.crt", '-key', "$certs/mallory.key" ]);
is($out, '', 'a certificate revoked in ssl_crl_dir gets nothing');
$node->wait_for_log(qr/certificate verify failed: certificate revoked/,
	$offset);
($out, $err) = s_client(
	args => [ '-cert', "$certs/alice.crt", '-key', "$certs/alice.key" ]);
like($out, qr/cert=1 cn=alice dn=CN=alice verified=1/,
	'... while a valid one is verified');

reload_with(
	ssl_passphrase_command_supports_reload => 'on',
	ssl_max_protocol_version => 'TLSv1.2',
	ssl_dh_params_file => 'dh3072.pem');
($out, $err) = s_client(args => [ '-cipher', 'DHE-RSA-AES256-GCM-SHA384' ]);
like($out, qr/cipher=DHE-RSA-AES256-GCM-SHA384 /, 'a DHE cipher');
like($err, qr/Server Temp Key: DH, 3072 bits/, 'ssl_dh_params_file is used');

reload_with(
	ssl_passphrase_command_supports_reload => 'on',
	ssl_cert_file => 'server384.crt');
($out, $err) = s_client();
like($out, qr/endpoint=$end_point384$/m,
	'tls-server-end-point follows a SHA-384 signature');

# Reloads that fail keep the previous context.
$offset = reload_with(
	ssl_passphrase_command_supports_reload => 'on',
	ssl_min_protocol_version => 'TLSv1.3',
	ssl_max_protocol_version => 'TLSv1.2');
like(
	probe_log_since($offset),
	qr/connection_manager: could not set SSL protocol version range.*\n.*DETAIL:  "ssl_min_protocol_version" cannot be higher than "ssl_max_protocol_version"(.*\n)*.*connection_manager: SSL configuration was not reloaded/,
	'min above max is refused');
($out, $err) = s_client();
like($out, qr/endpoint=$end_point384$/m, '... and the previous context stays');

$offset = reload_with(
	ssl_passphrase_command_supports_reload => 'on',
	ssl_cert_file => 'missing.crt');
like(
	probe_log_since($offset),
	qr/could not load server certificate file "missing.crt": No such file or directory/,
	'a missing certificate is logged');
like(probe_log_since($offset), qr/tls_probe: reload load=1 enabled=1/,
	'... and TLS stays available');

$offset = reload_with(
	ssl_passphrase_command_supports_reload => 'on',
	ssl_passphrase_command => 'echo wrong');
like(
	probe_log_since($offset),
	qr/connection_manager: could not load private key file "server_enc.key": bad decrypt/,
	'a wrong passphrase is logged');

$offset = reload_with();
like(
	probe_log_since($offset),
	qr/connection_manager: private key file "server_enc.key" cannot be reloaded because it requires a passphrase/,
	'without ssl_passphrase_command_supports_reload the key is not reloaded');
($out, $err) = s_client();
like($out, qr/endpoint=$end_point384$/m,
	'... and the previous context stays');

# ssl = off: clients are answered N.
$offset = reload_with(ssl => 'off');
like(probe_log_since($offset), qr/tls_probe: reload load=0 enabled=0/,
	'ssl = off drops the context');
($out, $err) = s_client();
is($out, '', 'no TLS with ssl = off');
$node->wait_for_log(qr/tls_probe: answered N/, $offset);

reload_with(
	ssl_key_file => 'server.key',
	ssl_passphrase_command => '');
($out, $err) = s_client();
like($out, qr/endpoint=$end_point256$/m, 'ssl = on again, plain key');

# The client side, from a backend, against the probe.
$node->safe_psql('postgres',
	"CREATE FUNCTION tls_probe_connect(int, text, text) RETURNS text "
	  . "AS 'tls_probe', 'tls_probe_connect' LANGUAGE C STRICT");

sub connect_as
{
	my ($mode, $host) = @_;
	return $node->safe_psql('postgres',
		"SELECT tls_probe_connect($probe_port, '$mode', '$host')");
}
like(connect_as('require', 'localhost'),
	qr/^ok TLSv1\.3 endpoint_seen=$end_point256 \| version=TLSv1\.3 .*endpoint=$end_point256$/,
	'require: both sides agree on the channel binding data');
like(connect_as('verify-ca', 'localhost'), qr/^ok /, 'verify-ca');
like(connect_as('verify-full', 'localhost'),
	qr/^ok /, 'verify-full with the DNS name');
like(connect_as('verify-full', '127.0.0.1'),
	qr/^ok /, 'verify-full with the IP address');
like(
	connect_as('verify-full', 'wrong.example'),
	qr/^handshake failed: could not establish SSL connection to the server: certificate verify failed: hostname mismatch/,
	'verify-full refuses another name');
like(connect_as('disable', 'localhost'),
	qr/^error: no TLS object/, 'disable makes no TLS object');
like(connect_as('bogus', 'localhost'),
	qr/^error: no TLS object/, 'an unknown sslmode makes none either');

reload_with(ssl_key_file => 'server.key', ssl_passphrase_command => '',
	ssl_ca_file => '', ssl_crl_file => '');
$node->poll_query_until('postgres', "SELECT current_setting('ssl_ca_file') = ''")
  or die;
like(
	connect_as('verify-ca', 'localhost'),
	qr/^handshake failed: .*certificate verify failed: unable to get local issuer certificate/,
	'without ssl_ca_file, verify-ca uses the system roots, which lack our CA'
);
like(connect_as('require', 'localhost'),
	qr/^ok .*cert=0 /, 'require still works');

ok(!$node->log_contains('terminated by signal'), 'nothing crashed');
$node->stop;
done_testing();
