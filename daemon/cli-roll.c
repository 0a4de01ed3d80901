/* cli-roll.c — see cli-roll.h: the rolling-reinstall scheduler (pure). */
#include "cli-roll.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        *r = (CliRoll) { .nodes = nodes, .n = n, .parallel = parallel };
        return 0;
}

void cli_roll_free(CliRoll *r) {
        for (size_t i = 0; i < r->n; i++) {
                free(r->nodes[i].name);
                free(r->nodes[i].why);
        }
        free(r->nodes);
        *r = (CliRoll) { 0 };
}

ssize_t cli_roll_next(CliRoll *r) {
        if (r->next >= r->n)
                return -1;
        if (r->parallel > 0 && r->in_flight >= r->parallel)
                return -1;
        size_t i = r->next++;
        r->nodes[i].state = CLI_ROLL_IN_FLIGHT;
        r->in_flight++;
        if (r->in_flight > r->max_in_flight)
                r->max_in_flight = r->in_flight;
        return (ssize_t) i;
}

int cli_roll_finish(CliRoll *r, size_t i, bool ok, const char *why) {
        if (i >= r->n || r->nodes[i].state != CLI_ROLL_IN_FLIGHT)
                return -EINVAL;
        CliRollNode *node = &r->nodes[i];
        if (!ok) {
                char *w = strdup(why ? why : "failed");
                if (!w)
                        return -ENOMEM;
                free(node->why);
                node->why = w;
        }
        node->state = ok ? CLI_ROLL_INSTALLED : CLI_ROLL_FAILED;
        r->in_flight--;
        if (ok)
                r->installed++;
        else
                r->failed++;
        return 0;
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
        if (i >= r->n || r->nodes[i].state != CLI_ROLL_IN_FLIGHT || r->nodes[i].armed)
                return;
        r->nodes[i].armed = true;
        r->nodes[i].armed_event = newest_event;
}

CliRollSeen cli_roll_observe(CliRoll *r, size_t i, const char *state, int64_t event_id) {
        if (i >= r->n || !state)
                return CLI_ROLL_SEEN_IGNORED;
        CliRollNode *node = &r->nodes[i];
        if (node->state != CLI_ROLL_IN_FLIGHT || !node->armed)
                return CLI_ROLL_SEEN_IGNORED;
        if (event_id > 0 && event_id <= node->armed_event)
                return CLI_ROLL_SEEN_IGNORED; /* the node before the reinstall */
        bool same = streq(node->node_state, state);
        snprintf(node->node_state, sizeof node->node_state, "%s", state);
        if (streq(state, "installed"))
                return cli_roll_finish(r, i, true, NULL) < 0 ? CLI_ROLL_SEEN_IGNORED : CLI_ROLL_SEEN_INSTALLED;
        if (streq(state, "failed"))
                return cli_roll_finish(r, i, false, "install failed") < 0 ? CLI_ROLL_SEEN_IGNORED : CLI_ROLL_SEEN_FAILED;
        return same ? CLI_ROLL_SEEN_SAME : CLI_ROLL_SEEN_CHANGED;
}

bool cli_roll_done(const CliRoll *r) {
        return r->next >= r->n && r->in_flight == 0;
}

ssize_t cli_roll_find(const CliRoll *r, const char *name) {
        for (size_t i = 0; i < r->n; i++)
                if (streq(r->nodes[i].name, name))
                        return (ssize_t) i;
        return -1;
}
