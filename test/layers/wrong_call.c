/*
 * wrong_call.c
 *		A deliberately wrong call for the layers check's own test: it uses a
 *		proxy symbol.  Compiled into a pure or a monitor folder it must be
 *		refused; into the proxy folder it is allowed.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
extern void cm_session_close_all(void);
extern void cm_layers_wrong_call(void);

void
cm_layers_wrong_call(void)
{
	cm_session_close_all();
}
