# An IPv6 link-local client (fe80::c0de%lo, which test/run-all adds to the
# loopback interface as root) logs in through the manager: its address is
# matched by pg_hba.conf with its scope, and the proof names it without
# one, as the backend judges it.
#
# Copyright (c) 2026, The connection_manager Authors; see LICENSE.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../test/perl";
use CmTest;
use IO::Socket::IP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $LL = 'fe80::c0de';
my $probe = IO::Socket::IP->new(
	LocalHost => "$LL%lo",
	LocalPort => 0,
	Listen => 1);
# Without the address this test proves nothing: fail, never pass quietly.
ok($probe, "$LL is on lo (test/run-all adds it as root)")
  or BAIL_OUT("$LL is not on the loopback interface: run test/run-all as root");
close $probe;

my $node = cm_primary('ll', extra => qq{
password_encryption = 'scram-sha-256'
connection_manager.listen_addresses = '127.0.0.1, $LL%lo'
log_connections = on
});
$node->start;
PostgreSQL::Test::Utils::append_to_file($node->data_dir . '/pg_hba.conf',
	"host all all fe80::/10 scram-sha-256\n");
$node->safe_psql('postgres', q{
CREATE ROLE ll_user LOGIN PASSWORD 'll pw';
SELECT pg_reload_conf();
});

my ($rc, $out, $err);
for (1 .. 50)
{
	local $ENV{PGPASSWORD} = 'll pw';
	($rc, $out, $err) = (0, '', '');
	IPC::Run::run(
		[
			'psql', '-XAtq', '-d',
			"host=$LL%lo port=$node->{cm_rw_port} dbname=postgres user=ll_user sslmode=disable",
			'-c', 'select current_user, inet_client_addr()'
		],
		'>', \$out, '2>', \$err, IPC::Run::timeout(60));
	last if $out =~ /ll_user/;
	select(undef, undef, undef, 0.1);
}
chomp $out;
is($out, 'll_user|127.0.0.2',
	'a link-local client logs in through the read-write port')
  or diag $err;
ok($node->log_contains(qr/connection proven to come from a connection manager for client host=fe80::c0de port=\d+/),
	'the proof names the client without its scope');

$node->stop;
done_testing();
