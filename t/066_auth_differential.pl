# Differential pre-authentication: for several pg_hba.conf files, each role,
# database, client address (127.0.0.1 and 127.0.0.2) and password (right,
# wrong, none), a client of our own (not libpq) gets from the manager
# exactly what it gets from the server itself: in or out, same SQLSTATE,
# same message.
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

my $node = cm_primary(
	'node', extra => q{
password_encryption = 'scram-sha-256'
listen_addresses = '127.0.0.1'
# the matrix compares with direct connections from the manager's address,
# 127.0.0.1 (the kernel's choice) or 127.0.0.2, as clients use both
connection_manager.proof_required_from = ''
connection_manager.server_source_addresses = ''
});
$node->start;
$node->safe_psql(
	'postgres', q{
CREATE ROLE scram_user LOGIN PASSWORD 'scram pw';
CREATE ROLE grp NOLOGIN;
CREATE ROLE mid NOLOGIN IN ROLE grp;
CREATE ROLE member_user LOGIN PASSWORD 'member pw' IN ROLE mid;
CREATE ROLE expired_user LOGIN PASSWORD 'expired pw' VALID UNTIL '2001-01-01';
CREATE ROLE nologin_user NOLOGIN PASSWORD 'nologin pw';
CREATE ROLE otherdb LOGIN PASSWORD 'otherdb pw';
SET password_encryption = 'md5';
CREATE ROLE md5_user LOGIN PASSWORD 'md5 pw';
CREATE DATABASE otherdb;
});

# Each file admits the manager's own login from 127.0.0.1 with a method
# the client's proof can answer; what differs is what clients are asked.
my @files = (
	[
		'scram and md5 by address', q{
local all all trust
host all md5_user 127.0.0.0/8 md5
host all all 127.0.0.2/32 scram-sha-256
host all all 127.0.0.1/32 scram-sha-256
}
	],
	[
		'groups, databases and rejects', q{
local all all trust
host otherdb +grp 127.0.0.0/8 reject
host all expired_user,nologin_user 127.0.0.2/32 reject
host sameuser all 127.0.0.0/8 scram-sha-256
host all +grp 127.0.0.2/32 md5
host postgres md5_user 127.0.0.0/8 md5
host postgres all 127.0.0.1/32 scram-sha-256
host postgres scram_user,ghost 127.0.0.2/32 scram-sha-256
}
	],
	[
		'password method and samerole', q{
local all all trust
host all md5_user 127.0.0.0/8 md5
host all all 127.0.0.2/32 password
host samerole all 127.0.0.1/32 scram-sha-256
host all all 127.0.0.1/32 scram-sha-256
}
	],);

my @who = (
	[ 'scram_user', 'scram pw' ], [ 'scram_user', 'wrong' ],
	[ 'scram_user', undef ], [ 'md5_user', 'md5 pw' ],
	[ 'md5_user', 'wrong' ], [ 'member_user', 'member pw' ],
	[ 'member_user', 'wrong' ], [ 'ghost', 'ghost pw' ],
	[ 'expired_user', 'expired pw' ], [ 'nologin_user', 'nologin pw' ],
	[ 'otherdb', 'otherdb pw' ],);

my $cases = 0;
my $accepted = 0;
for my $file (@files)
{
	my ($fname, $text) = @$file;
	open my $fh, '>', $node->data_dir . '/pg_hba.conf' or die;
	print $fh $text;
	close $fh;
	$node->reload;
	# wait until the manager's workers read the file too
	for (1 .. 100)
	{
		last
		  if $node->log_contains(qr/skipping the rule at line 2 of/)
		  && scalar(() = slurp_file($node->logfile) =~ /received SIGHUP/g)
		  <= scalar(() = slurp_file($node->logfile) =~ /skipping the rule at line 2 of/g) / 2;
		select(undef, undef, undef, 0.05);
	}
	sleep 1;
	for my $addr ('127.0.0.1', '127.0.0.2')
	{
		for my $db ('postgres', 'otherdb')
		{
			for my $w (@who)
			{
				my ($user, $pw) = @$w;
				my %o = (user => $user, password => $pw, database => $db,
					local_addr => $addr);
				my $direct = cm_login(%o, port => $node->port);
				my $managed = cm_login(%o, port => $node->{cm_rw_port});
				is($managed, $direct,
					"$fname: $user/" . ($pw // '-') . "/$db from $addr");
				$cases++;
				$accepted++ if $direct eq 'ok';
			}
		}
	}
}
note("$cases differential cases, $accepted accepted by the server");
cmp_ok($cases, '>=', 100, 'at least 100 cases');
ok($accepted >= 10 && $accepted <= $cases - 10, 'the matrix has both outcomes');

done_testing();
