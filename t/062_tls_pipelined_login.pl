# A TLS client that sends its password and, without waiting, more than the
# session's buffer holds of queries: the proxy reads the client while the
# password is checked until its buffer is full, with part of a TLS record
# left decrypted in OpenSSL.  Those bytes must wait for the relay, behind
# the held ones: read while the manager logs into the server, they went to
# the server first, out of order and cut in the middle of a message.
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

my $dir = PostgreSQL::Test::Utils::tempdir;
my ($o, $e);
IPC::Run::run(
	[
		'openssl', 'req', '-x509', '-new', '-nodes', '-newkey', 'rsa:2048',
		'-keyout', "$dir/server.key", '-out', "$dir/server.crt", '-days', '2',
		'-subj', '/CN=localhost'
	],
	'>', \$o, "2>", \$e) or die "openssl: $e";
chmod 0600, "$dir/server.key";

my $node = cm_primary(
	'node', extra => qq{
ssl = on
ssl_cert_file = '$dir/server.crt'
ssl_key_file = '$dir/server.key'
connection_manager.server_sslmode = disable
});
my $hba = $node->data_dir . '/pg_hba.conf';
my $rules = slurp_file($hba);
open(my $fh, '>', $hba) or die "$hba: $!";
print $fh "hostssl all pw_user 127.0.0.1/32 password\n", $rules;
close $fh;
$node->start;
$node->safe_psql('postgres',
	"create role pw_user login password 'secret';
	 create table t (k int, n serial);
	 grant all on t, t_n_seq to pw_user;");
my $port = $node->{cm_rw_port};
ok(cm_wait_for_port($port), 'read-write port answers');

sub msg { my ($type, $body) = @_; return $type . pack('N', length($body) + 4) . $body; }

# Queries of 1 kB each: many 8 kB TLS records from s_client, so that the
# buffer fills with a record only partly read.
my $count = 60;
my $bytes = cm_startup_packet('user', 'pw_user', 'database', 'postgres')
  . msg('p', "secret\0");
for my $k (1 .. $count)
{
	my $q = "insert into t (k) values ($k) -- ";
	$bytes .= msg('Q', $q . ('x' x (1000 - length $q)) . "\0");
}
$bytes .= msg('X', '');
PostgreSQL::Test::Utils::append_to_file("$dir/in", $bytes);

for my $round (1 .. 5)
{
	$node->safe_psql('postgres', 'truncate t');
	my ($out, $err) = ('', '');
	IPC::Run::run(
		[
			'openssl', 's_client', '-starttls', 'postgres', '-quiet',
			'-ign_eof', '-max_send_frag', '5000', '-connect', "127.0.0.1:$port"
		],
		'<', "$dir/in", '>', \$out, '2>', \$err,
		IPC::Run::timeout(60));
	my $got = $node->safe_psql('postgres',
		"select count(*), coalesce(string_agg(k::text, ',' order by n), '') from t");
	is($got, "$count|" . join(',', 1 .. $count),
		"round $round: every pipelined query ran, in order");
	unlike($out, qr/E\0\0.{2}SFATAL/s, "round $round: no error from the server");
}

done_testing();
