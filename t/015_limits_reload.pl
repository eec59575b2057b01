# Limits and reload: the client and server connection limits of the
# read-write port, changed with SIGHUP, give clear errors.
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

my $node = cm_primary('node');
$node->start;
my $port = $node->{cm_rw_port};
ok(cm_wait_for_port($port), 'read-write port answers');
my $login = cm_startup_packet('user', 'postgres', 'database', 'postgres');

# Three sessions fit under the default limit (max_connections).
my @held = map { cm_background_psql($port) } 1 .. 3;
is($_->query('select 1'), '1', 'session held') for @held;

# Reload with a client limit of 2: the next client is refused.
$node->append_conf('postgresql.conf',
	"connection_manager.read_write_max_client_connections = 2\n");
$node->reload;
my $refused;
for (1 .. 50)
{
	my ($resp) = cm_raw($port, $login, until => qr/Z\0\0\0\x05I/);
	$refused = cm_error_fields($resp);
	last if ($refused->{C} // '') eq '53300';
	select(undef, undef, undef, 0.1);
}
is($refused->{C}, '53300', 'over the client limit after reload: 53300');
is($refused->{M}, 'sorry, too many clients already', 'client limit message');
my ($rc, $out, $err) = cm_psql($port, 'select 1');
like($err, qr/sorry, too many clients already/, 'psql shows the limit');
is($_->query('select 2'), '2', 'sessions already open keep working')
  for @held;

$_->quit for @held;
($rc, $out) = cm_psql($port, 'select 3');
is($out, '3', 'under the limit again once sessions leave');

# Server connection limit.
$node->append_conf('postgresql.conf',
	"connection_manager.read_write_max_client_connections = -1\n"
	  . "connection_manager.read_write_max_server_connections = 1\n");
$node->reload;
my $one = cm_background_psql($port);
is($one->query('select 1'), '1', 'first session has the one server connection');
for (1 .. 50)
{
	my ($resp) = cm_raw($port, $login, until => qr/Z\0\0\0\x05I/);
	$refused = cm_error_fields($resp);
	last if ($refused->{C} // '') eq '53300';
	select(undef, undef, undef, 0.1);
}
is($refused->{C}, '53300', 'over the server limit: 53300');
like($refused->{M}, qr/too many server connections/, 'server limit message');
$one->quit;

# The default server limit leaves superuser_reserved_connections free:
# with max_connections 40 and 3 reserved, 37 sessions get in and the 38th
# is refused by the manager, not by the server.
$node->append_conf('postgresql.conf',
	"connection_manager.read_write_max_server_connections = -1\n");
$node->reload;
sleep 1;
my @many;
for (1 .. 37)
{
	push @many, cm_background_psql($port);
	$many[-1]->query('select 1');
}
my ($resp) = cm_raw($port, $login);
like(cm_error_fields($resp)->{M}, qr/too many server connections/,
	'default server limit keeps the reserved connections free');
is($node->safe_psql('postgres', 'select 1'), '1',
	'a superuser still connects directly');
$_->quit for @many;

# A query cancel or a termination aimed at a proxy worker: canceling does
# nothing, a terminated worker restarts alone, and nothing it counted is
# left behind to shrink the limits.
$node->append_conf('postgresql.conf',
	"connection_manager.read_write_max_client_connections = 2\n");
$node->reload;
my $held = cm_background_psql($port);
is($held->query('select 1'), '1', 'one session held under a limit of 2');
my $workers = $node->safe_psql('postgres',
	"select string_agg(pid::text, ',' order by pid) from pg_stat_activity where backend_type = 'connection_manager' and pid in (select pid from pg_stat_activity)");
$node->safe_psql('postgres',
	"select pg_cancel_backend(pid) from pg_stat_activity where backend_type = 'connection_manager'");
sleep 1;
is($node->safe_psql('postgres',
	"select string_agg(pid::text, ',' order by pid) from pg_stat_activity where backend_type = 'connection_manager'"),
	$workers, 'canceling the workers leaves them running');
is($held->query('select 2'), '2', 'the held session still works');
$node->safe_psql('postgres',
	"select pg_terminate_backend(pid) from pg_stat_activity where backend_type = 'connection_manager' and query = ''");
$held->quit;
my $ok = 0;
for (1 .. 100)
{
	my @two = map { cm_background_psql($port) } 1 .. 2;
	my @got = map { eval { $_->query('select 3') } // '' } @two;
	eval { $_->quit } for @two;
	if ("@got" eq '3 3')
	{
		$ok = 1;
		last;
	}
	select(undef, undef, undef, 0.1);
}
ok($ok, 'after the workers restarted, the limit of 2 admits two sessions again');
ok(!$node->log_contains('terminated by signal'), 'no crash restart');
# The read-only port has limits of its own.
$node->append_conf('postgresql.conf',
	"connection_manager.read_only_max_client_connections = 0\n");
$node->reload;
for (1 .. 50)
{
	($resp) = cm_raw($node->{cm_ro_port}, $login, until => qr/Z\0\0\0\x05I/);
	last if (cm_error_fields($resp)->{C} // '') eq '53300';
	select(undef, undef, undef, 0.1);
}
is(cm_error_fields($resp)->{M}, 'sorry, too many clients already',
	'read-only client limit');
($rc, $out) = cm_psql($port, 'select 4');
is($out, '4', 'the read-write port is not affected');
$node->append_conf('postgresql.conf',
	"connection_manager.read_only_max_client_connections = -1\n"
	  . "connection_manager.read_only_max_server_connections = 0\n");
$node->reload;
for (1 .. 50)
{
	($resp) = cm_raw($node->{cm_ro_port}, $login, until => qr/Z\0\0\0\x05I/);
	last if (cm_error_fields($resp)->{M} // '') =~ /server connections/;
	select(undef, undef, undef, 0.1);
}
is(cm_error_fields($resp)->{M},
	'sorry, too many server connections for the read-only port',
	'read-only server limit');
done_testing();
