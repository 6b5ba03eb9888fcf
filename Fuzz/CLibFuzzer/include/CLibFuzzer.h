// libFuzzer's driver, as libclang_rt.fuzzer (linked by `-sanitize=fuzzer`) exports it.
//
// SwiftPM links every executable with `--defsym main=<Module>_main`, so libFuzzer's own `main` is never the entry
// point: each fuzzer's `@main` calls this with its `LLVMFuzzerTestOneInput` instead (docs/fuzzing.md).
#ifndef KAPPA_CLIBFUZZER_H
#define KAPPA_CLIBFUZZER_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
