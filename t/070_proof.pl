# The backend-side proof (SPEC promise 7): where pg_hba.conf admits a
# connection manager address by "trust", only connections that carry a
# valid connection_manager.proof get in.  Tokens are made here in Perl from
# the secret file, so the format is checked apart from the C code; the
# secret file itself must be private, shared by backup and never logged.
#
# Copyright (c) 2026, The connection_manager Authors; see LICENSE.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../test/perl";
use CmTest;
use Digest::SHA qw(hmac_sha256_hex);
use IO::Select;
use IO::Socket::UNIX;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $REFUSED =
  qr/^connection_manager: connection from a connection manager address without a valid proof$/;
my $INVALID = qr/^connection_manager: invalid connection manager proof$/;

# SSL with a root certificate store, so that this node could itself see a
# client's TLS and verify its certificate (see "what this node could have
# seen" below).
my $dir = PostgreSQL::Test::Utils::tempdir;
{
	my ($out, $err);
	IPC::Run::run(
		[
			'openssl', 'req', '-x509', '-new', '-nodes', '-newkey', 'rsa:2048',
			'-keyout', "$dir/server.key", '-out', "$dir/server.crt",
			'-days', '2', '-subj', '/CN=localhost'
		],
		'>', \$out, '2>', \$err) or die "openssl: $err";
	chmod 0600, "$dir/server.key";
}
my $node = cm_primary(
	'proof', extra => qq{log_connections = on
connection_manager.proof_required_from = '127.0.0.0/8, ::1/128'
ssl = on
ssl_cert_file = '$dir/server.crt'
ssl_key_file = '$dir/server.key'
ssl_ca_file = '$dir/server.crt'
});
open(my $hba, '>', $node->data_dir . '/pg_hba.conf') or die $!;
print $hba <<'EOF';
host all pwuser 127.0.0.1/32 scram-sha-256
host all all 127.0.0.1/32 trust
host all all 127.0.0.2/32 trust
host replication all 127.0.0.1/32 trust
local all all trust
local replication all trust
host all pwuser 192.0.2.0/24 scram-sha-256
host all all 192.0.2.0/24 trust
host all all 2001:db8::/32 trust
host all all 198.51.100.9/32 reject
host all all 203.0.113.0/24 ident
hostssl all all 100.64.0.0/24 cert
hostssl all all 100.64.1.0/24 trust
EOF
close $hba;
$node->start;
$node->safe_psql('postgres', q{
CREATE ROLE alice LOGIN;
CREATE ROLE bob LOGIN;
SET password_encryption = 'scram-sha-256';
CREATE ROLE pwuser LOGIN PASSWORD 'pw';
});

sub read_secret
{
	my ($n) = @_;
	my $path = $n->data_dir . '/connection_manager.secret';
	open(my $fh, '<:raw', $path) or die "$path: $!";
	local $/;
	my $bytes = <$fh>;
	close $fh;
	return $bytes;
}

my $secret = read_secret($node);
is(length($secret), 32, 'secret file holds 32 bytes');
is((stat($node->data_dir . '/connection_manager.secret'))[2] & 07777,
	0600, 'secret file has mode 0600');

my $nonce_counter = 0;

my $sysid = $node->safe_psql('postgres',
	'select system_identifier from pg_control_system()');

# The password claim: "0", or "p" (the password proven) or "m" (an md5
# answer) and the digest of the role's secret in pg_authid (or of the
# given text), as cm_proof.h defines it.
sub password_claim
{
	my ($kind, $user, $key, $rolpassword) = @_;
	return '0' unless $kind;
	$rolpassword //= $node->safe_psql('postgres',
		"select rolpassword from pg_authid where rolname = '$user'");
	return $kind . substr(
		hmac_sha256_hex(
			"connection_manager role secret\0$user\0$rolpassword", $key),
		0, 32);
}

# A token as the connection manager makes it; any field can be overridden.
sub token
{
	my (%o) = @_;
	my $ts = $o{ts} // CORE::time();
	my $nonce = $o{nonce} // sprintf('%08x%08x', $$, ++$nonce_counter);
	my $body = join(',',
		'v2', $ts, $nonce,
		$o{sysid} // $sysid,
		$o{target} // '127.0.0.1',
		$o{target_port} // $node->port,
		$o{addr} // '192.0.2.7',
		$o{port} // 40001,
		$o{tls} // 0,
		password_claim($o{password}, $o{user} // 'alice', $o{secret} // $secret,
			$o{rolpassword}),
		$o{cert} // 0,
		unpack('H*', $o{cn} // ''),
		unpack('H*', $o{dn} // ''));
	my $mac = hmac_sha256_hex(
		join("\0", $o{user} // 'alice', $o{db} // 'postgres', $body),
		$o{secret} // $secret);
	return "$body,$mac";
}

# Logs in with a raw startup packet, over TCP from 127.0.0.1 or over the
# Unix socket; returns 'ok' or the ErrorResponse's fields.
sub login
{
	my (%o) = @_;
	my @params = ('user', $o{user} // 'alice', 'database', $o{db} // 'postgres');
	push @params, @{ $o{params} } if $o{params};
	push @params, 'connection_manager.proof', $o{token} if defined $o{token};
	my $packet = cm_startup_packet(@params);
	my $buf;
	if ($o{unix})
	{
		my $sock = IO::Socket::UNIX->new(
			Peer => $node->host . '/.s.PGSQL.' . $node->port)
		  or die "unix socket: $!";
		syswrite($sock, $packet);
		my $sel = IO::Select->new($sock);
		$buf = '';
		while ($buf !~ /Z\0\0\0\x05I/ && $sel->can_read(10))
		{
			last unless sysread($sock, $buf, 65536, length $buf);
		}
		close $sock;
	}
	else
	{
		($buf) = cm_raw($o{node} ? $o{node}->port : $node->port,
			$packet, until => qr/Z\0\0\0\x05I/,
			local_addr => $o{from});
	}
	return 'ok' if $buf =~ /^R\0\0\0\x08\0\0\0\0/ && $buf =~ /Z\0\0\0\x05I/;
	return cm_error_fields($buf);
}

# Refused with 28000 and the given message, and nothing about why.
sub refused
{
	my ($r, $msg, $name) = @_;
	ok(ref $r && $r->{C} eq '28000' && $r->{M} =~ $msg && !exists $r->{D},
		$name)
	  or diag explain $r;
	return;
}

my $log_offset = -s $node->logfile;

# -- TCP from a proof_required_from address through a trust line --
refused(login(), $REFUSED, 'trust over TCP without a proof: refused');
ok( $node->log_contains(
		qr/startup packet carries no connection_manager\.proof\.\n.*Connection matched pg_hba.conf line 2: "host all all 127.0.0.1\/32 trust"/,
		$log_offset),
	'server log says why and which line');

my $good = token();
is(login(token => $good), 'ok', 'valid proof: accepted');
ok( $node->log_contains(
		qr/connection proven to come from a connection manager for client host=192\.0\.2\.7 port=40001/,
		$log_offset),
	'real client address and port logged');
refused(login(token => $good), $REFUSED, 'the same proof again: refused');
ok($node->log_contains(qr/proof was used before on this node: a replay/,
		$log_offset),
	'replay named in the log');

my $wrong_secret = $secret;
substr($wrong_secret, 0, 1) = chr(ord(substr($secret, 0, 1)) ^ 1);
refused(login(token => token(secret => $wrong_secret)),
	$REFUSED, 'wrong HMAC: refused');
refused(login(token => token(user => 'bob')),
	$REFUSED, 'proof for another user: refused');
is(login(user => 'bob', token => token(user => 'bob')),
	'ok', 'that proof for its own user: accepted');
refused(login(token => token(db => 'template1')),
	$REFUSED, 'proof for another database: refused');
is(login(db => 'template1', token => token(db => 'template1')),
	'ok', 'that proof for its own database: accepted');
refused(login(token => token(ts => CORE::time() - 120)),
	$REFUSED, 'proof 120 s old: refused');
refused(login(token => token(ts => CORE::time() + 120)),
	$REFUSED, 'proof 120 s ahead: refused');
# A proof dated before the server started is refused (below): wait until
# this one has run for longer than the proof's age.
$node->poll_query_until('postgres',
	q{select clock_timestamp() - pg_postmaster_start_time() > '12 s'})
  or die 'server start not long enough ago';
is(login(token => token(ts => CORE::time() - 10)),
	'ok', 'proof 10 s old: accepted');
is(login(token => token(ts => CORE::time() + 30)),
	'ok', 'proof 30 s ahead: accepted');
my $t = token();
$t =~ s/^v2/v3/;
refused(login(token => $t), $REFUSED, 'unknown version: refused');
my $now = CORE::time();
my $v1 = "v1:$now:0011223344556677:192.0.2.7:40001:"
  . hmac_sha256_hex(
	join("\0", 'v1', $now, '0011223344556677', 'alice', 'postgres',
		'192.0.2.7', 40001),
	$secret);
refused(login(token => $v1), $REFUSED, 'a version 1 token: refused');
refused(login(token => 'garbage'), $REFUSED, 'garbage: refused');
refused(login(token => ''), $REFUSED, 'empty proof: refused');
$t = token();
refused(login(token => uc $t), $REFUSED, 'upper-case proof: refused');
refused(login(token => token(), params => [ 'Connection_Manager.Proof', token() ]),
	$REFUSED, 'two proofs, names in any case: refused');
is(login(token => token(addr => '2001:db8::7', port => 1)),
	'ok', 'proof with an IPv6 client address: accepted');
ok( $node->log_contains(
		qr/The proof's HMAC does not match user "alice", database "postgres"/,
		$log_offset),
	'HMAC failure named in the log');
ok($node->log_contains(qr/The proof is 120 seconds old/, $log_offset),
	'expiry named in the log');
ok($node->log_contains(qr/The proof is dated 120 seconds ahead/, $log_offset),
	'future date named in the log');
ok($node->log_contains(qr/The proof is malformed\./, $log_offset),
	'malformed proof named in the log');

# -- a proof is for one node: this cluster, this port, this address --
refused(login(token => token(sysid => '1')),
	$REFUSED, 'proof for another cluster: refused');
refused(login(token => token(target_port => $node->port + 1)),
	$REFUSED, 'proof for another port: refused');
refused(login(token => token(target => '127.0.0.3')),
	$REFUSED, 'proof for another address: refused');
ok($node->log_contains(qr/The proof is for the cluster with system identifier 1; this node's is $sysid\./,
		$log_offset),
	'cluster mismatch named in the log');
ok($node->log_contains(qr/The proof is for port \d+; this node listens on \d+\./, $log_offset),
	'port mismatch named in the log');
ok($node->log_contains(qr/The proof is for address 127\.0\.0\.3; the connection arrived on 127\.0\.0\.1/,
		$log_offset),
	'address mismatch named in the log');

# -- the node judges the real client with its own pg_hba.conf --
sub judged
{
	my ($r, $msg, $name) = @_;
	ok(ref $r && $r->{C} eq '28000' && $r->{M} eq $msg, $name)
	  or diag explain $r;
	return;
}
judged(login(token => token(addr => '198.51.100.10')),
	'no pg_hba.conf entry for host "198.51.100.10", user "alice", database "postgres", no encryption',
	'a client no line admits: refused as the server refuses it');
judged(login(token => token(addr => '198.51.100.10', tls => 1)),
	'no pg_hba.conf entry for host "198.51.100.10", user "alice", database "postgres", SSL encryption',
	'the same over TLS: the message names the encryption');
judged(login(token => token(addr => '198.51.100.9')),
	'pg_hba.conf rejects connection for host "198.51.100.9", user "alice", database "postgres", no encryption',
	'a client a reject line names: refused');
ok($node->log_contains(qr/A connection manager vouched for client host=198\.51\.100\.9 port=40001 \(no SSL\); this node's pg_hba\.conf judged it by line 10: "host all all 198\.51\.100\.9\/32 reject"/,
		$log_offset),
	'the log names the client and the line');
judged(login(token => token(addr => '127.0.0.1')),
	'connection_manager: connection from a connection manager address without a valid proof',
	'a client on a proof_required_from address cannot use the trust line');
judged(login(user => 'pwuser', from => '127.0.0.2',
		token => token(user => 'pwuser')),
	'connection_manager: this node requires scram-sha-256 authentication for user "pwuser", and the client proved no password to the connection manager',
	'a password line, no password proven: refused');
is(login(user => 'pwuser', from => '127.0.0.2',
		token => token(user => 'pwuser', password => 'p')),
	'ok', 'the password proven: accepted');

# Refused as a wrong password is (28P01).
sub pw_refused
{
	my ($r, $name) = @_;
	ok(ref $r && $r->{C} eq '28P01'
		  && $r->{M} eq 'password authentication failed for user "pwuser"',
		$name)
	  or diag explain $r;
	return;
}

# The password claim names the role secret the entry node checked: a
# password this node changed (or removed) and the entry node has not yet
# replayed does not count; an md5 answer counts for md5 lines only, and a
# SCRAM line needs a SCRAM secret, as for a direct connection.
pw_refused(login(user => 'pwuser', from => '127.0.0.2',
		token => token(user => 'pwuser', password => 'p',
			rolpassword => 'SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy')),
	'a password proven against another secret: refused');
ok($node->log_contains(qr/The entry node checked the password against another secret than this node's/,
		$log_offset),
	'the log says the secrets differ');
pw_refused(login(user => 'pwuser', from => '127.0.0.2',
		token => token(user => 'pwuser', password => 'm')),
	'an md5 answer under a SCRAM line: refused');
judged(login(token => token(addr => '203.0.113.5')),
	'connection_manager: this node requires ident authentication for user "alice", which a connection manager cannot vouch for',
	'a method the manager cannot vouch for: refused');
judged(login(token => token(addr => '100.64.1.5')),
	'no pg_hba.conf entry for host "100.64.1.5", user "alice", database "postgres", no encryption',
	'a hostssl line does not match a client without TLS');
is(login(token => token(addr => '100.64.1.5', tls => 1)),
	'ok', 'and matches one with TLS');
judged(login(token => token(addr => '100.64.0.5', tls => 1)),
	'connection requires a valid client certificate',
	'a cert line without a certificate: refused');
judged(login(token => token(addr => '100.64.0.5', tls => 1, cert => 1, cn => 'bob', dn => 'CN=bob')),
	'certificate authentication failed for user "alice"',
	'a cert line, a certificate for another name: refused');
is(login(token => token(addr => '100.64.0.5', tls => 1, cert => 1, cn => 'alice', dn => 'CN=alice')),
	'ok', 'a cert line, the certificate names the role: accepted');

# What this node could have seen of the client directly: without a root
# certificate store it verifies no client certificate, and without SSL it
# sees no TLS at all, so its hostssl lines never match (the server loads
# them with a warning).  A claim from the entry node counts for no more.
sub reload_until
{
	my ($setting, $value) = @_;
	$node->append_conf('postgresql.conf', "$setting = '$value'\n");
	$node->reload;
	$node->poll_query_until('postgres',
		"select current_setting('$setting') = '$value'")
	  or die "reload of $setting not seen";
	return;
}
reload_until('ssl_ca_file', '');
judged(login(token => token(addr => '100.64.0.5', tls => 1, cert => 1, cn => 'alice', dn => 'CN=alice')),
	'client certificates can only be checked if a root certificate store is available',
	'no root certificate store here: a certificate the entry node verified does not count');
is(login(token => token(addr => '100.64.1.5', tls => 1)),
	'ok', 'the hostssl trust line still matches a TLS client');
reload_until('ssl', 'off');
judged(login(token => token(addr => '100.64.1.5', tls => 1)),
	'no pg_hba.conf entry for host "100.64.1.5", user "alice", database "postgres", no encryption',
	'no SSL here: a TLS client of the entry node does not match a hostssl line');
reload_until('ssl', 'on');
reload_until('ssl_ca_file', "$dir/server.crt");
is(login(token => token(addr => '100.64.0.5', tls => 1, cert => 1, cn => 'alice', dn => 'CN=alice')),
	'ok', 'with both back, the certificate counts again');

# Only trust and cert are concerned: a password line needs no proof.
my ($rc, $out, $err) = (0, '', '');
{
	local $ENV{PGPASSWORD} = 'pw';
	($rc, $out, $err) = $node->psql(
		'postgres', 'select 1',
		connstr => 'host=127.0.0.1 port=' . $node->port
		  . ' dbname=postgres user=pwuser');
}
is($out, '1', 'scram-sha-256 over TCP without a proof: accepted');

# Physical replication matches only "replication" lines: exempt.  A
# logical replication connection matches the trust line: not exempt.
($rc, $out, $err) = $node->psql(
	'postgres', 'IDENTIFY_SYSTEM',
	connstr => 'host=127.0.0.1 port=' . $node->port . ' replication=true');
is($rc, 0, 'physical replication over TCP trust: accepted');
refused(login(params => [ 'replication', 'database' ]),
	$REFUSED, 'logical replication over TCP trust without a proof: refused');

# -- Unix socket: local trust is unaffected, but a token must be valid --
is(login(unix => 1), 'ok', 'local trust without a proof: accepted');
refused(login(unix => 1, token => token()),
	$INVALID, 'local with a valid proof: refused, no manager connects that way');
ok($node->log_contains(qr/The proof came over a Unix-domain socket/, $log_offset),
	'the log says why');
refused(login(unix => 1, token => token(user => 'bob')),
	$INVALID, 'local with a forged proof: refused');
my $opt = login(unix => 1,
	params => [ 'options', '-c connection_manager.proof=' . token() ]);
ok(ref $opt && $opt->{C} eq '28000' && $opt->{M} =~ /can only be set by a connection manager/,
	'proof inside "options": refused')
  or diag explain $opt;

# -- the setting itself is hidden from ordinary roles --
($rc, $out, $err) = $node->psql('postgres', 'SHOW connection_manager.proof',
	extra_params => [ '-U', 'alice' ]);
isnt($rc, 0, 'ordinary role cannot SHOW connection_manager.proof');
like($err, qr/must be superuser or have privileges of pg_read_all_settings/,
	'SHOW refused: message');
($rc, $out, $err) = $node->psql('postgres',
	q{select count(*) from pg_settings where name = 'connection_manager.proof'},
	extra_params => [ '-U', 'alice' ]);
is($out, '0', 'not in pg_settings for an ordinary role');
($rc, $out, $err) = $node->psql('postgres',
	q{ALTER ROLE alice SET connection_manager.proof = 'x'});
isnt($rc, 0, 'ALTER ROLE ... SET connection_manager.proof refused');

# -- proof_required_from --
($rc, $out, $err) = $node->psql('postgres',
	q{ALTER SYSTEM SET connection_manager.proof_required_from = '127.0.0.1/33'});
like($err, qr/not a valid CIDR mask/, 'bad CIDR mask refused');
($rc, $out, $err) = $node->psql('postgres',
	q{ALTER SYSTEM SET connection_manager.proof_required_from = 'localhost'});
like($err, qr/not a numeric IP address/, 'host name refused');

$node->safe_psql('postgres',
	q{ALTER SYSTEM SET connection_manager.proof_required_from = ''});
$node->reload;
$node->poll_query_until('postgres',
	q{select current_setting('connection_manager.proof_required_from') = ''})
  or die 'reload not seen';
is(login(), 'ok', 'required_from empty: trust over TCP accepted again');
refused(login(token => token(user => 'bob')),
	$INVALID, 'required_from empty: a forged proof is still refused');

$node->safe_psql('postgres',
	q{ALTER SYSTEM SET connection_manager.proof_required_from = '192.0.2.0/24, 127.0.0.1'});
$node->reload;
$node->poll_query_until('postgres',
	q{select current_setting('connection_manager.proof_required_from') <> ''})
  or die 'reload not seen';
refused(login(), $REFUSED, 'a list with a plain address: refused again');
$node->safe_psql('postgres',
	q{ALTER SYSTEM RESET connection_manager.proof_required_from});

# Set in postgresql.conf, the setting holds from the start: it must be
# defined before the prefix is reserved.
$node->append_conf('postgresql.conf',
	"connection_manager.proof_required_from = '10.255.0.0/16'\n");
$log_offset = -s $node->logfile;
$node->restart;
is(login(), 'ok', 'required_from in postgresql.conf applies at start');
ok(!$node->log_contains(qr/invalid configuration parameter name/, $log_offset),
	'no setting of ours dropped at start');
$node->append_conf('postgresql.conf',
	"connection_manager.proof_required_from = '127.0.0.0/8, ::1/128'\n");
$node->reload;
$node->poll_query_until('postgres',
	q{select current_setting('connection_manager.proof_required_from') <> '10.255.0.0/16'})
  or die 'reload not seen';
refused(login(), $REFUSED, 'default list back: refused again');

# The nonces seen are forgotten when the server restarts (or reinitializes
# shared memory after a crash): a proof dated before that may have been
# used already, and is refused, even within its 60 seconds.
{
	my $ts = CORE::time();
	my $before = token(ts => $ts);
	is(login(token => $before), 'ok', 'a proof used once');
	# the restart must come in a later second than the proof
	$node->poll_query_until('postgres',
		"select extract(epoch from clock_timestamp()) >= $ts + 1")
	  or die 'clock did not move';
	$log_offset = -s $node->logfile;
	$node->restart;
	refused(login(token => $before), $REFUSED,
		'replayed after a restart: refused');
	ok($node->log_contains(qr/The proof is dated before this node began remembering proofs/,
			$log_offset),
		'the log says why');
	is(login(token => token()), 'ok', 'a proof made after the restart: accepted');
}

# -- end to end: the connection manager proves its own connections --
$log_offset = -s $node->logfile;
my ($cm_rc, $cm_out);
{
	local $ENV{PGPASSWORD} = 'pw';
	($cm_rc, $cm_out) = cm_psql($node->{cm_rw_port}, 'select 1',
		conn => 'user=pwuser');
}
is($cm_out, '1', 'a SCRAM client through the read-write port: accepted');
ok( $node->log_contains(
		qr/connection proven to come from a connection manager for client host=127\.0\.0\.1 port=\d+/,
		$log_offset),
	'the backend got a proof naming the real client');

# -- the secret: unchanged by restarts, shared by backup, never logged --
is(read_secret($node), $secret, 'secret kept across restarts');
$node->backup('b');
my $standby = cm_standby('proof_standby', $node, 'b');
$standby->start;
is(read_secret($standby), $secret, 'standby made by backup has the same secret');

# A proof read off the wire on its way to one node is no good on another
# node of the cluster, although both share the secret.
{
	my $for_primary = token();
	refused(login(node => $standby, token => $for_primary),
		$INVALID, 'a proof for the primary, replayed to the standby: refused');
	ok($standby->log_contains(qr/The proof is for port ${\ $node->port}; this node listens on ${\ $standby->port}\./),
		'the standby names the mismatch');
	is(login(token => $for_primary), 'ok', 'the same proof is good on its own node');
}
is((stat($standby->data_dir . '/connection_manager.secret'))[2] & 07777,
	0600, 'standby secret file has mode 0600');

$standby->stop;
chmod(0640, $standby->data_dir . '/connection_manager.secret');
$log_offset = -s $standby->logfile;
ok(!$standby->start(fail_ok => 1), 'group-readable secret: server refuses to start');
ok($standby->log_contains(qr/secret file "connection_manager.secret" has group or world access/,
		$log_offset),
	'group-readable secret: message');
chmod(0600, $standby->data_dir . '/connection_manager.secret');
$standby->start;
is($standby->safe_psql('postgres', 'select pg_is_in_recovery()'),
	't', 'standby starts with the mode fixed');

my $hex = unpack('H*', $secret);
for my $n ($node, $standby)
{
	my $log = slurp_file($n->logfile);
	ok(index($log, $secret) < 0 && index(lc $log, $hex) < 0,
		$n->name . ': the secret never appears in the log');
}
ok($node->log_contains(qr/created the cluster secret "connection_manager.secret"/),
	'creation logged once on the first node');

$standby->stop;
$node->stop;
done_testing();
