// fuzzing.h: a deterministic mutation fuzzer for the file loaders (IDX, .npy, run-folder JSON,
// checkpoint), shared by the short run inside `make test` and the long one of `make fuzz`.
//
// Each loader starts from a valid file written by the project's own writer. A mutation (seeded:
// the same seed gives the same files) flips bits, overwrites bytes or whole 32-bit words with
// boundary values, puts huge, negative or non-finite numbers into text, truncates, extends,
// deletes or duplicates ranges, often several at once and mostly in the header. Where a checksum
// would refuse nearly every mutation at the door (checkpoint CRC, run-folder manifest), half of
// the mutations repair it, so the parsing behind the checksum is reached too.
//
// Every outcome is sorted into one of:
//   accepted_valid  the loader accepted, and the file is valid by its format (checked
//                   independently of the loader: the loaded content re-encodes to the same
//                   bytes, or the same header up to spacing, or JSON that parses)
//   accepted_invalid the loader accepted a file that is not valid by its format (silent)
//   clear           refused with a message naming the file and a field of the format
//   vague           refused with a message lacking the file or a field
//   allocation      std::bad_alloc / std::length_error: a size from the file was trusted
// A crash ends the process (and under ASan/UBSan, every memory or overflow error is a crash).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace awd::fuzz {

struct Tally {
    std::string loader;
    long mutations = 0, accepted_valid = 0, accepted_invalid = 0, clear = 0, vague = 0, allocation = 0;
    std::vector<std::string> examples;  // the first few messages of each bad outcome, for the report
};

const std::vector<std::string>& loader_names();  // "idx", "npy", "run-json", "checkpoint"

// Runs `mutations` mutations of one loader's valid file inside `scratch` (created, then left
// for the caller to remove). Deterministic in seed.
Tally run(const std::string& loader, long mutations, uint64_t seed, const std::string& scratch);

std::string describe(const Tally& t);  // one line: counts of every outcome

// Where the mutated files go: /dev/shm when there is one. On ext4, a rename over an existing
// file flushes it to disk (auto_da_alloc), which makes the atomic writes in the loop 15x slower.
std::string scratch_root();

}  // namespace awd::fuzz
