// pairing.cpp: same-label nearest neighbours through one GEMM per label.
#include "analysis/pairing.h"

#include <map>
#include <stdexcept>

#include "autodiff/product.h"
#include "nn/random.h"

namespace awd {

namespace {

Tensor gather_rows(const Tensor& X, const std::vector<int>& rows) {
    Tensor out((int)rows.size(), X.cols);
    for (size_t r = 0; r < rows.size(); ++r)
        std::copy(&X.data[(size_t)rows[r] * X.cols], &X.data[(size_t)(rows[r] + 1) * X.cols], &out.data[r * X.cols]);
    return out;
}

std::vector<double> squared_row_norms(const Tensor& X) {
    std::vector<double> n(X.rows, 0.0);
    for (int r = 0; r < X.rows; ++r)
        for (int c = 0; c < X.cols; ++c) n[r] += X(r, c) * X(r, c);
    return n;
}

}  // namespace

std::vector<int> pair_samples(Pairing pairing, const Tensor& train_points, const std::vector<int>& train_labels,
                              const Tensor& test_points, const std::vector<int>& test_labels, uint64_t seed) {
    if (train_points.cols != test_points.cols)
        throw std::invalid_argument("pairing: training points have " + std::to_string(train_points.cols) +
                                    " coordinates, test points " + std::to_string(test_points.cols));
    std::map<int, std::vector<int>> train_of, test_of;  // rows by label
    for (int n = 0; n < (int)train_labels.size(); ++n) train_of[train_labels[n]].push_back(n);
    for (int k = 0; k < (int)test_labels.size(); ++k) test_of[test_labels[k]].push_back(k);
    std::vector<int> partner(test_labels.size(), -1);
    Rng rng(seed);
    for (const auto& [label, tests] : test_of) {
        auto found = train_of.find(label);
        if (found == train_of.end())
            throw std::runtime_error("pairing: test label " + std::to_string(label) +
                                     " has no training sample of the same label");
        const std::vector<int>& candidates = found->second;
        if (pairing == Pairing::Random) {
            for (int k : tests) partner[k] = candidates[rng.index(candidates.size())];
            continue;
        }
        const Tensor T = gather_rows(train_points, candidates), Q = gather_rows(test_points, tests);
        const std::vector<double> t2 = squared_row_norms(T), q2 = squared_row_norms(Q);
        Tensor dots((int)tests.size(), (int)candidates.size());  // Q T^T
        product(false, true, Q.rows, T.rows, Q.cols, 1.0, Q.data.data(), Q.cols, T.data.data(), T.cols, 0.0,
                dots.data.data(), T.rows);
        for (size_t r = 0; r < tests.size(); ++r) {
            int best = 0;
            double best_distance = 0;
            for (size_t c = 0; c < candidates.size(); ++c) {
                const double distance = q2[r] + t2[c] - 2.0 * dots((int)r, (int)c);
                if (c == 0 || distance < best_distance) best = (int)c, best_distance = distance;
            }
            partner[tests[r]] = candidates[best];
        }
    }
    return partner;
}

}  // namespace awd
