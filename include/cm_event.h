/*
 * cm_event.h
 *		The event layer: the monotonic clock every timeout is measured on.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_EVENT_H
#define CM_EVENT_H

#include <stdint.h>

/* milliseconds on CLOCK_MONOTONIC, comparable across processes */
extern int64_t cm_now_ms(void);

#endif /* CM_EVENT_H */
