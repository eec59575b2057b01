# CmTest.pm
#	Shared helpers for the connection manager's TAP tests: nodes with the
#	extension preloaded and their ports, psql through a manager port, and a
#	raw socket client for packets libpq would never send.
#
# Copyright (c) 2026, The connection_manager Authors; see LICENSE.
package CmTest;

use strict;
use warnings;

use Exporter 'import';
use Digest::MD5;
use Digest::SHA;
use IO::Select;
use MIME::Base64;
use IO::Socket::INET;
use PostgreSQL::Test::BackgroundPsql;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Time::HiRes qw(time usleep);

our @EXPORT = qw(cm_three_nodes cm_http cm_http_raw cm_psql_until cm_login cm_fix_secret cm_primary cm_standby cm_configure cm_psql cm_wait_for_port
  cm_background_psql cm_raw cm_error_fields cm_startup_packet);

# Settings every test node gets; the ports come from get_free_port() so
# that tests never collide with other nodes' ports.
#
# With derived_ports => 1 the manager's ports are left to their defaults
# (the node's port + 1000, 1001, 1002), as multi-node tests need: a node
# finds the others' HTTP ports at the same distance from their PostgreSQL
# ports as its own.
sub cm_configure
{
	my ($node, %opt) = @_;
	my ($rw, $ro, $http, $ports);
	if ($opt{derived_ports})
	{
		($rw, $ro, $http) = map { $node->port + $_ } (1000, 1001, 1002);
		for my $p ($rw, $ro, $http)
		{
			die "port $p of node " . $node->name . " is taken"
			  unless PostgreSQL::Test::Cluster::can_bind('127.0.0.1', $p);
		}
		$ports = '';
	}
	else
	{
		$rw = $opt{rw_port} // PostgreSQL::Test::Cluster::get_free_port();
		$ro = $opt{ro_port} // PostgreSQL::Test::Cluster::get_free_port();
		$http = $opt{http_port} // PostgreSQL::Test::Cluster::get_free_port();
		$ports = "connection_manager.read_write_port = $rw\n"
		  . "connection_manager.read_only_port = $ro\n"
		  . "connection_manager.http_port = $http\n";
	}
	my $workers = $opt{workers} // 2;
	# As the README recommends: the manager connects to nodes from an
	# address of its own, which alone has the trust line and must prove
	# itself; test clients use 127.0.0.1 and the rules they match.
	$node->append_conf(
		'postgresql.conf', qq{
listen_addresses = '127.0.0.1'
shared_preload_libraries = 'connection_manager'
${ports}connection_manager.workers = $workers
connection_manager.server_source_addresses = '127.0.0.2'
connection_manager.proof_required_from = '127.0.0.2/32'
max_worker_processes = 16
max_connections = 40
wal_receiver_status_interval = 1s
authentication_timeout = 2s
});
	my $hba = $node->data_dir . '/pg_hba.conf';
	PostgreSQL::Test::Utils::append_to_file($hba,
		"host all all 127.0.0.2/32 trust\n")
	  unless -e $hba && slurp_file($hba) =~ m{^host all all 127\.0\.0\.2/32 trust$}m;
	$node->append_conf('postgresql.conf', $opt{extra}) if $opt{extra};
	$node->{cm_rw_port} = $rw;
	$node->{cm_ro_port} = $ro;
	$node->{cm_http_port} = $http;
	return $node;
}

# RecursiveCopy (init_from_backup) drops the 0600 mode that the server
# insists on for the cluster secret, as it does for server.key.
sub cm_fix_secret
{
	my ($node) = @_;
	my $file = $node->data_dir . '/connection_manager.secret';
	chmod 0600, $file if -e $file;
	return;
}

# A PostgreSQL port whose derived manager ports (+1000, +1001, +1002) are
# free and clash with no other node's of this test.
my %derived_taken;

sub cm_derived_port
{
	for (1 .. 1000)
	{
		my $p = PostgreSQL::Test::Cluster::get_free_port();
		my @ports = ($p, $p + 1000, $p + 1001, $p + 1002);
		next if grep { $derived_taken{$_} } @ports;
		next if grep { !PostgreSQL::Test::Cluster::can_bind('127.0.0.1', $_) }
		  @ports[ 1 .. 3 ];
		$derived_taken{$_} = 1 for @ports;
		return $p;
	}
	die 'no port with free derived ports';
}

sub cm_new_node
{
	my ($name, %opt) = @_;
	return PostgreSQL::Test::Cluster->new($name,
		$opt{derived_ports} ? (port => cm_derived_port()) : ());
}

sub cm_primary
{
	my ($name, %opt) = @_;
	my $node = cm_new_node($name, %opt);
	$node->init(allows_streaming => 1);
	return cm_configure($node, %opt);
}

sub cm_standby
{
	my ($name, $primary, $backup, %opt) = @_;
	my $node = cm_new_node($name, %opt);
	$node->init_from_backup($primary, $backup,
		has_streaming => $opt{has_streaming} // 1);
	cm_fix_secret($node);
	return cm_configure($node, %opt);
}

# Three nodes that know each other (connection_manager.nodes): pg1 a
# primary with a table t, pg2 and pg3 its standbys, all started and caught
# up.  extra goes into every postgresql.conf.
sub cm_three_nodes
{
	my ($extra) = @_;
	my $pg1 = cm_primary('pg1', derived_ports => 1, extra => $extra);
	$pg1->start;
	$pg1->safe_psql('postgres', 'create table t (id int, pad text)');
	$pg1->backup('b');
	my @all = ($pg1,
		map { cm_standby($_, $pg1, 'b', derived_ports => 1, extra => $extra) }
		  qw(pg2 pg3));
	my $nodes = join(', ', map { $_->name . '=127.0.0.1:' . $_->port } @all);
	$_->append_conf('postgresql.conf', "connection_manager.nodes = '$nodes'\n")
	  for @all;
	$pg1->restart;
	$_->start for @all[ 1, 2 ];
	$pg1->wait_for_catchup($_) for @all[ 1, 2 ];
	return @all;
}

# Sends raw bytes to an HTTP port and returns everything answered until
# the server closes (or the timeout, in seconds, passes).
sub cm_http_raw
{
	my ($port, $bytes, %opt) = @_;
	my $sock = IO::Socket::INET->new(
		PeerAddr => '127.0.0.1',
		PeerPort => $port,
		Proto => 'tcp',
		Timeout => 10) or return undef;
	$sock->blocking(1);
	syswrite($sock, $bytes) if length $bytes;
	my $sel = IO::Select->new($sock);
	my $deadline = time + ($opt{timeout} // 10);
	my $answer = '';
	while (time < $deadline)
	{
		last unless $sel->can_read($deadline - time);
		my $n = sysread($sock, my $chunk, 65536);
		last unless $n;
		$answer .= $chunk;
	}
	close $sock;
	return $answer;
}

# GET path from an HTTP port: returns (status, body); status 0 when there
# was no well-formed answer.
sub cm_http
{
	my ($port, $path, %opt) = @_;
	my $method = $opt{method} // 'GET';
	my $answer = cm_http_raw($port,
		"$method $path HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
	return (0, '') unless defined $answer;
	return (0, $answer)
	  unless $answer =~ m{\AHTTP/1\.1 (\d{3}) [^\r\n]*\r\n(?:.*?\r\n)?\r\n(.*)\z}s;
	return ($1, $2);
}

# Runs psql through a manager port; returns (exit code, stdout, stderr).
sub cm_psql
{
	my ($port, $sql, %opt) = @_;
	my $dbname = $opt{dbname} // 'postgres';
	my $conn = "host=127.0.0.1 port=$port dbname=$dbname";
	$conn .= " $opt{conn}" if $opt{conn};
	my ($stdout, $stderr);
	my $rc = IPC::Run::run(
		[ 'psql', '-XAtq', '-v', 'VERBOSITY=verbose', '-d', $conn, '-c', $sql ],
		'>', \$stdout, '2>', \$stderr,
		IPC::Run::timeout($opt{timeout} // 60));
	chomp($stdout, $stderr);
	return ($rc ? 0 : 1, $stdout, $stderr);
}

# Runs psql through a port until its output (or, on failure, its error)
# matches; returns the last one.  Tries for about 15 seconds.  Options are
# cm_psql's.
sub cm_psql_until
{
	my ($port, $sql, $re, %opt) = @_;
	my $out = '';
	for (1 .. 150)
	{
		my ($rc, $o, $e) = cm_psql($port, $sql, %opt);
		$out = $rc == 0 ? $o : $e;
		return $out if $out =~ $re;
		usleep(100_000);
	}
	return $out;
}

# Waits until a session through the port answers, up to the default timeout.
sub cm_wait_for_port
{
	my ($port) = @_;
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	while (time < $deadline)
	{
		my ($rc) = cm_psql($port, 'select 1', timeout => 10);
		return 1 if $rc == 0;
		usleep(100_000);
	}
	return 0;
}

# A psql session held open through a port (host => a socket directory
# for a direct session): returns an object with
# query($sql) (waits for the answer) and quit().
sub cm_background_psql
{
	my ($port, %opt) = @_;
	my $host = $opt{host} // '127.0.0.1';
	my $self = { in => '', out => '', err => '' };
	$self->{h} = IPC::Run::start(
		[
			'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d',
			"host=$host port=$port dbname=postgres", '-f', '-'
		],
		'<', \$self->{in}, '>', \$self->{out}, '2>', \$self->{err},
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	return bless $self, 'CmTest::Session';
}

package CmTest::Session;

sub query
{
	my ($self, $sql) = @_;
	$self->{out} = '';
	$self->{in} .= "$sql;\n\\echo __done__\n";
	$self->{h}->pump until $self->{out} =~ /__done__/ || !$self->{h}->pumpable;
	my $out = $self->{out};
	$out =~ s/\n?__done__\n?//;
	return $out;
}

sub quit
{
	my ($self) = @_;
	$self->{in} .= "\\q\n";
	$self->{h}->finish;
	return;
}

package CmTest;

sub cm_startup_packet
{
	my (@params) = @_;
	my $body = pack('N', 196608) . join('', map { "$_\0" } @params) . "\0";
	return pack('N', length($body) + 4) . $body;
}

# Sends raw bytes to a port and returns what comes back until the peer
# closes or the timeout passes.  With hold => 1 the socket is returned too,
# still open; local_addr => '127.0.0.2' connects from that address.
sub cm_raw
{
	my ($port, $bytes, %opt) = @_;
	my $sock = IO::Socket::INET->new(
		PeerAddr => '127.0.0.1',
		PeerPort => $port,
		($opt{local_addr} ? (LocalAddr => $opt{local_addr}) : ()),
		Proto => 'tcp',
		Timeout => 10) or die "connect to $port: $!";
	$sock->autoflush(1);
	syswrite($sock, $bytes) if length $bytes;
	my $sel = IO::Select->new($sock);
	my $deadline = time + ($opt{timeout} // 10);
	my $buf = '';
	my $closed = 0;
	while (time < $deadline)
	{
		last if $opt{until} && $buf =~ $opt{until};
		next unless $sel->can_read(0.1);
		my $n = sysread($sock, $buf, 65536, length $buf);
		if (!$n)
		{
			$closed = 1;
			last;
		}
	}
	return ($buf, $closed, $sock) if $opt{hold};
	close $sock;
	return ($buf, $closed);
}

# A login of our own, not libpq's: startup, then whatever the server asks
# (cleartext, md5, SCRAM-SHA-256), from an optional local address.  Returns
# 'ok' once ReadyForQuery arrives, or "SQLSTATE message" of the error.
# With hold => 1, 'ok' comes with the socket, still open, and the process
# id and key of the BackendKeyData the session got.
sub cm_login
{
	my (%o) = @_;
	my $sock = IO::Socket::INET->new(
		PeerAddr => '127.0.0.1',
		PeerPort => $o{port},
		($o{local_addr} ? (LocalAddr => $o{local_addr}) : ()),
		Proto => 'tcp',
		Timeout => 10) or die "connect: $!";
	my $user = $o{user};
	my $pw = $o{password};
	syswrite($sock,
		cm_startup_packet('user', $user, 'database', $o{database} // 'postgres'));
	my $buf = '';
	my $next = sub {
		my $sel = IO::Select->new($sock);
		while (1)
		{
			if (length($buf) >= 5)
			{
				my $len = unpack('N', substr($buf, 1, 4));
				if (length($buf) >= $len + 1)
				{
					my $m = substr($buf, 0, $len + 1, '');
					return (substr($m, 0, 1), substr($m, 5));
				}
			}
			return ('closed', '') unless $sel->can_read(15);
			my $n = sysread($sock, $buf, 65536, length $buf);
			return ('closed', '') unless $n;
		}
	};
	my $send_p = sub {
		my ($body) = @_;
		syswrite($sock, 'p' . pack('N', length($body) + 4) . $body);
	};
	my ($nonce, $bare, $salted, $auth, $key_pid, $key);
	while (1)
	{
		my ($type, $body) = $next->();
		($key_pid, $key) = unpack('NN', $body) if $type eq 'K';
		if ($type eq 'E')
		{
			close $sock;
			my $f = cm_error_fields('E' . pack('N', length($body) + 4) . $body);
			return "$f->{C} $f->{M}";
		}
		return 'closed' if $type eq 'closed';
		if ($type eq 'Z')
		{
			return ('ok', $sock, $key_pid, $key) if $o{hold};
			close $sock;
			return 'ok';
		}
		next unless $type eq 'R';
		my $code = unpack('N', $body);
		next if $code == 0;
		return 'no password' unless defined $pw;
		if ($code == 3)
		{
			$send_p->("$pw\0");
		}
		elsif ($code == 5)
		{
			my $salt = substr($body, 4, 4);
			$send_p->('md5'
				  . Digest::MD5::md5_hex(Digest::MD5::md5_hex($pw . $user) . $salt)
				  . "\0");
		}
		elsif ($code == 10)
		{
			$nonce = MIME::Base64::encode_base64(join('', map { chr(int(rand(256))) } 1 .. 18), '');
			$bare = "n=,r=$nonce";
			my $first = "n,,$bare";
			$send_p->("SCRAM-SHA-256\0" . pack('N', length $first) . $first);
		}
		elsif ($code == 11)
		{
			my $server_first = substr($body, 4);
			my %a = map { /^(\w)=(.*)$/ ? ($1, $2) : () } split(/,/, $server_first);
			my $salt = MIME::Base64::decode_base64($a{s});
			my $u = Digest::SHA::hmac_sha256($salt . pack('N', 1), $pw);
			my $hi = $u;
			for (2 .. $a{i})
			{
				$u = Digest::SHA::hmac_sha256($u, $pw);
				$hi ^= $u;
			}
			my $client_key = Digest::SHA::hmac_sha256('Client Key', $hi);
			my $stored = Digest::SHA::sha256($client_key);
			my $without = "c=biws,r=$a{r}";
			$auth = "$bare,$server_first,$without";
			my $proof = $client_key ^ Digest::SHA::hmac_sha256($auth, $stored);
			$send_p->("$without,p=" . MIME::Base64::encode_base64($proof, ''));
		}
		elsif ($code != 12)
		{
			return "unsupported request $code";
		}
	}
}

# Fields of the first ErrorResponse in a byte string, keyed by field code.
sub cm_error_fields
{
	my ($bytes) = @_;
	my $pos = 0;
	while ($pos + 5 <= length $bytes)
	{
		my $type = substr($bytes, $pos, 1);
		my $len = unpack('N', substr($bytes, $pos + 1, 4));
		if ($type eq 'E')
		{
			my %f;
			my $body = substr($bytes, $pos + 5, $len - 4);
			while ($body =~ /\G([^\0])([^\0]*)\0/gc) { $f{$1} = $2; }
			return \%f;
		}
		$pos += 1 + $len;
	}
	return {};
}

1;
