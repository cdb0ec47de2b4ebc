// gan_grid.h: the pieces of `awd gan-paper`'s grid that are not commands, so the tests reach them:
// the `awd gan` flags that reproduce one GanConfig exactly, and the mnist100 bisection as a pure
// function of the cells already evaluated (what to run next, or where each transition is).
// Is not: the grid's runs, engine or report (experiments/gan/cmd_gan_paper.cpp).
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "experiments/gan/gan.h"

namespace awd {

// The `awd gan` flags (" --target T --particles N ...", %.17g for every double) that make
// `awd gan` run exactly `config` on `target` for `steps` generator steps, recording every
// `record_every`, with one BLAS thread. Every GanConfig field is spelled out, so no default of
// `awd gan` (nor --preset) enters. Throws std::invalid_argument for a setting `awd gan` has no flag
// for (Nesterov momentum, Adam's betas or epsilon other than their defaults).
std::string gan_flags(const GanConfig& config, const std::string& target, int steps, int record_every);

// The settings of `config` that every GAN run records, whatever varies across a grid (particles,
// kernel self coupling, rates, critic, penalty, optimizer, start): `awd gan`'s summary adds the
// per-run values (g2, lr_d, seed, ...), gan-paper's tables add the target and T.
nlohmann::json gan_config_json(const GanConfig& config);

// One evaluated cell of the bisection: g2/g1, the seeds' final collapse scores and end states.
struct BisectionCell {
    double ratio = 0;
    std::vector<double> scores;
    std::vector<EndState> states;
    double mean() const;
};

// One (setting, lrD) pair of the bisection.
struct Located {
    std::vector<BisectionCell> cells;  // in the order the bisection evaluated them
    double point = -1;                 // interpolated g2/g1 where the seed mean crosses ln K / 2; -1: not yet
    std::string verdict;               // "bracketed", "below LO", "above HI"; empty before the brackets
};
using LocatedGrid = std::vector<std::vector<Located>>;  // [setting][lrD]

// A cell the bisection needs: setting a, lrD b, g2/g1.
struct WantedCell {
    size_t setting = 0, lr_d = 0;
    double ratio = 0;
};

struct BisectionState {
    LocatedGrid located;
    std::vector<WantedCell> wanted;  // the cells of the current stage not evaluated yet (empty: complete)
    int stage = 0;                   // 0: the brackets, r: bisection round r (1..rounds)
    bool complete = false;
};

// For each (setting, lrD): the mean score at g2/g1 = lo and hi decides "below lo" (lo already at
// or above `half`), "above hi" (hi still below it) or "bracketed"; then `rounds` bisections of
// the open brackets in log g2/g1 (the midpoint sqrt(lo hi) replaces the end on its side of
// `half`); the point is interpolated in log g2/g1 within the last bracket. Replayed from the cells
// `evaluated` returns (nullopt: not evaluated yet): the state stops at the first stage with a
// cell missing and lists that stage's missing cells, so running them and replaying again advances
// one stage. The same cells give the same decisions, whatever ran them and in which order.
BisectionState replay_bisection(size_t settings, size_t lr_ds, int rounds, double lo, double hi, double half,
                                const std::function<std::optional<BisectionCell>(const WantedCell&)>& evaluated);

}  // namespace awd
