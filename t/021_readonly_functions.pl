# The functions that write although the transaction is read-only, found in
# the server's source (README, "The read-only session lock"): each one is
# refused with 25006 in a locked session on a primary, the locked call
# changes nothing, and the same call then works in an unlocked session,
# which shows that it had something to write.
#
# Copyright (c) 2026, The connection_manager Authors; see LICENSE.
use strict;
use warnings;

use FindBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib "$FindBin::RealBin/../test/perl";
use CmTest;

my $LOCK = '-c connection_manager.session_read_only=on';

my $node = cm_primary(
	'ro_functions', extra => q{
wal_level = logical
autovacuum = off
});
$node->start;

# Objects with something to write: BRIN ranges never summarized (the index
# was built on an empty table, which summarizes only the first range), GIN
# entries waiting in the pending list, a visibility map set by VACUUM, a
# change for a logical slot to decode.
$node->safe_psql(
	'postgres', q{
CREATE EXTENSION pg_surgery;
CREATE EXTENSION pg_visibility;
CREATE EXTENSION amcheck;
CREATE EXTENSION adminpack;
CREATE TABLE b (i int);
CREATE INDEX b_brin ON b USING brin (i) WITH (pages_per_range = 1);
INSERT INTO b SELECT generate_series(1, 2000);
CREATE TABLE g (a int[]);
CREATE INDEX g_gin ON g USING gin (a) WITH (fastupdate = on);
INSERT INTO g SELECT ARRAY[i, i + 1] FROM generate_series(1, 500) i;
CREATE TABLE sg (i int);
INSERT INTO sg VALUES (1), (2), (3);
CREATE TABLE vm (i int PRIMARY KEY);
INSERT INTO vm SELECT generate_series(1, 100);
VACUUM vm;
CREATE TABLE dfr (i int UNIQUE DEFERRABLE);
CREATE TABLE decoded (i int);
SELECT pg_create_logical_replication_slot('cm_decoding', 'test_decoding');
INSERT INTO decoded VALUES (1);
SELECT pg_replication_origin_create('cm_origin');
});

# Drops every temporary schema, so that the next session has none.
my $drop_temp_schemas = q{
DO $$DECLARE n name;
BEGIN
  FOR n IN SELECT nspname FROM pg_namespace
           WHERE nspname ~ '^pg_(toast_)?temp_' LOOP
    EXECUTE format('DROP SCHEMA %I CASCADE', n);
  END LOOP;
END$$;
};
my $count_temp_schemas =
  q{SELECT count(*) FROM pg_namespace WHERE nspname ~ '^pg_temp_'};
my $adminpack_files = q{SELECT coalesce(string_agg(f, ',' ORDER BY f), '')}
  . q{ FROM pg_ls_dir('.') f WHERE f ~ '^cm_adminpack'};

# Each step: the call (sql), a check run after the locked attempt with its
# expected answer (unchanged), and the call without the lock (unlocked,
# default sql) with what it must answer (writes).
my @steps = (
	{
		name => 'brin_summarize_range',
		sql => q{SELECT brin_summarize_range('b_brin', 1)},
		writes => qr/^1$/,
	},
	{
		name => 'brin_summarize_new_values',
		sql => q{SELECT brin_summarize_new_values('b_brin')},
		writes => qr/^[1-9][0-9]*$/,
	},
	{
		name => 'brin_desummarize_range',
		sql => q{SELECT brin_desummarize_range('b_brin', 0)},
		# summarizing the range again finds it to do
		unlocked => q{SELECT brin_desummarize_range('b_brin', 0);}
		  . q{ SELECT brin_summarize_range('b_brin', 0)},
		writes => qr/^\n?1$/,
	},
	{
		name => 'gin_clean_pending_list',
		sql => q{SELECT gin_clean_pending_list('g_gin')},
		writes => qr/^[1-9][0-9]*$/,
	},
	{
		name => 'pg_nextoid',
		sql => q{SELECT pg_nextoid('pg_class', 'oid', 'pg_class_oid_index')},
		writes => qr/^[0-9]+$/,
	},
	{
		name => 'pg_backup_start',
		sql => q{SELECT pg_backup_start('cm', true)},
		unlocked => q{SELECT pg_backup_start('cm', true) IS NOT NULL;}
		  . q{ SELECT lsn IS NOT NULL FROM pg_backup_stop(false)},
		writes => qr/^t\nt$/,
	},
	{
		name => 'pg_backup_stop',
		sql => q{SELECT pg_backup_stop(false)},
		unlocked => q{SELECT pg_backup_start('cm', true) IS NOT NULL;}
		  . q{ SELECT lsn IS NOT NULL FROM pg_backup_stop(false)},
		writes => qr/^t\nt$/,
	},
	{
		name => 'pg_logical_slot_peek_changes',
		sql => q{SELECT count(*)}
		  . q{ FROM pg_logical_slot_peek_changes('cm_decoding', NULL, NULL)},
		writes => qr/^[1-9][0-9]*$/,
	},
	{
		name => 'pg_logical_slot_peek_binary_changes',
		sql => q{SELECT count(*)}
		  . q{ FROM pg_logical_slot_peek_binary_changes('cm_decoding', NULL, NULL)},
		writes => qr/^[1-9][0-9]*$/,
	},
	{
		name => 'pg_replication_origin_session_setup',
		sql => q{SELECT pg_replication_origin_session_setup('cm_origin')},
		unlocked => q{SELECT pg_replication_origin_session_setup('cm_origin');}
		  . q{ SELECT pg_replication_origin_session_is_setup()},
		writes => qr/^\n?t$/,
	},
	{
		name => 'pg_replication_origin_session_reset',
		sql => q{SELECT pg_replication_origin_session_reset()},
		unlocked => q{SELECT pg_replication_origin_session_setup('cm_origin');}
		  . q{ SELECT pg_replication_origin_session_reset();}
		  . q{ SELECT pg_replication_origin_session_is_setup()},
		writes => qr/^\n*f$/,
	},
	{
		name => 'pg_replication_origin_xact_setup',
		sql => q{SELECT pg_replication_origin_xact_setup('0/1', now())},
		unlocked => q{SELECT pg_replication_origin_session_setup('cm_origin');}
		  . q{ BEGIN; SELECT pg_replication_origin_xact_setup('0/1', now());}
		  . q{ SELECT pg_replication_origin_xact_reset(); COMMIT;}
		  . q{ SELECT 'done'},
		writes => qr/^\n*done$/,
	},
	{
		name => 'pg_replication_origin_xact_reset',
		sql => q{SELECT pg_replication_origin_xact_reset()},
		unlocked => q{SELECT pg_replication_origin_session_setup('cm_origin');}
		  . q{ BEGIN; SELECT pg_replication_origin_xact_setup('0/1', now());}
		  . q{ SELECT pg_replication_origin_xact_reset(); COMMIT;}
		  . q{ SELECT 'done'},
		writes => qr/^\n*done$/,
	},

	# search_path naming pg_temp first makes these create the session's
	# temporary schema, which a standby refuses
	{
		name => 'current_schema() creating the temporary schema',
		before => $drop_temp_schemas,
		sql => q{SET search_path = pg_temp, public; SELECT current_schema()},
		unchanged => [ $count_temp_schemas, '0' ],
		writes => qr/^pg_temp_[0-9]+$/,
	},
	{
		name => 'current_schemas() creating the temporary schema',
		before => $drop_temp_schemas,
		sql => q{SET search_path = pg_temp, public; SELECT current_schemas(false)},
		unchanged => [ $count_temp_schemas, '0' ],
		writes => qr/^\{pg_temp_[0-9]+,public\}$/,
	},
	{
		name => 'SET CONSTRAINTS creating the temporary schema',
		before => $drop_temp_schemas,
		sql => q{SET search_path = pg_temp, public;}
		  . q{ BEGIN; SET CONSTRAINTS dfr_i_key DEFERRED; COMMIT},
		unchanged => [ $count_temp_schemas, '0' ],
		unlocked => q{SET search_path = pg_temp, public;}
		  . q{ BEGIN; SET CONSTRAINTS dfr_i_key DEFERRED; COMMIT; }
		  . $count_temp_schemas,
		writes => qr/^1$/,
	},

	# contrib modules of the postgresql-15 package
	{
		name => 'heap_force_kill (pg_surgery)',
		sql => q{SELECT heap_force_kill('sg', ARRAY['(0,1)']::tid[])},
		unchanged => [ 'SELECT count(*) FROM sg', '3' ],
		unlocked => q{SELECT heap_force_kill('sg', ARRAY['(0,1)']::tid[]);}
		  . q{ SELECT count(*) FROM sg},
		writes => qr/^\n?2$/,
	},
	{
		name => 'heap_force_freeze (pg_surgery)',
		sql => q{SELECT heap_force_freeze('sg', ARRAY['(0,2)']::tid[])},
		unchanged => [ q{SELECT xmin <> '2' FROM sg WHERE ctid = '(0,2)'}, 't' ],
		unlocked => q{SELECT heap_force_freeze('sg', ARRAY['(0,2)']::tid[]);}
		  . q{ SELECT xmin FROM sg WHERE ctid = '(0,2)'},
		writes => qr/^\n?2$/,
	},
	{
		name => 'pg_truncate_visibility_map (pg_visibility)',
		sql => q{SELECT pg_truncate_visibility_map('vm')},
		unchanged => [
			q{SELECT all_visible > 0 FROM pg_visibility_map_summary('vm')}, 't'
		],
		unlocked => q{SELECT pg_truncate_visibility_map('vm');}
		  . q{ SELECT all_visible FROM pg_visibility_map_summary('vm')},
		writes => qr/^\n?0$/,
	},
	{
		name => 'bt_index_parent_check (amcheck)',
		sql => q{SELECT bt_index_parent_check('vm_pkey', true)},
		unlocked => q{SELECT bt_index_parent_check('vm_pkey', true);}
		  . q{ SELECT 'checked'},
		writes => qr/^\n?checked$/,
	},
	{
		name => 'pg_file_write (adminpack)',
		sql => q{SELECT pg_file_write('cm_adminpack', 'x', false)},
		unchanged => [ $adminpack_files, '' ],
		writes => qr/^1$/,
	},
	{
		name => 'pg_file_rename (adminpack)',
		sql => q{SELECT pg_file_rename('cm_adminpack', 'cm_adminpack2')},
		unchanged => [ $adminpack_files, 'cm_adminpack' ],
		writes => qr/^t$/,
	},
	{
		name => 'pg_file_unlink (adminpack)',
		sql => q{SELECT pg_file_unlink('cm_adminpack2')},
		unchanged => [ $adminpack_files, 'cm_adminpack2' ],
		writes => qr/^t$/,
	},

	# a crashed session's leftover in the temporary schema a new session
	# takes over: cleaning it out is a catalog write, which a standby
	# refuses.  Every slot the next session may take gets one.
	{
		name => 'current_schema() dropping a leftover temporary object',
		before => $drop_temp_schemas . q{
SET allow_system_table_mods = on;
DO $$BEGIN
  FOR k IN 1..100 LOOP
    EXECUTE format('CREATE SCHEMA %I', 'pg_temp_' || k);
    EXECUTE format('CREATE SCHEMA %I', 'pg_toast_temp_' || k);
    EXECUTE format('CREATE FUNCTION %I.cm_leftover() RETURNS int'
                   ' LANGUAGE sql AS ''SELECT 1''', 'pg_temp_' || k);
  END LOOP;
END$$;
},
		sql => q{SET search_path = pg_temp, public; SELECT current_schema()},
		unchanged => [
			q{SELECT count(*) FROM pg_proc WHERE proname = 'cm_leftover'}, '100'
		],
		unlocked => q{SET search_path = pg_temp, public; SELECT current_schema();}
		  . q{ SELECT count(*) FROM pg_proc WHERE proname = 'cm_leftover'},
		writes => qr/^pg_temp_[0-9]+\n99$/,
	},);

# The first SQLSTATE a locked session meets running the SQL.
sub locked_error
{
	my ($sql) = @_;
	local $ENV{PGOPTIONS} = $LOCK;
	my ($out, $err) = ('', '');
	$node->psql(
		'postgres', $sql,
		stdout => \$out,
		stderr => \$err,
		on_error_stop => 1,
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	return $err =~ /ERROR:\s+([0-9A-Z]{5}):/ ? ($1, $err) : ('none', $err);
}

for my $step (@steps)
{
	my $name = $step->{name};
	$node->safe_psql('postgres', $step->{before}) if $step->{before};

	my ($code, $err) = locked_error($step->{sql});
	is($code, '25006', "locked: $name refused") or diag($err);
	like($err, qr/read-only session/, "locked: $name names the lock")
	  or diag($err);
	if (my $check = $step->{unchanged})
	{
		is($node->safe_psql('postgres', $check->[0]),
			$check->[1], "locked: $name changed nothing");
	}

	my ($rc, $out, $uerr) =
	  $node->psql('postgres', $step->{unlocked} // $step->{sql},
		on_error_stop => 1);
	ok($rc == 0 && $out =~ $step->{writes}, "unlocked: $name works")
	  or diag("rc=$rc out=[$out] $uerr");
}
$node->safe_psql('postgres', $drop_temp_schemas);

$node->stop;
done_testing();
