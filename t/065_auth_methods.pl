# Pre-authentication with the server's own pg_hba.conf and role secrets:
# every method end to end, and for a matrix of roles, passwords and
# encryption the manager's decision (accepted or not, and the message)
# equals the server's own for a direct connection from the same address.
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
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(time);

my $dir = PostgreSQL::Test::Utils::tempdir;
sub openssl
{
	my ($out, $err);
	IPC::Run::run([ 'openssl', @_ ], '>', \$out, '2>', \$err)
	  or die "openssl @_: $err";
}
openssl('req', '-x509', '-new', '-nodes', '-newkey', 'rsa:2048',
	'-keyout', "$dir/server.key", '-out', "$dir/server.crt", '-days', '2',
	'-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1');
chmod 0600, "$dir/server.key";

my $node = cm_primary(
	'node', extra => qq{
ssl = on
ssl_cert_file = '$dir/server.crt'
ssl_key_file = '$dir/server.key'
password_encryption = 'scram-sha-256'
# The client and the manager share 127.0.0.1 here: the matrix compares the
# manager's decisions with the server's own for direct connections from the
# same address, which the default would refuse for trust lines (checked
# at the end, with the default restored).
connection_manager.proof_required_from = ''
});
$node->start;
$node->safe_psql(
	'postgres', q{
CREATE ROLE scram_user LOGIN PASSWORD 'scram pw';
CREATE ROLE pw_user LOGIN PASSWORD 'clear pw';
CREATE ROLE md5rule_user LOGIN PASSWORD 'md5rule pw';
CREATE ROLE grp NOLOGIN;
CREATE ROLE mid NOLOGIN IN ROLE grp;
CREATE ROLE member_user LOGIN PASSWORD 'member pw' IN ROLE mid;
CREATE ROLE outsider LOGIN PASSWORD 'outsider pw';
CREATE ROLE reject_user LOGIN PASSWORD 'x';
CREATE ROLE trust_user LOGIN;
CREATE ROLE expired_user LOGIN PASSWORD 'expired pw' VALID UNTIL '2001-01-01';
CREATE ROLE nologin_user NOLOGIN PASSWORD 'nologin pw';
CREATE ROLE ssl_user LOGIN PASSWORD 'ssl pw';
CREATE ROLE nopw_user LOGIN;
CREATE ROLE blocked NOLOGIN;
CREATE ROLE newcomer LOGIN PASSWORD 'newcomer pw' IN ROLE blocked;
SET password_encryption = 'md5';
CREATE ROLE md5_user LOGIN PASSWORD 'md5 pw';
CREATE DATABASE otherdb;
});

# The same file serves the client's pre-authentication (judged on its own
# address) and the manager's login into the node as the client's role.
$node->safe_psql('postgres', 'select 1');
open my $hba, '>', $node->data_dir . '/pg_hba.conf' or die;
print $hba qq{
local all all trust
host all all 127.0.0.2/32 trust
host all trust_user 127.0.0.1/32 trust
host all reject_user 127.0.0.1/32 reject
host all expired_user,nologin_user,ghost,ghost2,nopw_user 127.0.0.1/32 scram-sha-256
host all +blocked 127.0.0.1/32 reject
host all newcomer 127.0.0.1/32 scram-sha-256
host otherdb scram_user 127.0.0.1/32 reject
host all scram_user 127.0.0.1/32 scram-sha-256
host all md5_user 127.0.0.1/32 md5
host all md5rule_user 127.0.0.1/32 md5
host all pw_user 127.0.0.1/32 password
host all +grp 127.0.0.1/32 scram-sha-256
hostssl all ssl_user 127.0.0.1/32 scram-sha-256
};
close $hba;
$node->reload;
my $port = $node->{cm_rw_port};
ok(cm_wait_for_port_as($port, 'trust_user'), 'manager serves after reload');

sub cm_wait_for_port_as
{
	my ($p, $user) = @_;
	for (1 .. 100)
	{
		my ($rc) = try($p, $user, undef, 'sslmode=disable');
		return 1 if $rc == 0;
		select(undef, undef, undef, 0.1);
	}
	return 0;
}

# Connects as user with password; returns (rc, what the client saw with the
# port-specific prefix removed).
sub try
{
	my ($p, $user, $password, $extra, $db) = @_;
	$db //= 'postgres';
	local $ENV{PGPASSWORD} = $password if defined $password;
	local $ENV{PGPASSWORD} = '' unless defined $password;
	my ($out, $err) = ('', '');
	my $conn = "host=127.0.0.1 port=$p dbname=$db user=$user $extra";
	IPC::Run::run(
		[ 'psql', '-XAtqw', '-d', $conn, '-c', 'select current_user' ],
		'<', \'', '>', \$out, '2>', \$err, IPC::Run::timeout(60));
	my $rc = $? >> 8;
	chomp($out, $err);
	$err =~ s/^psql: error: connection to server at "127\.0\.0\.1", port \d+ failed: //;
	$err =~ s/\n.*//s;
	return ($rc, $rc == 0 ? $out : $err);
}

# [user, password, database]
my @cases = (
	[ 'trust_user', undef ],
	[ 'trust_user', 'anything' ],
	[ 'reject_user', 'x' ],
	[ 'scram_user', 'scram pw' ],
	[ 'scram_user', 'wrong' ],
	[ 'scram_user', undef ],
	[ 'scram_user', 'scram pw', 'otherdb' ],
	[ 'md5_user', 'md5 pw' ],
	[ 'md5_user', 'wrong' ],
	[ 'md5rule_user', 'md5rule pw' ],
	[ 'md5rule_user', 'wrong' ],
	[ 'pw_user', 'clear pw' ],
	[ 'pw_user', 'wrong' ],
	[ 'member_user', 'member pw' ],
	[ 'member_user', 'wrong' ],
	[ 'outsider', 'outsider pw' ],
	[ 'ssl_user', 'ssl pw' ],
	[ 'ssl_user', 'wrong' ],
	[ 'expired_user', 'expired pw' ],
	[ 'nologin_user', 'nologin pw' ],
	[ 'ghost', 'ghost pw' ],
	[ 'nopw_user', 'x' ],
	[ 'nobody_in_hba', 'x' ],);

my $n = 0;
for my $ssl ('sslmode=disable', 'sslmode=require')
{
	for my $case (@cases)
	{
		my ($user, $password, $db) = @$case;
		my @direct = try($node->port, $user, $password, $ssl, $db);
		my @managed = try($port, $user, $password, $ssl, $db);
		my $label = "$user/" . ($password // '(none)') . '/' . ($db // 'postgres') . "/$ssl";
		is($managed[0] == 0 ? 'accepted' : 'refused',
			$direct[0] == 0 ? 'accepted' : 'refused', "$label: same decision");
		is($managed[1], $direct[1], "$label: same answer");
		$n++;
	}
}
note("$n differential cases");

# Pipelined queries with results of many sizes, read slowly, over the TLS
# hop to the node: bytes OpenSSL decrypted ahead must never be stranded.
{
	my $q = '';
	for my $i (1 .. 700)
	{
		my $sql = "select repeat('x', " . (($i * 7919) % 30000) . ")";
		$q .= 'Q' . pack('N', length($sql) + 5) . "$sql\0";
	}
	my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port)
	  or die;
	syswrite($sock, cm_startup_packet('user', 'trust_user', 'database', 'postgres') . $q);
	my $sel = IO::Select->new($sock);
	my ($buf, $ready) = ('', 0);
	my $deadline = time + 60;
	while (time < $deadline && $ready < 701)
	{
		last unless $sel->can_read(10);
		my $n = sysread($sock, $buf, 4096, length $buf);
		last unless $n;
		while (length($buf) >= 5)
		{
			my $len = unpack('N', substr($buf, 1, 4));
			last if length($buf) < $len + 1;
			$ready++ if substr($buf, 0, 1) eq 'Z';
			substr($buf, 0, $len + 1, '');
		}
		select(undef, undef, undef, 0.001) if $ready % 50 == 0;
	}
	close $sock;
	is($ready, 701, '700 pipelined queries over the TLS hop all answered');
}

# What the manager does that the answers above do not show.
my ($rc, $out) = try($port, 'scram_user', 'scram pw',
	'sslmode=require channel_binding=require');
is($out, 'scram_user', 'SCRAM-SHA-256-PLUS with channel binding through TLS');
($rc, $out) = try($port, 'scram_user', 'scram pw', 'sslmode=disable channel_binding=require');
isnt($rc, 0, 'channel_binding=require without TLS refused');
ok($node->log_contains(qr/connection_manager: password authentication failed for user "ghost"/),
	'a failure for a role that does not exist is logged like any other');

# Timing: an unknown role costs about what a wrong password costs.
my ($t_ghost, $t_wrong) = (0, 0);
for (1 .. 5)
{
	my $t0 = time;
	try($port, 'ghost', 'x', 'sslmode=disable');
	$t_ghost += time - $t0;
	$t0 = time;
	try($port, 'scram_user', 'x', 'sslmode=disable');
	$t_wrong += time - $t0;
}
note(sprintf('unknown role %.1f ms, wrong password %.1f ms (5 tries each)',
	$t_ghost * 200, $t_wrong * 200));

# Trust is not widened.  With the server's default proof_required_from
# (all of loopback), the trust line for 127.0.0.1 admits only a connection
# manager: a client from 127.0.0.1 matching it is refused, connecting
# directly or through the manager, with the same message.
$node->append_conf('postgresql.conf',
	"connection_manager.proof_required_from = '127.0.0.0/8, ::1/128'\n");
$node->reload;
my ($drc, $dout);
for (1 .. 50)
{
	($drc, $dout) = try($node->port, 'trust_user', undef, 'sslmode=disable');
	last if $drc != 0;
	select(undef, undef, undef, 0.1);
}
like($dout, qr/without a valid proof/,
	'direct trust from the manager address without a proof is refused');
for (1 .. 50)
{
	($rc, $out) = try($port, 'trust_user', undef, 'sslmode=disable');
	last if $rc != 0;
	select(undef, undef, undef, 0.1);
}
isnt($rc, 0, 'the same trust line through the manager: refused too');
is($out, $dout, 'with the same message as directly');
($rc, $out) = try($port, 'trust_user', undef, 'sslmode=require');
like($out, qr/without a valid proof/, 'over TLS too');
ok($node->log_contains(qr/refusing 127\.0\.0\.1: pg_hba\.conf line 4 admits this address by "trust" for connection managers only/),
	'the manager logs which line and why');
($rc, $out) = try($port, 'scram_user', 'scram pw', 'sslmode=disable');
is($out, 'scram_user',
	'a SCRAM client from the same address gets in, the manager using trust with a proof');

# The README's setting: the manager connects from 127.0.0.2, which alone
# has the trust line and must prove itself; loopback clients on 127.0.0.1
# keep their own lines, trust included.
$node->append_conf('postgresql.conf',
	"connection_manager.proof_required_from = '127.0.0.2/32'\n");
$node->reload;
for (1 .. 50)
{
	($rc, $out) = try($port, 'trust_user', undef, 'sslmode=disable');
	last if $rc == 0;
	select(undef, undef, undef, 0.1);
}
is($out, 'trust_user', 'proof_required_from naming the source address alone: loopback trust clients work');
is(cm_login(port => $node->port, user => 'trust_user', local_addr => '127.0.0.2'),
	'28000 connection_manager: connection from a connection manager address without a valid proof',
	'a program on 127.0.0.2 without a proof is refused');
is(cm_login(port => $port, user => 'trust_user', local_addr => '127.0.0.2'),
	'28000 connection_manager: connection from a connection manager address without a valid proof',
	'and so is a client of the manager on 127.0.0.2');
{
	local $ENV{PGPASSWORD} = 'scram pw';
	my ($crc, $cout) = cm_psql($port,
		'select client_addr from pg_stat_activity where pid = pg_backend_pid()',
		conn => 'user=scram_user sslmode=disable');
	is($cout, '127.0.0.2', 'the manager connects from server_source_addresses');
}
my ($src_rc, $src_out, $src_err) = $node->psql('postgres',
	q{ALTER SYSTEM SET connection_manager.server_source_addresses = 'localhost'});
like($src_err, qr/"localhost" is not a numeric IP address/, 'a host name is refused');
$node->append_conf('postgresql.conf',
	"connection_manager.server_source_addresses = '192.0.2.1'\n");
$node->reload;
{
	local $ENV{PGPASSWORD} = 'scram pw';
	my $cout = '';
	for (1 .. 50)
	{
		(undef, $cout) = cm_psql($port,
			'select client_addr from pg_stat_activity where pid = pg_backend_pid()',
			conn => 'user=scram_user sslmode=disable');
		last if $cout eq '127.0.0.1';
		select(undef, undef, undef, 0.1);
	}
	is($cout, '127.0.0.1',
		'no listed address of the loopback kind for a loopback node: the kernel chooses');
}
$node->append_conf('postgresql.conf',
	"connection_manager.server_source_addresses = '127.0.0.2, 127.0.0.3'\n");
$node->reload;

# A catalog lock held elsewhere: a login whose role must be looked up fails
# like a wrong password once the worker's lock_timeout passes, instead of
# waiting for the lock (and holding up the worker) as long as it is held.
{
	my $locker = $node->background_psql('postgres');
	$locker->query_safe('BEGIN; LOCK pg_authid IN ACCESS EXCLUSIVE MODE;');
	my ($lrc, $lout) = try($port, 'ghost2', 'pw', 'sslmode=disable');
	like($lout, qr/password authentication failed for user "ghost2"/,
		'a lookup blocked by a catalog lock fails that login only');
	$locker->query_safe('COMMIT');
	$locker->quit;
	ok($node->log_contains(qr/could not look up a role's secret: canceling statement due to lock timeout/),
		'the lock timeout is logged');
}

# Role membership fails closed: with pg_auth_members locked, the lookup for
# a "+blocked reject" line fails, and the client is refused, not passed on
# to the next line that would admit it.
{
	my $locker = $node->background_psql('postgres');
	$locker->query_safe(
		'BEGIN; LOCK pg_auth_members IN ACCESS EXCLUSIVE MODE;');
	my ($lrc, $lout) = try($port, 'newcomer', 'newcomer pw', 'sslmode=disable');
	isnt($lrc, 0, 'a +group reject line whose lookup fails still refuses');
	is($lout,
		'FATAL:  could not match pg_hba.conf for host "127.0.0.1", user "newcomer", database "postgres": a role membership lookup failed',
		'with a message that says why');
	$locker->query_safe('COMMIT');
	$locker->quit;
	ok($node->log_contains(qr/could not look up role membership: canceling statement due to lock timeout/),
		'the failed lookup is logged');
	ok($node->log_contains(qr/refusing 127\.0\.0\.1: pg_hba\.conf could not be matched/),
		'and the refusal');
	($lrc, $lout) = try($port, 'newcomer', 'newcomer pw', 'sslmode=disable');
	like($lout, qr/pg_hba\.conf rejects connection for host "127\.0\.0\.1", user "newcomer"/,
		'the lock gone, the reject line applies');
}

# A password change is seen at once.
$node->safe_psql('postgres', q{ALTER ROLE scram_user PASSWORD 'new pw'});
($rc, $out) = try($port, 'scram_user', 'new pw', 'sslmode=disable');
is($out, 'scram_user', 'the new password works at once');
($rc, $out) = try($port, 'scram_user', 'scram pw', 'sslmode=disable');
like($out, qr/password authentication failed/, 'the old one does not');

# A broken pg_hba.conf keeps the rules in use.
PostgreSQL::Test::Utils::append_to_file($node->data_dir . '/pg_hba.conf',
	"host all all 127.0.0.1/32 no-such-method\n");
$node->reload;
sleep 1;
($rc, $out) = try($port, 'trust_user', undef, 'sslmode=disable');
is($out, 'trust_user', 'a broken pg_hba.conf keeps the previous rules');
ok($node->log_contains(qr/connection_manager: .*no-such-method/),
	'the error in pg_hba.conf is logged');

done_testing();
