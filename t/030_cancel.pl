# Cancel: a CancelRequest through the read-write port reaches the backend
# of the session, whichever worker holds it; forged keys reach nothing.
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
use Time::HiRes qw(time usleep);

my $node = cm_primary('node');
$node->start;
my $port = $node->{cm_rw_port};
ok(cm_wait_for_port($port), 'read-write port answers');

sub wait_for_sleeper
{
	for (1 .. 100)
	{
		my $n = $node->safe_psql('postgres',
			"select count(*) from pg_stat_activity where query like 'select pg_sleep%'"
		);
		return 1 if $n eq '1';
		usleep(100_000);
	}
	return 0;
}

# psql sends the cancel to the same host and port, i.e. to the manager,
# on a new connection that SO_REUSEPORT may hand to either worker; five
# rounds make it very likely that both cases are met.
for my $round (1 .. 5)
{
	my ($stdout, $stderr) = ('', '');
	my $h = IPC::Run::start(
		[
			'psql', '-XAtq', '-v', 'VERBOSITY=verbose', '-d',
			"host=127.0.0.1 port=$port dbname=postgres",
			'-c', 'select pg_sleep(60)'
		],
		'>', \$stdout, '2>', \$stderr,
		IPC::Run::timeout(90));
	ok(wait_for_sleeper(), "round $round: pg_sleep is running");
	my $t0 = time;
	$h->signal('INT');
	$h->finish;
	my $elapsed = time - $t0;
	like($stderr, qr/57014: canceling statement due to user request/,
		"round $round: canceled with 57014");
	cmp_ok($elapsed, '<', 5, "round $round: canceled within seconds");
}

# Forged cancel keys: the session goes on.
my ($stdout, $stderr) = ('', '');
my $h = IPC::Run::start(
	[
		'psql', '-XAtq', '-d', "host=127.0.0.1 port=$port dbname=postgres",
		'-c', 'select pg_sleep(2), 7'
	],
	'>', \$stdout, '2>', \$stderr,
	IPC::Run::timeout(90));
ok(wait_for_sleeper(), 'pg_sleep for the forged cancels is running');
for my $pid (0, 1, 2, 3, 100, 0x7fffffff, -1)
{
	for my $key (0, 1, 12345, -1)
	{
		CmTest::cm_raw($port, pack('NNNN', 16, 80877102, $pid, $key),
			timeout => 0.05);
	}
}
my $backend_pid = $node->safe_psql('postgres',
	"select pid from pg_stat_activity where query like 'select pg_sleep%'");
CmTest::cm_raw($port, pack('NNNN', 16, 80877102, $backend_pid, 0),
	timeout => 0.05);
$h->finish;
chomp $stdout;
is($stdout, '|7', 'forged cancel requests reached nothing');
is($stderr, '', 'no error for the session');

done_testing();
