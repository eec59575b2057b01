# Every node judges its own sessions: a standby whose pg_hba.conf trusts
# everyone cannot open the primary beyond what the primary's own file
# allows.  The standby's manager vouches for what it established (no
# password, here); the primary applies its own lines to that client.
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

my $extra = "connection_manager.probe_interval = 200\n"
  . "password_encryption = 'scram-sha-256'\n";
my $pg1 = cm_primary('pg1', derived_ports => 1, extra => $extra);
$pg1->start;
$pg1->safe_psql('postgres', q{
CREATE ROLE alice LOGIN PASSWORD 'alice pw';
CREATE ROLE bob LOGIN PASSWORD 'bob pw';
CREATE ROLE carol LOGIN;
CREATE ROLE mallory LOGIN PASSWORD 'mallory pw';
CREATE ROLE erin LOGIN PASSWORD 'erin old pw';
SET password_encryption = 'md5';
CREATE ROLE dave LOGIN PASSWORD 'dave pw';
CREATE ROLE frank LOGIN PASSWORD 'frank pw';
});
$pg1->backup('b');
my $pg2 = cm_standby('pg2', $pg1, 'b', derived_ports => 1, extra => $extra);

sub write_hba
{
	my ($node, $text) = @_;
	open my $fh, '>', $node->data_dir . '/pg_hba.conf' or die $!;
	print $fh $text;
	close $fh;
	return;
}

# The primary: a password for alice, carol trusted, mallory rejected, bob
# not named at all.  127.0.0.2 is the managers' address.
write_hba($pg1, q{local all all trust
local replication all trust
host all all 127.0.0.2/32 trust
host all mallory 127.0.0.1/32 reject
host all alice 127.0.0.1/32 scram-sha-256
host all carol 127.0.0.1/32 trust
host all erin 127.0.0.1/32 scram-sha-256
host all dave 127.0.0.1/32 scram-sha-256
host all frank 127.0.0.1/32 md5
});
# The standby trusts every client on 127.0.0.1 but erin, who needs her
# password, and dave, whose md5 hash is enough.
write_hba($pg2, q{local all all trust
local replication all trust
host all all 127.0.0.2/32 trust
host all erin 127.0.0.1/32 scram-sha-256
host all dave 127.0.0.1/32 md5
host all frank 127.0.0.1/32 md5
host all all 127.0.0.1/32 trust
});
my $nodes = join(', ', map { $_->name . '=127.0.0.1:' . $_->port } ($pg1, $pg2));
$_->append_conf('postgresql.conf', "connection_manager.nodes = '$nodes'\n")
  for ($pg1, $pg2);
$pg1->restart;
$pg2->start;

my $p1 = $pg1->port;
my $where = 'select inet_server_port()';
is(cm_psql_until($pg2->{cm_rw_port}, $where, qr/^$p1$/, conn => 'user=carol'),
	$p1, 'carol, trusted by both files, reaches the primary through the standby');

# Through the standby, which asked nothing, to the primary, which wants a
# password: refused, even with the right password at hand.
sub via
{
	my ($node, $user, $password) = @_;
	local $ENV{PGPASSWORD} = $password // '';
	my ($rc, $out, $err) = cm_psql($node->{cm_rw_port}, 'select current_user',
		conn => "user=$user sslmode=disable");
	return $rc == 0 ? $out : ($err =~ /FATAL:  ([^\n]*)/ ? $1 : $err);
}
is(via($pg2, 'alice', 'alice pw'),
	'connection_manager: this node requires scram-sha-256 authentication for user "alice", and the client proved no password to the connection manager',
	'alice through the standby: the primary wants the password the standby never asked');
is(via($pg1, 'alice', 'alice pw'), 'alice',
	'alice through the primary\'s own port, with her password: accepted');
is(via($pg1, 'alice', 'wrong'),
	'password authentication failed for user "alice"',
	'and with a wrong one: refused');
is(via($pg2, 'bob', 'bob pw'),
	'no pg_hba.conf entry for host "127.0.0.1", user "bob", database "postgres", no encryption',
	'bob, whom only the standby admits: refused by the primary');
is(via($pg2, 'mallory', 'mallory pw'),
	'pg_hba.conf rejects connection for host "127.0.0.1", user "mallory", database "postgres", no encryption',
	'mallory, whom the primary rejects: refused');
ok($pg1->log_contains(
		qr/A connection manager vouched for client host=127\.0\.0\.1 port=\d+ \(no SSL\); this node's pg_hba\.conf judged it by line 4: "host all mallory 127\.0\.0\.1\/32 reject"/),
	'the primary logs the client and its own line');

# The password a client proves to the entry node counts on the target
# only if both nodes hold the same role secret.  With the standby's replay
# paused, a password changed (or removed) on the primary must not open the
# primary through the standby with the old one.
is(via($pg2, 'erin', 'erin old pw'), 'erin',
	'erin through the standby, the secrets alike: accepted');
$pg2->safe_psql('postgres', 'select pg_wal_replay_pause()');
$pg1->safe_psql('postgres', q{ALTER ROLE erin PASSWORD 'erin new pw'});
is(via($pg1, 'erin', 'erin old pw'),
	'password authentication failed for user "erin"',
	'the old password on the primary\'s own port: refused');
is(via($pg2, 'erin', 'erin old pw'),
	'password authentication failed for user "erin"',
	'the old password through the lagging standby: refused too');
ok($pg1->log_contains(qr/The entry node checked the password against another secret than this node's/),
	'the primary logs why');
$pg1->safe_psql('postgres', q{ALTER ROLE erin PASSWORD NULL});
is(via($pg2, 'erin', 'erin old pw'),
	'password authentication failed for user "erin"',
	'a password removed on the primary: the old one refused through the standby');
$pg2->safe_psql('postgres', 'select pg_wal_replay_resume()');

# An md5 answer proves only the stored hash: it counts where the target's
# line is md5, not where it wants SCRAM (a direct login could never pass
# that line with an md5 secret).
is(via($pg1, 'dave', 'dave pw'),
	'password authentication failed for user "dave"',
	'dave, md5 secret, on the primary\'s SCRAM line: refused directly');
is(via($pg2, 'dave', 'dave pw'),
	'password authentication failed for user "dave"',
	'and through the standby, whose md5 line he passed');
is(via($pg2, 'frank', 'frank pw'), 'frank',
	'frank, md5 secret, md5 lines on both: accepted through the standby');

# The same standby's read-only port serves its own sessions: its own file
# decides there.
my ($rc, $out) = cm_psql($pg2->{cm_ro_port}, 'select current_user',
	conn => 'user=bob sslmode=disable');
is($out, 'bob', 'bob on the standby itself, by its own file: accepted');

$pg2->stop;
$pg1->stop;
done_testing();
