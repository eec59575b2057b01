#!/usr/bin/perl
# bench/report.pl META RESULTS: the markdown table of a bench/run.
#
# RESULTS has one line per pgbench run (round, case, target, TPS, average
# latency in ms, or FAIL), one per new-connection run ("cpu", round, case,
# target, connections, CPU ns of the relay's processes and of the server
# meanwhile) and one per idle-session test (target, sessions, Private_Dirty,
# Rss and Pss in kB before and while they are open, whether a new client
# was served).  Values are medians over the rounds; a ratio is the median
# of the rounds' own ratios (each round runs the targets back to back, so
# noise that hits a round hits both sides of its ratio).
#
# Copyright (c) 2026, The connection_manager Authors; see LICENSE.
use strict;
use warnings;

my ($meta_file, $results_file) = @ARGV;
die "usage: report.pl META RESULTS\n" unless defined $results_file;

my %meta;
open(my $mf, '<', $meta_file) or die "$meta_file: $!\n";
while (<$mf>)
{
	chomp;
	$meta{$1} = $2 if /^(\w+)=(.*)$/;
}
close $mf;

my (%tps, %lat, %failed, %idle, %cpu, @cases, %seen_case);
open(my $rf, '<', $results_file) or die "$results_file: $!\n";
while (<$rf>)
{
	chomp;
	my @f = split /\t/;
	if ($f[0] eq 'idle')
	{
		my (undef, $target, $n, $pd0, $rss0, $pss0, $pd1, $rss1, $pss1,
			$served)
		  = @f;
		$idle{$target} = {
			n => $n,
			pd0 => $pd0,
			rss0 => $rss0,
			pss0 => $pss0,
			pd1 => $pd1,
			rss1 => $rss1,
			pss1 => $pss1,
			served => $served
		};
		next;
	}
	if ($f[0] eq 'cpu')
	{
		my (undef, $round, $case, $target, $n, $relay, $server) = @f;
		$cpu{$case}{$target}{$round} = [ $relay / $n, $server / $n ]
		  if $n > 0;
		next;
	}
	my ($round, $case, $target, $tps, $lat) = @f;
	push @cases, $case unless $seen_case{$case}++;
	if ($tps eq 'FAIL')
	{
		$failed{$case}{$target} = 1;
		next;
	}
	$tps{$case}{$target}{$round} = $tps;
	$lat{$case}{$target}{$round} = $lat if $lat ne '-';
}
close $rf;

sub median
{
	my @v = sort { $a <=> $b } @_;
	return undef unless @v;
	return $v[$#v / 2] if @v % 2;
	return ($v[@v / 2 - 1] + $v[@v / 2]) / 2;
}

# per-round values of a target, and per-round ratios or differences
sub values_of { my ($h, $c, $t) = @_; return values %{ $h->{$c}{$t} // {} } }

sub paired
{
	my ($h, $c, $t1, $t2, $op) = @_;
	my $a = $h->{$c}{$t1} // {};
	my $b = $h->{$c}{$t2} // {};
	my @v;
	for my $r (keys %$a)
	{
		next unless defined $b->{$r};
		next if $op eq 'ratio' && $b->{$r} == 0;
		push @v, $op eq 'ratio' ? $a->{$r} / $b->{$r} : $a->{$r} - $b->{$r};
	}
	return median(@v);
}

sub tps_cell
{
	my ($c, $t) = @_;
	return 'FAIL' if $failed{$c}{$t};
	my $tps = median(values_of(\%tps, $c, $t));
	return '—' unless defined $tps;
	my $lat = median(values_of(\%lat, $c, $t));
	return sprintf('%.0f', $tps) . (defined $lat ? sprintf(' (%.3f)', $lat) : '');
}

sub ratio_cell
{
	my ($c, $t1, $t2) = @_;
	return '' if $failed{$c}{$t1} || $failed{$c}{$t2};
	my $r = paired(\%tps, $c, $t1, $t2, 'ratio');
	return defined $r ? sprintf('%.2f', $r) : '';
}

sub added_cell
{
	my ($c, $t, $base) = @_;
	my $d = paired(\%lat, $c, $t, $base, 'diff');
	return '' unless defined $d;
	return sprintf('%+.0f', $d * 1000);
}

sub label
{
	my ($tls, $proto) = @_;
	return ($tls eq 'tls' ? 'TLS + SCRAM' : 'SCRAM')
	  . ' login per transaction (-C): connections/s'
	  if $proto eq 'connect';
	return "-S $proto" . ($tls eq 'tls' ? ', TLS' : '');
}

my @cols = ('test', 'clients', 'direct', 'PgBouncer', 'manager RW',
	'PgBouncer / direct', 'RW / direct', 'RW / PgBouncer',
	'standby direct', 'manager RO', 'RO / standby');
my @rows;
for my $c (@cases)
{
	my ($tls, $proto, $clients) = split /:/, $c;
	push @rows,
	  [
		label($tls, $proto), $clients,
		tps_cell($c, 'direct'), tps_cell($c, 'pgbouncer'),
		tps_cell($c, 'rw'), ratio_cell($c, 'pgbouncer', 'direct'),
		ratio_cell($c, 'rw', 'direct'), ratio_cell($c, 'rw', 'pgbouncer'),
		tps_cell($c, 'standby'), tps_cell($c, 'ro'),
		ratio_cell($c, 'ro', 'standby')
	  ];
}
for my $c (grep { /^\w+:(simple|prepared):1$/ } @cases)
{
	my ($tls, $proto) = split /:/, $c;
	push @rows,
	  [
		'added latency, µs: ' . label($tls, $proto), 1, '',
		added_cell($c, 'pgbouncer', 'direct'), added_cell($c, 'rw', 'direct'),
		'', '', '', '', added_cell($c, 'ro', 'standby'), ''
	  ];
}
# CPU µs per new session: [0] the relay's processes, [1] the server
sub cpu_us
{
	my ($c, $t, $which) = @_;
	my $v = median(map { $_->[$which] } values %{ $cpu{$c}{$t} // {} });
	return defined $v ? $v / 1000 : undef;
}
for my $c (grep { $cpu{$_} } @cases)
{
	my ($tls, undef, $clients) = split /:/, $c;
	my $what = $tls eq 'tls' ? 'TLS + SCRAM' : 'SCRAM';
	my $us = sub {
		my $v = cpu_us($c, @_);
		return defined $v ? sprintf('%.0f', $v) : '—';
	};
	my $per_core = sub {
		my $v = cpu_us($c, $_[0], 0);
		return defined $v && $v > 0 ? sprintf('%.0f', 1e6 / $v) : '—';
	};
	my ($rw, $pgb) = (cpu_us($c, 'rw', 0), cpu_us($c, 'pgbouncer', 0));
	push @rows,
	  [
		"new $what session: CPU µs of the relay's processes", $clients, '—',
		$us->('pgbouncer', 0), $us->('rw', 0), '', '',
		defined $rw && defined $pgb && $pgb > 0 ? sprintf('%.2f', $rw / $pgb) : '',
		'', '', ''
	  ];
	push @rows,
	  [
		"new $what session: per second per core of the relay", $clients, '—',
		$per_core->('pgbouncer'), $per_core->('rw'), '', '',
		defined $rw && defined $pgb && $rw > 0 ? sprintf('%.2f', $pgb / $rw) : '',
		'', '', ''
	  ];
	push @rows,
	  [
		"new $what session: CPU µs of the server (postmaster, ended backends)",
		$clients, $us->('direct', 1), $us->('pgbouncer', 1), $us->('rw', 1),
		'', '', '', '', '', ''
	  ];
}
my %per_session;
for my $t (keys %idle)
{
	my $i = $idle{$t};
	$per_session{$t} = ($i->{pd1} - $i->{pd0}) * 1024 / $i->{n};
}
if (%idle)
{
	my $n = (values %idle)[0]{n};
	my $bytes = sub {
		defined $per_session{ $_[0] } ? sprintf('%.0f', $per_session{ $_[0] }) : '—';
	};
	my $ratio = '';
	$ratio = sprintf('%.2f', $per_session{rw} / $per_session{pgbouncer})
	  if defined $per_session{rw}
	  && defined $per_session{pgbouncer}
	  && $per_session{pgbouncer} > 0;
	push @rows,
	  [
		'memory per idle session, bytes (Private_Dirty growth / sessions)',
		$n, '', $bytes->('pgbouncer'), $bytes->('rw'), '', '', $ratio, '', '', ''
	  ];
	my $served = sub { $idle{ $_[0] } ? $idle{ $_[0] }{served} : '—' };
	push @rows,
	  [
		'a new client served while they are open', $n, '',
		$served->('pgbouncer'), $served->('rw'), '', '', '', '', '', ''
	  ];
}

print "## connection_manager benchmark\n\n";
printf "%s · %s × %s · Linux %s · PostgreSQL %s · PgBouncer %s · "
  . "connection_manager %s (%s proxy workers%s)%s\n\n",
  $meta{date}, $meta{nproc}, $meta{cpu}, $meta{kernel}, $meta{postgres},
  $meta{pgbouncer}, $meta{manager}, $meta{workers},
  ($meta{settings} // '') ne '' ? "; $meta{settings}" : '',
  $meta{mode} eq 'quick' ? ' · **quick mode: smoke test only**' : '';
printf "pgbench -S, scale %s, %s s per run, %s round%s interleaved, medians; "
  . "cells: TPS (average latency, ms); ratios: median of the rounds' ratios.\n\n",
  $meta{scale}, $meta{seconds}, $meta{rounds}, $meta{rounds} == 1 ? '' : 's';
print '| ', join(' | ', @cols), " |\n";
print '|', join('|', map { $_ < 2 ? '---' : '--:' } 0 .. $#cols), "|\n";
print '| ', join(' | ', @$_), " |\n" for @rows;
if (%idle)
{
	my @m;
	for my $t (sort keys %idle)
	{
		my $i = $idle{$t};
		push @m,
		  sprintf('%s Private_Dirty %d → %d kB, Rss %d → %d kB, Pss %d → %d kB',
			$t eq 'rw' ? 'manager proxy workers' : 'PgBouncer',
			$i->{pd0}, $i->{pd1}, $i->{rss0}, $i->{rss1}, $i->{pss0},
			$i->{pss1});
	}
	print "\nIdle sessions: ", join('; ', @m), ".\n";
}
