/* fuzz.h — the libFuzzer entry point each tests/fuzz/fuzz-<parser>.c defines.  Built with
 * -Dfuzz=true (clang, -fsanitize=fuzzer) as a fuzzer; always built with replay.c as an
 * ordinary test that runs the checked-in corpus. */
#pragma once

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
