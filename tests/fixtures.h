// fixtures.h: a random network with random data, the starting point of many tests.
// Is not: a test: the tests that use it assert.
#pragma once

#include <string>
#include <vector>

#include "nn/mlp.h"

namespace awd {

struct Problem {
    Mlp net;
    Tensor X;            // (n, n_0), standard normal
    std::vector<int> y;  // uniform labels
};

// PyTorch-default initialisation times `scale` (a scale above 1 makes every kind of curvature
// term sizeable), seeded.
inline Problem random_problem(const std::string& arch, Activation act, bool bias, Loss loss, int n, uint64_t seed,
                              double scale = 1.5) {
    Problem p{Mlp(MlpSpec::parse(arch, act, bias, loss)), Tensor(), {}};
    Rng rng(seed);
    initialize(p.net.model, Init::PyTorch, scale, rng);
    p.X = Tensor(n, p.net.spec.widths[0]);
    for (double& v : p.X.data) v = rng.normal();
    for (int i = 0; i < n; ++i) p.y.push_back((int)rng.index(p.net.spec.widths.back()));
    return p;
}

}  // namespace awd
