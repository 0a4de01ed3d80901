/* cli-ops.h — what the node commands (cli-ops.c, cli-wait.c, cli-bulk.c) share: the node names
 * a command resolved, submitting one operation, and running one on many nodes at once.
 * Single-threaded, like all of cli*.c. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"

/* Node names, each once, in the order added. */
typedef struct CliNames {
        char **v; /* owned strings */
        size_t n, cap;
} CliNames;

/* Frees the names and empties *names. */
void cli_names_free(CliNames *names);

/* True if s is among the names. */
bool cli_names_has(const CliNames *names, const char *s);

/* Adds a copy of s unless it is there already.  0 or -ENOMEM. */
int cli_names_add(CliNames *names, const char *s);

/* An Operation's state is succeeded or failed. */
bool cli_op_finished(const json_t *op);

/* An Operation's state is failed. */
bool cli_op_failed(const json_t *op);

/* A reinstall Operation's `mark` step is done (the node is pending from now on). */
bool cli_op_marked(const json_t *op);

/* Why a failed Operation failed: error.message, else the failed step's error (borrowed). */
const char *cli_op_error(const json_t *op);

/* The outcome of one POST /v1/nodes/{name}/{kind}. */
typedef struct CliSubmit {
        json_t *op;  /* the Operation (owned) on 202, else NULL */
        json_t *err; /* {"node", "status", "error": {...}} (owned) otherwise */
        char *message; /* the error's text (owned) otherwise */
        bool fatal;  /* 401/403 (or no answer): the others would fail the same way */
} CliSubmit;

/* Frees what *s holds and zeroes it. */
void cli_submit_free(CliSubmit *s);

/* POSTs kind (reinstall | power | bootdev) for node name with body (borrowed; NULL = empty).
 * Returns 0 with *ret filled (either op or err), or -ENOMEM. */
int cli_submit(Cli *cli, const char *name, const char *kind, json_t *body, CliSubmit *ret);

/* GET /v1/operations/{id}: 0 and *ret (owned), -ENOENT when provd does not know it (any
 * more), -EIO no answer, or an exit code from cli_api_error() for another status. */
int cli_get_operation(Cli *cli, int64_t id, json_t **ret);

/* Runs kind (reinstall | power | bootdev) with params (borrowed; NULL = {}) on every node of
 * names through POST /v1/bulk-operations (4096 nodes a request).  follow: prints "NODE
 * RESULT" and then one line per node as it finishes (its result, or "error: MESSAGE"), from
 * the bulk operation's event stream; else the table NODE OPERATION MESSAGE of the nodes as
 * they started.  --json: {"bulk_operations": [...]} (with follow, their final state).
 * Returns an exit code: 0 every node succeeded (without follow: started), 1 one failed (or
 * was refused, or is unfinished), 3 an unknown node (nothing submitted); or -EOPNOTSUPP,
 * printing nothing, when provd has no bulk route (an older provd: submit node by node). */
int cli_bulk_run(Cli *cli, const CliNames *names, const char *kind, json_t *params, bool follow);
