/* cli-roll.c — see cli-roll.h: the rolling-reinstall scheduler (pure). */
#include "cli-roll.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

int cli_roll_init(CliRoll *r, const char *const *names, size_t n, size_t parallel) {
        CliRollNode *nodes = calloc(n ? n : 1, sizeof *nodes);
        if (!nodes)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                nodes[i].name = strdup(names[i]);
                if (!nodes[i].name) {
                        while (i > 0)
                                free(nodes[--i].name);
                        free(nodes);
                        return -ENOMEM;
                }
        }
        *r = (CliRoll) { .nodes = nodes, .n = n, .parallel = parallel, .stopped_by = -1 };
        return 0;
}

void cli_roll_free(CliRoll *r) {
        for (size_t i = 0; i < r->n; i++) {
                free(r->nodes[i].name);
                free(r->nodes[i].why);
                free(r->nodes[i].after_why);
        }
        free(r->nodes);
        *r = (CliRoll) { .stopped_by = -1 };
}

ssize_t cli_roll_next(CliRoll *r) {
        if (r->stopped || r->next >= r->n)
                return -1;
        if (r->parallel > 0 && r->in_flight >= r->parallel)
                return -1;
        size_t i = r->next++;
        r->nodes[i].state = CLI_ROLL_IN_FLIGHT;
        r->nodes[i].step = r->before ? CLI_ROLL_STEP_BEFORE : CLI_ROLL_STEP_INSTALL;
        r->in_flight++;
        if (r->in_flight > r->max_in_flight)
                r->max_in_flight = r->in_flight;
        return (ssize_t) i;
}

static bool at_step(const CliRoll *r, size_t i, CliRollStep step) {
        return i < r->n && r->nodes[i].state == CLI_ROLL_IN_FLIGHT && r->nodes[i].step == step;
}

/* Finishes in-flight node i as state with why (copied; NULL: no reason).  Returns 0, -ENOMEM. */
static int finish_as(CliRoll *r, size_t i, CliRollState state, const char *why) {
        CliRollNode *node = &r->nodes[i];
        if (why) {
                char *w = strdup(why);
                if (!w)
                        return -ENOMEM;
                free(node->why);
                node->why = w;
        }
        node->state = state;
        r->in_flight--;
        switch (state) {
        case CLI_ROLL_INSTALLED:
                r->installed++;
                break;
        case CLI_ROLL_FAILED:
                r->failed++;
                break;
        case CLI_ROLL_SKIPPED:
                r->skipped++;
                break;
        case CLI_ROLL_TIMEOUT:
                r->timed_out++;
                break;
        default:
                break;
        }
        return 0;
}

int cli_roll_before_done(CliRoll *r, size_t i, bool ok, const char *why) {
        if (!at_step(r, i, CLI_ROLL_STEP_BEFORE))
                return -EINVAL;
        if (!ok)
                return finish_as(r, i, CLI_ROLL_SKIPPED, why ? why : "--before failed");
        r->nodes[i].step = CLI_ROLL_STEP_INSTALL;
        return 0;
}

int cli_roll_requested(CliRoll *r, size_t i, int64_t now_ms) {
        if (!at_step(r, i, CLI_ROLL_STEP_INSTALL) || r->nodes[i].requested_ms != 0)
                return -EINVAL;
        r->nodes[i].requested_ms = now_ms > 0 ? now_ms : 1;
        return 0;
}

int cli_roll_finish(CliRoll *r, size_t i, bool ok, const char *why) {
        if (i >= r->n || r->nodes[i].state != CLI_ROLL_IN_FLIGHT)
                return -EINVAL;
        return finish_as(r, i, ok ? CLI_ROLL_INSTALLED : CLI_ROLL_FAILED, ok ? NULL : why ? why : "failed");
}

int cli_roll_set_why(CliRoll *r, size_t i, const char *why) {
        if (i >= r->n || r->nodes[i].state != CLI_ROLL_FAILED || !why)
                return -EINVAL;
        char *w = strdup(why);
        if (!w)
                return -ENOMEM;
        free(r->nodes[i].why);
        r->nodes[i].why = w;
        return 0;
}

void cli_roll_arm(CliRoll *r, size_t i, int64_t newest_event) {
        if (!at_step(r, i, CLI_ROLL_STEP_INSTALL) || r->nodes[i].armed)
                return;
        r->nodes[i].armed = true;
        r->nodes[i].armed_event = newest_event;
}

/* Node i is through INSTALL (installed) or its gate: on to the next step, or finished. */
static int move_on(CliRoll *r, size_t i, bool from_gate) {
        if (!from_gate && r->gate) {
                r->nodes[i].step = CLI_ROLL_STEP_GATE;
                return 0;
        }
        if (r->after) {
                r->nodes[i].step = CLI_ROLL_STEP_AFTER;
                return 0;
        }
        return finish_as(r, i, CLI_ROLL_INSTALLED, NULL);
}

CliRollSeen cli_roll_observe(CliRoll *r, size_t i, const char *state, int64_t event_id) {
        if (!state || !at_step(r, i, CLI_ROLL_STEP_INSTALL))
                return CLI_ROLL_SEEN_IGNORED;
        CliRollNode *node = &r->nodes[i];
        if (!node->armed)
                return CLI_ROLL_SEEN_IGNORED;
        if (event_id > 0 && event_id <= node->armed_event)
                return CLI_ROLL_SEEN_IGNORED; /* the node before the reinstall */
        bool same = streq(node->node_state, state);
        snprintf(node->node_state, sizeof node->node_state, "%s", state);
        if (streq(state, "installed"))
                return move_on(r, i, false) < 0 ? CLI_ROLL_SEEN_IGNORED : CLI_ROLL_SEEN_INSTALLED;
        if (streq(state, "failed"))
                return finish_as(r, i, CLI_ROLL_FAILED, "install failed") < 0 ? CLI_ROLL_SEEN_IGNORED : CLI_ROLL_SEEN_FAILED;
        return same ? CLI_ROLL_SEEN_SAME : CLI_ROLL_SEEN_CHANGED;
}

CliRollGate cli_roll_gate(CliRoll *r, size_t i, const char *state, const char *drift, const char *state_since,
                          const char *reported_at) {
        if (!at_step(r, i, CLI_ROLL_STEP_GATE))
                return CLI_ROLL_GATE_IGNORED;
        CliRollNode *node = &r->nodes[i];
        if (state)
                snprintf(node->node_state, sizeof node->node_state, "%s", state);
        if (drift)
                snprintf(node->drift, sizeof node->drift, "%s", drift);
        int64_t since = 0, reported = 0;
        bool times = state_since && reported_at && cli_roll_parse_time(state_since, &since) == 0 &&
                     cli_roll_parse_time(reported_at, &reported) == 0;
        bool in_sync = drift && streq(drift, "in_sync");
        if (in_sync && times)
                node->stale = reported < since; /* only a read with both times says */
        else if (!in_sync)
                node->stale = false;
        if (!state || !streq(state, "installed") || !in_sync || !times || reported < since)
                return CLI_ROLL_GATE_WAITING;
        return move_on(r, i, true) < 0 ? CLI_ROLL_GATE_WAITING : CLI_ROLL_GATE_PASSED;
}

int cli_roll_after_done(CliRoll *r, size_t i, bool ok, const char *why) {
        if (!at_step(r, i, CLI_ROLL_STEP_AFTER))
                return -EINVAL;
        if (!ok) {
                char *w = strdup(why ? why : "--after failed");
                if (!w)
                        return -ENOMEM;
                free(r->nodes[i].after_why);
                r->nodes[i].after_why = w;
                r->after_failed++;
        }
        return finish_as(r, i, CLI_ROLL_INSTALLED, NULL);
}

/* Where node i was when its gate timed out, for its why. */
static char *timeout_why(const CliRollNode *node) {
        char *s = NULL;
        int k;
        if (node->step == CLI_ROLL_STEP_GATE) {
                if (node->stale)
                        k = asprintf(&s, "installed, no report since the install; drift in_sync is from an older report");
                else if (node->drift[0])
                        k = asprintf(&s, "installed, drift %s", node->drift);
                else
                        k = asprintf(&s, "installed");
        } else if (node->node_state[0])
                k = asprintf(&s, "%s", node->node_state);
        else
                k = asprintf(&s, "reinstall requested, not marked yet");
        return k < 0 ? NULL : s;
}

ssize_t cli_roll_expire(CliRoll *r, int64_t now_ms) {
        if (!r->gate || r->gate_timeout_ms <= 0)
                return -1;
        for (size_t i = 0; i < r->n; i++) {
                const CliRollNode *node = &r->nodes[i];
                if (node->state != CLI_ROLL_IN_FLIGHT || node->requested_ms == 0 ||
                    (node->step != CLI_ROLL_STEP_INSTALL && node->step != CLI_ROLL_STEP_GATE) ||
                    now_ms - node->requested_ms < r->gate_timeout_ms)
                        continue;
                _cleanup_free_ char *why = timeout_why(node);
                if (!why || finish_as(r, i, CLI_ROLL_TIMEOUT, why) < 0)
                        return -1;
                if (!r->stopped) {
                        r->stopped = true;
                        r->stopped_by = (ssize_t) i;
                }
                return (ssize_t) i;
        }
        return -1;
}

bool cli_roll_done(const CliRoll *r) {
        return (r->stopped || r->next >= r->n) && r->in_flight == 0;
}

ssize_t cli_roll_find(const CliRoll *r, const char *name) {
        for (size_t i = 0; i < r->n; i++)
                if (streq(r->nodes[i].name, name))
                        return (ssize_t) i;
        return -1;
}

const char *cli_roll_result(const CliRoll *r, size_t i) {
        if (i >= r->n)
                return NULL;
        switch (r->nodes[i].state) {
        case CLI_ROLL_INSTALLED:
                return r->gate ? "in_sync" : "installed";
        case CLI_ROLL_FAILED:
                return "failed";
        case CLI_ROLL_SKIPPED:
                return "skipped";
        case CLI_ROLL_TIMEOUT:
                return "timeout";
        case CLI_ROLL_IN_FLIGHT:
                return "unfinished";
        default:
                return "not-submitted";
        }
}

int cli_roll_parse_time(const char *s, int64_t *ret_ms) {
        struct tm tm = { 0 };
        if (!s)
                return -EINVAL;
        const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
        if (!p)
                return -EINVAL;
        int64_t ms = 0;
        if (*p == '.') {
                int digits = 0;
                for (p++; *p >= '0' && *p <= '9'; p++, digits++)
                        if (digits < 3)
                                ms = ms * 10 + (*p - '0');
                if (digits == 0)
                        return -EINVAL;
                for (; digits < 3; digits++)
                        ms *= 10;
        }
        int64_t offset = 0;
        if (*p == 'Z' || *p == 'z')
                p++;
        else if ((*p == '+' || *p == '-') && p[1] >= '0' && p[1] <= '9' && p[2] >= '0' && p[2] <= '9' && p[3] == ':' &&
                 p[4] >= '0' && p[4] <= '9' && p[5] >= '0' && p[5] <= '9') {
                offset = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600 + ((p[4] - '0') * 10 + (p[5] - '0')) * 60;
                if (*p == '-')
                        offset = -offset;
                p += 6;
        } else
                return -EINVAL;
        if (*p)
                return -EINVAL;
        *ret_ms = ((int64_t) timegm(&tm) - offset) * 1000 + ms;
        return 0;
}
