// gan.cpp: the particle generator, the critic's loss and one step of their joint dynamics; the
// discriminator itself is built by nn/mlp.h's make_discriminator.
#include "experiments/gan/gan.h"

#include <malloc.h>

#include <cmath>
#include <iterator>
#include <stdexcept>

#include "autodiff/names.h"

namespace awd {

namespace {

constexpr GanObjective kObjectives[] = {GanObjective::Gan, GanObjective::Wasserstein};
constexpr PenaltyOn kPenaltyOn[] = {PenaltyOn::Data, PenaltyOn::Particles, PenaltyOn::Both};
constexpr struct {
    PenaltyScale scale;
    const char* name;
} kPenaltyScales[] = {{PenaltyScale::PerSample, "per-sample"}, {PenaltyScale::BatchMean, "batch-mean"}};

// The penalty of one sample set: the mean over its B rows of |row of grad_x s|^2, s = sum_m f(x_m)
// (per sample) or mean_m f(x_m) (batch mean); still a function of the parameters (create_graph).
Var mean_squared_input_gradient(const Var& f, const Var& x, PenaltyScale scale) {
    const Var s = scale == PenaltyScale::PerSample ? sum(f) : mean(f);
    return sum(square(grad(s, {x}, true)[0])) / (double)x.rows();
}

}  // namespace

GanObjective parse_gan_objective(const std::string& name) {
    return parse_name(name, kObjectives, gan_objective_name, "objective");
}
const char* gan_objective_name(GanObjective o) { return o == GanObjective::Gan ? "gan" : "wasserstein"; }
PenaltyOn parse_penalty_on(const std::string& name) {
    return parse_name(name, kPenaltyOn, penalty_on_name, "penalty sample set");
}
const char* penalty_on_name(PenaltyOn p) {
    return p == PenaltyOn::Data ? "data" : p == PenaltyOn::Particles ? "particles" : "both";
}

PenaltyScale parse_penalty_scale(const std::string& name) {
    PenaltyScale all[std::size(kPenaltyScales)];
    for (size_t k = 0; k < std::size(kPenaltyScales); ++k) all[k] = kPenaltyScales[k].scale;
    return parse_name(name, all, penalty_scale_name, "penalty scale");
}
const char* penalty_scale_name(PenaltyScale s) {
    for (const auto& e : kPenaltyScales)
        if (e.scale == s) return e.name;
    return "?";
}

namespace {
Model discriminator_for(const GanTarget& target, const GanConfig& config) {
    Rng init(stream_seed(config.seed, 0));
    DiscriminatorSpec spec;
    spec.input_dim = target.dim(), spec.hidden = config.hidden, spec.activation = config.activation;
    spec.dropout = config.dropout, spec.dropout_after = config.dropout_after, spec.output_bias = config.output_bias;
    return make_discriminator(spec, init);
}
}  // namespace

GanConfig authors_mnist100_config() {
    GanConfig c;
    c.particles = 100, c.g1 = 1, c.g2 = 0, c.lr_g = 1e-4, c.lr_d = 1e-3;
    c.d_steps = 20, c.d_steps_first = 200, c.weight_decay = 1e-4;
    c.penalty = 1.25, c.penalty_on = PenaltyOn::Particles, c.penalty_scale = PenaltyScale::BatchMean;
    c.objective = GanObjective::Wasserstein;
    c.hidden = {64, 1024, 64}, c.activation = Activation::Relu, c.dropout = 0.2, c.dropout_after = 2,
    c.output_bias = false;
    c.optimizer.kind = OptimizerKind::Adam, c.optimizer.amsgrad = true, c.fresh_optimizer = true;
    c.init_std = 0.5;
    return c;
}

Tensor coupling_kernel(int n, double g1, double g2) {
    Tensor K(n, n, g2);
    for (int i = 0; i < n; ++i) K(i, i) = g1;
    return K;
}

void kernel_step(Tensor& Q, const Tensor& K, const Tensor& G, double eta) {
    if (K.rows != Q.rows || K.cols != Q.rows || !G.same_shape(Q))
        throw std::invalid_argument("kernel_step: kernel " + K.shape() + ", particles " + Q.shape() + " and gradient " +
                                    G.shape() + " do not fit");
    gemm(K, false, G, false, Q, eta, 1.0);
}

Var gradient_penalty(const Model& D, const Tensor& X, PenaltyScale scale) {
    const Var x = variable_view(X);
    return mean_squared_input_gradient(D.forward(x), x, scale);
}

CriticTerms critic_loss(const Model& D, const Tensor& data, const Tensor& particles, GanObjective objective,
                        double alpha, PenaltyOn on, PenaltyScale scale, Rng* dropout_rng) {
    const bool on_data = alpha > 0 && on != PenaltyOn::Particles, on_particles = alpha > 0 && on != PenaltyOn::Data;
    // an input that the penalty differentiates is a variable; the objective reuses its forward pass
    const Var x = on_data ? variable_view(data) : constant_view(data),
              q = on_particles ? variable_view(particles) : constant_view(particles);
    const Var fx = dropout_rng ? D.forward(x, *dropout_rng) : D.forward(x),
              fq = dropout_rng ? D.forward(q, *dropout_rng) : D.forward(q);
    const Var value = objective == GanObjective::Gan ? -mean(softplus(-fx)) - mean(softplus(fq)) : mean(fx) - mean(fq);
    CriticTerms t;
    t.objective = value.value().item();
    t.loss = -value;
    if (alpha > 0) {
        // the mean over the union: each set's mean weighted by its size
        const double rows = (double)((on_data ? data.rows : 0) + (on_particles ? particles.rows : 0));
        Var penalty;
        if (on_data) penalty = mean_squared_input_gradient(fx, x, scale) * (data.rows / rows);
        if (on_particles) {
            const Var pq = mean_squared_input_gradient(fq, q, scale) * (particles.rows / rows);
            penalty = on_data ? penalty + pq : pq;
        }
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
    : target_(target),
      config_(config),
      K_(std::move(kernel)),
      D_(discriminator_for(target, config)),
      data_rng_(stream_seed(config.seed, 2)),
      dropout_rng_(stream_seed(config.seed, 3)) {
    optimizer_.emplace(config.optimizer, D_);
    if (K_.rows != config.particles || K_.cols != config.particles)
        throw std::invalid_argument("the kernel is " + K_.shape() + " but there are " +
                                    std::to_string(config.particles) + " particles");
    Rng particles(stream_seed(config.seed, 1));
    Q_ = Tensor(config.particles, target.dim());
    for (double& v : Q_.data) v = config.init_std * particles.normal();
    Q0_ = Q_;
}

void GanDynamics::step() {
    const Tensor Q_before = Q_, theta_before = D_.theta();
    const int batch = config_.batch > 0 ? config_.batch : config_.particles;
    const int d_steps = steps_ == 0 && config_.d_steps_first > 0 ? config_.d_steps_first : config_.d_steps;
    Rng* dropout = config_.dropout > 0 ? &dropout_rng_ : nullptr;
    try {
        if (config_.fresh_optimizer) optimizer_.emplace(config_.optimizer, D_);
        for (int s = 0; s < d_steps; ++s) {
            const Tensor& data = sample_target(target_, batch, data_rng_, samples_);
            const CriticTerms t = critic_loss(D_, data, Q_, config_.objective, config_.penalty, config_.penalty_on,
                                              config_.penalty_scale, dropout);
            D_.backward(t.loss);
            if (config_.weight_decay > 0) apply_weight_decay(D_, WeightDecay::L2, config_.weight_decay, config_.lr_d);
            optimizer_->step(config_.lr_d);
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
        const GanRecord r{dynamics.steps_done(), order_parameters(dynamics.particles(), target, &dynamics.start()),
                          dynamics.objective(), dynamics.penalty()};
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
