// reservoir.cpp: the reservoir memory (reservoir.h).
#include "experiments/mer/reservoir.h"

#include <algorithm>

namespace awd {

int Reservoir::offer(Rng& rng) {
    int slot = -1;
    if (size() < capacity) {
        slot = size();
    } else if (capacity > 0) {
        const uint64_t p = rng.index(age + 1);  // uniform in [0, age]
        if (p < (uint64_t)capacity) slot = (int)p;
    }
    ++age;
    return slot;
}

void Reservoir::store(int slot, int t, int i, int y, const double* in) {
    if (slot == size()) {
        task.push_back(t), index.push_back(i), label.push_back(y);
        x.insert(x.end(), in, in + inputs);
    } else {
        task[slot] = t, index[slot] = i, label[slot] = y;
        std::copy(in, in + inputs, &x[(size_t)slot * inputs]);
    }
}

}  // namespace awd
