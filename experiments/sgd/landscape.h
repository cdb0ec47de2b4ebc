// landscape.h: what the toy-landscape experiments (experiments/sgd/README.md) share: a landscape as a
// model of many independent runs, their per-run derivatives, the clipped Hessian of a 2 x 2
// symmetric matrix, and the Dawson function (for the Kramers escape rate, which needs erfi).
// Is not: a network: the landscapes are closed-form losses of a few parameters per run.
//
// R runs of a D-parameter landscape are one Model whose one parameter "runs" (R, D) holds run r
// in row r, so theta is the (R D, 1) flat buffer and the project's Optimizer steps every run at
// once. forward(x) is the (R, 1) column of per-run losses, row r depending only on row r of the
// parameters (and of x, per-run data such as the valley's sampled targets). Then the gradient of
// sum_r L_r holds every run's own gradient, and the gradient of sum_r dL_r/dtheta_rj is every
// run's Hessian column j: the exact per-run Hessians cost D more backward passes, however many
// runs there are.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "autodiff/autodiff.h"
#include "autodiff/plan.h"
#include "nn/model.h"

namespace awd {

// The loss of R runs at once: theta (R, D), per-run data x (R, K) or empty -> (R, 1).
using RunsLoss = std::function<Var(const Var& theta, const Var& x)>;

class LandscapeRuns : public Module {
public:
    LandscapeRuns(std::string name, int runs, int dims, RunsLoss loss);
    Var forward(const Var& x, const ForwardContext& ctx) const override;
    std::string describe() const override;
    void declare(ParameterDeclarations& d, const std::string& prefix) override;
    std::string name;
    int runs, dims;
    RunsLoss loss;
    int runs_id = -1;
};
Model landscape_model(const std::string& name, int runs, int dims, RunsLoss loss);

// At the model's theta, with per-run data x: model.gradient() = every run's gradient (run r's
// d/dtheta_j at r D + j, as theta), and the returned per-run losses (R, 1) and, when asked,
// Hessians (R, D D: row r is run r's Hessian, row-major).
struct RunDerivatives {
    Tensor loss;
    Tensor hessian;
};
RunDerivatives run_derivatives(Model& model, const Var& x, bool with_hessian);

// run_derivatives recorded at the first call and replayed at the next (autodiff/plan.h): the same
// bytes, with no graph built and nothing allocated per step. x: per-run data or null; a new
// shape of x records again.
class RunDerivativesPlan {
public:
    RunDerivativesPlan(Model& model, bool with_hessian) : model_(model), with_hessian_(with_hessian) {}
    const RunDerivatives& operator()(const Tensor* x);

private:
    Model& model_;
    bool with_hessian_;
    std::unique_ptr<Captured> step_;
    RunDerivatives out_;
};

// A symmetric 2 x 2 matrix [[a, b], [b, c]].
struct Sym2 {
    double a = 0, b = 0, c = 0;
};
// Eigenvalues (descending) and the unit eigenvector (cos phi, sin phi) of the first, in closed form.
struct Eigen2 {
    double l1, l2, cos_phi, sin_phi;
};
Eigen2 eigen2(const Sym2& H);
Sym2 clip_negative(const Sym2& H);  // H+ : the same eigenvectors, negative eigenvalues set to 0
Sym2 sqrt_clipped(const Sym2& H);   // (H+)^(1/2), the PSD square root of H+

// Dawson's function D(z) = exp(-z^2) int_0^z exp(t^2) dt, to ~1e-13 relative for z >= 0.
// erfi(z) = 2/sqrt(pi) exp(z^2) D(z); the escape rates use D directly so nothing overflows.
double dawson(double z);
double erfi(double z);  // overflows to inf beyond z ~ 26.6, like exp(z^2)

}  // namespace awd
