# The status page at GET / in a real browser (Debian's headless chromium)
# against a live three-node cluster: after its script has read /status,
# the page shows the cluster, the write leader and why, every node's role,
# lag and sessions; a stopped node shows as unreachable.  A screenshot is
# kept in tmp_check/screenshots.
#
# Copyright (c) 2026, The connection_manager Authors; see LICENSE.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../test/perl";
use CmTest;
use File::Path qw(make_path);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my ($pg1, $pg2, $pg3) =
  cm_three_nodes("connection_manager.probe_interval = 200\n");
my $url = "http://127.0.0.1:$pg2->{cm_http_port}/";
my $shots = "$PostgreSQL::Test::Utils::tmp_check/screenshots";
make_path($shots);

# Every node must be in its place before the page is read.
for (1 .. 150)
{
	my ($st, $body) = cm_http($pg2->{cm_http_port}, '/group/read-only-info');
	last if $body =~ /"pg2".*"pg3"/;
	usleep(100_000);
}
my $session = cm_background_psql($pg2->{cm_rw_port});
$session->query('select 1');

# Runs chromium on the page; returns its standard output.
my $run = 0;
sub chromium
{
	my (@args) = @_;
	my $profile = "$PostgreSQL::Test::Utils::tmp_check/chromium-" . ++$run;
	make_path($profile);
	local $ENV{HOME} = $profile;
	my ($out, $err);
	IPC::Run::run(
		[
			'chromium', '--headless', '--no-sandbox', '--disable-gpu',
			'--disable-quic', '--disable-dev-shm-usage', '--no-first-run',
			'--disable-background-networking', '--disable-component-update',
			'--disable-sync', "--user-data-dir=$profile",
			'--virtual-time-budget=5000', @args, $url
		],
		'>', \$out, '2>', \$err,
		IPC::Run::timeout(120)) or diag("chromium: $err");
	return $out;
}

my $dom = chromium('--dump-dom');
like($dom, qr/<h1>connection_manager<\/h1>/, 'the page loads');
like($dom, qr/id="who">node pg2 /, 'it names the node it was read from');
like($dom, qr/id="leader">pg1</, 'the write leader');
like($dom, qr/id="consensus">3 of 3 nodes answer</, 'consensus');
like($dom, qr/id="pool">pg2, pg3</, 'the read-only pool');
like($dom, qr/Write leader: node "pg1" is the one primary on timeline 1/, 'why pg1 leads');
for my $n (qw(pg1 pg2 pg3))
{
	like($dom, qr/<tr><td><span>$n<\/span>/, "a row for $n");
}
like($dom, qr/<span class="badge lead">write leader<\/span>/, 'the leader is marked');
is(() = $dom =~ /<span class="badge ok">read-only pool<\/span>/g, 2, 'two standbys in the pool');
like($dom, qr/<td>read-write \(\d+\)<\/td><td class="num">1<\/td>/, 'the session open on the read-write port');
unlike($dom, qr/id="error" style="display: inline/, 'no error shown');

chromium("--screenshot=$shots/status_page.png", '--window-size=1280,740');
ok(-s "$shots/status_page.png", 'a screenshot is kept in tmp_check/screenshots');

# pg3 stops: the page says so.
$pg3->stop('fast');
for (1 .. 150)
{
	my ($st, $body) = cm_http($pg2->{cm_http_port}, '/status');
	last if $body =~ /"name":"pg3"[^}]*"reachable":false/;
	usleep(100_000);
}
$dom = chromium('--dump-dom');
like($dom, qr/<tr><td><span>pg3<\/span><\/td><td>127\.0\.0\.1:\d+<\/td><td class="bad">unreachable<\/td>/,
	'a stopped node shows as unreachable');
like($dom, qr/id="consensus">2 of 3 nodes answer</, 'and consensus counts two of three');
$session->quit;

done_testing();
