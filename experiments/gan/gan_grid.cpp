// gan_grid.cpp: the GanConfig settings a grid run passes to `awd gan` and records (one table), and the
// mnist100 bisection replayed from its cells.
#include "experiments/gan/gan_grid.h"

#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "experiments/common/seed_stats.h"

namespace awd {

namespace {

// Every GanConfig setting a grid run passes to `awd gan`: its flag, its key in gan_config_json (null:
// a per-cell value, recorded by the run's summary instead) and its value, as JSON so that the flag
// text and the record come from one place.
struct GanSetting {
    const char* flag;
    const char* key;
    nlohmann::json (*value)(const GanConfig&);
};
using J = nlohmann::json;
const GanSetting kGanSettings[] = {
    {"--particles", "particles", [](const GanConfig& c) -> J { return c.particles; }},
    {"--g1", "g1", [](const GanConfig& c) -> J { return c.g1; }},
    {"--g2", nullptr, [](const GanConfig& c) -> J { return c.g2; }},
    {"--lr-g", "lr_g", [](const GanConfig& c) -> J { return c.lr_g; }},
    {"--lr-d", nullptr, [](const GanConfig& c) -> J { return c.lr_d; }},
    {"--d-steps", "d_steps", [](const GanConfig& c) -> J { return c.d_steps; }},
    {"--d-steps-first", "d_steps_first", [](const GanConfig& c) -> J { return c.d_steps_first; }},
    {"--weight-decay", "weight_decay", [](const GanConfig& c) -> J { return c.weight_decay; }},
    {"--penalty", "penalty", [](const GanConfig& c) -> J { return c.penalty; }},
    {"--penalty-on", "penalty_on", [](const GanConfig& c) -> J { return penalty_on_name(c.penalty_on); }},
    {"--penalty-scale", "penalty_scale", [](const GanConfig& c) -> J { return penalty_scale_name(c.penalty_scale); }},
    {"--objective", "objective", [](const GanConfig& c) -> J { return gan_objective_name(c.objective); }},
    {"--hidden", "discriminator", [](const GanConfig& c) -> J { return c.hidden; }},
    {"--activation", "activation", [](const GanConfig& c) -> J { return activation_name(c.activation); }},
    {"--dropout", "dropout", [](const GanConfig& c) -> J { return c.dropout; }},
    {"--dropout-after", "dropout_after", [](const GanConfig& c) -> J { return c.dropout_after; }},
    {"--output-bias", "output_bias", [](const GanConfig& c) -> J { return c.output_bias; }},
    {"--optimizer-d", "optimizer_d", [](const GanConfig& c) -> J { return optimizer_name(c.optimizer.kind); }},
    {"--amsgrad", "amsgrad", [](const GanConfig& c) -> J { return c.optimizer.amsgrad; }},
    {"--momentum-d", nullptr, [](const GanConfig& c) -> J { return c.optimizer.momentum; }},
    {"--fresh-optimizer-d", "fresh_optimizer_d", [](const GanConfig& c) -> J { return c.fresh_optimizer; }},
    {"--batch", nullptr, [](const GanConfig& c) -> J { return c.batch; }},
    {"--init-std", "init_std", [](const GanConfig& c) -> J { return c.init_std; }},
    {"--seed", nullptr, [](const GanConfig& c) -> J { return c.seed; }},
};

// A setting's value as `awd gan` reads it: doubles with 17 digits (the same double back), widths comma-joined.
std::string flag_text(const nlohmann::json& v) {
    if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
    if (v.is_string()) return v.get<std::string>();
    if (v.is_number_float()) {
        char s[40];
        std::snprintf(s, sizeof s, "%.17g", v.get<double>());
        return s;
    }
    if (v.is_array()) {
        std::string text;
        for (const auto& e : v) text += (text.empty() ? "" : ",") + flag_text(e);
        return text;
    }
    return v.dump();  // integers
}

}  // namespace

nlohmann::json gan_config_json(const GanConfig& c) {
    nlohmann::json j = nlohmann::json::object();
    for (const GanSetting& s : kGanSettings)
        if (s.key) j[s.key] = s.value(c);
    return j;
}

std::string gan_flags(const GanConfig& c, const std::string& target, int steps, int record_every) {
    const OptimizerConfig defaults;
    if (c.optimizer.nesterov || c.optimizer.beta1 != defaults.beta1 || c.optimizer.beta2 != defaults.beta2 ||
        c.optimizer.eps != defaults.eps)
        throw std::invalid_argument(
            "gan_flags: awd gan has no flag for Nesterov momentum or Adam's beta1, beta2, eps; this config sets one");
    std::string flags = " --target " + target;
    for (const GanSetting& s : kGanSettings) flags += std::string(" ") + s.flag + " " + flag_text(s.value(c));
    return flags + (c.g2 > c.g1 ? " --allow-g2-above-g1" : "") + " --steps " + std::to_string(steps) +
        " --record-every " + std::to_string(record_every) + " --threads 1";
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
