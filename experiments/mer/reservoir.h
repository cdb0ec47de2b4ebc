// reservoir.h: the reservoir memory of ER and MER (and GEM's per-task ring buffers): which
// incoming examples are kept, and the kept copies. Is not: the replay (continual.cpp draws from it).
//
// Keep while not full; else draw p uniformly in [0, age] and replace slot p when p < size.
// age counts every example offered so far. Items are (task, index in task) references plus
// copies of the transformed inputs.
#pragma once

#include <cstdint>
#include <vector>

#include "nn/random.h"

namespace awd {

struct Reservoir {
    int capacity = 0, inputs = 0;
    uint64_t age = 0;
    std::vector<int> task, index, label;
    std::vector<double> x;  // (size, inputs)

    int size() const { return (int)label.size(); }
    const double* input(int slot) const { return &x[(size_t)slot * inputs]; }
    // The slot the offered example goes to, or -1 (it is dropped); advances age.
    int offer(Rng& rng);
    void store(int slot, int t, int i, int y, const double* in);
};

}  // namespace awd
