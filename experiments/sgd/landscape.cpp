// landscape.cpp: landscapes of many runs as models, their per-run derivatives through the
// autodiff, 2 x 2 eigenvalue clipping, and Dawson's function.
#include "experiments/sgd/landscape.h"

#include <cmath>
#include <stdexcept>

#include "autodiff/parallel.h"

namespace awd {

LandscapeRuns::LandscapeRuns(std::string name_, int runs_, int dims_, RunsLoss loss_)
    : name(std::move(name_)), runs(runs_), dims(dims_), loss(std::move(loss_)) {
    if (runs < 1 || dims < 1) throw std::invalid_argument(name + ": need at least one run and one parameter per run");
}

Var LandscapeRuns::forward(const Var& x, const ForwardContext& ctx) const {
    if (x && x.rows() != runs)
        throw std::invalid_argument(describe() + ": per-run data " + x.value().shape() +
                                    " must have one row per run (" + std::to_string(runs) + ")");
    const Var L = loss(ctx.parameter(runs_id), x);
    if (L.rows() != runs || L.cols() != 1)
        throw std::invalid_argument(describe() + ": the loss must be (" + std::to_string(runs) +
                                    " x 1), one value per run, not " + L.value().shape());
    return L;
}

std::string LandscapeRuns::describe() const {
    return name + "(" + std::to_string(runs) + " runs x " + std::to_string(dims) + ")";
}

void LandscapeRuns::declare(ParameterDeclarations& d, const std::string& prefix) {
    runs_id = d.add(prefix + "runs", runs, dims);
}

Model landscape_model(const std::string& name, int runs, int dims, RunsLoss loss) {
    return Model(std::make_unique<LandscapeRuns>(name, runs, dims, std::move(loss)));
}

RunDerivatives run_derivatives(Model& model, const Var& x, bool with_hessian) {
    RunDerivatives out;
    if (!with_hessian) {
        const Var L = model.forward(x);
        out.loss = L.value();
        model.backward(sum(L));
        return out;
    }
    const auto& runs = dynamic_cast<const LandscapeRuns&>(model.root());
    const int R = runs.runs, D = runs.dims;
    const Var t = variable(model.theta());  // a leaf we may differentiate twice
    const Var L = model.forward_at(t, x);
    out.loss = L.value();
    const Var g = grad(sum(L), {t}, true)[0];  // (R D, 1): run r's gradient at r D
    model.gradient() = g.value();
    const Var g_rows = reshape(g, R, D);
    out.hessian = Tensor(R, D * D);
    for (int j = 0; j < D; ++j) {
        // d/dtheta of sum_r dL_r/dtheta_rj: entry r D + k is d2 L_r / dtheta_rj dtheta_rk (runs do not mix)
        const Tensor column = grad(sum(slice(g_rows, 0, j, R, 1)), {t})[0].value();
        for (int r = 0; r < R; ++r)
            for (int k = 0; k < D; ++k) out.hessian(r, j * D + k) = column[(size_t)r * D + k];
    }
    return out;
}

const RunDerivatives& RunDerivativesPlan::operator()(const Tensor* x) {
    const auto& runs = dynamic_cast<const LandscapeRuns&>(model_.root());
    const int R = runs.runs, D = runs.dims;
    if (!step_) {  // the same ops as run_derivatives, returned as Vars: losses, gradient, Hessian columns
        std::vector<Var> inputs{variable_view(model_.theta())};  // read in place: run() copies nothing
        if (x) inputs.push_back(constant(*x));
        const bool with_hessian = with_hessian_;
        const Model& model = model_;
        step_ = std::make_unique<Captured>(
            [&model, with_hessian, R, D](const std::vector<Var>& in) {
                const Var t = in[0];
                const Var L = model.forward_at(t, in.size() > 1 ? in[1] : Var());
                if (!with_hessian) return std::vector<Var>{L, grad(sum(L), {t})[0]};
                const Var g = grad(sum(L), {t}, true)[0];
                std::vector<Var> out{L, g};
                const Var g_rows = reshape(g, R, D);
                for (int j = 0; j < D; ++j) out.push_back(grad(sum(slice(g_rows, 0, j, R, 1)), {t})[0]);
                return out;
            },
            std::move(inputs));
        if (with_hessian_) out_.hessian = Tensor(R, D * D);
    }
    const Plan& plan = x ? step_->run({&model_.theta(), x}) : step_->run({&model_.theta()});
    out_.loss = plan.output(0);
    model_.gradient() = plan.output(1);
    for (int j = 0; with_hessian_ && j < D; ++j) {
        const Tensor& column = plan.output(2 + j);
        for (int r = 0; r < R; ++r)
            for (int k = 0; k < D; ++k) out_.hessian(r, j * D + k) = column[(size_t)r * D + k];
    }
    return out_;
}

AutodiffRuns::AutodiffRuns(const std::string& name, RunsLoss loss, int begin, int end, bool with_hessian, Tensor data)
    : begin_(begin),
      end_(end),
      with_hessian_(with_hessian),
      data_(std::move(data)),
      model_(landscape_model(name, end - begin, 2, std::move(loss))),
      plan_(model_, with_hessian) {}

void AutodiffRuns::operator()(const double* x, const double* y, RunDerivatives2& out) {
    double* theta = model_.theta().data.data();  // run begin + i: x at 2i, y at 2i + 1
    for (int r = begin_, i = 0; r < end_; ++r, ++i) theta[2 * i] = x[r], theta[2 * i + 1] = y[r];
    const RunDerivatives& d = plan_(data_.size() ? &data_ : nullptr);
    const double* g = model_.gradient().data.data();
    for (int r = begin_, i = 0; r < end_; ++r, ++i) {
        out.loss[r] = d.loss[i], out.gx[r] = g[2 * i], out.gy[r] = g[2 * i + 1];
        if (with_hessian_) out.hxx[r] = d.hessian(i, 0), out.hxy[r] = d.hessian(i, 1), out.hyy[r] = d.hessian(i, 3);
    }
}

void for_each_run_block(size_t cells, int runs, int threads, const std::function<void(size_t, int, int)>& job) {
    const size_t blocks = ((size_t)runs + kRunsPerBlock - 1) / kRunsPerBlock;
    parallel_for(cells * blocks, threads, [&](size_t k) {
        const int begin = (int)(k % blocks) * kRunsPerBlock;
        job(k / blocks, begin, std::min(runs, begin + kRunsPerBlock));
    });
}

namespace {

double dawson_series(double z) {
    double term = z, total = z;
    for (int n = 1; n < 200 && std::abs(term) > 1e-18 * std::abs(total); ++n) {
        term *= -2 * z * z / (2 * n + 1);
        total += term;
    }
    return total;
}

}  // namespace

// Three regimes, each accurate to ~1e-15 relative where it is used:
//  z < 2:  the Taylor series D = sum_n (-2)^n z^(2n+1) / (2n+1)!!  (cancellation costs < 2 digits)
//  2 <= z < 7: Rybicki's exponentially convergent sum (below)
//  z >= 7: the asymptotic series D ~ 1/(2z) sum_n (2n-1)!! / (2 z^2)^n, truncated at its smallest
//          term (the remainder is of order exp(-z^2))
double dawson(double z) {
    if (z < 0) return -dawson(-z);
    if (z < 2) return dawson_series(z);
    if (z >= 7) {
        const double u = 1 / (2 * z * z);
        double term = 1, total = 1;
        for (int n = 1; n < 100; ++n) {
            const double next = term * (2 * n - 1) * u;
            if (next >= term) break;
            term = next;
            total += term;
        }
        return total / (2 * z);
    }
    // Rybicki's sum over odd n of exp(-(z - n h)^2) / n, exact in the limit h -> 0 with an error
    // ~ exp(-(pi / 2h)^2): h = 0.2 gives 1e-16 relative; terms beyond |z - n h| > 7.5 are < 1e-24.
    const double h = 0.2;
    const long centre = std::lround(z / h);
    double total = 0;
    for (long n = centre - 38; n <= centre + 38; ++n)
        if (n % 2 != 0) total += std::exp(-(z - n * h) * (z - n * h)) / n;
    return total / std::sqrt(M_PI);
}

double erfi(double z) { return 2 / std::sqrt(M_PI) * std::exp(z * z) * dawson(z); }

}  // namespace awd
