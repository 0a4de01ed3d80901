/* store-internal.h — what store.c shares with the other files written on the store's write
 * connection (store-cluster.c, store-import.c): the transactions of their own they run.  Not
 * for the rest of the daemon, which writes through store.h.
 *
 * Threads: as store.h's write connection — the caller serialises every call (the daemon's
 * exclusive lock, between batches: never inside a batch). */
#pragma once

#include <stdbool.h>

#include "store.h"

/* BEGIN of a transaction of its own (outside a batch) on the write connection: on SQLite
 * BEGIN IMMEDIATE when `immediate` (the write lock at once, so the read that decides cannot be
 * overtaken by another writer), else BEGIN DEFERRED; on PostgreSQL BEGIN (rows are locked as
 * they are read FOR UPDATE or written).  Takes no history lock (store_history_lock()).  End
 * it with store_tx_end().  Returns 0 or a negative errno. */
int store_tx_begin(Store *s, bool immediate);

/* Ends the transaction store_tx_begin() started: COMMIT when r >= 0, else (or when the COMMIT
 * fails) ROLLBACK while the transaction is still open.  Returns r, or the COMMIT's error. */
int store_tx_end(Store *s, int r);

/* ROLLBACK of the open transaction, if it is still open (a failure may have ended it already:
 * db_in_transaction()).  Never fails. */
void store_tx_rollback(Store *s);
