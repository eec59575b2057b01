# A planned switchover under a steady write load, measured: 8 clients
# through every node's read-write port write in a loop (a client of our
# own that logs in again after a failure: pgbench of PostgreSQL 15 gives a
# client up at its first lost connection).  The primary pg1 is stopped
# cleanly (pg_ctl stop -m fast), pg2 is promoted, pg1 then rejoins as
# pg2's standby.  The test prints, per node's port and in total, the
# statements that failed, the logins that failed, and the time without a
# successful write; it asserts only correctness: no write lands on pg1
# once it stopped, no acknowledged write is lost, and the load comes back
# on pg2 through every port.
#
# Copyright (c) 2026, The connection_manager Authors; see LICENSE.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../test/perl";
use CmTest;
use CmWire;
use List::Util qw(max min sum0);
use POSIX ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $probe_ms = $ENV{CM_SWITCHOVER_PROBE_MS} // 200;
my $clients = 8;    # per node's read-write port
my $steady = 5;     # seconds of load before and after
my $extra = "connection_manager.probe_interval = $probe_ms\n"
  # new sessions wait for the new leader rather than fail
  . "connection_manager.leader_wait_timeout = 10000\n"
  . "max_connections = 60\n";
my ($pg1, $pg2, $pg3) = cm_three_nodes($extra);
my @all = ($pg1, $pg2, $pg3);
my ($p1, $p2, $p3) = map { $_->port } @all;
my %name_of = ($p1 => 'pg1', $p2 => 'pg2', $p3 => 'pg3');
my $where = 'select inet_server_port(), pg_is_in_recovery()';

# pg3 cascades from pg2, so that it follows pg2's promotion by itself.
$pg3->append_conf('postgresql.conf',
	"primary_conninfo = '" . $pg2->connstr . "'\n");
$pg3->reload;
ok( $pg2->poll_query_until('postgres',
		"select count(*) = 1 from pg_stat_replication where application_name = 'pg3' and state = 'streaming'"
	),
	'pg3 streams from pg2');
$pg1->safe_psql('postgres',
	'create table sw (client int, seq int, port int, ts timestamptz)');
my $lsn = $pg1->lsn('insert');
$pg1->wait_for_catchup('pg2', 'replay', $lsn);
$pg2->wait_for_catchup('pg3', 'replay', $lsn);
for my $node (@all)
{
	is(cm_psql_until($node->{cm_rw_port}, $where, qr/^$p1\|f$/),
		"$p1|f", $node->name . '\'s read-write port lands on pg1');
}

# One client: log in, write until the session fails, log in again; each
# line of its file is one event:
#   ok   <sent> <answered> <seq> <port it landed on>
#   fail <sent> <answered> <seq> <what ended it>       a statement failed
#   login <started> <ended> <what>                     a login failed
my $dir = PostgreSQL::Test::Utils::tempdir();
my $stop = "$dir/stop";
my $parent = $$;
my @pids;

# The clients stop with the test, however it ends.
END
{
	if ($$ == $parent && @pids)
	{
		kill 'KILL', @pids;
		waitpid($_, 0) for @pids;
	}
}

sub client
{
	my ($id, $port) = @_;
	open(my $out, '>', "$dir/client.$id") or die "open: $!";
	$out->autoflush(1);
	my $seq = 0;
	my $go_on = sub { !-e $stop && getppid() == $parent };
	while ($go_on->())
	{
		my $t0 = time;
		my $s = cm_wire_open($port, connect_timeout => 2, timeout => 30);
		my $login = $s->login(30);
		if ($login ne 'ok')
		{
			printf $out "login %.6f %.6f %s\n", $t0, time, $login;
			usleep(100_000);    # a refused connection is not retried in a spin
			next;
		}
		while ($go_on->())
		{
			$seq++;
			my $sent = time;
			my $r = $s->query(
				"insert into sw values ($id, $seq, inet_server_port(), clock_timestamp()) returning port",
				30);
			if ($r eq 'ok')
			{
				printf $out "ok %.6f %.6f %d %s\n", $sent, time, $seq, ($s->rows)[0];
				next;
			}
			printf $out "fail %.6f %.6f %d %s\n", $sent, time, $seq, $r;
			last if $s->ended;
		}
		$s->close;
	}
	close $out;
	return;
}

my %port_of;
my $id = 0;
for my $node (@all)
{
	for (1 .. $clients)
	{
		$id++;
		$port_of{$id} = $node->name;
		my $pid = fork();
		die "fork: $!" unless defined $pid;
		if ($pid == 0)
		{
			# no END blocks here, even after a die: they would stop the nodes
			eval { client($id, $node->{cm_rw_port}); 1 }
			  or print STDERR "client $id: $@";
			POSIX::_exit(0);
		}
		push @pids, $pid;
	}
}

# The events of every client so far.
sub events
{
	my @ev;
	for my $c (1 .. $id)
	{
		open(my $in, '<', "$dir/client.$c") or next;
		while (my $line = <$in>)
		{
			chomp $line;
			my @f = split / /, $line, $line =~ /^login/ ? 4 : 5;
			push @ev, { client => $c, via => $port_of{$c}, kind => $f[0], t0 => $f[1], t1 => $f[2],
				($f[0] eq 'login' ? (what => $f[3]) : (seq => $f[3], what => $f[4])) };
		}
	}
	return @ev;
}

# Waits until a write through the node's port lands on the port given,
# answered after time t; returns the time of the first, or undef.
sub first_ok_after
{
	my ($via, $port, $t, $timeout) = @_;
	my $deadline = time + $timeout;
	while (time < $deadline)
	{
		my @ok = sort { $a <=> $b } map { $_->{t1} }
		  grep { $_->{kind} eq 'ok' && $_->{via} eq $via && $_->{what} == $port && $_->{t1} > $t }
		  events();
		return $ok[0] if @ok;
		usleep(200_000);
	}
	return undef;
}

my $t_start = time;
for my $node (@all)
{
	ok(defined first_ok_after($node->name, $p1, $t_start, 30),
		'before: writes through ' . $node->name . ' land on pg1');
}
usleep($steady * 1_000_000);    # the steady load before, by design

my $t_stop = time;
$pg1->stop('fast');
my $t_stopped = time;
$pg2->promote;
my $t_promoted = time;
my %back;
for my $node ($pg2, $pg3)
{
	$back{ $node->name } = first_ok_after($node->name, $p2, $t_stop, 60);
	ok(defined $back{ $node->name },
		'the load through ' . $node->name . ' lands on pg2');
}

# pg1 rejoins as a standby of pg2 (a clean stop needs no rewind).
$pg1->enable_streaming($pg2);
$pg1->start;
my $t_rejoined = time;
$back{pg1} = first_ok_after('pg1', $p2, $t_stop, 60);
ok(defined $back{pg1}, 'pg1 back as a standby: the load through its port lands on pg2');
is($pg1->safe_psql('postgres', 'select pg_is_in_recovery()'), 't',
	'pg1 is a standby');
usleep($steady * 1_000_000);    # the steady load after

open(my $fh, '>', $stop) or die "open $stop: $!";
close $fh;
my $deadline = time + 60;
for my $pid (@pids)
{
	while (waitpid($pid, POSIX::WNOHANG()) == 0)
	{
		if (time > $deadline)
		{
			kill 'KILL', $pid;
			fail("client process $pid stopped in time");
			$deadline = time + 60;
		}
		usleep(50_000);
	}
}
my $t_end = time;
@pids = ();

##########################################################################
# What the clients saw.

my @ev = events();
my @ok = grep { $_->{kind} eq 'ok' } @ev;
my @failed = grep { $_->{kind} eq 'fail' } @ev;
my @logins = grep { $_->{kind} eq 'login' } @ev;

# Correctness: no write answered by pg1 was sent once pg1 had stopped,
# and no row in the table was written on pg1 after that.
is(scalar(grep { $_->{what} == $p1 && $_->{t0} > $t_stopped } @ok), 0,
	'no write sent after pg1 stopped landed on pg1');
is( $pg2->safe_psql('postgres',
		"select count(*) from sw where port = $p1 and ts > to_timestamp($t_stopped)"),
	'0',
	'no row on the new leader was written on pg1 after it stopped');
is(scalar(grep { $_->{what} != $p1 && $_->{what} != $p2 } @ok), 0,
	'every write landed on pg1 or pg2');
is(scalar(grep { $_->{what} == $p2 && $_->{t0} < $t_stop } @ok), 0,
	'none on pg2 before the switchover');
# Every acknowledged write is on the new leader.
my %row;
$row{$_} = 1 for split /\n/,
  $pg2->safe_psql('postgres', "select client || ':' || seq from sw");
my @lost = grep { !$row{"$_->{client}:$_->{seq}"} } @ok;
is(scalar @lost, 0, 'every acknowledged write is on pg2 (' . scalar(@ok) . ')');
# The load came back: writes on pg2 through every port until the end.
for my $node (@all)
{
	ok( scalar(
			grep { $_->{via} eq $node->name && $_->{what} == $p2 && $_->{t1} > $t_rejoined + 1 }
			  @ok),
		'writes through ' . $node->name . ' land on pg2 after the switchover');
}

# The longest time without any successful write, over all clients.
sub longest_gap
{
	my (@times) = sort { $a <=> $b } @_;
	my ($gap, $from) = (0, 0);
	for my $i (1 .. $#times)
	{
		($gap, $from) = ($times[$i] - $times[ $i - 1 ], $times[ $i - 1 ])
		  if $times[$i] - $times[ $i - 1 ] > $gap;
	}
	return ($gap, $from);
}

my $fmt_reasons = sub {
	my %n;
	$n{ $_->{what} }++ for @_;
	return join('; ', map { "$n{$_} x $_" } sort keys %n) || '-';
};
note(sprintf(
	'switchover under load: %d clients through each of 3 read-write ports, probe_interval %d ms, leader_wait_timeout 10 s',
	$clients, $probe_ms));
note(sprintf(
	'pg_ctl stop -m fast took %.2f s, promotion %.2f s; pg1 rejoined as a standby %.1f s after the stop',
	$t_stopped - $t_stop, $t_promoted - $t_stopped, $t_rejoined - $t_stop));
for my $node (@all)
{
	my $n = $node->name;
	my @mine_ok = grep { $_->{via} eq $n } @ok;
	my @mine_failed = grep { $_->{via} eq $n } @failed;
	my @mine_logins =
	  grep { $_->{via} eq $n && $_->{what} ne 'refused' } @logins;
	my @refused = sort { $a <=> $b } map { $_->{t0} }
	  grep { $_->{via} eq $n && $_->{what} eq 'refused' } @logins;
	my ($gap, $from) = longest_gap(map { $_->{t1} } @mine_ok);
	note(sprintf(
		'%s\'s port: %d writes ok, %d statements failed (%s), %d logins failed (%s); longest time without a write %.2f s (from %+.2f s after the stop); first write on pg2 %.2f s after the stop',
		$n, scalar @mine_ok, scalar @mine_failed, $fmt_reasons->(@mine_failed),
		scalar @mine_logins, $fmt_reasons->(@mine_logins), $gap, $from - $t_stop,
		($back{$n} // $t_end) - $t_stop));
	note(sprintf(
		'%s\'s port: connection refused (the port down with its server) from %+.2f s to %+.2f s after the stop: %d attempts, each client retrying every 100 ms',
		$n, $refused[0] - $t_stop, $refused[-1] - $t_stop, scalar @refused))
	  if @refused;
}
my ($gap, $from) = longest_gap(map { $_->{t1} } @ok);
my $refused = grep { $_->{what} eq 'refused' } @logins;
note(sprintf(
	'in total: %d writes ok, %d statements failed, %d logins failed (and %d connection attempts refused); no successful write through any port for %.2f s (from %+.2f s after the stop)',
	scalar @ok, scalar @failed, scalar(@logins) - $refused, $refused, $gap,
	$from - $t_stop));

done_testing();
