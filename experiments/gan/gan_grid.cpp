// gan_grid.cpp: the `awd gan` flags of a GanConfig, and the mnist100 bisection replayed from its cells.
#include "experiments/gan/gan_grid.h"

#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "experiments/common/seed_stats.h"

namespace awd {

namespace {

std::string exact(double v) {
    char s[40];
    std::snprintf(s, sizeof s, "%.17g", v);
    return s;
}

}  // namespace

nlohmann::json gan_config_json(const GanConfig& c) {
    return {{"particles", c.particles},
            {"g1", c.g1},
            {"lr_g", c.lr_g},
            {"d_steps", c.d_steps},
            {"d_steps_first", c.d_steps_first},
            {"weight_decay", c.weight_decay},
            {"penalty", c.penalty},
            {"penalty_on", penalty_on_name(c.penalty_on)},
            {"penalty_scale", penalty_scale_name(c.penalty_scale)},
            {"objective", gan_objective_name(c.objective)},
            {"discriminator", c.hidden},
            {"activation", activation_name(c.activation)},
            {"dropout", c.dropout},
            {"dropout_after", c.dropout_after},
            {"output_bias", c.output_bias},
            {"optimizer_d", optimizer_name(c.optimizer.kind)},
            {"amsgrad", c.optimizer.amsgrad},
            {"fresh_optimizer_d", c.fresh_optimizer},
            {"init_std", c.init_std}};
}

std::string gan_flags(const GanConfig& c, const std::string& target, int steps, int record_every) {
    const OptimizerConfig defaults;
    if (c.optimizer.nesterov || c.optimizer.beta1 != defaults.beta1 || c.optimizer.beta2 != defaults.beta2 ||
        c.optimizer.eps != defaults.eps)
        throw std::invalid_argument(
            "gan_flags: awd gan has no flag for Nesterov momentum or Adam's beta1, beta2, eps; this config sets one");
    std::string hidden;
    for (int w : c.hidden) hidden += (hidden.empty() ? "" : ",") + std::to_string(w);
    auto boolean = [](bool b) { return std::string(b ? "true" : "false"); };
    return " --target " + target + " --particles " + std::to_string(c.particles) + " --g1 " + exact(c.g1) + " --g2 " +
        exact(c.g2) + (c.g2 > c.g1 ? " --allow-g2-above-g1" : "") + " --lr-g " + exact(c.lr_g) + " --lr-d " +
        exact(c.lr_d) + " --d-steps " + std::to_string(c.d_steps) + " --d-steps-first " +
        std::to_string(c.d_steps_first) + " --weight-decay " + exact(c.weight_decay) + " --penalty " +
        exact(c.penalty) + " --penalty-on " + penalty_on_name(c.penalty_on) + " --penalty-scale " +
        penalty_scale_name(c.penalty_scale) + " --objective " + gan_objective_name(c.objective) + " --hidden " +
        hidden + " --activation " + activation_name(c.activation) + " --dropout " + exact(c.dropout) +
        " --dropout-after " + std::to_string(c.dropout_after) + " --output-bias " + boolean(c.output_bias) +
        " --optimizer-d " + optimizer_name(c.optimizer.kind) + " --amsgrad " + boolean(c.optimizer.amsgrad) +
        " --momentum-d " + exact(c.optimizer.momentum) + " --fresh-optimizer-d " + boolean(c.fresh_optimizer) +
        " --batch " + std::to_string(c.batch) + " --init-std " + exact(c.init_std) + " --seed " +
        std::to_string(c.seed) + " --steps " + std::to_string(steps) + " --record-every " +
        std::to_string(record_every) + " --threads 1";
}

double BisectionCell::mean() const { return seed_stats(scores).mean; }

BisectionState replay_bisection(size_t settings, size_t lr_ds, int rounds, double lo, double hi, double half,
                                const std::function<std::optional<BisectionCell>(const WantedCell&)>& evaluated) {
    BisectionState state;
    state.located.assign(settings, std::vector<Located>(lr_ds));
    std::vector<std::vector<std::pair<double, double>>> bracket(
        settings, std::vector<std::pair<double, double>>(lr_ds, {lo, hi}));
    // the stage's cells, kept in order; false when one is missing (then listed in state.wanted)
    auto gather = [&](const std::vector<WantedCell>& stage, std::vector<BisectionCell>& cells) {
        for (const WantedCell& w : stage) {
            if (const std::optional<BisectionCell> c = evaluated(w)) {
                state.located[w.setting][w.lr_d].cells.push_back(*c);
                cells.push_back(*c);
            } else state.wanted.push_back(w);
        }
        return state.wanted.empty();
    };
    std::vector<WantedCell> ends;
    for (size_t a = 0; a < settings; ++a)
        for (size_t b = 0; b < lr_ds; ++b) ends.push_back({a, b, lo}), ends.push_back({a, b, hi});
    std::vector<BisectionCell> first;
    if (!gather(ends, first)) return state;
    std::vector<std::vector<char>> open(settings, std::vector<char>(lr_ds, 0));
    for (size_t k = 0; k < ends.size(); k += 2) {
        Located& l = state.located[ends[k].setting][ends[k].lr_d];
        if (first[k].mean() >= half) l.verdict = "below " + std::to_string(lo).substr(0, 5), l.point = lo;
        else if (first[k + 1].mean() < half) l.verdict = "above " + std::to_string(hi).substr(0, 5), l.point = hi;
        else l.verdict = "bracketed", open[ends[k].setting][ends[k].lr_d] = 1;
    }
    for (int r = 1; r <= rounds; ++r) {
        std::vector<WantedCell> mids;
        for (size_t a = 0; a < settings; ++a)
            for (size_t b = 0; b < lr_ds; ++b)
                if (open[a][b]) mids.push_back({a, b, std::sqrt(bracket[a][b].first * bracket[a][b].second)});
        if (mids.empty()) break;
        state.stage = r;
        std::vector<BisectionCell> cells;
        if (!gather(mids, cells)) return state;
        for (size_t k = 0; k < mids.size(); ++k) {
            auto& [blo, bhi] = bracket[mids[k].setting][mids[k].lr_d];
            (cells[k].mean() >= half ? bhi : blo) = mids[k].ratio;
        }
    }
    for (size_t a = 0; a < settings; ++a)
        for (size_t b = 0; b < lr_ds; ++b) {
            if (!open[a][b]) continue;
            const auto [blo, bhi] = bracket[a][b];
            double ylo = 0, yhi = 0;
            for (const BisectionCell& c : state.located[a][b].cells) {
                if (c.ratio == blo) ylo = c.mean();
                if (c.ratio == bhi) yhi = c.mean();
            }
            const double t = (half - ylo) / (yhi - ylo);
            state.located[a][b].point = std::exp(std::log(blo) + t * (std::log(bhi) - std::log(blo)));
        }
    state.complete = true;
    return state;
}

}  // namespace awd
