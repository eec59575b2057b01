# samehost follows the host's addresses as they are when a client is
# judged, as the server does: an address added after the manager loaded
# pg_hba.conf matches a samehost line at once, without a reload, and stops
# matching when it is removed; direct connections to the server give the
# same answers.
#
# Adding an address needs CAP_NET_ADMIN.  The test runs itself again in a
# network namespace of its own, inside an unprivileged user namespace that
# keeps that capability, so the host's interfaces are never touched and
# nothing is left behind.
#
# Copyright (c) 2026, The connection_manager Authors; see LICENSE.
use strict;
use warnings;

BEGIN
{
	unless ($ENV{CM_TEST_OWN_NETNS})
	{
		$ENV{PATH} .= ':/usr/sbin:/sbin';    # where ip lives, if PATH lacks it
		my @unshare =
		  ('unshare', '--user', '--map-current-user', '--net', '--keep-caps');
		if (system(join(' ', @unshare, 'ip link set lo up', '2>/dev/null')) !=
			0)
		{
			print "1..0 # SKIP cannot make a network namespace of our own "
			  . "(unshare --user --net --keep-caps, then ip, failed): "
			  . "test/unit/test_hba.c covers the matching\n";
			exit 0;
		}
		$ENV{CM_TEST_OWN_NETNS} = 1;
		$ENV{PERL5LIB} = join(':', @INC);
		exec(@unshare, $^X, $0, @ARGV) or die "exec unshare: $!";
	}
}

use FindBin;
use lib "$FindBin::RealBin/../test/perl";
use CmTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

sub ip
{
	system('ip', @_) == 0 or die "ip @_ failed";
	return;
}

ip('link', 'set', 'lo', 'up');
my $floating = '127.0.0.9';

# The client comes from an address of this host: samehost admits it,
# nothing else does.  The
# file is in place before the workers start and read it.
my $node = cm_primary('node',
	extra => "password_encryption = 'scram-sha-256'\n");
open my $hba, '>', $node->data_dir . '/pg_hba.conf' or die;
# (the manager itself logs in from 127.0.0.2 by trust with a proof, as
# CmTest sets up; the node judges the client with the samehost line again)
print $hba "local all all trust\n"
  . "host all all 127.0.0.2/32 trust\n"
  . "host all all samehost scram-sha-256\n";
close $hba;
$node->start;
$node->safe_psql('postgres', q{CREATE ROLE floater LOGIN PASSWORD 'float pw'});

sub login
{
	my ($port, $addr) = @_;
	return cm_login(
		port => $port,
		local_addr => $addr,
		user => 'floater',
		password => 'float pw');
}

sub both
{
	my ($addr, $want, $what) = @_;
	is(login($node->{cm_rw_port}, $addr), $want, "$what: through the manager");
	is(login($node->port, $addr), $want, "$what: directly");
}

my $refused = qq{28000 no pg_hba.conf entry for host "$floating", }
  . qq{user "floater", database "postgres", no encryption};

# The workers start after the server is ready: wait for the port.
my $first = '';
for (1 .. 300)
{
	$first = eval { login($node->{cm_rw_port}, '127.0.0.1') } // '';
	last if $first eq 'ok';
	usleep(100_000);
}
both('127.0.0.1', 'ok', 'from 127.0.0.1, an interface address');
both($floating, $refused, "from $floating before the host has it");

my $log_offset = -s $node->logfile;
ip('addr', 'add', "$floating/8", 'dev', 'lo');
like(`ip -4 addr show dev lo`, qr/inet \Q$floating\E\//,
	"$floating is now an address of lo");
# Several logins, which the two workers share.
for my $n (1 .. 4)
{
	both($floating, 'ok', "login $n from $floating once the host has it");
}

ip('addr', 'del', "$floating/8", 'dev', 'lo');
for my $n (1 .. 4)
{
	both($floating, $refused, "login $n from $floating once it has left");
}
both('127.0.0.1', 'ok', 'from 127.0.0.1 still');

my $log = slurp_file($node->logfile, $log_offset);
unlike($log, qr/received SIGHUP|reloading configuration/,
	'no reload while the address came and went');

$node->stop;
done_testing();
