/* store-import.h — moving a site's state from one store to another: `provd db import-sqlite
 * FILE` copies an SQLite provd.db into an empty PostgreSQL database, every table row for row
 * with its ids (nodes, attempts, history, boots, node credentials and reports, discovered
 * PXE clients), so the history, attempt numbers, event ids and open install attempts carry
 * over.  Instances, leases and BMC operations are not copied: they belong to running
 * instances.
 *
 * Threads: the caller's only; both stores are open to it alone (the source's state directory
 * lock keeps a provd from running on it meanwhile). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* Rows copied, per table (store_import()'s order). */
typedef struct StoreImportCounts {
        int64_t attempts, nodes, history, boots, credentials, reports, discovered;
} StoreImportCounts;

/* Copies every row of src into dst in ONE transaction of dst: all or nothing.  Both at the
 * current schema (store_open_url() migrates).  dst must hold no provd state yet (no node, no
 * history row): -EEXIST otherwise, nothing written.  On PostgreSQL the id sequences are moved
 * past the copied ids.  Returns 0 and *ret, or a negative errno with err saying what failed
 * (which table, and the database's message in the log). */
int store_import(Store *dst, Store *src, StoreImportCounts *ret, char *err, size_t errlen);
