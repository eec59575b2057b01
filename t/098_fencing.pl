# Fencing: a session whose target stops being where its port sends
# sessions is ended by the manager with 57P01 at the next message
# boundary, within one probe interval of the monitor's routing change,
# and none of its writes reach the old target afterwards.
#
# Three nodes with the node list; pg3 cascades from pg2, so that it follows
# pg2 when pg2 is promoted.  In turn:
#  - a standby paused past read_only_max_lag leaves the read-only pool: its
#    read-only sessions end with "left the read-only pool";
#  - consensus lost (two nodes stopped): with read_write_consensus_timeout
#    0 the primary's sessions end at once, new ones are refused with 57P03;
#    with 3 s, only once it has passed; the nodes back, sessions work;
#  - the old primary alive but no longer the leader: pg1 keeps its leader
#    for a while (consensus timeout) while the others, who cannot reach
#    it, drop it and elect pg2; when pg1 sees them again its sessions end
#    with "the write leader changed", naming pg2; a login waiting on pg1
#    when pg3 drops it ends with the same error; nothing written in them
#    lands on pg1, which stays up as a primary on timeline 1;
#  - kill -9 of the leader pg2 and promotion of pg3: the failover time is
#    measured, every old session has ended, pg2 restarted as a primary
#    without rewind takes no write through any port.
#
# Copyright (c) 2026, The connection_manager Authors; see LICENSE.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../test/perl";
use CmTest;
use CmWire;
use List::Util qw(max min);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $probe_ms = 200;
# fencing must follow the monitor's routing change within one probe
# interval; the margin is for a loaded machine, the measure is printed
my $fence_bound = ($probe_ms + 300) / 1000;
my $extra = "connection_manager.probe_interval = $probe_ms\n"
  . "connection_manager.leader_wait_timeout = 1000\n"
  . "connection_manager.read_only_max_lag = '1MB'\n"
  # the manager's own bound on a server login: a login held up on purpose
  # must not time out before it is fenced
  . "authentication_timeout = 20s\n";
my ($pg1, $pg2, $pg3) = cm_three_nodes($extra);
my @all = ($pg1, $pg2, $pg3);
my ($p1, $p2, $p3) = map { $_->port } @all;
my %name_of = ($p1 => 'pg1', $p2 => 'pg2', $p3 => 'pg3');
my $where = 'select inet_server_port(), pg_is_in_recovery()';

$pg3->append_conf('postgresql.conf',
	"primary_conninfo = '" . $pg2->connstr . "'\n");
$pg3->reload;
ok( true_within($pg2,
		"select count(*) = 1 from pg_stat_replication where application_name = 'pg3' and state = 'streaming'"
	),
	'pg3 streams from pg2');

# Waits until both standbys replayed the leader's WAL.
sub caught_up
{
	my ($leader, @standbys) = @_;
	my $lsn = $leader->lsn('insert');
	$leader->wait_for_catchup('pg2', 'replay', $lsn) if grep { $_ == $pg2 } @standbys;
	$pg2->wait_for_catchup('pg3', 'replay', $lsn) if grep { $_ == $pg3 } @standbys;
	return;
}
caught_up($pg1, $pg2, $pg3);

for my $node (@all)
{
	is(cm_psql_until($node->{cm_rw_port}, $where, qr/^$p1\|f$/),
		"$p1|f", $node->name . '\'s read-write port lands on pg1');
}

# The lists with some nodes hidden from a node's monitor: their entries
# name an address where nothing listens.
sub set_nodes
{
	my ($node, @hidden) = @_;
	my $list = join(', ',
		map {
			my $n = $_;
			$n->name . '=127.0.0.'
			  . ((grep { $_ == $n } @hidden) ? 9 : 1) . ':'
			  . $n->port
		} @all);
	$node->append_conf('postgresql.conf', "connection_manager.nodes = '$list'\n");
	# a reload without pg_ctl, which would keep us from watching the
	# sessions meanwhile
	kill 'HUP', $node->{_pid};
	return;
}

# Immediate shutdown of the nodes, without waiting for it (pg_ctl stop
# would keep us from watching the sessions meanwhile); stopped() waits.
sub stop_now
{
	kill 'QUIT', map { $_->{_pid} } @_;
	return;
}

sub stopped
{
	for my $node (@_)
	{
		my $pid = $node->{_pid};
		for (1 .. 150)
		{
			last unless kill 0, $pid;
			usleep(100_000);
		}
		ok(!kill(0, $pid), $node->name . ' has stopped');
		$node->{_pid} = undef;
	}
	return;
}

# Waits until every node's monitor votes for the leader's monitor.
sub votes_for
{
	my ($leader, @voters) = @_;
	my ($instance) =
	  (cm_http($leader->{cm_http_port}, '/node/state'))[1] =~ /"instance":"(\w+)"/;
	for (1 .. 150)
	{
		return 1
		  unless grep { (cm_http($_->{cm_http_port}, '/node/state'))[1] !~ /"vote":"$instance"/ }
		  @voters;
		usleep(100_000);
	}
	return 0;
}

# Whether a query on the node returns true within 15 seconds.
sub true_within
{
	my ($node, $sql) = @_;
	for (1 .. 150)
	{
		return 1 if $node->safe_psql('postgres', $sql) eq 't';
		usleep(100_000);
	}
	return 0;
}

# Three sessions through a port: one idle, one inside a transaction that
# inserted a row tagged "$tag-txn", one running pg_sleep.  All must land
# on the target given.
sub open_three
{
	my ($node, $target, $tag) = @_;
	my $port = $node->{cm_rw_port};
	my $what = "$tag: through " . $node->name;
	my %s;
	for my $kind (qw(idle txn sleep))
	{
		$s{$kind} = cm_wire_open($port);
		is($s{$kind}->login, 'ok', "$what: $kind session logs in");
		is($s{$kind}->value('select inet_server_port()'),
			$target->port, "$what: $kind session lands on " . $target->name);
	}
	is($s{txn}->query("begin; insert into t values (1, '$tag-txn')"),
		'ok', "$what: a transaction is opened");
	is($s{txn}->status, 'T', "$what: and left open");
	$s{sleep}->send_query("select pg_sleep(30), '$tag'");
	ok( true_within($target,
			"select count(*) = 1 from pg_stat_activity where query = 'select pg_sleep(30), ''$tag''' and state = 'active'"
		),
		"$what: pg_sleep runs");
	return \%s;
}

# Each session must have been ended by a FATAL 57P01 with this message
# and a detail that begins with detail_re.
sub fenced
{
	my ($sessions, $message, $detail_re, $what) = @_;
	for my $kind (sort keys %$sessions)
	{
		my $s = $sessions->{$kind};
		my $e = $s->ended;
		my $f = $e && $e->{what} eq 'fatal' ? $e->{fields} : {};
		ok( ($f->{C} // '') eq '57P01'
			  && ($f->{V} // $f->{S} // '') eq 'FATAL'
			  && ($f->{M} // '') eq $message
			  && ($f->{D} // '') =~ $detail_re,
			"$what, $kind session: 57P01 \"$message\"")
		  or diag('got: ' . $s->describe);
	}
	return;
}

# Seconds from the routing change at time t to each session's end.
sub fence_delays
{
	my ($t, @sessions) = @_;
	return map { $_->ended ? $_->ended->{at} - $t : 999 } @sessions;
}

sub check_delays
{
	my ($what, @d) = @_;
	my ($lo, $hi) = (min(@d), max(@d));
	note(sprintf('%s: sessions ended %.0f to %.0f ms after the routing change',
		$what, $lo * 1000, $hi * 1000));
	cmp_ok($hi, '<', $fence_bound,
		"$what: every session ended within one probe interval of the routing change");
	return;
}

# None of the sessions can write any more: a write sent in each is not
# answered, and no row tagged tag is on any of the nodes given.
sub cannot_write
{
	my ($sessions, $tag, $what, @nodes) = @_;
	my $wrote = 0;
	for my $s (values %$sessions)
	{
		$wrote++ if $s->query("insert into t values (2, '$tag-after')", 5) eq 'ok';
	}
	is($wrote, 0, "$what: a write sent in an ended session gets no answer");
	for my $node (@nodes)
	{
		next unless defined $node->{_pid};
		ok( true_within($node,
				"select count(*) = 0 from pg_stat_activity where query like '%$tag-txn%' and pid <> pg_backend_pid()"
			),
			"$what: the open transaction is gone from " . $node->name);
		# the fenced pg_sleep is cancelled, not left to run its 30 s
		my $gone = 0;
		for (1 .. 50)
		{
			$gone = $node->safe_psql('postgres',
				"select count(*) = 0 from pg_stat_activity where query = 'select pg_sleep(30), ''$tag'''"
			) eq 't';
			last if $gone;
			usleep(100_000);
		}
		ok($gone, "$what: the statement in progress is cancelled on " . $node->name);
		is( $node->safe_psql('postgres',
				"select count(*) from t where pad like '$tag-%'"),
			'0',
			"$what: no row of the ended sessions is on " . $node->name);
	}
	return;
}

sub all_sessions { return map { values %$_ } @_; }

##########################################################################
# A standby leaves the read-only pool: its read-only sessions end.

my %ro = ($p2 => [], $p3 => []);
for my $i (0 .. 29)
{
	last if @{ $ro{$p3} } >= 3 && @{ $ro{$p2} } >= 2;
	my $s = cm_wire_open($all[ $i % 3 ]{cm_ro_port});
	my $port = $s->value('select inet_server_port()') // 'none';
	push @{ $ro{$port} }, { s => $s, via => $all[ $i % 3 ] };
}
cmp_ok(scalar @{ $ro{$p3} }, '>=', 3, 'read-only sessions on pg3');
cmp_ok(scalar @{ $ro{$p2} }, '>=', 2, 'read-only sessions on pg2');
my @on3 = map { $_->{s} } @{ $ro{$p3} };
is($on3[1]->query('begin; select 1'), 'ok', 'one of them opens a transaction');
$on3[2]->send_query("select pg_sleep(30), 'ro'");
ok( true_within($pg3,
		"select count(*) = 1 from pg_stat_activity where query = 'select pg_sleep(30), ''ro''' and state = 'active'"
	),
	'one of them runs pg_sleep');

my %offset = map { $_->name => -s $_->logfile } @all;
$pg3->safe_psql('postgres', 'select pg_wal_replay_pause()');
# WAL in small steps, 10 MB in all, that pg2 replays as they come, written
# meanwhile by another process: the sessions are watched all along, so
# the moment each one ends is measured.
my $wal = IPC::Run::start(
	[
		'psql', '-XAtq', '-d', $pg1->connstr('postgres'), '-c',
		q{do $$ begin for i in 1 .. 60 loop
			insert into t select g, 'wal' from generate_series(1, 2000) g;
			commit;
			perform pg_sleep(0.05);
		end loop; end $$}
	],
	'>', \my $wal_out, '2>', \my $wal_err,
	IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
is(cm_wire_ended(\@on3, 30), scalar @on3, 'every read-only session on pg3 has ended');
$wal->finish;
cmp_ok( $pg1->safe_psql('postgres',
		"select pg_wal_lsn_diff(pg_current_wal_lsn(), '" . $pg3->lsn('replay') . "')"),
	'>', 1024 * 1024,
	'pg3 replays more than read_only_max_lag behind');
fenced({ map { ("on pg3 #$_" => $on3[$_]) } 0 .. $#on3 },
	'terminating connection because node "pg3" left the read-only pool',
	qr/./, 'pg3 left the pool');
my @ro_delays;
for my $r (@{ $ro{$p3} })
{
	my $t = cm_log_time($r->{via}, qr/read-only sessions go to the standbys pg2\n/,
		$offset{ $r->{via}->name });
	ok(defined $t, 'the pool change is logged by ' . $r->{via}->name);
	push @ro_delays, fence_delays($t // 0, $r->{s});
}
check_delays('read-only pool', @ro_delays);
is(scalar(grep { $_->{s}->query('select 1') eq 'ok' } @{ $ro{$p2} }),
	scalar @{ $ro{$p2} }, 'the read-only sessions on pg2 go on');
for my $node (@all)
{
	is(cm_psql_until($node->{cm_ro_port}, 'select inet_server_port()', qr/^$p2$/),
		$p2, 'new read-only sessions through ' . $node->name . ' go to pg2');
}
$_->{s}->close for @{ $ro{$p2} };
$pg3->safe_psql('postgres', 'select pg_wal_replay_resume()');
caught_up($pg1, $pg2, $pg3);

##########################################################################
# Consensus lost: pg1 alone.  With read_write_consensus_timeout = 0 its
# sessions end at once, new ones are refused.

ok(votes_for($pg1, @all), 'every node votes for pg1');
my $d0 = open_three($pg1, $pg1, 'd0');
my $offset = -s $pg1->logfile;
stop_now($pg3, $pg2);
is(cm_wire_ended([ values %$d0 ], 15), 3, 'timeout 0: every session has ended');
fenced($d0, 'terminating connection because node "pg1" is no longer the write leader',
	qr/^this connection manager reaches 1 of the 3 nodes, not a majority/,
	'consensus lost, timeout 0');
my $t_change = cm_log_time($pg1,
	qr/no write leader is available\n.*DETAIL:  this connection manager reaches 1 of the 3/,
	$offset);
ok(defined $t_change, 'pg1 logs that it has no write leader');
check_delays('consensus lost, timeout 0', fence_delays($t_change // 0, values %$d0));
is(cm_wire_open($pg1->{cm_rw_port})->login, '57P03 no write leader is available',
	'new read-write sessions are refused with 57P03');
cannot_write($d0, 'd0', 'consensus lost, timeout 0', $pg1);
stopped($pg2, $pg3);

$_->start for ($pg2, $pg3);
is(cm_psql_until($pg1->{cm_rw_port}, $where, qr/^$p1\|f$/), "$p1|f",
	'the nodes back: read-write sessions work again');

# With 3 s, the sessions go on for 3 s, then end.
$pg1->append_conf('postgresql.conf',
	"connection_manager.read_write_consensus_timeout = 3000\n");
$pg1->reload;
caught_up($pg1, $pg2, $pg3);
ok(votes_for($pg1, @all), 'every node votes for pg1 again');
my $d3 = open_three($pg1, $pg1, 'd3');
$offset = -s $pg1->logfile;
stop_now($pg3, $pg2);
my $t_lost = cm_log_time_until($pg1,
	qr/reaches 1 of the 3 nodes, not a majority\n.*DETAIL:  Read-write sessions go on as before for up to 3000 ms/,
	$offset);
ok(defined $t_lost, 'pg1 logs that it keeps the leader for 3 s');
$t_lost //= time;
is(cm_wire_ended([ values %$d3 ], $t_lost + 2 - time), 0,
	'timeout 3 s: no session has ended 2 s after consensus was lost');
is($d3->{idle}->value('select inet_server_port()'), $p1,
	'and the idle one still works');
is(cm_wire_ended([ values %$d3 ], 15), 3, 'then every session has ended');
fenced($d3, 'terminating connection because node "pg1" is no longer the write leader',
	qr/^this connection manager reaches 1 of the 3 nodes, not a majority/,
	'consensus lost, timeout 3 s');
my @d = fence_delays($t_lost, values %$d3);
note(sprintf('timeout 3 s: sessions ended %.0f to %.0f ms after consensus was lost',
	min(@d) * 1000, max(@d) * 1000));
cmp_ok(min(@d), '>=', 3 - 0.05, 'timeout 3 s: not before the timeout');
cmp_ok(max(@d), '<', 3 + $probe_ms / 1000 + $fence_bound,
	'timeout 3 s: within a probe interval after it');
cannot_write($d3, 'd3', 'consensus lost, timeout 3 s', $pg1);
stopped($pg2, $pg3);
$_->start for ($pg2, $pg3);
is(cm_psql_until($pg1->{cm_rw_port}, $where, qr/^$p1\|f$/), "$p1|f",
	'the nodes back again: read-write sessions work again');

##########################################################################
# The old primary alive, no longer the leader.  pg1 keeps its leader for
# 30 s without a majority; pg2 and pg3, who cannot reach pg1, drop it and
# elect pg2 once promoted.

$pg1->append_conf('postgresql.conf',
	"connection_manager.read_write_consensus_timeout = 30000\n");
$pg1->reload;
caught_up($pg1, $pg2, $pg3);
ok(votes_for($pg1, @all), 'before: every node votes for pg1');
my %c = map { ($_->name => open_three($_, $pg1, 'c-' . $_->name)) } @all;

$offset = -s $pg1->logfile;
set_nodes($pg1, $pg2, $pg3);
ok( defined cm_log_time_until($pg1,
		qr/reaches 1 of the 3 nodes, not a majority\n.*go on as before for up to 30000 ms/,
		$offset),
	'pg1 no longer reaches the others and keeps its leader');

# A login through pg3 held up on pg1: its postmaster does not answer.
my $postmaster1 = $pg1->{_pid};
kill 'STOP', $postmaster1;
my $pending = cm_wire_open($pg3->{cm_rw_port}, wait => 0);
is($pending->login(0.5), 'timeout', 'a login through pg3 waits for pg1');

set_nodes($_, $pg1) for ($pg2, $pg3);
my @dropped = (all_sessions($c{pg2}, $c{pg3}), $pending);
is(cm_wire_ended(\@dropped, 15), scalar @dropped,
	'pg2 and pg3 lose pg1: their sessions on pg1 have ended');
kill 'CONT', $postmaster1;
my $no_longer = 'terminating connection because node "pg1" is no longer the write leader';
fenced($c{$_}, $no_longer, qr/./, "$_ drops pg1") for qw(pg2 pg3);
fenced({ login => $pending }, $no_longer, qr/./, 'pg3 drops pg1 during a login');
is(cm_wire_ended([ values %{ $c{pg1} } ], 0.5), 0,
	'the sessions through pg1\'s own port go on meanwhile (its consensus timeout)');

$pg2->promote;
for my $node ($pg2, $pg3)
{
	is(cm_psql_until($node->{cm_rw_port}, $where, qr/^$p2\|f$/), "$p2|f",
		'pg2 promoted: writes through ' . $node->name . ' land on pg2');
}

# pg1 sees the others again: its leader changes from pg1 to pg2.
$offset = -s $pg1->logfile;
set_nodes($pg1);
is(cm_wire_ended([ values %{ $c{pg1} } ], 15), 3,
	'pg1 sees pg2 lead: the sessions through its port have ended');
fenced($c{pg1}, 'terminating connection because the write leader changed',
	qr/^\QNode "pg2" is the write leader now; this session was on node "pg1".\E/,
	'leader changed');
$t_change = cm_log_time($pg1,
	qr/read-write sessions go to "[^"]*"\n.*DETAIL:  Node "pg2" is the write leader/,
	$offset);
ok(defined $t_change, 'pg1 logs pg2 as the write leader');
check_delays('leader changed', fence_delays($t_change // 0, values %{ $c{pg1} }));
cannot_write($c{$_}, "c-$_", "$_\'s ended sessions", $pg1, $pg2) for qw(pg1 pg2 pg3);

# pg1 is a primary on timeline 1, running: no write reaches it.
set_nodes($_) for ($pg2, $pg3);
my $before = $pg1->safe_psql('postgres', 'select count(*) from t');
my %landed;
for my $i (1 .. 5)
{
	for my $node (@all)
	{
		my ($rc, $port) = cm_psql($node->{cm_rw_port},
			"insert into t values ($i, 'c-new') returning inet_server_port()");
		$landed{ $rc == 0 ? $name_of{$port} // $port : 'refused' }++;
	}
}
is_deeply(\%landed, { pg2 => 15 },
	'15 writes through every node\'s port land on pg2');
is($pg1->safe_psql('postgres', 'select count(*) from t'), $before,
	'and none on pg1, still a primary');
is((cm_http($pg1->{cm_http_port}, '/node/is-read-write'))[1], 'false',
	'pg1 does not call itself the write leader');

##########################################################################
# kill -9 of the leader pg2 (every process, as if its machine died);
# pg3, its standby, is promoted.

$pg2->safe_psql('postgres', 'checkpoint');
caught_up($pg2, $pg3);
my %b = map { ($_->name => open_three($_, $pg2, 'b-' . $_->name)) } @all;
my $pm2 = $pg2->{_pid};
my @procs = ($pm2, grep { /^\d+$/ } map { s/\s//gr } split /\n/, `ps -o pid= --ppid $pm2`);
my $t_kill = time;
kill 'KILL', @procs;
$pg2->{_pid} = undef;
$pg3->promote;
my $t_promoted = time;

# The first write through any manager port after the kill.
my ($t_first, $first_on);
while (time < $t_kill + 60 && !defined $t_first)
{
	for my $node ($pg1, $pg3)
	{
		my $s = cm_wire_open($node->{cm_rw_port});
		next unless $s->login eq 'ok';
		my $port = $s->value("insert into t values (0, 'b-first') returning inet_server_port()");
		$s->close;
		next unless defined $port;
		($t_first, $first_on) = (time, $port);
		last;
	}
}
ok(defined $t_first, 'a write through a manager port succeeds after the kill');
is($first_on, $p3, 'on pg3');
note(sprintf(
	'failover: %.2f s from kill -9 of the leader to the first write through a manager port (promotion took %.2f s; probe_interval %d ms)',
	($t_first // time) - $t_kill, $t_promoted - $t_kill, $probe_ms));

my @old = all_sessions(values %b);
is(cm_wire_ended(\@old, 15), scalar @old, 'every session opened on pg2 has ended');
for my $name (sort keys %b)
{
	for my $kind (sort keys %{ $b{$name} })
	{
		my $s = $b{$name}{$kind};
		my $e = $s->ended // { what => 'open' };
		ok( $e->{what} eq 'closed'
			  || ($e->{what} eq 'fatal' && $e->{fields}{C} =~ /^(57P01|08006)$/),
			"kill -9: the $kind session through $name got a FATAL or lost its connection")
		  or diag('got: ' . $s->describe);
		note("kill -9: the $kind session through $name: " . $s->describe);
	}
}
cannot_write($b{$_}, "b-$_", "$_\'s sessions on the killed leader", $pg1, $pg3)
  for qw(pg1 pg2 pg3);
for my $node ($pg1, $pg3)
{
	is(cm_psql_until($node->{cm_rw_port}, $where, qr/^$p3\|f$/), "$p3|f",
		'writes through ' . $node->name . ' land on pg3');
}

# pg2 restarts as a primary on timeline 2, without rewind: below the
# mark, it never takes a write, through any node's port.
my %count = map { ($_->name => $_->safe_psql('postgres', 'select count(*) from t')) }
  ($pg1);
$pg2->start;
$count{pg2} = $pg2->safe_psql('postgres', 'select count(*) from t');
is($pg2->safe_psql('postgres', "select count(*) from t where pad like 'b-%'"),
	'0', 'the transaction left open on pg2 was not kept by its crash recovery');
%landed = ();
my $t_end = time + 4;
while (time < $t_end)
{
	for my $node (@all)
	{
		my ($rc, $port) = cm_psql($node->{cm_rw_port},
			"insert into t values (3, 'b-new') returning inet_server_port()",
			timeout => 10);
		$landed{ $rc == 0 ? $name_of{$port} // $port : 'refused' }++;
	}
}
note('writes after pg2 restarted: '
	  . join(', ', map { "$_ $landed{$_}" } sort keys %landed));
is(join(',', grep { $_ ne 'pg3' && $_ ne 'refused' } keys %landed),
	'', 'every write through any port after pg2\'s restart landed on pg3 or was refused');
ok($landed{pg3}, 'some landed on pg3');
is(cm_psql_until($pg2->{cm_rw_port}, $where, qr/^$p3\|f$/), "$p3|f",
	'pg2\'s own port sends writes to pg3');
is($pg2->safe_psql('postgres', 'select count(*) from t'), $count{pg2},
	'no row was added on pg2');
is($pg1->safe_psql('postgres', 'select count(*) from t'), $count{pg1},
	'nor on pg1');

done_testing();
