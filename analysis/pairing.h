// pairing.h: pairing each test sample with a training sample of the same label
// (experiments/aw/README.md), as the A-W duality needs.
// Is not: the dual weights or the analysis (duality.h).
//
// nearest:  the nearest same-label training sample in raw input space (Euclidean, k = 1,
//           training samples may be reused): the authors' reference choice.
// activity: the nearest same-label training sample in the activity space of layer l.
// random:   a uniformly drawn same-label training sample (seeded).
// Distances come from GEMMs, |x - y|^2 = |x|^2 + |y|^2 - 2 x.y, one per label (the only
// candidates of a test sample are the training samples of its label); ties go to the lower index.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "autodiff/names.h"
#include "autodiff/tensor.h"

namespace awd {

enum class Pairing { Nearest, Random, Activity };
inline constexpr Named<Pairing> kPairingNames[] = {
    {Pairing::Nearest, "nearest"}, {Pairing::Random, "random"}, {Pairing::Activity, "activity"}};
static_assert(in_enum_order(kPairingNames));
inline Pairing parse_pairing(const std::string& name) { return parse_name(name, kPairingNames, "pairing"); }
inline const char* pairing_name(Pairing value) { return name_of(kPairingNames, value); }

// For each test row k, the index of its training partner. `train_points` / `test_points` are the
// spaces the distance is measured in (inputs, or activities for Pairing::Activity). Throws when a
// test label has no training sample.
std::vector<int> pair_samples(Pairing pairing, const Tensor& train_points, const std::vector<int>& train_labels,
                              const Tensor& test_points, const std::vector<int>& test_labels, uint64_t seed);

}  // namespace awd
