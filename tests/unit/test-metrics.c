/* test-metrics.c — unit tests for metrics.c: every family is rendered with HELP and TYPE,
 * counters count, histograms are cumulative with +Inf == _count, unknown label values land
 * in the catch-all, and the output parses as the text format's line grammar. */
#include "check-main.h"
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

static char *render(void) {
        MetricsGauges g = { .nodes = { [PROVISION_INSTALLED] = 3, [PROVISION_FAILED] = 1 }, .event_subscribers = 2 };
        char *text;
        size_t len;
        ck_assert_int_eq(metrics_render(&g, &text, &len), 0);
        ck_assert_uint_eq(len, strlen(text));
        return text;
}

/* The value of the sample line that starts with `series ` (0 lines: -1). */
static double sample(const char *text, const char *series) {
        size_t n = strlen(series);
        for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
                if (strncmp(p, series, n) == 0 && p[n] == ' ')
                        return strtod(p + n + 1, NULL);
        return -1;
}

START_TEST(test_families) {
        metrics_init();
        char *t = render();
        static const char *const families[] = {
                "provd_nodes gauge", "provd_boot_requests_total counter", "provd_install_attempts_total counter",
                "provd_install_duration_seconds histogram", "provd_install_events_total counter",
                "provd_bmc_commands_total counter", "provd_bmc_command_duration_seconds histogram",
                "provd_http_requests_total counter", "provd_http_response_bytes_total counter",
                "provd_event_stream_clients gauge", "process_start_time_seconds gauge", "provd_build_info gauge",
                "provd_http_connections gauge", "provd_http_connections_max gauge",
                "provd_http_connections_shut_total counter",
        };
        for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
                char line[128];
                snprintf(line, sizeof line, "# TYPE %s\n", families[i]);
                ck_assert_msg(strstr(t, line), "missing %s", line);
        }
        ck_assert_double_eq(sample(t, "provd_nodes{state=\"installed\"}"), 3);
        ck_assert_double_eq(sample(t, "provd_nodes{state=\"failed\"}"), 1);
        ck_assert_double_eq(sample(t, "provd_nodes{state=\"new\"}"), 0);
        ck_assert_double_eq(sample(t, "provd_event_stream_clients"), 2);
        ck_assert(sample(t, "process_start_time_seconds") > 1.7e9);
        /* Every line is a comment or "name{labels} value". */
        for (char *line = strtok(t, "\n"); line; line = strtok(NULL, "\n")) {
                if (line[0] == '#')
                        continue;
                char *sp = strrchr(line, ' ');
                ck_assert_ptr_nonnull(sp);
                char *end;
                strtod(sp + 1, &end);
                ck_assert_msg(*end == '\0', "bad value in \"%s\"", line);
                ck_assert_msg(strspn(line, "abcdefghijklmnopqrstuvwxyz_") > 0, "bad name in \"%s\"", line);
        }
        free(t);
}
END_TEST

START_TEST(test_counters_and_histograms) {
        metrics_boot(METRICS_API_IPXE, METRICS_BOOT_INSTALL, FIRMWARE_EFI_X64);
        metrics_boot(METRICS_API_IPXE, METRICS_BOOT_INSTALL, FIRMWARE_EFI_X64);
        metrics_boot(METRICS_API_IPXE, METRICS_BOOT_LOCAL, FIRMWARE_BIOS);
        metrics_boot(METRICS_API_PIXIECORE, METRICS_BOOT_UNKNOWN, FIRMWARE_UNKNOWN);
        metrics_attempt_ended("succeeded", 100);
        metrics_attempt_ended("failed", 5000);
        metrics_attempt_ended("exploded", 1); /* not an outcome: ignored */
        metrics_install_event(true);
        metrics_install_event(false);
        metrics_bmc_command("power_cycle", "ok", 0.2);
        metrics_bmc_command("frobnicate", "weird", 0.01);
        metrics_http(METRICS_ROUTE_FILES, 200, 1000);
        metrics_http(METRICS_ROUTE_FILES, 200, 24);
        metrics_http(METRICS_ROUTE_FILES, 418, 0);

        char *t = render();
        ck_assert_double_eq(sample(t, "provd_boot_requests_total{api=\"ipxe\",result=\"install\",firmware=\"efi-x64\"}"), 2);
        ck_assert_double_eq(sample(t, "provd_boot_requests_total{api=\"ipxe\",result=\"local\",firmware=\"bios\"}"), 1);
        ck_assert_double_eq(sample(t, "provd_boot_requests_total{api=\"ipxe\",result=\"install\",firmware=\"unknown\"}"), 0);
        ck_assert_msg(!strstr(t, "result=\"install\",firmware=\"bios\""), "a firmware that never booted has a series");
        ck_assert_double_eq(sample(t, "provd_boot_requests_total{api=\"pixiecore\",result=\"unknown\",firmware=\"unknown\"}"), 1);
        ck_assert_double_eq(sample(t, "provd_boot_requests_total{api=\"pixiecore\",result=\"install\",firmware=\"unknown\"}"), 0);
        ck_assert_double_eq(sample(t, "provd_install_attempts_total{outcome=\"succeeded\"}"), 1);
        ck_assert_double_eq(sample(t, "provd_install_attempts_total{outcome=\"failed\"}"), 1);
        /* 100 s falls in le=120 and above; 5000 s only in le=7200 and +Inf. */
        ck_assert_double_eq(sample(t, "provd_install_duration_seconds_bucket{le=\"60\"}"), 0);
        ck_assert_double_eq(sample(t, "provd_install_duration_seconds_bucket{le=\"120\"}"), 1);
        ck_assert_double_eq(sample(t, "provd_install_duration_seconds_bucket{le=\"3600\"}"), 1);
        ck_assert_double_eq(sample(t, "provd_install_duration_seconds_bucket{le=\"7200\"}"), 2);
        ck_assert_double_eq(sample(t, "provd_install_duration_seconds_bucket{le=\"+Inf\"}"), 2);
        ck_assert_double_eq(sample(t, "provd_install_duration_seconds_count"), 2);
        ck_assert_double_eq(sample(t, "provd_install_duration_seconds_sum"), 5100);
        ck_assert_double_eq(sample(t, "provd_install_events_total{result=\"accepted\"}"), 1);
        ck_assert_double_eq(sample(t, "provd_install_events_total{result=\"rejected\"}"), 1);
        ck_assert_double_eq(sample(t, "provd_bmc_commands_total{command=\"power_cycle\",result=\"ok\"}"), 1);
        ck_assert_double_eq(sample(t, "provd_bmc_commands_total{command=\"other\",result=\"error\"}"), 1);
        ck_assert_double_eq(sample(t, "provd_bmc_command_duration_seconds_count"), 2);
        ck_assert_double_eq(sample(t, "provd_http_requests_total{route=\"files\",code=\"200\"}"), 2);
        ck_assert_double_eq(sample(t, "provd_http_requests_total{route=\"files\",code=\"other\"}"), 1);
        ck_assert_double_eq(sample(t, "provd_http_response_bytes_total{route=\"files\"}"), 1024);
        free(t);
}
END_TEST

static Suite *metrics_suite(void) {
        Suite *s = suite_create("metrics");
        TCase *tc = tcase_create("render");
        tcase_add_test(tc, test_families);
        tcase_add_test(tc, test_counters_and_histograms);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(metrics_suite)
