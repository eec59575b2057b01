# CmWire.pm
#	A frontend/backend protocol client of our own for the fencing and
#	switchover tests: a session logs in (trust), sends simple queries and
#	says exactly what ended it, the FATAL ErrorResponse's fields or the
#	connection's loss, and when.  Many sessions can be watched at once
#	(cm_wire_ended), so that the moment each was ended is measured.
#
# Copyright (c) 2026, The connection_manager Authors; see LICENSE.
package CmWire;

use strict;
use warnings;

use Exporter 'import';
use IO::Select;
use IO::Socket::INET;
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(time);
use Time::Local qw(timegm timelocal);

our @EXPORT = qw(cm_wire_open cm_wire_ended cm_log_time cm_log_time_until);

# A write to a socket the manager closed must fail, not end the test.
$SIG{PIPE} = 'IGNORE';

sub startup_packet
{
	my (@params) = @_;
	my $body = pack('N', 196608) . join('', map { "$_\0" } @params) . "\0";
	return pack('N', length($body) + 4) . $body;
}

# Opens a session through 127.0.0.1:port and sends the startup packet.
# Unless wait => 0, waits (timeout, default 30 s) for the login's end:
# login() then says how it went.  A refused connection is a session
# that ended ('refused').
sub cm_wire_open
{
	my ($port, %opt) = @_;
	my $self = bless {
		port => $port,
		buf => '',
		rows => [],
		ready => 0,
		logged_in => 0,
	  },
	  'CmWire';
	my $sock = IO::Socket::INET->new(
		PeerAddr => '127.0.0.1',
		PeerPort => $port,
		Proto => 'tcp',
		Timeout => $opt{connect_timeout} // 10);
	if (!$sock)
	{
		$self->{ended} = { what => 'refused', at => time, text => "$!" };
		return $self;
	}
	setsockopt($sock, IPPROTO_TCP, TCP_NODELAY, 1);
	$self->{sock} = $sock;
	$self->_send(
		startup_packet(
			'user' => $opt{user} // scalar(getpwuid($<)),
			'database' => $opt{database} // 'postgres'));
	$self->login($opt{timeout} // 30) if $opt{wait} // 1;
	return $self;
}

# 'ok' once the login reached ReadyForQuery, else what ended it ("57P03
# no write leader is available", 'closed', 'refused') or 'timeout'.
sub login
{
	my ($self, $timeout) = @_;
	$self->_wait($timeout // 30, sub { $self->{ready} || $self->{ended} });
	return 'ok' if $self->{logged_in};
	return $self->{ended} ? $self->outcome : 'timeout';
}

# Sends a simple query without waiting for its answer.
sub send_query
{
	my ($self, $sql) = @_;
	$self->{ready} = 0;
	$self->{rows} = [];
	$self->{error} = undef;
	$self->_send('Q' . pack('N', length($sql) + 5) . "$sql\0");
	return;
}

# Waits for the answer of the query sent: 'ok' (rows in rows()), "error
# SQLSTATE" for an error that left the session open, else what ended
# the session, or 'timeout'.
sub result
{
	my ($self, $timeout) = @_;
	$self->_wait($timeout // 60, sub { $self->{ready} || $self->{ended} });
	return $self->outcome if $self->{ended};
	return 'timeout' unless $self->{ready};
	return "error $self->{error}{C}" if $self->{error};
	return 'ok';
}

sub query
{
	my ($self, $sql, $timeout) = @_;
	$self->send_query($sql);
	return $self->result($timeout);
}

# The first column of the first row of a query, or undef when it failed.
sub value
{
	my ($self, $sql, $timeout) = @_;
	return undef unless $self->query($sql, $timeout) eq 'ok';
	return $self->{rows}[0];
}

sub rows { return @{ $_[0]{rows} }; }

# The transaction status of the last ReadyForQuery: I, T or E.
sub status { return $_[0]{status}; }

# undef while the session is open; else { what => 'fatal' | 'closed' |
# 'refused', at => time it was seen, fields => the FATAL's fields }.
sub ended { return $_[0]{ended}; }

# What ended the session, as one line: "SQLSTATE message" or 'closed'.
sub outcome
{
	my ($self) = @_;
	my $e = $self->{ended} or return 'open';
	return "$e->{fields}{C} $e->{fields}{M}" if $e->{what} eq 'fatal';
	return $e->{what};
}

# Also the detail, for diagnostics.
sub describe
{
	my ($self) = @_;
	my $e = $self->{ended} or return 'still open';
	return $self->outcome unless $e->{what} eq 'fatal';
	return "$e->{fields}{C} $e->{fields}{M} / " . ($e->{fields}{D} // '');
}

sub close
{
	my ($self) = @_;
	if ($self->{sock})
	{
		$self->_send('X' . pack('N', 4));
		CORE::close($self->{sock});
		$self->{sock} = undef;
	}
	$self->{ended} //= { what => 'closed', at => time };
	return;
}

sub _send
{
	my ($self, $bytes) = @_;
	return unless $self->{sock};
	my $n = syswrite($self->{sock}, $bytes);
	# a reset peer: what it sent before may still be read
	$self->_read(0.2) unless defined $n && $n == length $bytes;
	return;
}

sub _closed
{
	my ($self) = @_;
	$self->{ended} //= { what => 'closed', at => time };
	CORE::close($self->{sock}) if $self->{sock};
	$self->{sock} = undef;
	return;
}

# One read, waiting up to timeout: false when nothing came.
sub _read
{
	my ($self, $timeout) = @_;
	return 0 unless $self->{sock};
	return 0 unless IO::Select->new($self->{sock})->can_read($timeout);
	my $n = sysread($self->{sock}, $self->{buf}, 65536, length $self->{buf});
	if (!$n)
	{
		$self->_closed;
		return 1;
	}
	$self->_take_messages;
	return 1;
}

sub _wait
{
	my ($self, $timeout, $done) = @_;
	my $deadline = time + $timeout;
	until ($done->())
	{
		my $left = $deadline - time;
		return 0 if $left <= 0 || !$self->{sock};
		$self->_read($left);
	}
	return 1;
}

sub _take_messages
{
	my ($self) = @_;
	while (length($self->{buf}) >= 5)
	{
		my ($type, $len) = unpack('a N', $self->{buf});
		last if length($self->{buf}) < $len + 1;
		my $body = substr($self->{buf}, 5, $len - 4);
		substr($self->{buf}, 0, $len + 1, '');
		$self->_message($type, $body);
	}
	return;
}

sub _message
{
	my ($self, $type, $body) = @_;
	if ($type eq 'E')
	{
		my %f;
		while ($body =~ /\G([^\0])([^\0]*)\0/gc) { $f{$1} = $2; }
		my $severity = $f{V} // $f{S} // '';
		if ($severity eq 'FATAL' || $severity eq 'PANIC' || !$self->{logged_in})
		{
			$self->{ended} //= { what => 'fatal', at => time, fields => \%f };
		}
		else
		{
			$self->{error} //= \%f;
		}
	}
	elsif ($type eq 'D')
	{
		my $n = unpack('n', $body);
		my $pos = 2;
		my @cols;
		for (1 .. $n)
		{
			my $len = unpack('N', substr($body, $pos, 4));
			$pos += 4;
			if ($len == 0xffffffff)
			{
				push @cols, '';
				next;
			}
			push @cols, substr($body, $pos, $len);
			$pos += $len;
		}
		push @{ $self->{rows} }, join('|', @cols);
	}
	elsif ($type eq 'Z')
	{
		$self->{status} = $body;
		$self->{ready} = 1;
		$self->{logged_in} = 1;
	}
	elsif ($type eq 'R' && unpack('N', $body) != 0)
	{
		# only trust is spoken here
		$self->{ended} //= {
			what => 'fatal',
			at => time,
			fields => { C => 'auth', M => 'a password was asked for' }
		};
		$self->_closed;
	}
	return;
}

# Watches the sessions until each has ended or timeout seconds pass,
# reading whatever comes; returns how many have ended.
sub cm_wire_ended
{
	my ($sessions, $timeout) = @_;
	my $deadline = time + $timeout;
	while (1)
	{
		my %open = map { fileno($_->{sock}) => $_ }
		  grep { !$_->{ended} && $_->{sock} } @$sessions;
		my $left = $deadline - time;
		last if !%open || $left <= 0;
		my $sel = IO::Select->new(map { $_->{sock} } values %open);
		for my $fh ($sel->can_read($left < 0.05 ? $left : 0.05))
		{
			$open{ fileno($fh) }->_read(0);
		}
	}
	return scalar grep { $_->{ended} } @$sessions;
}

# The time (seconds since the epoch, with milliseconds) of the log line
# where the first match of re, in the node's log from offset on, starts;
# undef when there is none.  The tests' log_line_prefix begins with %m.
sub cm_log_time
{
	my ($node, $re, $offset) = @_;
	my $log = PostgreSQL::Test::Utils::slurp_file($node->logfile, $offset // 0);
	return undef unless $log =~ $re;
	my $start = rindex($log, "\n", $-[0]) + 1;
	return undef
	  unless substr($log, $start, 40) =~
	  /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{3}) (\S+)/;
	my @t = ($6, $5, $4, $3, $2 - 1, $1);
	my $s = ($8 eq 'UTC' || $8 eq 'GMT') ? timegm(@t) : timelocal(@t);
	return $s + $7 / 1000;
}

# cm_log_time, waiting up to timeout seconds (default 15) for the line.
sub cm_log_time_until
{
	my ($node, $re, $offset, $timeout) = @_;
	my $deadline = time + ($timeout // 15);
	while (1)
	{
		my $t = cm_log_time($node, $re, $offset);
		return $t if defined $t || time > $deadline;
		Time::HiRes::usleep(100_000);
	}
}

1;
