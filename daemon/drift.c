/* drift.c — see drift.h. */
#include "drift.h"

#include <errno.h>
#include <string.h>

static const char *const names[_DRIFT_MAX] = {
        [DRIFT_UNKNOWN] = "unknown", [DRIFT_IN_SYNC] = "in_sync", [DRIFT_DRIFTED] = "drifted",
        [DRIFT_REBOOT_PENDING] = "reboot_pending", [DRIFT_SILENT] = "silent",
};

const char *drift_to_string(Drift d) {
        return (unsigned) d < _DRIFT_MAX ? names[d] : names[DRIFT_UNKNOWN];
}

int drift_from_string(const char *s, Drift *ret) {
        for (Drift d = 0; d < _DRIFT_MAX; d++)
                if (strcmp(s, names[d]) == 0) {
                        *ret = d;
                        return 0;
                }
        return -EINVAL;
}

Drift drift_of(const char *expected, const char *running, const char *booted, int64_t reported_ms, int64_t now_ms,
               int64_t silent_after_ms) {
        if (!running || reported_ms <= 0)
                return DRIFT_UNKNOWN;
        if (now_ms - reported_ms > silent_after_ms)
                return DRIFT_SILENT;
        if (!expected || strcmp(running, expected) != 0)
                return DRIFT_DRIFTED;
        if (booted && strcmp(booted, running) != 0)
                return DRIFT_REBOOT_PENDING;
        return DRIFT_IN_SYNC;
}

bool drift_store_path_ok(const char *s) {
        static const char prefix[] = "/nix/store/";
        /* Nix's base-32 alphabet: digits and lowercase letters without e, o, u, t. */
        static const char base32[] = "0123456789abcdfghijklmnpqrsvwxyz";
        if (!s || strncmp(s, prefix, sizeof prefix - 1) != 0)
                return false;
        const char *p = s + sizeof prefix - 1;
        for (int i = 0; i < 32; i++, p++)
                if (!*p || !strchr(base32, *p))
                        return false;
        if (*p++ != '-')
                return false;
        size_t n = 0;
        for (; *p; p++, n++) {
                char c = *p;
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("+-._?=", c)))
                        return false;
        }
        return n >= 1 && n <= 211;
}
