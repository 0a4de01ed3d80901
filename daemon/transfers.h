/* transfers.h — the cap on concurrent file transfers (GET /v1/files bodies): at most `max`
 * at once; a transfer over the cap waits, its connection suspended, in one FIFO queue and
 * starts when a transfer ends.  Waiting is never an error: a rack booting at once gets every
 * image, a few at a time, rather than all of them slowly or some of them refused.
 *
 * A suspended connection is not watched by libmicrohttpd, so a watcher thread polls the
 * waiting connections' sockets (poll(2), POLLRDHUP: the peer closed or shut down its side)
 * and resumes a gone client's connection with its ticket cancelled: it leaves the queue then,
 * not when its turn comes.  A client that half-closes after sending its request (shutdown
 * SHUT_WR) therefore leaves the queue too.
 *
 * What counts as a transfer is the caller's choice (files.c: a 200 or 206 body of a GET;
 * HEAD, 304 and errors do not wait).
 *
 * Threads and locks: transfers_acquire() and transfers_completed() run on libmicrohttpd
 * threads, the watcher on its own.  One mutex (the transfers lock) guards the counts, the
 * queue and every ticket's state; it is a leaf but for libmicrohttpd's own mutex, which
 * MHD_suspend_connection() and MHD_resume_connection() take while it is held (so a waiter
 * is suspended before any thread can resume it).  The metrics gauges are set under it. */
#pragma once

#include <microhttpd.h>

typedef struct Transfers Transfers;
typedef struct TransferTicket TransferTicket;

/* A cap of `max` concurrent transfers (0: no cap; transfers are still counted).  Starts the
 * watcher thread.  Returns 0 and *ret (caller owns: transfers_stop(), then transfers_free()
 * after libmicrohttpd stopped), -ENOMEM, or the negative errno of eventfd(2) or
 * pthread_create(3). */
int transfers_new(unsigned max, Transfers **ret);

/* Resumes every waiting connection with its ticket cancelled, stops the watcher; from now on
 * transfers_acquire() answers -ECANCELED to new requests.  Call before MHD_stop_daemon(),
 * which wants no connection left suspended.  NULL is fine. */
void transfers_stop(Transfers *t);

/* Frees (stopping first if needed); every ticket must be gone.  NULL is fine. */
void transfers_free(Transfers *t);

/* Asks for a transfer slot for the request on connection c, from libmicrohttpd's access
 * handler (a request it has whole).  *ticket is the request's: NULL on the first call (a
 * ticket is made and stored there, owned by the request until transfers_completed()), the
 * same pointer when libmicrohttpd calls the handler again after a resume.  Returns 1: go,
 * the slot is held until transfers_completed(); 0: wait, the connection is suspended (the
 * handler returns MHD_YES without an answer and is called again once it is resumed);
 * -ECANCELED: the client went away while waiting, or the server is stopping (the handler
 * returns MHD_NO: the connection is closed); -ENOMEM.
 * Lock: takes the transfers lock. */
int transfers_acquire(Transfers *t, struct MHD_Connection *c, TransferTicket **ticket);

/* The request of `ticket` completed (libmicrohttpd's notify-completed; NULL is fine): its
 * slot goes to the first waiter (resumed) or back to the pool; a waiting ticket leaves the
 * queue.  Frees the ticket.  Lock: takes the transfers lock. */
void transfers_completed(Transfers *t, TransferTicket *ticket);
