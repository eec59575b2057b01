# Read-write logins that meet an unavailable target wait for the next one:
# a login whose target refuses the connection, is shutting down or turns
# out not to be a primary, before the client has seen anything of it, is
# left and tried again when the routing names a target, within
# leader_wait_timeout; past it, the client gets the last target's error.
#
# Copyright (c) 2026, The connection_manager Authors; see LICENSE.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../test/perl";
use CmTest;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $primary = cm_primary('primary');
$primary->start;
$primary->safe_psql('postgres', 'create table t (id int)');
$primary->backup('b');
my $standby = cm_standby('standby', $primary, 'b',
	extra => "connection_manager.leader_wait_timeout = '20s'\n");
$standby->start;
$primary->wait_for_catchup($standby);
my $rw = $standby->{cm_rw_port};
is(cm_psql_until($rw, 'select inet_server_port()', qr/^\d+$/),
	$primary->port, "the standby's read-write port lands on the primary");

# The primary goes away; a login through the standby's read-write port
# starts while it is down and must land once it is back, not fail.
my $offset = -s $standby->logfile;
$primary->stop('fast');
my ($out, $err) = ('', '');
my $started = time;
my $h = IPC::Run::start(
	[
		'psql', '-XAtq', '-d', "host=127.0.0.1 port=$rw dbname=postgres",
		'-c', 'insert into t values (1) returning inet_server_port()'
	],
	'>', \$out, '2>', \$err,
	IPC::Run::timeout(60));
# it waits: the standby's monitor still names the stopped primary, whose
# port refuses, so the login is left and tried at each routing round
ok( $standby->wait_for_log(
		qr/a read-write login left target "127\.0\.0\.1:\d+" to wait for the next one/,
		$offset),
	'the login left the unreachable primary to wait for the next target');
usleep(1_500_000);
ok($h->pumpable, 'the client is still waiting, with no error yet');
$primary->start;
$h->finish;
chomp $out;
is($out, $primary->port,
	'the login landed on the primary once it was back, and wrote there')
  or diag($err);
is($err, '', 'the client saw no error');
note(sprintf('the login waited %.1f s', time - $started));
is($primary->safe_psql('postgres', 'select count(*) from t'), '1',
	'the write landed once');

# Past leader_wait_timeout, the client gets the last target's own error.
$standby->append_conf('postgresql.conf',
	"connection_manager.leader_wait_timeout = '2s'\n");
$standby->reload;
usleep(500_000);
$primary->stop('fast');
$started = time;
my ($rc, $o, $e) = cm_psql($rw, 'select 1');
my $waited = time - $started;
like($e, qr/could not connect to server "127\.0\.0\.1:\d+": Connection refused/,
	'past leader_wait_timeout: the last target\'s error');
ok($waited >= 1.5, 'after waiting about leader_wait_timeout')
  or diag("waited $waited s");

# A target that is not a primary: left, then its own 57P03 at the end.
$primary->append_conf('standby.signal', '');
$primary->start;
my ($resp) = cm_raw($rw,
	cm_startup_packet('user', 'postgres', 'database', 'postgres'),
	timeout => 20);
my $f = cm_error_fields($resp);
is($f->{C}, '57P03', 'a target in recovery: 57P03 after the wait');
like($f->{M}, qr/not a primary|no write leader/, 'saying why');

done_testing();
