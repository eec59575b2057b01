/*
 * backend/stats.c
 *		Statistics in shared memory (see cm_stats.h): the proxy workers'
 *		counters and session rows, server connections per target, the
 *		read-only flag of each backend, the monitor's published view, and
 *		the connection log lines.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "postgres.h"

#include <netdb.h>

#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/backendid.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "cm_guc.h"
#include "cm_session.h"
#include "cm_stats.h"

#define SEQ_TRIES 20000

typedef struct NodeRow
{
	char key[CM_STATUS_KEY_LEN];
	pg_atomic_uint64 total[CM_STATUS_PORTS];
	pg_atomic_uint32 active[CM_STATUS_PORTS];
} NodeRow;

typedef struct WorkerStats
{
	pg_atomic_uint64 c[CM_PORT_KINDS][CM_COUNTERS];
	pg_atomic_uint32 nnodes; /* rows of nodes[] in use, append-only */
	NodeRow nodes[CM_STATUS_NODES];
} WorkerStats;

/* A session row; the worker owns it, readers use the change count. */
typedef struct ConnRow
{
	pg_atomic_uint32 changecount;
	bool in_use;
	uint8 port;
	uint8 state;
	bool tls;
	bool counted_node; /* holds one of its node's active connections */
	bool logged_start;
	int16 node;
	int32 client_port;
	int32 backend_pid;
	int64 since;
	char client_addr[48];
	char user[64];
	char database[64];
	char target_node[CM_NODE_NAME_LEN];
	char target_address[CM_STATUS_KEY_LEN];
	char ended[160]; /* how it ended, for the log */
} ConnRow;

typedef struct BackendFlag
{
	pg_atomic_uint32 pid; /* 0: none */
	bool read_only;
} BackendFlag;

typedef struct StatsShared
{
	int nworkers;
	int rows_per_worker;
	int nbackends;
	pg_atomic_uint32 view_seq;
	CmStatusView view;
	/* then: WorkerStats[nworkers], ConnRow[nworkers * rows], flags */
} StatsShared;

static StatsShared *shared = NULL;
static WorkerStats *workers = NULL;
static ConnRow *rows = NULL;
static BackendFlag *flags = NULL;
static int next_row_hint = 0;

static shmem_request_hook_type prev_shmem_request = NULL;
static shmem_startup_hook_type prev_shmem_startup = NULL;

static int
rows_per_worker(void)
{
	return Max(2 * MaxConnections, 1024);
}

static Size
stats_size(void)
{
	Size size = MAXALIGN(sizeof(StatsShared));
	int nworkers = cm_guc_worker_count();

	size = add_size(size, MAXALIGN(mul_size(nworkers, sizeof(WorkerStats))));
	size =
		add_size(size, MAXALIGN(mul_size(mul_size(nworkers, rows_per_worker()),
										 sizeof(ConnRow))));
	size = add_size(size, mul_size(MaxBackends, sizeof(BackendFlag)));
	return size;
}

static void
stats_attach(void)
{
	char *base = (char *) shared;

	base += MAXALIGN(sizeof(StatsShared));
	workers = (WorkerStats *) base;
	base += MAXALIGN(shared->nworkers * sizeof(WorkerStats));
	rows = (ConnRow *) base;
	base += MAXALIGN((Size) shared->nworkers * shared->rows_per_worker *
					 sizeof(ConnRow));
	flags = (BackendFlag *) base;
}

static void
stats_shmem_request(void)
{
	if (prev_shmem_request)
		prev_shmem_request();
	RequestAddinShmemSpace(stats_size());
}

static void
stats_shmem_startup(void)
{
	bool found;

	if (prev_shmem_startup)
		prev_shmem_startup();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("connection_manager stats", stats_size(), &found);
	if (!found)
	{
		/* zeroed atomics are valid on every platform we build for */
		memset(shared, 0, stats_size());
		shared->nworkers = cm_guc_worker_count();
		shared->rows_per_worker = rows_per_worker();
		shared->nbackends = MaxBackends;
		pg_atomic_init_u32(&shared->view_seq, 0);
		shared->view.self = -1;
	}
	stats_attach();
	LWLockRelease(AddinShmemInitLock);
}

void
cm_stats_install_hooks(void)
{
	prev_shmem_request = shmem_request_hook;
	shmem_request_hook = stats_shmem_request;
	prev_shmem_startup = shmem_startup_hook;
	shmem_startup_hook = stats_shmem_startup;
}

/* ---- writers: one worker per row, no locked instruction ---- */

static inline void
bump64(pg_atomic_uint64 *v, uint64 n)
{
	pg_atomic_write_u64(v, pg_atomic_read_u64(v) + n);
}

static inline void
add32(pg_atomic_uint32 *v, int32 n)
{
	pg_atomic_write_u32(v, pg_atomic_read_u32(v) + (uint32) n);
}

static WorkerStats *
my_stats(void)
{
	if (shared == NULL || cm_proxy_worker_index < 0 ||
		cm_proxy_worker_index >= shared->nworkers)
		return NULL;
	return &workers[cm_proxy_worker_index];
}

void
cm_stat_add(CmPortKind port, CmCounter counter, uint64 n)
{
	WorkerStats *w = my_stats();

	if (w != NULL && (int) port >= 0 && port < CM_PORT_KINDS &&
		(int) counter >= 0 && counter < CM_COUNTERS)
		bump64(&w->c[port][counter], n);
}

void
cm_stats_worker_start(int worker)
{
	WorkerStats *w;

	if (shared == NULL || worker < 0 || worker >= shared->nworkers)
		return;
	w = &workers[worker];
	for (uint32 i = 0; i < pg_atomic_read_u32(&w->nnodes); i++)
		for (int p = 0; p < CM_STATUS_PORTS; p++)
			pg_atomic_write_u32(&w->nodes[i].active[p], 0);
	for (int i = 0; i < shared->rows_per_worker; i++)
	{
		ConnRow *r = &rows[worker * shared->rows_per_worker + i];

		add32(&r->changecount, 1);
		pg_write_barrier();
		r->in_use = false;
		pg_write_barrier();
		add32(&r->changecount, 1);
	}
}

static ConnRow *
row_of(CmSession *s)
{
	if (shared == NULL || s->conn_row < 0 ||
		s->conn_row >= shared->nworkers * shared->rows_per_worker)
		return NULL;
	return &rows[s->conn_row];
}

static inline void
row_begin(ConnRow *r)
{
	add32(&r->changecount, 1);
	pg_write_barrier();
}

static inline void
row_end(ConnRow *r)
{
	pg_write_barrier();
	add32(&r->changecount, 1);
}

/* The node row for a target, added on first use; -1 when none is left. */
static int
node_index(WorkerStats *w, const char *key)
{
	uint32 n = pg_atomic_read_u32(&w->nnodes);

	for (uint32 i = 0; i < n; i++)
		if (strcmp(w->nodes[i].key, key) == 0)
			return (int) i;
	if (n >= CM_STATUS_NODES)
		return -1;
	if (n == CM_STATUS_NODES - 1)
		key = "(other)"; /* the last row takes every further target */
	strlcpy(w->nodes[n].key, key, CM_STATUS_KEY_LEN);
	pg_write_barrier();
	pg_atomic_write_u32(&w->nnodes, n + 1);
	return (int) n;
}

/* The client's port number, from the address the worker accepted. */
static int
client_port_of(CmSession *s)
{
	char service[NI_MAXSERV];

	if (getnameinfo((const struct sockaddr *) &s->login->client_sockaddr,
					sizeof(s->login->client_sockaddr), NULL, 0, service,
					sizeof(service), NI_NUMERICSERV) != 0)
		return 0;
	return atoi(service);
}

void
cm_conn_open(CmSession *s)
{
	int per;
	int base;

	s->conn_row = -1;
	cm_stat_add(s->port, CM_C_ACCEPTED, 1);
	if (my_stats() == NULL)
		return;
	per = shared->rows_per_worker;
	base = cm_proxy_worker_index * per;
	for (int i = 0; i < per; i++)
	{
		int idx = base + (next_row_hint + i) % per;
		ConnRow *r = &rows[idx];

		if (r->in_use)
			continue;
		row_begin(r);
		r->in_use = true;
		r->port = (uint8) s->port;
		r->state = CM_CONN_STARTUP;
		r->tls = false;
		r->counted_node = false;
		r->logged_start = false;
		r->node = -1;
		r->client_port = client_port_of(s);
		r->backend_pid = 0;
		r->since = GetCurrentTimestamp();
		strlcpy(r->client_addr, s->login->client_addr, sizeof(r->client_addr));
		r->user[0] = r->database[0] = '\0';
		r->target_node[0] = r->target_address[0] = '\0';
		r->ended[0] = '\0';
		row_end(r);
		s->conn_row = idx;
		next_row_hint = (idx - base + 1) % per;
		return;
	}
}

void
cm_conn_startup(CmSession *s)
{
	ConnRow *r = row_of(s);

	if (r == NULL)
		return;
	row_begin(r);
	r->state = CM_CONN_AUTHENTICATING;
	r->tls = s->client.tls != NULL;
	strlcpy(r->user, s->login->user, sizeof(r->user));
	strlcpy(r->database, s->login->database, sizeof(r->database));
	row_end(r);
}

static int
method_of(CmSession *s)
{
	int method = s->login ? s->login->auth_method : -1;

	if (method < 0 || method >= CM_AUTH_NO_RULE)
		return CM_AUTH_NO_RULE;
	return method;
}

void
cm_conn_authenticated(CmSession *s)
{
	ConnRow *r = row_of(s);

	cm_stat_add(s->port, CM_C_AUTH_OK + method_of(s), 1);
	if (r == NULL)
		return;
	row_begin(r);
	r->state = CM_CONN_ROUTING;
	row_end(r);
}

void
cm_conn_failed(CmSession *s, const char *sqlstate, const char *message)
{
	ConnRow *r = row_of(s);

	if (s->state == CM_SS_RELAY || s->state == CM_SS_CLOSING ||
		s->state == CM_SS_CLOSED)
		return;
	cm_stat_add(s->port, CM_C_REFUSED + cm_refusal_of(sqlstate, message), 1);
	if (s->state == CM_SS_AUTH && strncmp(sqlstate, "28", 2) == 0)
		cm_stat_add(s->port, CM_C_AUTH_FAILED + method_of(s), 1);
	if (r == NULL)
		return;
	row_begin(r);
	r->state = CM_CONN_CLOSING;
	snprintf(r->ended, sizeof(r->ended), "refused: %s %s", sqlstate, message);
	row_end(r);
}

void
cm_conn_target(CmSession *s)
{
	ConnRow *r = row_of(s);
	WorkerStats *w = my_stats();
	const char *key = s->login->target.node[0] ? s->login->target.node
											   : s->login->target.name;
	int node = w ? node_index(w, key) : -1;

	cm_stat_add(s->port, CM_C_SERVERS_OPENED, 1);
	if (node >= 0)
	{
		bump64(&w->nodes[node].total[s->port], 1);
		if (r != NULL)
			add32(&w->nodes[node].active[s->port], 1);
	}
	if (r == NULL)
		return;
	row_begin(r);
	r->state = CM_CONN_CONNECTING;
	r->node = (int16) node;
	r->counted_node = node >= 0;
	strlcpy(r->target_node, s->login->target.node, sizeof(r->target_node));
	strlcpy(r->target_address, s->login->target.name, sizeof(r->target_address));
	row_end(r);
}

/*
 * A copy with control characters as '?': role and database names, and the
 * messages quoting them, come from unauthenticated clients, and a newline
 * in them must not forge a line of the log.
 */
static void
printable_copy(char *dst, const char *src, size_t len)
{
	strlcpy(dst, src, len);
	for (char *p = dst; *p; p++)
		if ((unsigned char) *p < 0x20 || *p == 0x7f)
			*p = '?';
}

static void
log_session(CmSession *s, ConnRow *r, const char *what, const char *how)
{
	char target[CM_NODE_NAME_LEN + CM_STATUS_KEY_LEN + 8];
	char user[sizeof(r->user)];
	char database[sizeof(r->database)];

	printable_copy(user, r->user, sizeof(user));
	printable_copy(database, r->database, sizeof(database));

	if (r->target_node[0])
		snprintf(target, sizeof(target), "\"%s\" (%s)", r->target_node,
				 r->target_address);
	else if (r->target_address[0])
		snprintf(target, sizeof(target), "%s", r->target_address);
	else
		strlcpy(target, "none", sizeof(target));
	if (how == NULL)
		ereport(LOG,
				(errmsg("connection_manager: %s session %s: host=%s port=%d user=%s database=%s target=%s",
						cm_port_kind_name(s->port), what, r->client_addr,
						r->client_port, user, database, target)));
	else
	{
		long secs;
		int usecs;
		int hours;
		int minutes;
		char detail[sizeof(r->ended)];

		/* a detail is a sentence: capitalised, with its period */
		printable_copy(detail, how, sizeof(detail));
		detail[0] = pg_toupper((unsigned char) detail[0]);

		TimestampDifference(r->since, GetCurrentTimestamp(), &secs, &usecs);
		hours = (int) (secs / SECS_PER_HOUR);
		secs %= SECS_PER_HOUR;
		minutes = (int) (secs / SECS_PER_MINUTE);
		secs %= SECS_PER_MINUTE;
		ereport(LOG,
				(errmsg("connection_manager: %s session %s: session time: %d:%02d:%02d.%03d host=%s port=%d user=%s database=%s target=%s",
						cm_port_kind_name(s->port), what, hours, minutes,
						(int) secs, usecs / 1000, r->client_addr,
						r->client_port, user, database, target),
				 errdetail("%s.", detail)));
	}
}

void
cm_conn_relaying(CmSession *s)
{
	ConnRow *r = row_of(s);

	cm_stat_add(s->port, CM_C_SESSIONS, 1);
	if (r == NULL)
		return;
	row_begin(r);
	r->state = CM_CONN_ACTIVE;
	if (s->slot >= 0)
	{
		CmSessionSlot *slot = cm_slot_get(s->slot);

		SpinLockAcquire(&slot->mutex);
		r->backend_pid = slot->server_key_known ? slot->server_pid : 0;
		SpinLockRelease(&slot->mutex);
	}
	row_end(r);
	if (cm_log_connections)
	{
		r->logged_start = true;
		log_session(s, r, "authorized", NULL);
	}
}

/* How a relaying session ends, when the sockets alone cannot tell. */
void
cm_conn_ended(CmSession *s, const char *how)
{
	ConnRow *r = row_of(s);

	if (r == NULL || r->ended[0])
		return;
	row_begin(r);
	strlcpy(r->ended, how, sizeof(r->ended));
	row_end(r);
}

void
cm_conn_close(CmSession *s)
{
	ConnRow *r = row_of(s);
	WorkerStats *w = my_stats();
	const char *how;

	if (r == NULL)
		return;
	if (r->counted_node && w != NULL && r->node >= 0)
		add32(&w->nodes[r->node].active[s->port], -1);
	if (r->ended[0])
		how = r->ended;
	else if (s->client.watch.fd < 0 && s->server.watch.fd >= 0)
		how = "the client disconnected";
	else if (s->server.watch.fd < 0 && s->client.watch.fd >= 0 &&
			 s->state != CM_SS_STARTUP && s->state != CM_SS_AUTH)
		how = "the server closed the connection";
	else if (s->client.watch.fd < 0)
		how = "the client disconnected";
	else
		how = "a socket error or the worker's exit ended it";
	if (cm_log_connections && r->user[0])
		log_session(s, r, "ended", how);
	row_begin(r);
	r->in_use = false;
	r->counted_node = false;
	row_end(r);
	s->conn_row = -1;
}

/* ---- backends ---- */

static void
backend_flag_clear(int code, Datum arg)
{
	BackendFlag *f = &flags[DatumGetInt32(arg)];

	f->read_only = false;
	pg_atomic_write_u32(&f->pid, 0);
}

void
cm_stats_note_read_only(void)
{
	static bool registered = false;
	int index = MyBackendId - 1;
	BackendFlag *f;

	if (shared == NULL || index < 0 || index >= shared->nbackends)
		return;
	f = &flags[index];
	f->read_only = true;
	pg_write_barrier();
	pg_atomic_write_u32(&f->pid, (uint32) MyProcPid);
	if (!registered)
		on_shmem_exit(backend_flag_clear, Int32GetDatum(index));
	registered = true;
}

bool
cm_stats_backend_read_only(int pid)
{
	if (shared == NULL || pid <= 0)
		return false;
	for (int i = 0; i < shared->nbackends; i++)
	{
		if (pg_atomic_read_u32(&flags[i].pid) != (uint32) pid)
			continue;
		pg_read_barrier();
		return flags[i].read_only;
	}
	return false;
}

/* ---- readers ---- */

void
cm_stats_sum(CmPortStats out[CM_STATUS_PORTS])
{
	for (int p = 0; p < CM_STATUS_PORTS; p++)
		memset(out[p].c, 0, sizeof(out[p].c));
	if (shared == NULL)
		return;
	for (int w = 0; w < shared->nworkers; w++)
		for (int p = 0; p < CM_STATUS_PORTS; p++)
			for (int c = 0; c < CM_COUNTERS; c++)
				out[p].c[c] += pg_atomic_read_u64(&workers[w].c[p][c]);
}

int
cm_stats_node_counters(CmNodeCounters *out, int max)
{
	int n = 0;

	if (shared == NULL)
		return 0;
	for (int w = 0; w < shared->nworkers; w++)
	{
		uint32 rows_used = pg_atomic_read_u32(&workers[w].nnodes);

		pg_read_barrier();
		for (uint32 i = 0; i < rows_used && i < CM_STATUS_NODES; i++)
		{
			NodeRow *row = &workers[w].nodes[i];
			int j;

			for (j = 0; j < n; j++)
				if (strcmp(out[j].key, row->key) == 0)
					break;
			if (j == n)
			{
				if (n == max)
					continue;
				memset(&out[n], 0, sizeof(out[n]));
				strlcpy(out[n].key, row->key, sizeof(out[n].key));
				n++;
			}
			for (int p = 0; p < CM_STATUS_PORTS; p++)
			{
				out[j].total[p] += pg_atomic_read_u64(&row->total[p]);
				out[j].active[p] += pg_atomic_read_u32(&row->active[p]);
			}
		}
	}
	return n;
}

CmConnInfo *
cm_stats_connections(int *n)
{
	int total;
	CmConnInfo *out;

	*n = 0;
	if (shared == NULL)
		return NULL;
	total = shared->nworkers * shared->rows_per_worker;
	out = palloc(sizeof(CmConnInfo) * Max(total, 1));
	for (int i = 0; i < total; i++)
	{
		ConnRow *r = &rows[i];

		for (int tries = 0; tries < SEQ_TRIES; tries++)
		{
			uint32 before = pg_atomic_read_u32(&r->changecount);
			CmConnInfo *c = &out[*n];
			bool in_use;

			if (before & 1)
			{
				pg_spin_delay();
				continue;
			}
			pg_read_barrier();
			in_use = r->in_use;
			c->worker = i / shared->rows_per_worker;
			c->port = (CmPortKind) r->port;
			c->state = (CmConnState) r->state;
			c->tls = r->tls;
			c->client_port = r->client_port;
			c->backend_pid = r->backend_pid;
			c->since = r->since;
			memcpy(c->client_addr, r->client_addr, sizeof(c->client_addr));
			memcpy(c->user, r->user, sizeof(c->user));
			memcpy(c->database, r->database, sizeof(c->database));
			memcpy(c->target_node, r->target_node, sizeof(c->target_node));
			memcpy(c->target_address, r->target_address,
				   sizeof(c->target_address));
			pg_read_barrier();
			if (pg_atomic_read_u32(&r->changecount) != before)
				continue;
			if (in_use)
			{
				/* copied while it moved: make every string end */
				c->client_addr[sizeof(c->client_addr) - 1] = '\0';
				c->user[sizeof(c->user) - 1] = '\0';
				c->database[sizeof(c->database) - 1] = '\0';
				c->target_node[sizeof(c->target_node) - 1] = '\0';
				c->target_address[sizeof(c->target_address) - 1] = '\0';
				(*n)++;
			}
			break;
		}
	}
	return out;
}

const char *
cm_conn_state_name(CmConnState state)
{
	switch (state)
	{
		case CM_CONN_STARTUP:
			return "startup";
		case CM_CONN_AUTHENTICATING:
			return "authenticating";
		case CM_CONN_ROUTING:
			return "waiting for a target";
		case CM_CONN_CONNECTING:
			return "connecting";
		case CM_CONN_ACTIVE:
			return "active";
		case CM_CONN_CLOSING:
			return "closing";
	}
	return "unknown";
}

void
cm_status_publish(const CmStatusView *v)
{
	if (shared == NULL)
		return;
	/* a monitor that died while writing left it odd */
	if (pg_atomic_read_u32(&shared->view_seq) & 1)
		pg_atomic_fetch_add_u32(&shared->view_seq, 1);
	pg_atomic_fetch_add_u32(&shared->view_seq, 1);
	pg_write_barrier();
	memcpy(&shared->view, v, sizeof(CmStatusView));
	pg_write_barrier();
	pg_atomic_fetch_add_u32(&shared->view_seq, 1);
}

bool
cm_status_read(CmStatusView *out)
{
	if (shared == NULL)
		return false;
	for (int tries = 0; tries < SEQ_TRIES; tries++)
	{
		uint32 before = pg_atomic_read_u32(&shared->view_seq);

		if ((before & 1) == 0)
		{
			pg_read_barrier();
			memcpy(out, &shared->view, sizeof(CmStatusView));
			pg_read_barrier();
			if (pg_atomic_read_u32(&shared->view_seq) == before)
				return true;
		}
		if (tries % 100 == 99)
			pg_usleep(1000L);
		else
			pg_spin_delay();
	}
	return false;
}
