/* test-ipxe.c — unit tests for ipxe.c: the chain, install, local and unknown-MAC scripts,
 * read line by line the way iPXE reads them (ipxe.org/scripting, ipxe.org/cmd). */
#include "check-main.h"
#include <check.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipxe.h"
#include "util.h"

/* A script split into lines (without their "\n"). */
typedef struct Script {
        char *orig;   /* the script as rendered */
        char *text;   /* owned copy, cut into lines */
        char **lines; /* n_lines entries, pointing into text */
        size_t n_lines;
} Script;

static void script_done(Script *s) {
        free(s->orig);
        free(s->text);
        free(s->lines);
}

/* Takes ownership of text (a rendered script); checks the "#!ipxe" header and that the
 * script ends with a newline, then splits it. */
static Script script_split(char *text) {
        Script s = { .text = text };

        ck_assert_msg(text != NULL, "render returned NULL");
        ck_assert_msg(startswith(text, "#!ipxe\n"), "script does not start with \"#!ipxe\\n\": %s", text);
        size_t len = strlen(text);
        ck_assert_msg(len > 0 && text[len - 1] == '\n', "script does not end with a newline: %s", text);
        s.orig = strdup(text);
        ck_assert_ptr_nonnull(s.orig);

        s.lines = calloc(len + 1, sizeof(char *));
        ck_assert_ptr_nonnull(s.lines);
        char *p = text;
        while (*p) {
                char *nl = strchr(p, '\n');
                *nl = '\0';
                s.lines[s.n_lines++] = p;
                p = nl + 1;
        }
        return s;
}

static void assert_contains_text(const char *s, const char *sub) {
        ck_assert_msg(strstr(s, sub), "\"%s\" does not contain \"%s\"", s, sub);
}

/* The first word of a line, as iPXE's command name. */
static bool line_is_command(const char *line, const char *cmd) {
        size_t n = strlen(cmd);
        return strncmp(line, cmd, n) == 0 && (line[n] == '\0' || line[n] == ' ');
}

/* Index of the only line that is command cmd; fails if there is not exactly one. */
static size_t script_only_command(const Script *s, const char *cmd) {
        size_t found = SIZE_MAX, count = 0;
        for (size_t i = 0; i < s->n_lines; i++)
                if (line_is_command(s->lines[i], cmd)) {
                        found = i;
                        count++;
                }
        ck_assert_msg(count == 1, "%zu \"%s\" lines, want 1", count, cmd);
        return found;
}

static size_t script_count_command(const Script *s, const char *cmd) {
        size_t count = 0;
        for (size_t i = 0; i < s->n_lines; i++)
                count += line_is_command(s->lines[i], cmd);
        return count;
}

/* Splits a line into words at spaces (it is modified); returns the count. */
static size_t split_words(char *line, char **words, size_t max) {
        size_t n = 0;
        for (char *save = NULL, *w = strtok_r(line, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
                ck_assert_uint_lt(n, max);
                words[n++] = w;
        }
        return n;
}

/* ---- a model of iPXE's control flow ---------------------------------------------------------
 * Runs a rendered script the way iPXE's shell does (ipxe.org/scripting, src/hci/shell.c
 * system()): lines in order; "A && B" runs B only if A succeeded, "A || B" only if A failed,
 * an empty command after "||" succeeds; "goto L" continues after ":L"; "exit [N]" ends the
 * script with status N.  ${platform} is expanded to `platform`; "iseq a b" compares; the
 * network commands take their result from the Run: imgfetch succeeds when fetch_ok, imgexec
 * returns inner_status, kernel/initrd succeed, boot fails (the test never boots). */
typedef struct Run {
        const char *platform;
        bool fetch_ok;
        int inner_status;
        int status;        /* the script's exit status */
        bool exited;       /* ended by "exit" (else: fell off the end) */
        char echoed[1024]; /* every echo, joined by '\n' */
        unsigned booted;   /* "boot" commands run */
} Run;

static int run_command(const Script *s, Run *run, char *cmd, size_t *pc) {
        char *words[64];
        size_t n = split_words(cmd, words, 64);
        if (n == 0)
                return 0;
        if (streq(words[0], "echo")) {
                size_t len = strlen(run->echoed);
                for (size_t i = 1; i < n; i++)
                        len += (size_t) snprintf(run->echoed + len, sizeof run->echoed - len, "%s%s", i > 1 ? " " : "",
                                                 words[i]);
                snprintf(run->echoed + len, sizeof run->echoed - len, "\n");
                return 0;
        }
        if (streq(words[0], "iseq")) {
                ck_assert_uint_eq(n, 3);
                return streq(words[1], words[2]) ? 0 : 1;
        }
        if (streq(words[0], "goto")) {
                ck_assert_uint_eq(n, 2);
                for (size_t i = 0; i < s->n_lines; i++)
                        if (s->lines[i][0] == ':' && streq(s->lines[i] + 1, words[1])) {
                                *pc = i + 1;
                                return 0;
                        }
                ck_abort_msg("goto %s: no such label", words[1]);
        }
        if (streq(words[0], "exit")) {
                run->status = n > 1 ? atoi(words[1]) : 0;
                run->exited = true;
                return run->status;
        }
        if (streq(words[0], "imgfetch"))
                return run->fetch_ok ? 0 : 1;
        if (streq(words[0], "imgexec"))
                return run->inner_status;
        if (streq(words[0], "kernel") || streq(words[0], "initrd"))
                return 0;
        if (streq(words[0], "boot")) {
                run->booted++;
                return 1;
        }
        ck_abort_msg("command \"%s\" not modelled", words[0]);
        return 1;
}

static void run_script(const Script *s, Run *run) {
        size_t pc = 1, steps = 0; /* line 0 is "#!ipxe" */
        run->status = 0;
        while (pc < s->n_lines && !run->exited) {
                ck_assert_uint_lt(++steps, 1000);
                char line[4096];
                ck_assert_uint_lt(strlen(s->lines[pc]), sizeof line);
                strcpy(line, s->lines[pc]);
                pc++;
                if (line[0] == ':' || line[0] == '\0')
                        continue;
                /* ${platform} -> run->platform, in place (the only setting the model knows) */
                char expanded[4096];
                size_t o = 0;
                for (const char *p = line; *p && o < sizeof expanded - 32;) {
                        if (startswith(p, "${platform}")) {
                                o += (size_t) snprintf(expanded + o, sizeof expanded - o, "%s", run->platform);
                                p += strlen("${platform}");
                        } else
                                expanded[o++] = *p++;
                }
                expanded[o] = '\0';
                bool process = true;
                int rc = 0;
                char *cmd = expanded;
                for (;;) {
                        char *and = strstr(cmd, "&&"), *or = strstr(cmd, "||");
                        char *sep = and && (!or || and < or) ? and : or;
                        if (sep)
                                *sep = '\0';
                        size_t before = pc;
                        if (process)
                                rc = run_command(s, run, cmd, &pc);
                        if (run->exited || pc != before || !sep)
                                break;
                        process = sep == and ? rc == 0 : rc != 0;
                        cmd = sep + 2;
                }
        }
}

/* Runs the script in text (owned) under `platform` and returns the Run. */
static Run run_rendered(char *text, const char *platform, bool fetch_ok, int inner_status) {
        _cleanup_(script_done) Script s = script_split(text);
        Run run = { .platform = platform, .fetch_ok = fetch_ok, .inner_status = inner_status };
        run_script(&s, &run);
        return run;
}

/* ---- chain ------------------------------------------------------------------------------ */

START_TEST(test_ipxe_chain) {
        static const char *const publics[] = { "http://10.0.0.1:8080", "http://10.0.0.1:8080/",
                                               "http://10.0.0.1:8080//" };
        for (size_t i = 0; i < sizeof publics / sizeof publics[0]; i++) {
                _cleanup_(script_done) Script s = script_split(ipxe_render_chain(publics[i]));
                size_t fetch = script_only_command(&s, "imgfetch");
                ck_assert_msg(strstr(s.lines[fetch],
                                     " http://10.0.0.1:8080/v1/ipxe?mac=${netX/mac}&platform=${platform}&buildarch=${buildarch}"),
                              "imgfetch line \"%s\" does not fetch /v1/ipxe?mac=...&platform=...&buildarch=...", s.lines[fetch]);
                ck_assert_msg(!strstr(s.lines[fetch], "8080//"), "public URL's trailing \"/\" kept: %s", s.lines[fetch]);
                ck_assert_uint_eq(script_count_command(&s, "imgexec"), 1);
                /* If the chain fails or returns, the firmware goes on to its next device. */
                ck_assert_uint_ge(script_count_command(&s, "exit"), 1);
                ck_assert_uint_eq(script_count_command(&s, "kernel"), 0);
                ck_assert_uint_eq(script_count_command(&s, "boot"), 0);
        }
}
END_TEST

/* ---- install ---------------------------------------------------------------------------- */

static void check_script(char *text, const BootSpec *spec, const char *node, long attempt);

static void check_install(const BootSpec *spec, const char *node, long attempt) {
        check_script(ipxe_render_install(spec, node, attempt), spec, node, attempt);
}

/* Checks the install script for spec: one kernel line with the cmdline and an initrd=N
 * argument per initrd, one "initrd --name N URL" line per initrd (in order, names matching
 * the kernel's initrd= arguments one to one), then "boot"; kernel before initrds before boot. */
static void check_script(char *text, const BootSpec *spec, const char *node, long attempt) {
        _cleanup_(script_done) Script s = script_split(text);
        char attempt_text[32];
        snprintf(attempt_text, sizeof attempt_text, "%ld", attempt);

        size_t kernel = script_only_command(&s, "kernel");
        size_t boot = script_only_command(&s, "boot");
        ck_assert_uint_eq(script_count_command(&s, "initrd"), spec->n_initrd);
        ck_assert_uint_eq(script_count_command(&s, "chain"), 0);

        /* The kernel line: "kernel [--name N] URL ARGS... [|| goto failed]"; ARGS end with the
         * whole cmdline. */
        const char *kline = s.lines[kernel];
        _cleanup_free_ char *cmdline_words = NULL;
        ck_assert_int_ge(asprintf(&cmdline_words, " %s", spec->cmdline), 0);
        const char *cmd_at = NULL;
        for (const char *p = strstr(kline, cmdline_words); p; p = strstr(p + 1, cmdline_words)) {
                const char *after = p + strlen(cmdline_words);
                if (*after == '\0' || startswith(after, " || "))
                        cmd_at = p;
        }
        ck_assert_msg(cmd_at, "kernel line \"%s\" does not end with the cmdline \"%s\"", kline, spec->cmdline);

        _cleanup_free_ char *kcopy = strndup(kline, (size_t) (cmd_at - kline));
        char *words[256];
        size_t n = split_words(kcopy, words, 256);
        size_t w = 1;
        ck_assert_uint_ge(n, 2);
        if (streq(words[w], "--name")) {
                ck_assert_uint_gt(n, w + 2);
                w += 2;
        }
        ck_assert_str_eq(words[w], spec->kernel);
        w++;
        /* What is left before the cmdline are the initrd=N arguments, one per initrd. */
        ck_assert_uint_eq(n - w, spec->n_initrd);
        char **kernel_initrd_names = words + w;

        size_t prev = kernel;
        size_t seen = 0;
        for (size_t i = 0; i < s.n_lines; i++) {
                if (!line_is_command(s.lines[i], "initrd"))
                        continue;
                ck_assert_msg(i > prev && i < boot, "initrd line %zu out of order (kernel %zu, boot %zu)", i, kernel,
                              boot);
                prev = i;

                _cleanup_free_ char *icopy = strdup(s.lines[i]);
                char *iw[16];
                size_t m = split_words(icopy, iw, 16);
                ck_assert_uint_ge(m, 4);
                ck_assert_str_eq(iw[1], "--name");
                ck_assert_str_eq(iw[3], spec->initrd[seen]);
                ck_assert_msg(m == 4 || streq(iw[4], "||"), "initrd line \"%s\" has extra words", s.lines[i]);

                _cleanup_free_ char *arg = NULL;
                ck_assert_int_ge(asprintf(&arg, "initrd=%s", iw[2]), 0);
                ck_assert_msg(streq(kernel_initrd_names[seen], arg), "initrd %zu is named %s, kernel has %s", seen,
                              iw[2], kernel_initrd_names[seen]);
                /* Names are distinct. */
                for (size_t j = 0; j < seen; j++)
                        ck_assert_str_ne(kernel_initrd_names[j], arg);
                seen++;
        }
        ck_assert_uint_eq(seen, spec->n_initrd);
        ck_assert_uint_gt(boot, kernel);

        /* It says whom it installs and which attempt, and exits to the firmware on failure. */
        assert_contains_text(s.orig, node);
        assert_contains_text(s.orig, attempt_text);
        ck_assert_uint_ge(script_count_command(&s, "exit"), 1);
}

START_TEST(test_ipxe_install_two_initrds) {
        char *initrd[] = { (char[]) { "http://10.0.0.1:8080/v1/files/nix/store/i1-initrd/initrd" },
                           (char[]) { "https://cache.example/extra.img?v=1" } };
        BootSpec spec = {
                .kernel = (char[]) { "http://10.0.0.1:8080/v1/files/nix/store/k1-linux/bzImage" },
                .initrd = initrd,
                .n_initrd = 2,
                .cmdline = (char[]) { "init=/nix/store/s1/init loglevel=4 nixos.install=/nix/store/n1/install"
                                      " provd.url=http://10.0.0.1:8080 provd.token=tok-7_Ab provd.node=node-07" },
        };
        check_install(&spec, "node-07", 3);
}
END_TEST

START_TEST(test_ipxe_install_no_initrd) {
        char *initrd[] = { NULL };
        BootSpec spec = {
                .kernel = (char[]) { "http://10.0.0.1:8080/v1/files/k" },
                .initrd = initrd,
                .n_initrd = 0,
                .cmdline = (char[]) { "provd.node=node-07" },
        };
        check_install(&spec, "node-07", 1);

        _cleanup_free_ char *text = ipxe_render_install(&spec, "node-07", 1);
        ck_assert_ptr_nonnull(text);
        ck_assert_msg(!strstr(text, "initrd="), "initrd= argument without initrds: %s", text);
}
END_TEST

START_TEST(test_ipxe_install_from_boot_spec) {
        /* From boot_spec_build(), as the daemon does it. */
        char *ninitrd[] = { (char[]) { "/nix/store/i1-initrd/initrd" }, (char[]) { "/nix/store/i2-initrd/fw" },
                            (char[]) { "https://cache.example/x.img" } };
        Node n = {
                .name = (char[]) { "node-07" },
                .boot = {
                        .kernel = (char[]) { "/nix/store/k1-linux/bzImage" },
                        .initrd = ninitrd,
                        .n_initrd = 3,
                        .cmdline = (char[]) { "console=ttyS0,115200" },
                },
                .install = (char[]) { "/nix/store/n1-install/bin/install" },
        };
        BootSpec spec = { 0 };
        ck_assert_int_eq(boot_spec_build(&n, "http://10.0.0.1:8080/", "tok-7_Ab", &spec), 0);
        check_install(&spec, "node-07", 12);
        boot_spec_done(&spec);
}
END_TEST

/* ---- stateless: the image ----------------------------------------------------------------- */

START_TEST(test_ipxe_image_from_boot_spec) {
        /* From boot_spec_build_image(), as the daemon does it: the image's kernel and initrds,
         * the overlay last, its cmdline with init= and provd's keys. */
        char *initrd[] = { (char[]) { "/nix/store/r1-initrd/initrd" }, (char[]) { "https://cache.example/fw.img" } };
        InventoryImage image = {
                .name = (char[]) { "compute" },
                .boot = { .kernel = (char[]) { "/nix/store/k1-linux/bzImage" }, .initrd = initrd, .n_initrd = 2,
                          .cmdline = (char[]) { "console=ttyS0 loglevel=4" } },
                .init = (char[]) { "/nix/store/s1-nixos-system-compute/init" },
                .toplevel = (char[]) { "/nix/store/s1-nixos-system-compute" },
        };
        Node n = { .name = (char[]) { "c001" }, .mode = NODE_MODE_STATELESS, .image = &image,
                   .toplevel = image.toplevel };
        BootSpec spec = { 0 };
        ck_assert_int_eq(boot_spec_build_image(&n, "http://10.0.0.1:8080/", "tok-7_Ab", &spec), 0);
        ck_assert_uint_eq(spec.n_initrd, 3);
        ck_assert_str_eq(spec.initrd[2], "http://10.0.0.1:8080/v1/overlay/tok-7_Ab");
        check_script(ipxe_render_image(&spec, "c001", "compute", 4), &spec, "c001", 4);

        _cleanup_free_ char *text = ipxe_render_image(&spec, "c001", "compute", 4);
        ck_assert_ptr_nonnull(text);
        ck_assert_msg(strstr(text, "booting c001 from image compute (boot 4)"), "no heading: %s", text);
        ck_assert_msg(!strstr(text, "install"), "an image boot talks of installing: %s", text);
        ck_assert_msg(strstr(text, " init=/nix/store/s1-nixos-system-compute/init provd.url=http://10.0.0.1:8080 "
                                   "provd.token=tok-7_Ab provd.node=c001 || goto failed\n"),
                      "kernel line without init= and provd's keys: %s", text);
        /* the overlay is the last initrd fetched */
        const char *last = strstr(text, "initrd --name initrd2 http://10.0.0.1:8080/v1/overlay/tok-7_Ab || goto failed\nboot");
        ck_assert_msg(last, "overlay not fetched last: %s", text);
        boot_spec_done(&spec);
}
END_TEST

START_TEST(test_ipxe_install_large) {
        /* Long strings, the most initrds the inventory allows and the longest attempt number:
         * the script's buffer must hold them (ASan checks it). */
        enum { N = INVENTORY_MAX_INITRDS };
        char *initrd[N];
        for (size_t i = 0; i < N; i++) {
                initrd[i] = malloc(1001);
                ck_assert_ptr_nonnull(initrd[i]);
                memset(initrd[i], 'i', 1000);
                initrd[i][1000] = '\0';
                memcpy(initrd[i], "http://h/", 9);
                initrd[i][9] = (char) ('a' + i);
        }
        char *kernel = malloc(4001), *cmdline = malloc(2049);
        ck_assert_ptr_nonnull(kernel);
        ck_assert_ptr_nonnull(cmdline);
        memset(kernel, 'k', 4000);
        memcpy(kernel, "http://h/", 9);
        kernel[4000] = '\0';
        memset(cmdline, 'c', 2048);
        cmdline[2048] = '\0';
        char node[INVENTORY_NAME_MAX + 1];
        memset(node, 'n', INVENTORY_NAME_MAX);
        node[INVENTORY_NAME_MAX] = '\0';

        BootSpec spec = { .kernel = kernel, .initrd = initrd, .n_initrd = N, .cmdline = cmdline };
        check_install(&spec, node, LONG_MIN);

        for (size_t i = 0; i < N; i++)
                free(initrd[i]);
        free(kernel);
        free(cmdline);
}
END_TEST

START_TEST(test_ipxe_install_many_initrds) {
        /* More initrds than the inventory allows (the renderer has no such limit): multi-digit
         * names still fit and stay distinct. */
        enum { N = 120 };
        char *initrd[N];
        for (size_t i = 0; i < N; i++)
                ck_assert_int_ge(asprintf(&initrd[i], "http://h/%zu", i), 0);
        BootSpec spec = {
                .kernel = (char[]) { "http://h/k" },
                .initrd = initrd,
                .n_initrd = N,
                .cmdline = (char[]) { "x" },
        };
        check_install(&spec, "n", 0);
        for (size_t i = 0; i < N; i++)
                free(initrd[i]);
}
END_TEST

/* ---- local and unknown ------------------------------------------------------------------ */

static void check_leaves_netboot(Script *s) {
        ck_assert_uint_ge(script_count_command(s, "exit"), 1);
        for (const char *const *c = (const char *const[]) { "kernel", "initrd", "boot", "chain", "imgexec", NULL };
             *c; c++)
                ck_assert_msg(script_count_command(s, *c) == 0, "script runs \"%s\"", *c);
}

START_TEST(test_ipxe_local) {
        char *text = ipxe_render_local("node-07", "is installed");
        ck_assert_ptr_nonnull(text);
        ck_assert_msg(!strstr(text, "kernel"), "local script mentions a kernel: %s", text);
        assert_contains_text(text, "node-07");
        assert_contains_text(text, "is installed");

        _cleanup_(script_done) Script s = script_split(text);
        check_leaves_netboot(&s);
}
END_TEST

START_TEST(test_ipxe_unknown) {
        char *text = ipxe_render_unknown("52:54:00:ab:cd:ef");
        ck_assert_ptr_nonnull(text);
        assert_contains_text(text, "52:54:00:ab:cd:ef");

        _cleanup_(script_done) Script s = script_split(text);
        check_leaves_netboot(&s);
}
END_TEST

START_TEST(test_ipxe_unknown_no_mac) {
        char *text = ipxe_render_unknown(NULL);
        ck_assert_ptr_nonnull(text);
        ck_assert_msg(!strstr(text, "(null)"), "NULL MAC printed: %s", text);

        _cleanup_(script_done) Script s = script_split(text);
        check_leaves_netboot(&s);
}
END_TEST


/* The chain as iPXE runs it: a fetched script that ends on purpose passes its status on
 * without a "cannot fetch" message; a failed fetch says so and leaves network boot with the
 * platform's status. */
START_TEST(test_ipxe_chain_runs) {
        static const struct {
                const char *platform;
                bool fetch_ok;
                int inner;
                int want_status;
                bool want_cannot_fetch;
        } cases[] = {
                { "efi", true, 1, 1, false },    { "efi", true, 0, 0, false },     { "pcbios", true, 0, 0, false },
                { "pcbios", true, 1, 1, false }, { "efi", false, 0, 1, true },     { "pcbios", false, 0, 0, true },
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                Run run = run_rendered(ipxe_render_chain("http://10.0.0.1:8080"), cases[i].platform, cases[i].fetch_ok,
                                       cases[i].inner);
                ck_assert_msg(run.exited, "case %zu: the chain script does not end with exit", i);
                ck_assert_msg(run.status == cases[i].want_status, "case %zu (%s, fetch %d, inner %d): status %d, want %d",
                              i, cases[i].platform, cases[i].fetch_ok, cases[i].inner, run.status, cases[i].want_status);
                ck_assert_msg((strstr(run.echoed, "cannot fetch") != NULL) == cases[i].want_cannot_fetch,
                              "case %zu: echoed \"%s\"", i, run.echoed);
        }
}
END_TEST

/* Every script that leaves network boot ends with status 1 under UEFI (so the firmware tries
 * its next boot option instead of stopping in its menu) and 0 under a BIOS, and says why. */
START_TEST(test_ipxe_leave_status) {
        for (int efi = 0; efi < 2; efi++) {
                const char *platform = efi ? "efi" : "pcbios";
                char *texts[] = {
                        ipxe_render_local("node-07", "is installed"),
                        ipxe_render_unknown("52:54:00:ab:cd:ef"),
                        ipxe_render_unknown(NULL),
                        ipxe_render_bad_mac("zz"),
                };
                static const char *const says[] = { "node-07 is installed", "52:54:00:ab:cd:ef", "named no MAC",
                                                    "\"zz\" is not a MAC" };
                for (size_t i = 0; i < 4; i++) {
                        Run run = run_rendered(texts[i], platform, true, 0);
                        ck_assert_msg(run.exited && run.status == efi, "script %zu under %s: exited %d status %d", i,
                                      platform, run.exited, run.status);
                        assert_contains_text(run.echoed, says[i]);
                }
                /* An install whose boot fails leaves the same way. */
                BootSpec spec = { .kernel = (char[]) { "http://h/k" }, .cmdline = (char[]) { "x" } };
                Run run = run_rendered(ipxe_render_install(&spec, "node-07", 2), platform, true, 0);
                ck_assert_uint_eq(run.booted, 1);
                ck_assert_msg(run.exited && run.status == efi, "failed install under %s: status %d", platform, run.status);
                assert_contains_text(run.echoed, "network boot of node-07 failed");
        }
}
END_TEST

/* The client's bytes in a bad `mac` argument cannot add a command or expand a setting. */
START_TEST(test_ipxe_bad_mac_injection) {
        static const char *const args[] = { "a\nkernel http://e/x", "${net0/ip}", "a\r\nboot", "\xc3\xa9\x01;", "" };
        for (size_t i = 0; i < sizeof args / sizeof args[0]; i++) {
                _cleanup_(script_done) Script s = script_split(ipxe_render_bad_mac(args[i]));
                ck_assert_uint_eq(script_count_command(&s, "kernel"), 0);
                ck_assert_uint_eq(script_count_command(&s, "boot"), 0);
                ck_assert_msg(!strstr(s.orig + 7, "${net0"), "client's ${ reached the script: %s", s.orig);
                for (const char *p = s.orig; *p; p++)
                        ck_assert_msg((unsigned char) *p >= 0x20 && (unsigned char) *p < 0x7f ? true : *p == '\n',
                                      "byte 0x%02x in the script", (unsigned char) *p);
                /* exactly the lines the template has: nothing of the client's started a line */
                ck_assert_uint_eq(s.n_lines, 6);
        }
        _cleanup_free_ char *long_arg = ipxe_render_bad_mac("0123456789abcdefXYZ");
        assert_contains_text(long_arg, "\"0123456789abcdefX\"");
}
END_TEST

static Suite *ipxe_suite(void) {
        Suite *s = suite_create("ipxe");
        TCase *tc;

        tc = tcase_create("chain");
        tcase_add_test(tc, test_ipxe_chain);
        tcase_add_test(tc, test_ipxe_chain_runs);
        suite_add_tcase(s, tc);

        tc = tcase_create("install");
        tcase_add_test(tc, test_ipxe_install_two_initrds);
        tcase_add_test(tc, test_ipxe_install_no_initrd);
        tcase_add_test(tc, test_ipxe_install_from_boot_spec);
        tcase_add_test(tc, test_ipxe_install_large);
        tcase_add_test(tc, test_ipxe_install_many_initrds);
        suite_add_tcase(s, tc);

        tc = tcase_create("local");
        tcase_add_test(tc, test_ipxe_local);
        tcase_add_test(tc, test_ipxe_unknown);
        tcase_add_test(tc, test_ipxe_unknown_no_mac);
        tcase_add_test(tc, test_ipxe_image_from_boot_spec);
        tcase_add_test(tc, test_ipxe_leave_status);
        tcase_add_test(tc, test_ipxe_bad_mac_injection);
        suite_add_tcase(s, tc);

        return s;
}

CHECK_MAIN(ipxe_suite)
