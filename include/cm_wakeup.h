/*
 * cm_wakeup.h
 *		One eventfd per proxy worker, made by the postmaster: the monitor
 *		keeps them all and writes to them when the routing state changes,
 *		and each proxy worker keeps its own, so its epoll set wakes at once.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_WAKEUP_H
#define CM_WAKEUP_H

extern void cm_wakeup_create(int nworkers);
extern int cm_wakeup_fd(int worker);
extern void cm_wakeup_all(void);

#endif /* CM_WAKEUP_H */
