// gan.cpp: the particle generator, the discriminator and one step of their joint dynamics.
#include "experiments/gan/gan.h"

#include <malloc.h>

#include <cmath>
#include <stdexcept>

#include "autodiff/names.h"

namespace awd {

namespace {

constexpr GanObjective kObjectives[] = {GanObjective::Gan, GanObjective::Wasserstein};
constexpr PenaltyOn kPenaltyOn[] = {PenaltyOn::Data, PenaltyOn::Particles, PenaltyOn::Both};

// sum over the rows x_m of |grad_x f(x_m)|^2, still a function of the parameters (create_graph)
Var summed_squared_input_gradient(const Var& f, const Var& x) { return sum(square(grad(sum(f), {x}, true)[0])); }

}  // namespace

GanObjective parse_gan_objective(const std::string& name) { return parse_name(name, kObjectives, gan_objective_name, "objective"); }
const char* gan_objective_name(GanObjective o) { return o == GanObjective::Gan ? "gan" : "wasserstein"; }
PenaltyOn parse_penalty_on(const std::string& name) { return parse_name(name, kPenaltyOn, penalty_on_name, "penalty sample set"); }
const char* penalty_on_name(PenaltyOn p) { return p == PenaltyOn::Data ? "data" : p == PenaltyOn::Particles ? "particles" : "both"; }

namespace {
Model discriminator_for(const GanTarget& target, const GanConfig& config) {
    Rng init(stream_seed(config.seed, 0));
    return make_discriminator(target.dim(), config.hidden, config.activation, init);
}
}  // namespace

Tensor coupling_kernel(int n, double g1, double g2) {
    Tensor K(n, n, g2);
    for (int i = 0; i < n; ++i) K(i, i) = g1;
    return K;
}

void kernel_step(Tensor& Q, const Tensor& K, const Tensor& G, double eta) {
    if (K.rows != Q.rows || K.cols != Q.rows || !G.same_shape(Q))
        throw std::invalid_argument("kernel_step: kernel " + K.shape() + ", particles " + Q.shape() + " and gradient " + G.shape() + " do not fit");
    gemm(K, false, G, false, Q, eta, 1.0);
}

Model make_discriminator(int input_dim, const std::vector<int>& hidden, Activation activation, Rng& rng) {
    MlpSpec spec;
    spec.widths.push_back(input_dim);
    for (int h : hidden) {
        if (h <= 0) throw std::invalid_argument("discriminator widths must be positive, not " + std::to_string(h));
        spec.widths.push_back(h);
    }
    spec.widths.push_back(1);
    spec.activation = activation, spec.bias = true;
    Model D = make_mlp(spec);
    initialize(D, Init::PyTorch, 1.0, rng);
    return D;
}

Var gradient_penalty(const Model& D, const Tensor& X) {
    const Var x = variable_view(X);
    return summed_squared_input_gradient(D.forward(x), x) / (double)X.rows;
}

CriticTerms critic_loss(const Model& D, const Tensor& data, const Tensor& particles, GanObjective objective, double alpha, PenaltyOn on) {
    const bool on_data = alpha > 0 && on != PenaltyOn::Particles, on_particles = alpha > 0 && on != PenaltyOn::Data;
    // an input that the penalty differentiates is a variable; the objective reuses its forward pass
    const Var x = on_data ? variable_view(data) : constant_view(data), q = on_particles ? variable_view(particles) : constant_view(particles);
    const Var fx = D.forward(x), fq = D.forward(q);
    const Var value = objective == GanObjective::Gan ? -mean(softplus(-fx)) - mean(softplus(fq)) : mean(fx) - mean(fq);
    CriticTerms t;
    t.objective = value.value().item();
    t.loss = -value;
    if (alpha > 0) {
        Var penalty;
        if (on_data) penalty = summed_squared_input_gradient(fx, x);
        if (on_particles) {
            const Var pq = summed_squared_input_gradient(fq, q);
            penalty = on_data ? penalty + pq : pq;
        }
        penalty = penalty / (double)((on_data ? data.rows : 0) + (on_particles ? particles.rows : 0));  // mean over the union
        t.penalty = penalty.value().item();
        t.loss = t.loss + alpha * penalty;
    }
    return t;
}

Tensor particle_gradient(const Model& D, const Tensor& Q, GanObjective objective) {
    const Var q = variable_view(Q);
    const Var f = D.forward(q);
    const Var gain = objective == GanObjective::Gan ? -softplus(-f) : f;  // log D(q) = -softplus(-f(q))
    return grad(sum(gain), {q})[0].value();
}

GanDynamics::GanDynamics(const GanTarget& target, const GanConfig& config, Tensor kernel)
    : target_(target), config_(config), K_(std::move(kernel)), D_(discriminator_for(target, config)),
      optimizer_(config.optimizer, D_), data_rng_(stream_seed(config.seed, 2)) {
    if (K_.rows != config.particles || K_.cols != config.particles)
        throw std::invalid_argument("the kernel is " + K_.shape() + " but there are " + std::to_string(config.particles) + " particles");
    Rng particles(stream_seed(config.seed, 1));
    Q_ = Tensor(config.particles, target.dim());
    for (double& v : Q_.data) v = config.init_std * particles.normal();
}

void GanDynamics::step() {
    const Tensor Q_before = Q_, theta_before = D_.theta();
    const int batch = config_.batch > 0 ? config_.batch : config_.particles;
    try {
        for (int s = 0; s < config_.d_steps; ++s) {
            const Tensor& data = sample_target(target_, batch, data_rng_, samples_);
            const CriticTerms t = critic_loss(D_, data, Q_, config_.objective, config_.penalty, config_.penalty_on);
            D_.backward(t.loss);
            if (config_.weight_decay > 0) apply_weight_decay(D_, WeightDecay::L2, config_.weight_decay, config_.lr_d);
            optimizer_.step(config_.lr_d);
            require_finite(D_.theta(), "the discriminator's parameters");
            objective_ = t.objective, penalty_ = t.penalty;
        }
        kernel_step(Q_, K_, particle_gradient(D_, Q_, config_.objective), config_.lr_g);
        require_finite(Q_, "the particles");
    } catch (const std::exception& e) {
        Q_ = Q_before, D_.theta() = theta_before;
        throw std::runtime_error("step " + std::to_string(steps_ + 1) + " produced a non-finite value (" + e.what() +
                                 "); the state of step " + std::to_string(steps_) + " is kept");
    }
    ++steps_;
}

GanOutcome run_gan(GanDynamics& dynamics, const GanTarget& target, int steps, int record_every,
                   const std::function<void(const GanDynamics&, const GanRecord&)>& on_record) {
    GanOutcome out;
    auto record = [&] {
        const GanRecord r{dynamics.steps_done(), order_parameters(dynamics.particles(), target), dynamics.objective(), dynamics.penalty()};
        out.trajectory.push_back(r);
        if (on_record) on_record(dynamics, r);
    };
    record();
    while (dynamics.steps_done() < steps) {
        try {
            dynamics.step();
        } catch (const std::runtime_error& e) {
            out.error = e.what();
            break;
        }
        if (dynamics.steps_done() % record_every == 0 || dynamics.steps_done() == steps) record();
    }
    return out;
}

void keep_heap_between_steps() {
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
    mallopt(M_TOP_PAD, 64 << 20);
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
}

}  // namespace awd
