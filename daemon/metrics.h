/* metrics.h — provd's Prometheus metrics: process-wide counters and histograms, updated
 * lock-free (C11 atomics) from any thread, rendered in the text exposition format 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/) for GET /metrics.
 *
 * Names follow Prometheus conventions: base units (seconds, bytes), `_total` for counters.
 * Counters count since the process started (Prometheus handles resets); gauges that describe
 * the cluster (nodes per provision state) are read from the daemon at scrape time. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "drift.h"
#include "firmware.h"
#include "provision.h"

typedef enum MetricsBootApi {
        METRICS_API_PIXIECORE,
        METRICS_API_IPXE,
        _METRICS_API_MAX,
} MetricsBootApi;

typedef enum MetricsBootResult {
        METRICS_BOOT_INSTALL,
        METRICS_BOOT_LOCAL,
        METRICS_BOOT_UNKNOWN,
        METRICS_BOOT_ERROR,
        METRICS_BOOT_IMAGE, /* a stateless node answered its image */
        _METRICS_BOOT_MAX,
} MetricsBootResult;

/* HTTP route families, the `route` label. */
typedef enum MetricsRoute {
        METRICS_ROUTE_STATUS_PAGE,
        METRICS_ROUTE_BOOT,
        METRICS_ROUTE_IPXE,
        METRICS_ROUTE_FILES,
        METRICS_ROUTE_INSTALL_EVENTS,
        METRICS_ROUTE_NODES,
        METRICS_ROUTE_SUMMARY,
        METRICS_ROUTE_EVENTS,
        METRICS_ROUTE_EVENTS_STREAM,
        METRICS_ROUTE_ADMIN,
        METRICS_ROUTE_OPERATIONS,
        METRICS_ROUTE_METRICS,
        METRICS_ROUTE_DISCOVERED, /* discovery */
        METRICS_ROUTE_NODE_REPORTS, /* node credentials and reports */
        METRICS_ROUTE_OVERLAY,      /* GET /v1/overlay/<token> */
        METRICS_ROUTE_INSTANCES,    /* GET /v1/instances */
        METRICS_ROUTE_OTHER,
        _METRICS_ROUTE_MAX,
} MetricsRoute;

/* Sets the process start time (process_start_time_seconds); call once at start. */
void metrics_init(void);

/* One boot API answer (GET /v1/boot or a per-MAC iPXE script), from firmware `fw`
 * (FIRMWARE_UNKNOWN when the request does not say: always for pixiecore). */
void metrics_boot(MetricsBootApi api, MetricsBootResult result, Firmware fw);

/* An install attempt ended.  outcome: succeeded | failed | abandoned | timeout (others are
 * ignored); seconds: from its opening to its end (negative: not observed). */
void metrics_attempt_ended(const char *outcome, double seconds);

/* Image names provd_boots_total keeps apart; boots of further images count as "other". */
#define METRICS_BOOT_IMAGES_MAX 64

/* A boot of a stateless node opened with image `image` (provd_boots_total{image}). */
void metrics_boot_opened(const char *image);

/* A boot of a stateless node ended.  outcome: running | failed | timeout | abandoned (others
 * are ignored) (provd_boots_ended_total{outcome}). */
void metrics_boot_ended(const char *outcome);

/* An installer callback was accepted (applied or a harmless repeat) or rejected. */
void metrics_install_event(bool accepted);

/* A BMC command finished.  command: power_status | power_on | power_off | power_cycle |
 * power_reset | power_soft | bootdev_set | bootdev_get; result: ok | timeout | unreachable
 * | auth | unsupported | error (unknown names are counted as "other"/"error"). */
void metrics_bmc_command(const char *command, const char *result, double seconds);

/* One HTTP answer: its route family, status and body bytes sent. */
void metrics_http(MetricsRoute route, unsigned status, uint64_t bytes);

/* ---- discovery ---- */
/* What discovery did with a captured packet to port 67 (each packet counts once): */
typedef enum MetricsDiscoveryResult {
        METRICS_DISCOVERY_OK,           /* a well-formed PXE packet that is not a client's
                                         * DISCOVER/REQUEST: nothing to record */
        METRICS_DISCOVERY_NOT_PXE,      /* well-formed DHCP, not from a PXE client */
        METRICS_DISCOVERY_KNOWN,        /* PXE DISCOVER/REQUEST from a MAC in the inventory */
        METRICS_DISCOVERY_RECORDED,     /* PXE DISCOVER/REQUEST recorded */
        METRICS_DISCOVERY_DROPPED_FULL, /* from a new MAC while discovery_max MACs are kept */
        _METRICS_DISCOVERY_MAX,
} MetricsDiscoveryResult;

/* n packets with `result`. */
void metrics_discovery_packets(MetricsDiscoveryResult result, uint64_t n);
/* n packets the DHCP parser refused: `error` is a DhcpError (dhcp.h) other than DHCP_OK,
 * the label its dhcp_error_to_string(). */
void metrics_discovery_malformed(int error, uint64_t n);
/* The instances sharing the database, and how many of them have a recent heartbeat (gauge
 * provd_instances{alive}); an instance alone on its database is 1 of 1. */
void metrics_instances_set(int64_t alive, int64_t known);

/* The number of rows of the discovered table (gauge provd_discovered_nodes). */
void metrics_discovered_nodes_set(int64_t n);
/* ---- end discovery ---- */
/* ---- console capture */
/* Open SOL sessions now (provd_console_sessions). */
void metrics_console_sessions(int n);
/* Console bytes received from BMCs (provd_console_bytes_total). */
void metrics_console_bytes(uint64_t n);
/* A SOL session re-opened after it was lost (provd_console_reconnects_total). */
void metrics_console_reconnect(void);
/* ---- file transfers (transfers.h) */
/* File transfers sending now and waiting for a slot (gauges provd_file_transfers_active,
 * provd_file_transfer_queue_depth). */
void metrics_file_transfers(unsigned active, size_t queued);
/* A file transfer had to wait for a slot (provd_file_transfer_waits_total). */
void metrics_file_transfer_wait(void);

/* What the daemon knows at scrape time. */
typedef struct MetricsGauges {
        size_t nodes[_PROVISION_STATE_MAX]; /* nodes per provision state */
        size_t drift[_DRIFT_MAX];           /* nodes per drift (drift.h) */
        size_t event_subscribers;           /* open GET /v1/events/stream connections */
        /* HTTP connection table (http-conns.h) */
        unsigned http_waiting, http_kept, http_busy; /* open connections by state */
        unsigned http_max_connections;               /* max_connections */
        uint64_t http_shut_deadline, http_shut_evicted; /* shut down since start, by reason */
} MetricsGauges;

/* Renders every metric family.  Returns 0 and a malloc'd text (caller frees) with its
 * length, or -ENOMEM. */
int metrics_render(const MetricsGauges *g, char **ret_text, size_t *ret_len);
