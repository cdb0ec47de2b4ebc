// duality.cpp: the analysis, stage by stage.
#include "analysis/duality.h"

#include <chrono>
#include <cmath>
#include <map>
#include <stdexcept>

#include "analysis/dual_weights.h"
#include "analysis/hessian.h"
#include "analysis/spectrum.h"
#include "autodiff/product.h"

namespace awd {

namespace {

class StageClock {
public:
    explicit StageClock(std::vector<std::pair<std::string, double>>& out)
        : out_(out), t0_(std::chrono::steady_clock::now()) {}
    void done(const std::string& stage) {
        const auto now = std::chrono::steady_clock::now();
        out_.push_back({stage, std::chrono::duration<double>(now - t0_).count()});
        t0_ = now;
    }

private:
    std::vector<std::pair<std::string, double>>& out_;
    std::chrono::steady_clock::time_point t0_;
};

// Per-sample losses and the activities a^l (the input of layer l) of a whole data set.
struct Forward {
    std::vector<double> loss;
    Tensor activity;  // (N, n_l)
};

Forward forward_all(const Mlp& net, const Dataset& d, int layer) {
    const MlpActivities act = mlp_activities(net, d.X);
    const Tensor& f = act.z.back();
    const int C = net.spec.widths.back();
    Forward out;
    for (int n = 0; n < d.X.rows; ++n)
        out.loss.push_back(sample_loss(net.spec.loss, &f.data[(size_t)n * C], C, d.y[n]));
    out.activity = act.a[layer];
    return out;
}

std::vector<double> row_of(const Tensor& X, int n) {
    return std::vector<double>(&X.data[(size_t)n * X.cols], &X.data[(size_t)(n + 1) * X.cols]);
}

double mean_of(const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return v.empty() ? 0.0 : s / v.size();
}

}  // namespace

DualityReport analyse_duality(const Mlp& net, const Dataset& train, const Dataset& test, const DualityOptions& o) {
    const MlpSpec& s = net.spec;
    const int l = o.layer, n_out = s.n_out(l), n_in = s.n_in(l);
    layer_indices(s, l, false);  // range check with a clear message
    if (o.variant == DualVariant::Family)
        throw std::invalid_argument(
            "the decomposition uses the minimal dual (--variant minimal) or the bias-absorbed one (--variant bias)");
    const bool with_bias = o.variant == DualVariant::BiasAbsorbed;
    if (with_bias && !s.bias)
        throw std::invalid_argument("--variant bias moves the bias with the weights, but " + s.arch() +
                                    " was trained without biases");
    for (const Dataset* d : {&train, &test})
        if (d->X.cols != s.widths[0] || d->size() == 0)
            throw std::invalid_argument("data with " + std::to_string(d->X.cols) + " inputs per sample and " +
                                        std::to_string(d->size()) + " samples does not fit " + s.arch());
    DualityReport r;
    r.layer = l;
    StageClock clock(r.stage_seconds);

    const Forward tr = forward_all(net, train, l), te = forward_all(net, test, l);
    r.L_train = mean_of(tr.loss), r.L_test = mean_of(te.loss), r.gap = r.L_test - r.L_train;
    clock.done("forward passes");

    const bool in_activity_space = o.pairing == Pairing::Activity;
    const std::vector<int> partner = pair_samples(o.pairing, in_activity_space ? tr.activity : train.X, train.y,
                                                  in_activity_space ? te.activity : test.X, test.y, o.seed);
    clock.done(std::string("pairing (") + pairing_name(o.pairing) + ")");

    const std::vector<size_t> idx = layer_indices(s, l, with_bias);
    r.P = idx.size();
    const Tensor H = hessian_fast(net, train.X, train.y, idx);
    clock.done("Hessian " + std::to_string(r.P) + " x " + std::to_string(r.P));
    const EigenPairs eig = symmetric_eigen(H, true);
    r.top_eigenvalue = eig.values[0];
    for (double lambda : eig.values) r.trace += lambda;
    clock.done("eigen-decomposition");

    // curvature of the loss at z^{l+1} for each paired training sample (per-sample Taylor terms)
    std::map<int, int> slot;  // training index -> row of the curvature tables
    for (int n : partner) slot.emplace(n, (int)slot.size());
    Tensor paired_X((int)slot.size(), train.X.cols);
    std::vector<int> paired_y(slot.size());
    for (const auto& [n, row] : slot) {
        std::copy(&train.X.data[(size_t)n * train.X.cols], &train.X.data[(size_t)(n + 1) * train.X.cols],
                  &paired_X.data[(size_t)row * train.X.cols]);
        paired_y[row] = train.y[n];
    }
    const OutputCurvature curvature = layer_output_curvature(net, paired_X, paired_y, l);

    const std::vector<double> W(net.W(l), net.W(l) + (size_t)n_out * n_in);
    const std::vector<double> b = s.bias ? std::vector<double>(net.b(l), net.b(l) + n_out) : std::vector<double>();
    std::vector<double> D;       // (K, P): the dual weights of the valid pairs, in the block's theta order
    std::vector<double> secant;  // dl_k / |dW_k|^2
    std::vector<int> valid;      // pair index of each row of D
    std::vector<double> paired_loss, dl, dual_dl, taylor;
    std::vector<double> dW, db;
    double weighted = 0;  // sum_k |W da_k|^2 / |a_k|^2
    for (size_t k = 0; k < partner.size(); ++k) {
        const int n = partner[k];
        PairRecord rec{(int)k, n, test.y[k], false, 0, 0, 0, 0, 0, 0};
        const std::vector<double> a = row_of(tr.activity, n), a_prime = row_of(te.activity, (int)k);
        std::vector<double> da(n_in);
        for (int j = 0; j < n_in; ++j) da[j] = a_prime[j] - a[j];
        if (with_bias) {
            bias_absorbed_dual(W.data(), n_out, n_in, a, da, dW, db);
        } else if (!minimal_dual(W.data(), n_out, n_in, a, da, dW)) {
            rec.skipped = true;
            r.pairs.push_back(rec);
            continue;
        }
        std::vector<double> W_tilde = W, b_tilde = b;
        for (size_t t = 0; t < dW.size(); ++t) W_tilde[t] += dW[t];
        for (size_t i = 0; i < db.size(); ++i) b_tilde[i] += db[i];
        const std::vector<double> f =
            forward_from<double>(net, l, a, W_tilde.data(), b_tilde.empty() ? nullptr : b_tilde.data());
        rec.dl = te.loss[k] - tr.loss[n];
        rec.dual_dl = sample_loss(s.loss, f.data(), s.widths.back(), train.y[n]) - tr.loss[n];
        // Taylor at the training sample: dW a~ = W da =: u, so grad . dW = delta . u and dW^T H_n dW = u^T G u
        const std::vector<double> u = weight_times(W.data(), n_out, n_in, da);
        const int row = slot.at(n);
        const double* G = &curvature.G.data[(size_t)row * n_out * n_out];
        double first = 0, second = 0;
        for (int i = 0; i < n_out; ++i) {
            first += curvature.delta(row, i) * u[i];
            for (int j = 0; j < n_out; ++j) second += u[i] * G[(size_t)i * n_out + j] * u[j];
        }
        rec.taylor = first + 0.5 * second;
        const double norm2 = squared_norm(dW) + squared_norm(db);
        rec.dW_norm = std::sqrt(norm2);
        weighted += squared_norm(u) / (squared_norm(a) + (with_bias ? 1.0 : 0.0));
        const PairCheck check = verify_pair(net, l, a, a_prime, test.y[k], o.variant);
        rec.verify_double_u = check.in_double.max(), rec.verify_long_double_u = check.in_long_double.max();
        r.verify_double_u = std::max(r.verify_double_u, rec.verify_double_u);
        r.verify_long_double_u = std::max(r.verify_long_double_u, rec.verify_long_double_u);
        D.insert(D.end(), dW.begin(), dW.end());
        D.insert(D.end(), db.begin(), db.end());
        secant.push_back(norm2 > 0 ? rec.dl / norm2 : 0.0);
        valid.push_back((int)k);
        paired_loss.push_back(tr.loss[n]), dl.push_back(rec.dl), dual_dl.push_back(rec.dual_dl),
            taylor.push_back(rec.taylor);
        r.mean_dW_norm += norm2;
        r.pairs.push_back(rec);
    }
    const int K = (int)valid.size();
    r.n_pairs = (int)partner.size(), r.n_skipped = r.n_pairs - K;
    if (K == 0)
        throw std::runtime_error(
            "every paired training sample has a zero activity at layer " + std::to_string(l) +
            " (a dead layer): the minimal dual weights are undefined; try --variant bias on a net with biases");
    r.L_paired = mean_of(paired_loss), r.gap_paired = mean_of(dl), r.exact_dual_loss = mean_of(dual_dl),
    r.taylor_estimate = mean_of(taylor);
    r.mean_dW_norm = std::sqrt(r.mean_dW_norm / K);
    r.activity_weighted_norm = std::sqrt(weighted / K);
    clock.done("dual weights, losses, verification");

    // projections on the eigenbasis: w (K, P) = D V^T, g_ki = secant_k w_ki
    const int P = (int)r.P;
    Tensor w(K, P);
    product(false, true, K, P, P, 1.0, D.data(), P, eig.vectors.data.data(), P, 0.0, w.data.data(), P);
    r.directions.resize(P);
    for (int i = 0; i < P; ++i) {
        double mw = 0, mg = 0;
        for (int k = 0; k < K; ++k) mw += w(k, i), mg += secant[k] * w(k, i);
        mw /= K, mg /= K;
        double vw = 0, vg = 0, cov = 0;
        for (int k = 0; k < K; ++k) {
            const double dw = w(k, i) - mw, dg = secant[k] * w(k, i) - mg;
            vw += dw * dw, vg += dg * dg, cov += dw * dg;
        }
        Direction& d = r.directions[i];
        d.lambda = eig.values[i], d.mu_w = mw, d.mu_g = mg, d.sigma_w = std::sqrt(vw / K),
        d.sigma_g = std::sqrt(vg / K);
        d.c = d.sigma_w > 0 && d.sigma_g > 0 ? (cov / K) / (d.sigma_w * d.sigma_g) : 0.0;
        d.contribution = d.mu_g * d.mu_w + d.c * d.sigma_g * d.sigma_w;
        r.identity_estimate += d.contribution;
        r.curvature_estimate += 0.5 * d.lambda * (d.sigma_w * d.sigma_w + d.mu_w * d.mu_w);
        r.sum_sigma_w += d.sigma_w, r.sum_sigma_g += d.sigma_g;
    }
    r.identity_residual = std::fabs(r.identity_estimate - r.gap_paired) / std::max(std::fabs(r.gap_paired), 1e-300);
    r.weight_norm = std::sqrt(squared_norm(W));
    clock.done("decomposition");
    return r;
}

}  // namespace awd
