# CREATE EXTENSION connection_manager: the views, with sessions open
# through both ports of a primary and a standby; hba_file_rules against the
# file and the server's own reading; stat_activity's real client address;
# /metrics accepted by promtool, with counters that move as sessions open,
# fail and close; the connection log lines; pg_monitor may read the views.
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

my $primary = cm_primary('primary',
	extra => "connection_manager.log_connections = on\n");
# rules the manager skips, and one that asks a password of one role
$primary->append_conf('pg_hba.conf', <<'EOF');
host    all   all            10.1.2.0/24    ldap ldapserver=ldap.invalid ldapprefix="cn=" ldapsuffix=",dc=x"
host    all   all            10.1.3.0/24    ldap ldapserver=ldap.invalid ldapbasedn="dc=x" ldapbinddn="cn=admin" ldapbindpasswd=hunter2
host    all   all            10.1.4.0/24    radius radiusservers=127.0.0.1 radiussecrets=s3cr3t
hostssl db1,db2 +grp,"Quoted" 10.3.0.0   255.255.0.0   scram-sha-256
local   all   all                           peer
EOF
my $hba = PostgreSQL::Test::Utils::slurp_file($primary->data_dir . '/pg_hba.conf');
$hba = "host all wrongpw 127.0.0.1/32 scram-sha-256\n" . $hba;
open(my $fh, '>', $primary->data_dir . '/pg_hba.conf') or die;
print $fh $hba;
close $fh;
$primary->start;
$primary->safe_psql('postgres', q{
	create extension connection_manager;
	create role wrongpw login password 'right';
	create role mon login in role pg_monitor;
	create role nobody login;
});
$primary->backup('b');
my $standby = cm_standby('standby', $primary, 'b');
$standby->start;
$primary->wait_for_catchup($standby);

my ($rw, $ro, $http) = @{$primary}{qw(cm_rw_port cm_ro_port cm_http_port)};
ok(cm_wait_for_port($rw), 'the read-write port serves');

sub metric
{
	my ($text, $name, $labels) = @_;
	my $re = qr/^connection_manager_\Q$name\E\{\Q$labels\E\} (\S+)$/m;
	return $text =~ $re ? $1 : undef;
}

sub metrics
{
	my ($st, $body) = cm_http($http, '/metrics');
	return $body;
}

my $m0 = metrics();
my $log_offset = -s $primary->logfile;

# Sessions through both ports: two read-write, one read-only that falls
# back to the primary (locked), one on the standby's read-only port.
my @rw = map { cm_background_psql($rw) } 1 .. 2;
my $ro_here = cm_background_psql($ro);
my $ro_there = cm_background_psql($standby->{cm_ro_port});
my @rw_pids = map { $_->query('select pg_backend_pid()') } @rw;
my $ro_pid = $ro_here->query('select pg_backend_pid()');
my $there_pid = $ro_there->query('select pg_backend_pid()');
is($ro_here->query('show transaction_read_only'), 'on', 'the read-only session on the primary is locked');

my $sql = sub { $primary->safe_psql('postgres', $_[0]) };
is($sql->(q{select port, state, count(*) from connection_manager.connections
	where state = 'active' group by 1, 2 order by 1}),
	"read-only|active|1\nread-write|active|2",
	'connections: two read-write and one read-only session, active');
is($sql->(q{select count(*) from connection_manager.connections c
	join pg_stat_activity a on a.pid = c.backend_pid
	where c.client_addr = '127.0.0.1' and c.user_name = current_user
	and c.database = 'postgres' and c.target_address like '127.0.0.1:%'}),
	'3', 'connections: client, role, database, target and backend of each');
is($sql->(q{select count(*) from connection_manager.connections c
	join connection_manager.stat_activity a on a.pid = c.backend_pid
	where a.connection_manager_client_addr = c.client_addr
	and a.connection_manager_client_port = c.client_port}),
	'3', 'stat_activity: the real client address and port of each session');
is($sql->("select session_read_only from connection_manager.stat_activity where pid = $ro_pid"),
	't', 'stat_activity: the read-only session is locked');
is($sql->('select string_agg(session_read_only::text, \',\') from connection_manager.stat_activity where pid in ('
	  . join(',', @rw_pids) . ')'),
	'false,false', 'stat_activity: read-write sessions are not');
is($sql->('select count(*) from connection_manager.stat_activity where pid = pg_backend_pid() and connection_manager_client_addr is null'),
	'1', 'stat_activity: a direct session has no manager client');
is($standby->safe_psql('postgres',
	"select connection_manager_client_addr, session_read_only from connection_manager.stat_activity where pid = $there_pid"),
	'127.0.0.1|t', 'stat_activity on the standby: its own read-only session');
is($sql->(q{select port, sessions_active from connection_manager.stat order by port}),
	"read-only|1\nread-write|2", 'stat: sessions open now, per port');
is($sql->(q{select is_self, is_write_leader, read_write_active, read_only_active from connection_manager.node_stats where is_self}),
	't|t|2|1', 'node_stats: this node, the leader, with its server connections');
is($sql->(q{select write_leader is not null, alone, consensus, read_only_fallback_to_leader from connection_manager.routing}),
	't|t|t|t', 'routing: a leader, alone, read-only falls back to it');
is($standby->safe_psql('postgres', q{select read_only_target = read_write_target, read_only_pool from connection_manager.routing}),
	'f|{standby}', 'routing on the standby: read-only sessions stay there, it is the pool');

# The counters moved.
my $m1 = metrics();
for my $c ([ 'sessions_total', 'port="read_write"', 2 ],
	[ 'sessions_total', 'port="read_only"', 1 ],
	[ 'sessions_active', 'port="read_write"', 2 ],
	[ 'server_connections_total', 'port="read_write"', 2 ])
{
	my ($name, $labels, $d) = @$c;
	is(metric($m1, $name, $labels) - (metric($m0, $name, $labels) // 0),
		$d, "$name\{$labels} moved by $d");
}
ok(metric($m1, 'relayed_bytes_total', 'port="read_write",direction="server_to_client"')
	  > metric($m0, 'relayed_bytes_total', 'port="read_write",direction="server_to_client"'),
	'bytes relayed to clients grew');

# A failed password and a refused session.
like(cm_login(port => $rw, user => 'wrongpw', password => 'wrong'),
	qr/^28P01 /, 'a wrong password is refused');
is(cm_login(port => $rw, user => 'wrongpw', password => 'right'), 'ok',
	'the right one works');
my $m2 = metrics();
is(metric($m2, 'sessions_refused_total', 'port="read_write",reason="authentication"')
	  - metric($m1, 'sessions_refused_total', 'port="read_write",reason="authentication"'),
	1, 'sessions_refused_total{reason="authentication"} moved by 1');
is(metric($m2, 'authentications_total', 'port="read_write",method="scram-sha-256",result="failure"'),
	1, 'authentications_total: one SCRAM failure');
is(metric($m2, 'authentications_total', 'port="read_write",method="scram-sha-256",result="success"'),
	1, 'and one SCRAM success');

# Sessions close: the gauges come down.
$_->quit for (@rw, $ro_here, $ro_there);
my $m3;
for (1 .. 100)
{
	$m3 = metrics();
	last if metric($m3, 'sessions_active', 'port="read_write"') == 0;
	usleep(100_000);
}
is(metric($m3, 'sessions_active', 'port="read_write"'), 0, 'sessions_active back to 0');
is(metric($m3, 'server_connections_active', 'port="read_only"'), 0,
	'server_connections_active too');
is($sql->(q{select count(*) from connection_manager.connections}), '0',
	'connections: none left');

# promtool accepts the exposition.
my $file = "$PostgreSQL::Test::Utils::tmp_check/metrics.txt";
PostgreSQL::Test::Utils::append_to_file($file, $m3);
my ($stdout, $stderr);
my $ok = IPC::Run::run([ 'promtool', 'check', 'metrics' ], '<', $file, '>', \$stdout, '2>', \$stderr);
ok($ok, 'promtool check metrics accepts /metrics') or diag("$stdout$stderr");
like($m3, qr/^# HELP connection_manager_sessions_total .+\n# TYPE connection_manager_sessions_total counter$/m,
	'HELP and TYPE lines');

# A role name with a newline, from a client nobody authenticated yet.
isnt(cm_login(port => $rw, user => "evil\nforged", password => 'x'), 'ok',
	'a role that does not exist is refused');
for (1 .. 100)
{
	last if $primary->log_contains(qr/session ended: .* user=evil\?forged /, $log_offset);
	usleep(100_000);
}

# The connection log.
my $log = PostgreSQL::Test::Utils::slurp_file($primary->logfile, $log_offset);
like($log, qr/connection_manager: read-write session authorized: host=127\.0\.0\.1 port=\d+ user=\S+ database=postgres target=127\.0\.0\.1:\d+/,
	'log: a read-write session authorized, with client, role, database, target');
like($log, qr/connection_manager: read-only session ended: session time: \d+:\d\d:\d\d\.\d{3} host=127\.0\.0\.1 port=\d+ .*\n.*DETAIL:  The client disconnected\./,
	'log: a session ended, its duration and how');
like($log, qr/read-write session ended: [^\n]* user=evil\?forged database=postgres [^\n]*\n[^\n]*DETAIL:  Refused: /,
	'log: control characters from the client are written as ?');
like($log, qr/read-write session ended: .* user=wrongpw .*\n.*DETAIL:  Refused: 28P01 password authentication failed for user "wrongpw"\./,
	'log: a refused session and why');

# hba_file_rules: every rule of the file, in order; the skipped ones say why.
my @lines;
my $n = 0;
for (split /\n/, $hba)
{
	$n++;
	push @lines, $n if /^\s*[^#\s]/;
}
is($sql->('select string_agg(line_number::text, \',\' order by rule_number) from connection_manager.hba_file_rules'),
	join(',', @lines), 'hba_file_rules: one rule per line of the file, in order');
my $columns = q{format('%s %s %s %s %s %s %s', line_number, type, database,
	user_name, address, netmask, auth_method)};
is($sql->(qq{select string_agg($columns, E'\n' order by line_number)
	from connection_manager.hba_file_rules}),
	$sql->(qq{select string_agg($columns, E'\n' order by line_number)
	from pg_hba_file_rules}),
	'hba_file_rules: every rule read as the server reads it, skipped ones too');
like($sql->(q{select skip_reason from connection_manager.hba_file_rules where auth_method = 'ldap' limit 1}),
	qr/ldap/, 'hba_file_rules: the ldap rule is skipped, and why');
is($sql->(q{select string_agg(array_to_string(options, ' '), E'\n' order by line_number)
	from connection_manager.hba_file_rules where address in ('10.1.3.0', '10.1.4.0')}),
	qq{ldapserver=ldap.invalid ldapbasedn=dc=x ldapbinddn=cn=admin ldapbindpasswd=********\n}
	  . q{radiusservers=127.0.0.1 radiussecrets=********},
	'hba_file_rules: the LDAP and RADIUS secrets are hidden');
is($sql->(q{select address, netmask, database, user_name from connection_manager.hba_file_rules where type = 'hostssl'}),
	'10.3.0.0|255.255.0.0|{db1,db2}|{+grp,Quoted}', 'hba_file_rules: address, mask, lists');
is($sql->(q{select count(*) > 0, bool_and(skipped), bool_and(skip_reason is not null) from connection_manager.hba_file_rules where type = 'local'}),
	't|t|t', 'hba_file_rules: local rules are listed, skipped');

# Who may read.
is($primary->safe_psql('postgres', 'select count(*) > 0 from connection_manager.stat', extra_params => [ '-U', 'mon' ]),
	't', 'a pg_monitor member reads the views');
my ($rc, $out, $err) = $primary->psql('postgres', 'select * from connection_manager.stat', extra_params => [ '-U', 'nobody' ]);
like($err, qr/permission denied/, 'anyone else does not');
# Even with the schema granted, the functions behind the views are not.
$sql->('grant usage on schema connection_manager to nobody');
for my $f (qw(stat_ports client_sessions nodes_seen routing_state hba_rules backend_clients))
{
	($rc, $out, $err) = $primary->psql('postgres', "select * from connection_manager.$f()",
		extra_params => [ '-U', 'nobody' ]);
	like($err, qr/permission denied for function $f/, "$f() is refused to anyone else");
}
for my $v (qw(stat connections node_stats routing hba_file_rules stat_activity))
{
	($rc, $out, $err) = $primary->psql('postgres', "select * from connection_manager.$v",
		extra_params => [ '-U', 'nobody' ]);
	like($err, qr/permission denied for view $v/, "so is the view $v");
}
ok(!$primary->log_contains(qr/terminated by signal/), 'no process crashed');

done_testing();
