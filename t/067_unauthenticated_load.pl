# Load from clients that have not authenticated.  Silent connections past
# a worker's cap close the oldest one still without a startup packet (with
# 53300, counted, logged at a limited rate), never an authenticated session
# or one that is authenticating, and do not count as clients; a normal
# login still works.  Thousands of unknown role names leave the worker's
# catalog cache no bigger.
#
# Copyright (c) 2026, The connection_manager Authors; see LICENSE.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../test/perl";
use CmTest;
use IO::Select;
use IO::Socket::INET;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

# One worker, so that every connection meets the same cap and cache.  The
# long authentication_timeout keeps silent connections open unless the cap
# closes them.
my $node = cm_primary(
	'node',
	workers => 1,
	extra => q{
max_connections = 20
authentication_timeout = '10min'
password_encryption = 'scram-sha-256'
connection_manager.read_write_max_client_connections = 5
});
$node->start;
$node->safe_psql(
	'postgres', q{
CREATE ROLE slow_user LOGIN PASSWORD 'slow pw';
CREATE ROLE grp NOLOGIN;
});
my $hba = $node->data_dir . '/pg_hba.conf';
my $rules = PostgreSQL::Test::Utils::slurp_file($hba);
open my $fh, '>', $hba or die;
print $fh qq{
host all slow_user 127.0.0.1/32 password
host secretdb all 127.0.0.1/32 scram-sha-256
host memberdb +grp 127.0.0.1/32 scram-sha-256
host memberdb all 127.0.0.1/32 reject
$rules};
close $fh;
$node->reload;
my $port = $node->{cm_rw_port};
ok(cm_wait_for_port($port), 'read-write port answers');

# Waits up to $seconds for the log after $offset to match; returns the match.
sub log_wait
{
	my ($re, $offset, $seconds) = @_;
	my $deadline = time + $seconds;
	while (time < $deadline)
	{
		my $log = slurp_file($node->logfile, $offset);
		return $1 // $& if $log =~ $re;
		usleep(100_000);
	}
	return undef;
}

# Reads what the peer sent until it closes or $seconds pass.
sub read_all
{
	my ($sock, $seconds) = @_;
	my $sel = IO::Select->new($sock);
	my $deadline = time + $seconds;
	my $buf = '';
	while (time < $deadline)
	{
		next unless $sel->can_read(0.1);
		last unless sysread($sock, $buf, 65536, length $buf);
	}
	return $buf;
}

## Silent connections

# An authenticated session, and one waiting for its password.
my $held = cm_background_psql($port);
is($held->query('select 1'), '1', 'an authenticated session is held');
my ($asked, $closed, $waiting) = cm_raw(
	$port,
	cm_startup_packet('user', 'slow_user', 'database', 'postgres'),
	until => qr/R\0\0\0\x08\0\0\0\x03/,
	hold => 1);
is($asked, "R\0\0\0\x08\0\0\0\x03", 'a session waits for its password');

# A flood of connections that never send anything.
my $flood = 300;
my $offset = -s $node->logfile;
my @silent;
for (1 .. $flood)
{
	my $s = IO::Socket::INET->new(
		PeerAddr => '127.0.0.1',
		PeerPort => $port,
		Proto => 'tcp',
		Timeout => 10) or die "connect: $!";
	push @silent, $s;
}
my $cap = log_wait(
	qr/closed \d+ connections that had not sent a startup packet\n.*keeps at most (\d+) such connections/,
	$offset, 30);
ok(defined $cap, 'the closed connections are logged, with the cap');
$cap //= 0;
ok($cap > 0 && $cap < $flood, "the cap ($cap) is below the flood");

# The oldest ones are closed, with 53300, until the cap holds the rest.
my (%gone, $told);
my $deadline = time + 30;
while (time < $deadline && $flood - keys %gone > $cap)
{
	for my $i (0 .. $#silent)
	{
		next if $gone{$i} || !IO::Select->new($silent[$i])->can_read(0);
		my $bytes = read_all($silent[$i], 1);
		$gone{$i} = 1;
		$told //= cm_error_fields($bytes) if length $bytes;
	}
	usleep(100_000);
}
cmp_ok($flood - keys %gone, '<=', $cap,
	'no more silent connections stay open than the cap');
is($told->{C}, '53300', 'a closed one is told 53300');
is($told->{M}, 'sorry, too many clients already', 'with the limit message');
ok(!$gone{$#silent}, 'the newest silent connection is kept');

# Silent connections are not clients: a normal login works while they hold
# the cap, under a client limit of 5.
my ($rc, $out, $err) = cm_psql($port, 'select 2');
is($out, '2', 'a normal login works while silent connections fill the cap');
is($held->query('select 3'), '3', 'the authenticated session still works');
syswrite($waiting, 'p' . pack('N', 4 + length("wrong\0")) . "wrong\0");
my $answer = cm_error_fields(read_all($waiting, 10));
is($answer->{C}, '28P01',
	'the session waiting for its password was kept and still answers');
close $waiting;
my $lines = () = slurp_file($node->logfile, $offset) =~
  /closed \d+ connections that had not sent a startup packet/g;
cmp_ok($lines, '<', scalar(keys %gone),
	"fewer log lines ($lines) than closed connections");
close $_ for @silent;

# Nothing was counted that was not given back: the held session and four
# more make the limit of 5, and a sixth is refused.
my $fits = 0;
for (1 .. 50)
{
	my @four = map { cm_background_psql($port) } 1 .. 4;
	my @got = map { eval { $_->query('select 4') } // '' } @four;
	my ($refused) = cm_raw($port,
		cm_startup_packet('user', 'postgres', 'database', 'postgres'));
	eval { $_->quit } for @four;
	if ("@got" eq '4 4 4 4' && (cm_error_fields($refused)->{C} // '') eq '53300')
	{
		$fits = 1;
		last;
	}
	usleep(100_000);
}
ok($fits, 'the client limit admits exactly 5 sessions again');
$held->quit;

## Unknown role names

my $pid = $node->safe_psql('postgres',
	"select pid from pg_stat_activity where backend_type = 'connection_manager'"
);

# Bytes of the proxy worker's CacheMemoryContext in use.
sub cache_used
{
	my $from = -s $node->logfile;
	$node->safe_psql('postgres', "select pg_log_backend_memory_contexts($pid)");
	my $used = log_wait(
		qr/level: 1; CacheMemoryContext: \d+ total in \d+ blocks; \d+ free \(\d+ chunks\); (\d+) used/,
		$from, 60);
	die 'no memory context dump' unless defined $used;
	return $used;
}

# Startups with unknown roles: through a SCRAM rule (the role's secret is
# looked up) or a +group rule (membership is looked up).
sub unknown_roles
{
	my ($database, $from, $count) = @_;
	my $answered = 0;
	for my $i ($from .. $from + $count - 1)
	{
		my ($resp) = cm_raw(
			$port,
			cm_startup_packet(
				'user', "ghost_$database$i", 'database', $database),
			until => qr/^[RE]/);
		$answered++ if $resp =~ /^(R\0\0\0.\0\0\0\x0a|E)/s;
	}
	return $answered;
}

is(unknown_roles('secretdb', 0, 200), 200, 'warm-up: secrets looked up');
is(unknown_roles('memberdb', 0, 200), 200, 'warm-up: memberships looked up');
my $before = cache_used();
is(unknown_roles('secretdb', 200, 2500), 2500, 'unknown roles, SCRAM rule');
my $after_secret = cache_used();
is(unknown_roles('memberdb', 200, 2500), 2500, 'unknown roles, +group rule');
my $after_member = cache_used();
note("CacheMemoryContext used: $before, $after_secret, $after_member bytes");
cmp_ok($after_secret - $before, '<', 32768,
	'2500 unknown roles (secret lookups) leave the catalog cache no bigger');
cmp_ok($after_member - $after_secret, '<', 32768,
	'2500 unknown roles (membership lookups) leave the catalog cache no bigger'
);
my ($rc2, $who) = cm_psql($port, 'select current_user');
is($who, 'postgres', 'known roles still log in');

ok(!$node->log_contains('terminated by signal'), 'no crash restart');
done_testing();
