/* metrics.c — see metrics.h. */
#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dhcp.h"
#include "provd-config.h"
#include "util.h"

/* A histogram with fixed upper bounds (seconds); the sum is kept in microseconds so it can
 * be an atomic integer. */
#define HIST_MAX_BUCKETS 12
typedef struct Histogram {
        atomic_uint_fast64_t bucket[HIST_MAX_BUCKETS]; /* non-cumulative; rendered cumulative */
        atomic_uint_fast64_t count;
        atomic_uint_fast64_t sum_us;
} Histogram;

static const double install_bounds[] = { 60, 120, 300, 600, 900, 1200, 1800, 2700, 3600, 7200 };
static const double bmc_bounds[] = { 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60 };

static const char *const api_names[_METRICS_API_MAX] = { "pixiecore", "ipxe" };
static const char *const boot_names[_METRICS_BOOT_MAX] = { "install", "local", "unknown", "error", "image" };
static const char *const boot_outcome_names[] = { "running", "failed", "timeout", "abandoned" };
static const char *const outcome_names[] = { "succeeded", "failed", "abandoned", "timeout" };
static const char *const route_names[_METRICS_ROUTE_MAX] = {
        "status_page", "boot", "ipxe", "files", "install_events", "nodes", "summary",
        "events", "events_stream", "admin", "operations", "metrics", "discovered", "node_reports", "overlay", "instances",
        "other",
};
static const unsigned http_codes[] = { 200, 201, 202, 204, 206, 304, 400, 401, 403, 404, 405,
                                       409, 413, 416, 500, 503, 507 };
#define N_CODES (ELEMENTSOF(http_codes) + 1) /* + "other" */
static const char *const bmc_commands[] = { "power_status", "power_on",    "power_off",   "power_cycle",
                                            "power_reset",  "power_soft",  "bootdev_set", "bootdev_get",
                                            "other" };
static const char *const bmc_results[] = { "ok", "timeout", "unreachable", "auth", "unsupported", "error" };

static struct {
        atomic_int_fast64_t start_ms;
        atomic_uint_fast64_t boot[_METRICS_API_MAX][_METRICS_BOOT_MAX][_FIRMWARE_MAX];
        atomic_uint_fast64_t attempts[ELEMENTSOF(outcome_names)];
        Histogram install_duration;
        atomic_uint_fast64_t install_events[2]; /* accepted, rejected */
        atomic_uint_fast64_t bmc[ELEMENTSOF(bmc_commands)][ELEMENTSOF(bmc_results)];
        Histogram bmc_duration;
        atomic_uint_fast64_t http[_METRICS_ROUTE_MAX][N_CODES];
        atomic_uint_fast64_t http_bytes[_METRICS_ROUTE_MAX];
        /* discovery */
        atomic_uint_fast64_t discovery[_METRICS_DISCOVERY_MAX];
        atomic_uint_fast64_t discovery_malformed[_DHCP_ERR_MAX];
        atomic_int_fast64_t discovered_nodes;
        atomic_int_fast64_t instances_alive, instances_known; /* several instances */
        /* console capture */
        atomic_int_fast64_t console_sessions;
        atomic_uint_fast64_t console_bytes;
        atomic_uint_fast64_t console_reconnects;
        /* boots of stateless nodes */
        atomic_uint_fast64_t boots_ended[ELEMENTSOF(boot_outcome_names)];
        atomic_uint_fast64_t file_transfers_active, file_transfer_queue_depth, file_transfer_waits;
} m;

/* provd_boots_total{image}: image names as first seen (owned), under boots_lock. */
static pthread_mutex_t boots_lock = PTHREAD_MUTEX_INITIALIZER;
static char *boot_images[METRICS_BOOT_IMAGES_MAX];
static uint64_t boot_counts[METRICS_BOOT_IMAGES_MAX + 1]; /* + "other" */

static const char *const discovery_names[_METRICS_DISCOVERY_MAX] = { "ok", "not_pxe", "known", "recorded",
                                                                     "dropped_full" };

static size_t index_of(const char *const *names, size_t n, const char *name, size_t fallback) {
        for (size_t i = 0; name && i < n; i++)
                if (streq(names[i], name))
                        return i;
        return fallback;
}

static void observe(Histogram *h, const double *bounds, size_t n_bounds, double seconds) {
        size_t i = 0;
        while (i < n_bounds && seconds > bounds[i])
                i++;
        atomic_fetch_add(&h->bucket[i], 1);
        atomic_fetch_add(&h->count, 1);
        atomic_fetch_add(&h->sum_us, (uint64_t) (seconds * 1e6));
}

void metrics_init(void) {
        atomic_store(&m.start_ms, now_ms());
}

void metrics_boot(MetricsBootApi api, MetricsBootResult result, Firmware fw) {
        if (api < _METRICS_API_MAX && result < _METRICS_BOOT_MAX && (unsigned) fw < _FIRMWARE_MAX)
                atomic_fetch_add(&m.boot[api][result][fw], 1);
}

void metrics_attempt_ended(const char *outcome, double seconds) {
        size_t i = index_of(outcome_names, ELEMENTSOF(outcome_names), outcome, SIZE_MAX);
        if (i == SIZE_MAX)
                return;
        atomic_fetch_add(&m.attempts[i], 1);
        if (seconds >= 0)
                observe(&m.install_duration, install_bounds, ELEMENTSOF(install_bounds), seconds);
}

void metrics_boot_opened(const char *image) {
        pthread_mutex_lock(&boots_lock);
        size_t i = 0;
        while (i < METRICS_BOOT_IMAGES_MAX && boot_images[i] && !streq(boot_images[i], image))
                i++;
        if (i < METRICS_BOOT_IMAGES_MAX && !boot_images[i] && !(boot_images[i] = strdup(image)))
                i = METRICS_BOOT_IMAGES_MAX; /* out of memory: counted as "other" */
        boot_counts[i]++;
        pthread_mutex_unlock(&boots_lock);
}

void metrics_boot_ended(const char *outcome) {
        size_t i = index_of(boot_outcome_names, ELEMENTSOF(boot_outcome_names), outcome, SIZE_MAX);
        if (i != SIZE_MAX)
                atomic_fetch_add(&m.boots_ended[i], 1);
}

void metrics_install_event(bool accepted) {
        atomic_fetch_add(&m.install_events[accepted ? 0 : 1], 1);
}

void metrics_bmc_command(const char *command, const char *result, double seconds) {
        size_t c = index_of(bmc_commands, ELEMENTSOF(bmc_commands), command, ELEMENTSOF(bmc_commands) - 1);
        size_t r = index_of(bmc_results, ELEMENTSOF(bmc_results), result, ELEMENTSOF(bmc_results) - 1);
        atomic_fetch_add(&m.bmc[c][r], 1);
        if (seconds >= 0)
                observe(&m.bmc_duration, bmc_bounds, ELEMENTSOF(bmc_bounds), seconds);
}

void metrics_http(MetricsRoute route, unsigned status, uint64_t bytes) {
        if (route >= _METRICS_ROUTE_MAX)
                route = METRICS_ROUTE_OTHER;
        size_t i = 0;
        while (i < ELEMENTSOF(http_codes) && http_codes[i] != status)
                i++;
        atomic_fetch_add(&m.http[route][i], 1);
        atomic_fetch_add(&m.http_bytes[route], bytes);
}

/* ---- discovery ---- */
void metrics_discovery_packets(MetricsDiscoveryResult result, uint64_t n) {
        if (result < _METRICS_DISCOVERY_MAX)
                atomic_fetch_add(&m.discovery[result], n);
}

void metrics_discovery_malformed(int error, uint64_t n) {
        if (error > DHCP_OK && error < _DHCP_ERR_MAX)
                atomic_fetch_add(&m.discovery_malformed[error], n);
}

void metrics_instances_set(int64_t alive, int64_t known) {
        atomic_store(&m.instances_alive, alive);
        atomic_store(&m.instances_known, known);
}

void metrics_discovered_nodes_set(int64_t n) {
        atomic_store(&m.discovered_nodes, n);
}
/* ---- end discovery ---- */
/* ---- console capture */
void metrics_console_sessions(int n) {
        atomic_store(&m.console_sessions, n);
}

void metrics_console_bytes(uint64_t n) {
        atomic_fetch_add(&m.console_bytes, n);
}

void metrics_console_reconnect(void) {
        atomic_fetch_add(&m.console_reconnects, 1);
}

void metrics_file_transfers(unsigned active, size_t queued) {
        atomic_store(&m.file_transfers_active, active);
        atomic_store(&m.file_transfer_queue_depth, queued);
}

void metrics_file_transfer_wait(void) {
        atomic_fetch_add(&m.file_transfer_waits, 1);
}

static void header(FILE *f, const char *name, const char *type, const char *help) {
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void render_histogram(FILE *f, const char *name, const Histogram *h, const double *bounds, size_t n_bounds) {
        uint64_t cum = 0;
        for (size_t i = 0; i < n_bounds; i++) {
                cum += atomic_load(&h->bucket[i]);
                fprintf(f, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, bounds[i], cum);
        }
        cum += atomic_load(&h->bucket[n_bounds]);
        fprintf(f, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cum);
        fprintf(f, "%s_sum %.6f\n", name, (double) atomic_load(&h->sum_us) / 1e6);
        fprintf(f, "%s_count %" PRIu64 "\n", name, cum);
}

int metrics_render(const MetricsGauges *g, char **ret_text, size_t *ret_len) {
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        if (!f)
                return -ENOMEM;

        header(f, "provd_nodes", "gauge", "Nodes in the inventory per provision state.");
        for (ProvisionState s = 0; s < _PROVISION_STATE_MAX; s++)
                fprintf(f, "provd_nodes{state=\"%s\"} %zu\n", provision_state_to_string(s), g->nodes[s]);

        header(f, "provd_nodes_drift", "gauge",
               "Nodes by whether they run the inventory's system, from their reports (in_sync, drifted, "
               "reboot_pending, silent, unknown).");
        for (Drift k = 0; k < _DRIFT_MAX; k++)
                fprintf(f, "provd_nodes_drift{status=\"%s\"} %zu\n", drift_to_string(k), g->drift[k]);

        header(f, "provd_boot_requests_total", "counter",
               "Boot API answers (pixiecore GET /v1/boot, iPXE GET /v1/ipxe?mac=) by result and the firmware "
               "the request came from (as iPXE reports it; unknown for pixiecore).");
        /* Every (api, result) with firmware "unknown", zeros included, so the series exist from
         * the start; other firmware once it has booted. */
        for (size_t a = 0; a < _METRICS_API_MAX; a++)
                for (size_t r = 0; r < _METRICS_BOOT_MAX; r++)
                        for (Firmware fw = 0; fw < _FIRMWARE_MAX; fw++) {
                                uint64_t v = atomic_load(&m.boot[a][r][fw]);
                                if (fw == FIRMWARE_UNKNOWN || v > 0)
                                        fprintf(f,
                                                "provd_boot_requests_total{api=\"%s\",result=\"%s\",firmware=\"%s\"} %" PRIu64
                                                "\n",
                                                api_names[a], boot_names[r], firmware_name(fw), v);
                        }

        header(f, "provd_install_attempts_total", "counter", "Install attempts that ended, by outcome.");
        for (size_t i = 0; i < ELEMENTSOF(outcome_names); i++)
                fprintf(f, "provd_install_attempts_total{outcome=\"%s\"} %" PRIu64 "\n", outcome_names[i],
                        atomic_load(&m.attempts[i]));

        header(f, "provd_install_duration_seconds", "histogram",
               "Time from opening an install attempt to its end, for attempts that ended.");
        render_histogram(f, "provd_install_duration_seconds", &m.install_duration, install_bounds,
                         ELEMENTSOF(install_bounds));

        header(f, "provd_boots_total", "counter", "Boots of stateless nodes opened (network boots answered with "
               "the image), by image.");
        pthread_mutex_lock(&boots_lock);
        for (size_t i = 0; i < METRICS_BOOT_IMAGES_MAX && boot_images[i]; i++)
                fprintf(f, "provd_boots_total{image=\"%s\"} %" PRIu64 "\n", boot_images[i], boot_counts[i]);
        if (boot_counts[METRICS_BOOT_IMAGES_MAX] > 0)
                fprintf(f, "provd_boots_total{image=\"other\"} %" PRIu64 "\n", boot_counts[METRICS_BOOT_IMAGES_MAX]);
        pthread_mutex_unlock(&boots_lock);

        header(f, "provd_boots_ended_total", "counter", "Boots of stateless nodes that ended, by outcome.");
        for (size_t i = 0; i < ELEMENTSOF(boot_outcome_names); i++)
                fprintf(f, "provd_boots_ended_total{outcome=\"%s\"} %" PRIu64 "\n", boot_outcome_names[i],
                        atomic_load(&m.boots_ended[i]));

        header(f, "provd_install_events_total", "counter", "Installer callbacks (POST /v1/install/events) by result.");
        fprintf(f, "provd_install_events_total{result=\"accepted\"} %" PRIu64 "\n", atomic_load(&m.install_events[0]));
        fprintf(f, "provd_install_events_total{result=\"rejected\"} %" PRIu64 "\n", atomic_load(&m.install_events[1]));

        header(f, "provd_bmc_commands_total", "counter", "IPMI commands sent to BMCs, by command and result.");
        for (size_t c = 0; c < ELEMENTSOF(bmc_commands); c++)
                for (size_t r = 0; r < ELEMENTSOF(bmc_results); r++) {
                        uint64_t v = atomic_load(&m.bmc[c][r]);
                        if (v > 0)
                                fprintf(f, "provd_bmc_commands_total{command=\"%s\",result=\"%s\"} %" PRIu64 "\n",
                                        bmc_commands[c], bmc_results[r], v);
                }

        header(f, "provd_bmc_command_duration_seconds", "histogram", "Wall time of IPMI commands, retries included.");
        render_histogram(f, "provd_bmc_command_duration_seconds", &m.bmc_duration, bmc_bounds, ELEMENTSOF(bmc_bounds));

        header(f, "provd_http_requests_total", "counter", "HTTP answers by route family and status code.");
        for (size_t r = 0; r < _METRICS_ROUTE_MAX; r++)
                for (size_t i = 0; i < N_CODES; i++) {
                        uint64_t v = atomic_load(&m.http[r][i]);
                        if (v == 0)
                                continue;
                        if (i < ELEMENTSOF(http_codes))
                                fprintf(f, "provd_http_requests_total{route=\"%s\",code=\"%u\"} %" PRIu64 "\n",
                                        route_names[r], http_codes[i], v);
                        else
                                fprintf(f, "provd_http_requests_total{route=\"%s\",code=\"other\"} %" PRIu64 "\n",
                                        route_names[r], v);
                }

        header(f, "provd_http_response_bytes_total", "counter",
               "Bytes of HTTP response bodies served (boot files included), by route family.");
        for (size_t r = 0; r < _METRICS_ROUTE_MAX; r++)
                fprintf(f, "provd_http_response_bytes_total{route=\"%s\"} %" PRIu64 "\n", route_names[r],
                        atomic_load(&m.http_bytes[r]));

        header(f, "provd_event_stream_clients", "gauge", "Open GET /v1/events/stream connections.");
        fprintf(f, "provd_event_stream_clients %zu\n", g->event_subscribers);

        header(f, "provd_http_connections", "gauge",
               "Open HTTP connections: waiting (new, no whole request yet), kept (kept alive between two "
               "requests), busy (request being answered, event streams, console follows).");
        fprintf(f, "provd_http_connections{state=\"waiting\"} %u\n", g->http_waiting);
        fprintf(f, "provd_http_connections{state=\"kept\"} %u\n", g->http_kept);
        fprintf(f, "provd_http_connections{state=\"busy\"} %u\n", g->http_busy);
        header(f, "provd_http_connections_max", "gauge", "max_connections: HTTP connections held at once.");
        fprintf(f, "provd_http_connections_max %u\n", g->http_max_connections);
        header(f, "provd_http_connections_shut_total", "counter",
               "HTTP connections provd shut down: deadline (request not whole within header_timeout nor at "
               "header_min_rate), evicted (waited longest for its request while the table was nearly full).");
        fprintf(f, "provd_http_connections_shut_total{reason=\"deadline\"} %" PRIu64 "\n", g->http_shut_deadline);
        fprintf(f, "provd_http_connections_shut_total{reason=\"evicted\"} %" PRIu64 "\n", g->http_shut_evicted);

        /* discovery */
        header(f, "provd_discovery_packets_total", "counter",
               "DHCP packets to port 67 captured on discovery_interface, by what discovery did with them.");
        for (size_t i = 0; i < _METRICS_DISCOVERY_MAX; i++)
                fprintf(f, "provd_discovery_packets_total{result=\"%s\"} %" PRIu64 "\n", discovery_names[i],
                        atomic_load(&m.discovery[i]));
        for (int e = DHCP_OK + 1; e < _DHCP_ERR_MAX; e++)
                fprintf(f, "provd_discovery_packets_total{result=\"%s\"} %" PRIu64 "\n",
                        dhcp_error_to_string((DhcpError) e), atomic_load(&m.discovery_malformed[e]));
        header(f, "provd_instances", "gauge",
               "provd instances sharing this one's database (GET /v1/instances), by whether their heartbeat is recent.");
        fprintf(f, "provd_instances{alive=\"true\"} %" PRIdFAST64 "\n", atomic_load(&m.instances_alive));
        fprintf(f, "provd_instances{alive=\"false\"} %" PRIdFAST64 "\n",
                atomic_load(&m.instances_known) - atomic_load(&m.instances_alive));
        header(f, "provd_discovered_nodes", "gauge", "Unknown PXE clients recorded (GET /v1/discovered).");
        fprintf(f, "provd_discovered_nodes %" PRIdFAST64 "\n", atomic_load(&m.discovered_nodes));
        /* console capture */
        header(f, "provd_console_sessions", "gauge", "Open Serial-over-LAN console sessions.");
        fprintf(f, "provd_console_sessions %" PRIdFAST64 "\n", atomic_load(&m.console_sessions));
        header(f, "provd_console_bytes_total", "counter", "Console bytes received over Serial over LAN.");
        fprintf(f, "provd_console_bytes_total %" PRIu64 "\n", (uint64_t) atomic_load(&m.console_bytes));
        header(f, "provd_console_reconnects_total", "counter", "SOL sessions re-opened after they were lost.");
        fprintf(f, "provd_console_reconnects_total %" PRIu64 "\n", (uint64_t) atomic_load(&m.console_reconnects));
        /* file transfers */
        header(f, "provd_file_transfers_active", "gauge", "Boot file transfers (GET /v1/files bodies) sending now.");
        fprintf(f, "provd_file_transfers_active %" PRIu64 "\n", (uint64_t) atomic_load(&m.file_transfers_active));
        header(f, "provd_file_transfer_queue_depth", "gauge",
               "Boot file transfers waiting for a slot (max_transfers), their connections suspended.");
        fprintf(f, "provd_file_transfer_queue_depth %" PRIu64 "\n", (uint64_t) atomic_load(&m.file_transfer_queue_depth));
        header(f, "provd_file_transfer_waits_total", "counter", "Boot file transfers that had to wait for a slot.");
        fprintf(f, "provd_file_transfer_waits_total %" PRIu64 "\n", (uint64_t) atomic_load(&m.file_transfer_waits));

        header(f, "process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch in seconds.");
        fprintf(f, "process_start_time_seconds %.3f\n", (double) atomic_load(&m.start_ms) / 1000.0);

        header(f, "provd_build_info", "gauge", "provd's version; always 1.");
        fprintf(f, "provd_build_info{version=\"%s\"} 1\n", PROVD_VERSION);

        if (fclose(f) != 0) {
                free(text);
                return -ENOMEM;
        }
        *ret_text = text;
        *ret_len = len;
        return 0;
}
