#pragma once
// The one assertion the fuzz targets use: unlike assert(), it stays on in every build type, and
// it aborts so libFuzzer saves the input as crash-<sha1> (reproduce with `fuzz_<name> <file>`).
#include <cstdio>
#include <cstdlib>

#define PDL_FUZZ_CHECK(cond, what)                                                       \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "%s:%d: fuzz check failed: %s (%s)\n", __FILE__, __LINE__,    \
                   #cond, what);                                                         \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)
