# Read-write port: every login confirms that its target is a primary
# (in_hot_standby = off) and is refused with 57P03 otherwise, before the
# client gets a ReadyForQuery.  Without a node list, the routing points at
# a standby in three ways here: a cascading standby's upstream is itself a
# standby; an upstream that never reports in_hot_standby (a server of our
# own, standing in for PostgreSQL before 14); and a primary that was
# stopped and came back as a standby, behind the standby that follows it.
#
# Copyright (c) 2026, The connection_manager Authors; see LICENSE.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../test/perl";
use CmTest;
use IO::Select;
use IO::Socket::INET;
use POSIX ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# The messages of a byte string, and whether it ends on a message boundary.
sub messages
{
	my ($bytes) = @_;
	my @m;
	my $pos = 0;
	while ($pos + 5 <= length $bytes)
	{
		my $len = unpack('N', substr($bytes, $pos + 1, 4));
		last if $pos + 1 + $len > length $bytes;
		push @m, [ substr($bytes, $pos, 1), substr($bytes, $pos + 5, $len - 4) ];
		$pos += 1 + $len;
	}
	return (\@m, $pos == length $bytes);
}

# A raw login through a read-write port that must be refused as not a
# primary: whole messages, no ReadyForQuery, no in_hot_standby passed on,
# the FATAL last.  Returns the error's fields.
sub refused_raw
{
	my ($port, $what) = @_;
	my ($resp, $closed) =
	  cm_raw($port, cm_startup_packet('user', 'postgres', 'database', 'postgres'));
	my ($msgs, $whole) = messages($resp);
	ok($closed, "$what: the manager closes the connection");
	ok($whole, "$what: the client gets whole messages only");
	is(scalar(grep { $_->[0] eq 'Z' } @$msgs),
		0, "$what: no ReadyForQuery reaches the client");
	is(scalar(grep { $_->[0] eq 'S' && $_->[1] =~ /^in_hot_standby\0/ } @$msgs),
		0, "$what: the server's in_hot_standby is not passed on");
	is(@$msgs ? $msgs->[-1][0] : '', 'E', "$what: the FATAL comes last");
	my $e = cm_error_fields($resp);
	is($e->{S}, 'FATAL', "$what: FATAL");
	is($e->{C}, '57P03', "$what: 57P03");
	is($e->{M}, 'the target server is not a primary', "$what: message");
	return $e;
}

my $primary = cm_primary('primary');
$primary->start;
$primary->safe_psql('postgres', 'create table t (id int)');
$primary->backup('b');
my $standby = cm_standby('standby', $primary, 'b');
$standby->start;
$standby->backup('bs');
my $cascade = cm_standby('cascade', $standby, 'bs');
$cascade->start;
$primary->wait_for_catchup($standby);
$standby->wait_for_catchup($cascade, 'replay', $primary->lsn('insert'));

my $pport = $primary->port;
my $sport = $standby->port;

# A primary confirms it: writes through the primary's and its standby's
# read-write ports land on the primary.
for my $node ($primary, $standby)
{
	my $name = $node->name;
	ok(cm_wait_for_port($node->{cm_rw_port}), "$name: read-write port answers");
	my ($rc, $out, $err) = cm_psql($node->{cm_rw_port},
		'insert into t values (1) returning inet_server_port()');
	is($out, $pport, "$name: a write lands on the primary");
}

# A cascading standby routes writes to its upstream, which is a standby.
my $out = cm_psql_until($cascade->{cm_rw_port}, 'insert into t values (2)',
	qr/not a primary|read-only transaction/);
like($out, qr/FATAL:  the target server is not a primary/,
	'cascade: a write through its read-write port is refused');
like($out, qr/DETAIL:  The server "[^"]*:$sport" is in hot standby\./,
	'cascade: the detail names the upstream and says it is in hot standby');
my $e = refused_raw($cascade->{cm_rw_port}, 'cascade, raw login');
like($e->{D}, qr/:$sport" is in hot standby/, 'cascade, raw login: detail');
ok( $cascade->log_contains(
		qr/refusing a read-write session on "[^"]*:$sport": it is not a primary/),
	'cascade: the refusal is logged');
my ($rc, $ro) = cm_psql($cascade->{cm_ro_port}, 'select pg_is_in_recovery()');
is($ro, 't', 'cascade: the read-only port still takes its own standby');

# An upstream that never reports in_hot_standby: a server of our own that
# logs anyone in as PostgreSQL 13 would, without it.
my $fake = IO::Socket::INET->new(
	LocalAddr => '127.0.0.1',
	LocalPort => 0,
	Listen => 16,
	ReuseAddr => 1,
	Proto => 'tcp') or die "listen: $!";
my $fake_port = $fake->sockport;
my $fake_pid = fork;
die "fork: $!" unless defined $fake_pid;
if ($fake_pid == 0)
{
	my $param = sub { 'S' . pack('N', 4 + length $_[0]) . $_[0] };
	while (my $c = $fake->accept)
	{
		my $sel = IO::Select->new($c);
		my $packet = '';
		while (1)
		{
			last unless $sel->can_read(5);
			my $n = sysread($c, $packet, 65536, length $packet);
			last unless $n;
			next if length($packet) < 8;
			my $len = unpack('N', $packet);
			next if length($packet) < $len;
			my $startup = substr($packet, 0, $len, '');
			my $code = unpack('N', substr($startup, 4, 4));
			if ($code == 80877103 || $code == 80877104)
			{
				syswrite($c, 'N');
				next;
			}
			last if $packet ne '';
			my $error = "SFATAL\0C28000\0Mno replication here\0\0";
			if ($code != 196608 || $startup =~ /\0replication\0/)
			{
				syswrite($c, 'E' . pack('N', 4 + length $error) . $error);
				last;
			}
			syswrite($c,
				    'R'
				  . pack('N', 8) . pack('N', 0)
				  . $param->("server_version\x0013.99\0")
				  . $param->("client_encoding\0UTF8\0")
				  . $param->("DateStyle\0ISO, MDY\0")
				  . $param->("integer_datetimes\0on\0")
				  . $param->("standard_conforming_strings\0on\0")
				  . 'K'
				  . pack('N', 12) . pack('N', 4242) . pack('N', 4343)
				  . 'Z'
				  . pack('N', 5) . 'I');
			# whatever comes next gets no answer; wait a little for it
			$sel->can_read(2);
			last;
		}
		close $c;
	}
	POSIX::_exit(0);
}
close $fake;
$cascade->append_conf('postgresql.conf',
	"primary_conninfo = 'host=127.0.0.1 port=$fake_port'\n");
$cascade->restart;
$out = cm_psql_until($cascade->{cm_rw_port}, 'select 1',
	qr/not a primary|^1$|server closed/m);
like($out, qr/FATAL:  the target server is not a primary/,
	'no in_hot_standby reported: refused');
like($out,
	qr/DETAIL:  The server "127\.0\.0\.1:$fake_port" did not report in_hot_standby before ReadyForQuery/,
	'no in_hot_standby reported: the detail says so');
$e = refused_raw($cascade->{cm_rw_port}, 'no in_hot_standby, raw login');
like($e->{D}, qr/did not report in_hot_standby/,
	'no in_hot_standby, raw login: detail');
kill 'TERM', $fake_pid;
waitpid($fake_pid, 0);
$cascade->stop;

# A standby without a node list whose upstream was stopped and came back
# as a standby: its read-write port never writes there.
$primary->stop;
$primary->set_standby_mode;
$primary->start;
is($primary->safe_psql('postgres', 'select pg_is_in_recovery()'),
	't', 'the old primary is back as a standby');
$out = cm_psql_until($standby->{cm_rw_port},
	'insert into t values (3) returning id',
	qr/not a primary|read-only transaction|no write leader|^3$/m);
like($out, qr/FATAL:  the target server is not a primary/,
	'upstream back as a standby: a write is refused');
like($out, qr/DETAIL:  The server "[^"]*:$pport" is in hot standby\./,
	'upstream back as a standby: the detail names it');
refused_raw($standby->{cm_rw_port}, 'upstream back as a standby, raw login');
ok( $standby->log_contains(
		qr/refusing a read-write session on "[^"]*:$pport": it is not a primary/),
	'upstream back as a standby: the refusal is logged');

# Promoted again, it takes writes through the standby's port, and none of
# the refused ones were written.
$primary->promote;
$out = cm_psql_until($standby->{cm_rw_port},
	'insert into t values (4) returning id', qr/^4$/m);
is($out, '4', 'promoted again: a write through the standby lands');
is( $primary->safe_psql(
		'postgres', 'select count(*) from t where id in (2, 3)'),
	'0',
	'none of the refused writes was written on the old primary');
is($primary->safe_psql('postgres', 'select count(*) from t where id = 4'),
	'1', 'the last write is on it');

done_testing();
