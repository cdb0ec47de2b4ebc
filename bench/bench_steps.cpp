// bench_steps.cpp: the graph's per-step cost on the workloads of the next papers, against
// PyTorch float64 peers of the same updates (bench/torch_steps.py), measured in the same run:
//   - single-example SGD steps of the continual-learning learner 784-100-100-10;
//   - SGD steps of a two-parameter model, where graph overhead (not flops) decides;
//   - Hessian-vector products (grad of grad) of the A-W reference net on 4000 samples.

#include <cstdio>

#include "analysis/hessian.h"
#include "autodiff/plan.h"
#include "autodiff/product.h"
#include "bench/bench.h"
#include "nn/mlp.h"
#include "optim/optimizer.h"

namespace awd::bench {

namespace {

// L = 1/2 exp(x) mean_mu (y - y_mu)^2, the samples y_mu fed as the input column.
struct ToyValley : Module {
    int xy = -1;
    void declare(ParameterDeclarations& d, const std::string& prefix) override { xy = d.add(prefix + "xy", 1, 2); }
    Var forward(const Var& samples, const ForwardContext& ctx) const override {
        const Var p = ctx.parameter(xy);
        return 0.5 * exp(slice(p, 0, 0, 1, 1)) * mean(square(slice(p, 0, 1, 1, 1) - samples));
    }
    std::string describe() const override { return "ToyValley"; }
};

// in_cpu_time: best CPU seconds of this thread instead of wall seconds (for a ratio on a shared machine)
double toy_steps_per_second(int steps, bool in_cpu_time = false) {
    Model m(std::make_unique<ToyValley>());
    m.theta()[0] = 0.3, m.theta()[1] = 2.0;
    const Tensor samples(4, 1, {-1.0, 0.5, 1.5, 3.0});
    Optimizer sgd(OptimizerConfig{}, m);
    const double seconds = (in_cpu_time ? best_cpu_seconds : best_seconds)(3, [&] {
        for (int s = 0; s < steps; ++s) {
            m.backward(m.forward(constant_view(samples)));
            sgd.step(0.01);
        }
    });
    return steps / seconds;
}

// The same steps with the gradient recorded once and replayed (autodiff/plan.h): the plan reads
// theta and the samples in place, so a step is the replay, a copy of the gradient and the update.
double toy_replayed_steps_per_second(int steps, bool in_cpu_time = false) {
    Model m(std::make_unique<ToyValley>());
    m.theta()[0] = 0.3, m.theta()[1] = 2.0;
    const Tensor samples(4, 1, {-1.0, 0.5, 1.5, 3.0});
    Optimizer sgd(OptimizerConfig{}, m);
    const Var theta = variable_view(m.theta()), data = constant_view(samples);
    Plan gradient = Plan::record(
        [&m](const std::vector<Var>& in) { return std::vector<Var>{grad(m.forward_at(in[0], in[1]), {in[0]})[0]}; },
        {theta, data});
    const double seconds = (in_cpu_time ? best_cpu_seconds : best_seconds)(3, [&] {
        for (int s = 0; s < steps; ++s) {
            gradient.run();
            m.gradient() = gradient.output(0);
            sgd.step(0.01);
        }
    });
    return steps / seconds;
}

double single_example_steps_per_second(int steps) {
    Model m = make_mlp(MlpSpec::parse("784-100-100-10", Activation::Relu, true));
    Rng rng(0);
    initialize(m, Init::Glorot, 1.0, rng);
    Tensor X(1000, 784);
    for (double& v : X.data) v = rng.uniform();
    std::vector<int> y(1000);
    for (int& label : y) label = (int)rng.index(10);
    Optimizer sgd(OptimizerConfig{}, m);
    const double seconds = best_seconds(3, [&] {
        for (int s = 0; s < steps; ++s) {
            const int i = s % 1000;
            const Tensor row = Tensor::view(X.data.data() + (size_t)i * 784, 1, 784);  // the example, not copied
            m.backward(cross_entropy(m.forward(constant_view(row)), {y[i]}));
            sgd.step(0.03);
        }
    });
    return steps / seconds;
}

double seconds_per_hvp() {
    Mlp net(MlpSpec::parse("784-30-30-10", Activation::Relu, false));
    Rng rng(0);
    initialize(net.model, Init::PyTorch, 1.0, rng);
    Tensor X(4000, 784);
    for (double& v : X.data) v = rng.uniform();
    std::vector<int> y(4000);
    for (int& label : y) label = (int)rng.index(10);
    const HessianVectorProduct hvp(net, X, y, all_indices(net.spec));
    std::vector<double> v(hvp.size());
    for (double& e : v) e = rng.normal();
    return best_seconds(5, [&] { hvp(v); });
}

void report(const char* label, double ours, const std::map<std::string, std::string>& peer, const char* key,
            bool higher_is_better, const char* goal) {
    if (!peer.count(key)) {
        std::printf("  %-44s %12.4g %12s %8s   %s\n", label, ours, "(no peer)", "-", goal);
        return;
    }
    const double theirs = std::stod(peer.at(key));
    std::printf("  %-44s %12.4g %12.4g %7.1fx   %s\n", label, ours, theirs,
                higher_is_better ? ours / theirs : theirs / ours, goal);
}

}  // namespace

void bench_steps() {
    set_threads(1);
    const PinnedToOneCpu pinned;  // awd and its PyTorch peer on the same CPU (bench.h says why)
    std::printf(
        "\n== per-step cost through grad(), 1 thread both on %s, vs PyTorch float64 (bench/torch_steps.py) ==\n",
        pinned.label().c_str());
    std::printf("  %-44s %12s %12s %8s\n", "workload", "awd", "pytorch", "ratio");
    const auto toy_peer = run_peer_script("bench/torch_steps.py toy");
    report("two-parameter model, SGD steps/s", toy_steps_per_second(20000), toy_peer, "steps_per_s", true,
           "goal >= 20x");
    report("  the same, gradient replayed (plan.h)", toy_replayed_steps_per_second(100000), toy_peer, "steps_per_s",
           true, "");
    std::printf("  %-44s %12.1fx   goal >= 5x\n", "  replayed / eager, CPU time, same run",
                toy_replayed_steps_per_second(100000, true) / toy_steps_per_second(20000, true));
    report("784-100-100-10 one-example SGD steps/s", single_example_steps_per_second(3000),
           run_peer_script("bench/torch_steps.py single"), "steps_per_s", true, "goal >= 3x");
    report("HVP 784-30-30-10 N=4000, seconds", seconds_per_hvp(), run_peer_script("bench/torch_steps.py hvp"),
           "seconds_per_hvp", false, "goal >= 2x");
}

}  // namespace awd::bench
