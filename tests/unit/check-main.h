/* check-main.h — the main() every tests/unit/test-<module>.c shares: run the module's one
 * Check suite, exit non-zero if any test failed. */
#pragma once

#include <check.h>
#include <stdlib.h>

#define CHECK_MAIN(suite_fn)                                                                       \
        int main(void) {                                                                           \
                SRunner *sr = srunner_create(suite_fn());                                          \
                srunner_run_all(sr, CK_NORMAL);                                                    \
                int failed = srunner_ntests_failed(sr);                                            \
                srunner_free(sr);                                                                  \
                return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;                                  \
        }
