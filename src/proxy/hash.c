/*
 * proxy/hash.c
 *		The worker's password-hashing thread and its queue (see cm_hash.h).
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "postgres.h"

#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "lib/ilist.h"
#include "storage/ipc.h"

#include "cm_event.h"
#include "cm_hash.h"

struct CmHashJob
{
	dlist_node node;
	CmHashDone done;
	void *owner; /* NULL once the owner forgot the job */
	char password[1025];
	uint8 salt[CM_SCRAM_MAX_SALT_LEN];
	size_t salt_len;
	int32 iterations;
	uint8 salted[CM_SCRAM_KEY_LEN];
	bool ok;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static dlist_head todo = DLIST_STATIC_INIT(todo);
static dlist_head done = DLIST_STATIC_INIT(done);
static CmWatch done_watch = {.fd = -1}; /* eventfd: jobs are done */
static bool started = false;
static bool stopping = false;
static int queued = 0; /* jobs in todo */
static pthread_t thread;

static void hash_collect(void *arg, uint32 events);

/* More waiting logins than this are refused rather than queued. */
#define CM_HASH_QUEUE_MAX 64

static void *
hash_thread(void *arg)
{
	(void) arg;
	for (;;)
	{
		CmHashJob *job;
		uint64 one = 1;
		bool orphan;

		pthread_mutex_lock(&lock);
		while (dlist_is_empty(&todo) && !stopping)
			pthread_cond_wait(&wake, &lock);
		if (stopping)
		{
			pthread_mutex_unlock(&lock);
			return NULL;
		}
		job = dlist_container(CmHashJob, node, dlist_pop_head_node(&todo));
		queued--;
		orphan = job->owner == NULL;
		pthread_mutex_unlock(&lock);

		/* the owner went away: no work for nobody */
		job->ok = !orphan &&
				  cm_scram_salted_password(job->password, strlen(job->password),
										   job->salt, job->salt_len,
										   job->iterations, job->salted);
		explicit_bzero(job->password, sizeof(job->password));

		pthread_mutex_lock(&lock);
		dlist_push_tail(&done, &job->node);
		pthread_mutex_unlock(&lock);
		if (write(done_watch.fd, &one, sizeof(one)) < 0)
			continue; /* the counter is already non-zero */
	}
	return NULL;
}

/* Every way out of the process joins the thread first (see cm_hash_stop). */
static void
hash_stop_at_exit(int code, Datum arg)
{
	(void) code;
	(void) arg;
	cm_hash_stop();
}

bool
cm_hash_start(void)
{
	pthread_attr_t attr;
	sigset_t all;
	sigset_t old;
	int rc;

	cm_watch_init(&done_watch, eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC),
				  hash_collect, NULL);
	if (done_watch.fd < 0 || !cm_watch_set(&done_watch, CM_EV_READ))
		return false;
	/* the server's signal handlers must run in the loop's thread only */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	rc = pthread_create(&thread, &attr, hash_thread, NULL);
	if (rc == 0)
		on_proc_exit(hash_stop_at_exit, (Datum) 0);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	started = rc == 0;
	return started;
}

CmHashSubmit
cm_hash_submit(const char *password, const CmScramSecret *secret,
			   CmHashDone done, void *owner, CmHashJob **job_out)
{
	CmHashJob *job;

	if (!started || strlen(password) >= sizeof(job->password) ||
		secret->salt_len > sizeof(job->salt))
		return CM_HASH_UNAVAILABLE;
	job = calloc(1, sizeof(CmHashJob));
	if (job == NULL)
		return CM_HASH_UNAVAILABLE;
	job->done = done;
	job->owner = owner;
	strlcpy(job->password, password, sizeof(job->password));
	memcpy(job->salt, secret->salt, secret->salt_len);
	job->salt_len = secret->salt_len;
	job->iterations = secret->iterations;
	pthread_mutex_lock(&lock);
	if (queued >= CM_HASH_QUEUE_MAX)
	{
		pthread_mutex_unlock(&lock);
		explicit_bzero(job, sizeof(*job));
		free(job);
		return CM_HASH_BUSY;
	}
	dlist_push_tail(&todo, &job->node);
	queued++;
	pthread_cond_signal(&wake);
	pthread_mutex_unlock(&lock);
	*job_out = job;
	return CM_HASH_QUEUED;
}

/* The owner goes away: its job, queued or running, finds no owner. */
void
cm_hash_forget(CmHashJob **job)
{
	if (*job == NULL)
		return;
	pthread_mutex_lock(&lock);
	(*job)->owner = NULL;
	pthread_mutex_unlock(&lock);
	*job = NULL;
}

/* Hands finished jobs to their owners; called when the eventfd fires. */
static void
hash_collect(void *arg, uint32 events)
{
	uint64 count;
	dlist_head mine = DLIST_STATIC_INIT(mine);
	dlist_mutable_iter iter;

	(void) arg;
	(void) events;
	if (read(done_watch.fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&lock);
	while (!dlist_is_empty(&done))
		dlist_push_tail(&mine, dlist_pop_head_node(&done));
	pthread_mutex_unlock(&lock);

	dlist_foreach_modify (iter, &mine)
	{
		CmHashJob *job = dlist_container(CmHashJob, node, iter.cur);

		dlist_delete(&job->node);
		/* an owner that already gave up (timeout, protocol) gets nothing */
		if (job->owner != NULL)
			job->done(job->owner, job->ok ? job->salted : NULL);
		explicit_bzero(job, sizeof(*job));
		free(job);
	}
}

/*
 * Before the process exits: OpenSSL's exit handlers must not run while the
 * thread is inside PBKDF2.  The job in progress finishes; queued ones are
 * dropped.
 */
void
cm_hash_stop(void)
{
	if (!started)
		return;
	pthread_mutex_lock(&lock);
	stopping = true;
	pthread_cond_broadcast(&wake);
	pthread_mutex_unlock(&lock);
	pthread_join(thread, NULL);
	started = false;
}
