# The listening sockets and eventfds the postmaster makes for the manager
# stay in the processes that use them: each proxy worker holds its own
# read-write and read-only sockets and its eventfd, the monitor the HTTP
# socket and every eventfd, the postmaster its copies of the sockets and
# eventfds (for restarted workers); no backend and no other child holds any.
# Checked after start, after a worker is restarted alone, and after a
# worker's crash has restarted every child.
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
use Time::HiRes qw(usleep);

my $workers = 2;
my $node = cm_primary(
	'node',
	workers => $workers,
	extra => "restart_after_crash = on\n");
$node->start;

sub postmaster_pid
{
	open my $f, '<', $node->data_dir . '/postmaster.pid' or die $!;
	my $pid = <$f>;
	chomp $pid;
	return $pid;
}

# Every process whose parent is the postmaster, with its title.
sub children
{
	my ($pm) = @_;
	my %kids;
	opendir my $d, '/proc' or die $!;
	for my $pid (grep { /^\d+$/ } readdir $d)
	{
		open my $s, '<', "/proc/$pid/stat" or next;
		my $stat = <$s>;
		next unless defined $stat && $stat =~ /\)\s+\S+\s+(\d+)/;
		next unless $1 == $pm;
		open my $c, '<', "/proc/$pid/cmdline" or next;
		local $/;
		my $title = <$c> // '';
		$title =~ s/\0/ /g;
		$kids{$pid} = $title;
	}
	return \%kids;
}

# The listening sockets of the manager's ports: inode => port kind.
sub listening_inodes
{
	my %kind = (
		$node->{cm_rw_port} => 'rw',
		$node->{cm_ro_port} => 'ro',
		$node->{cm_http_port} => 'http');
	my %inodes;
	for my $table ('/proc/net/tcp', '/proc/net/tcp6')
	{
		open my $f, '<', $table or next;
		while (my $line = <$f>)
		{
			my @col = split ' ', $line;
			next unless @col > 9 && $col[3] eq '0A';    # LISTEN
			my ($port) = $col[1] =~ /:([0-9A-F]{4})$/ or next;
			my $k = $kind{ hex $port } or next;
			$inodes{ $col[9] } = $k;
		}
	}
	return \%inodes;
}

# What a process holds: socket inodes and eventfd ids (fdinfo).
sub held
{
	my ($pid) = @_;
	my (%sockets, %eventfds);
	opendir my $d, "/proc/$pid/fd" or return ({}, {});
	for my $fd (grep { /^\d+$/ } readdir $d)
	{
		my $link = readlink "/proc/$pid/fd/$fd" // next;
		if ($link =~ /^socket:\[(\d+)\]$/)
		{
			$sockets{$1} = 1;
		}
		elsif ($link eq 'anon_inode:[eventfd]')
		{
			open my $i, '<', "/proc/$pid/fdinfo/$fd" or next;
			my ($id) = map { /^eventfd-id:\s*(\d+)/ ? $1 : () } <$i>;
			die "this kernel shows no eventfd-id in fdinfo" unless defined $id;
			$eventfds{$id} = 1;
		}
	}
	return (\%sockets, \%eventfds);
}

# Waits until every worker of ours runs, none of them with a pid in $gone
# (the ones stopped); returns the postmaster's children.
sub wait_for_workers
{
	my ($pm, $gone) = @_;
	$gone //= {};
	for (1 .. 600)
	{
		my $kids = children($pm);
		my @ours =
		  grep { $kids->{$_} =~ /connection_manager (?:proxy \d+|monitor)/ }
		  keys %$kids;
		return $kids
		  if @ours == $workers + 1 && !grep { $gone->{$_} } @ours;
		usleep(100_000);
	}
	die 'the workers did not start';
}

sub check_ownership
{
	my ($when, @backends) = @_;
	my $pm = postmaster_pid();
	my $kids = wait_for_workers($pm);
	ok(cm_wait_for_port($node->{cm_rw_port}), "$when: read-write port serves");
	ok(cm_wait_for_port($node->{cm_ro_port}), "$when: read-only port serves");
	my $inodes = listening_inodes();
	my @rw = grep { $inodes->{$_} eq 'rw' } keys %$inodes;
	my @ro = grep { $inodes->{$_} eq 'ro' } keys %$inodes;
	my @http = grep { $inodes->{$_} eq 'http' } keys %$inodes;
	is(scalar @rw, $workers, "$when: one read-write socket per worker");
	is(scalar @ro, $workers, "$when: one read-only socket per worker");
	is(scalar @http, 1, "$when: one HTTP socket");

	my ($pm_sockets, $wake) = held($pm);
	is_deeply([ sort grep { $pm_sockets->{$_} } @rw, @ro ],
		[ sort @rw, @ro ],
		"$when: the postmaster keeps every read-write and read-only socket");
	ok(!$pm_sockets->{ $http[0] }, "$when: the postmaster has no HTTP socket");
	is(scalar keys %$wake, $workers, "$when: the postmaster keeps one eventfd per worker");

	for my $b (@backends)
	{
		ok(exists $kids->{$b}, "$when: backend $b is the postmaster's child");
	}
	my (%proxy_rw, %proxy_ro, %proxy_wake);
	for my $pid (sort keys %$kids)
	{
		my ($sockets, $eventfds) = held($pid);
		my @mine = grep { $sockets->{$_} } keys %$inodes;
		my @kinds = sort map { $inodes->{$_} } @mine;
		my @wakes = grep { $eventfds->{$_} } keys %$wake;
		my $title = $kids->{$pid};
		if ($title =~ /connection_manager proxy (\d+)/)
		{
			my $i = $1;
			is("@kinds", 'ro rw', "$when: proxy $i holds one read-write and one read-only socket");
			is(scalar @wakes, 1, "$when: proxy $i holds one eventfd of the postmaster's");
			$proxy_rw{$_}++ for grep { $inodes->{$_} eq 'rw' } @mine;
			$proxy_ro{$_}++ for grep { $inodes->{$_} eq 'ro' } @mine;
			$proxy_wake{$_}++ for @wakes;
		}
		elsif ($title =~ /connection_manager monitor/)
		{
			is("@kinds", 'http', "$when: the monitor holds the HTTP socket only");
			is(scalar @wakes, $workers, "$when: the monitor holds every eventfd");
		}
		else
		{
			$title =~ s/\s+$//;
			my $who = (grep { $_ == $pid } @backends) ? "backend $pid" : "\"$title\"";
			is("@kinds", '', "$when: $who holds no socket of the manager");
			is(scalar @wakes, 0, "$when: $who holds no eventfd of the manager");
		}
	}
	is(scalar keys %proxy_rw, $workers, "$when: every read-write socket has its own proxy");
	is(scalar keys %proxy_ro, $workers, "$when: every read-only socket has its own proxy");
	is(scalar keys %proxy_wake, $workers, "$when: every eventfd has its own proxy");
	return $kids;
}

# A direct session and one through the read-write port, each a backend.
my $direct = cm_background_psql($node->port, host => $node->host);
my $direct_pid = $direct->query('select pg_backend_pid()');
my $through = cm_background_psql($node->{cm_rw_port});
my $through_pid = $through->query('select pg_backend_pid()');
like($direct_pid, qr/^\d+$/, 'a direct session is open');
like($through_pid, qr/^\d+$/, 'a session through the read-write port is open');
my $kids = check_ownership('at start', $direct_pid, $through_pid);

# A proxy worker stopped by SIGTERM is restarted alone and finds its own
# sockets and eventfd; the other children are untouched.
my ($proxy0) = grep { $kids->{$_} =~ /connection_manager proxy 0/ } keys %$kids;
kill 'TERM', $proxy0;
wait_for_workers(postmaster_pid(), { $proxy0 => 1 });
check_ownership('after proxy 0 restarted', $direct_pid);
is($direct->query('select 1'), '1', 'the direct session lives on');
$direct->quit;
$through->{h}->kill_kill;

# A worker killed by SIGKILL: the postmaster restarts every child; the
# read-write and read-only sockets, kept by the postmaster, are the same
# ones (the new monitor opens a new HTTP socket).
my $before = listening_inodes();
$kids = children(postmaster_pid());
my ($proxy1) = grep { $kids->{$_} =~ /connection_manager proxy 1/ } keys %$kids;
kill 'KILL', $proxy1;
wait_for_workers(postmaster_pid(), $kids);
$node->poll_query_until('postgres', 'select true');
my $session = cm_background_psql($node->{cm_rw_port});
my $session_pid = $session->query('select pg_backend_pid()');
check_ownership('after a crash restart', $session_pid);
my $after = listening_inodes();
is_deeply(
	[ sort grep { $after->{$_} ne 'http' } keys %$after ],
	[ sort grep { $before->{$_} ne 'http' } keys %$before ],
	'the crash restart kept the same read-write and read-only sockets');
$session->quit;

$node->stop;
done_testing();
