// games.cpp: Catcher and Flappy Bird, one frame per step (the rules are in games.h).
#include "experiments/mer/games.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "autodiff/names.h"

namespace awd {

GameKind parse_game(const std::string& name) {
    const GameKind all[] = {GameKind::Catcher, GameKind::Flappy};
    return parse_name(name, all, game_name, "game");
}

const char* game_name(GameKind kind) { return kind == GameKind::Catcher ? "catcher" : "flappy"; }

namespace {

constexpr double kLossPenalty = -5;  // PLE's reward for losing the game

void check_action(int action, const Game& game, const char* name) {
    if (action < 0 || action >= game.actions())
        throw std::invalid_argument(std::string(name) + ": action " + std::to_string(action) + " is not in [0, " +
                                    std::to_string(game.actions()) + ")");
}

}  // namespace

// ---- Catcher ------------------------------------------------------------------------------

Catcher::Catcher(const CatcherRules& r, uint64_t seed) : rules(r), rng_(seed) { reset(); }

void Catcher::reset() {
    paddle_x = (rules.width - rules.paddle_width) / 2, paddle_v = 0, lives = rules.lives, score_ = 0;
    spawn_pellet();
}

void Catcher::spawn_pellet() {
    const int columns = (int)((rules.width - 4 * rules.pellet) / rules.pellet);  // 2p, 3p, ... < width - 2p
    const int rows = (int)std::ceil(rules.height / 2 / rules.pellet) - 1;        // p, 2p, ... < height / 2
    pellet_x = rules.pellet * (2 + (double)rng_.index(columns));
    pellet_y = -rules.pellet * (1 + (double)rng_.index(rows));
}

StepResult Catcher::step(int action) {
    check_action(action, *this, "catcher");
    const double impulse = action == 0 ? -rules.impulse : action == 1 ? rules.impulse : 0.0;
    paddle_v = (paddle_v + impulse) * rules.friction;
    paddle_x += paddle_v;
    if (paddle_x <= 0) paddle_x = 0, paddle_v = 0;
    if (paddle_x + rules.paddle_width >= rules.width) paddle_x = rules.width - rules.paddle_width, paddle_v = 0;
    pellet_y += rules.fall_speed;
    StepResult r;
    const double paddle_top = rules.height - 3 - rules.paddle_height;
    const bool caught = pellet_x < paddle_x + rules.paddle_width && paddle_x < pellet_x + rules.pellet &&
        pellet_y < paddle_top + rules.paddle_height && paddle_top < pellet_y + rules.pellet;
    if (caught) {
        r.reward = 1, score_ += 1;
        spawn_pellet();
    } else if (pellet_y >= rules.height) {
        r.reward = -1, score_ -= 1, --lives;
        spawn_pellet();
    }
    if (lives <= 0) r.reward += kLossPenalty, r.over = true;
    return r;
}

void Catcher::observe(double* out) const {
    out[0] = paddle_x / rules.width, out[1] = paddle_v / 10;
    out[2] = pellet_x / rules.width, out[3] = pellet_y / rules.height;
}

// ---- Flappy Bird --------------------------------------------------------------------------

Flappy::Flappy(const FlappyRules& r, uint64_t seed) : rules(r), rng_(seed) {
    if (!(r.gap > 2 * r.bird_half_height))
        throw std::invalid_argument("flappy: gap " + std::to_string(r.gap) + " is too small for the bird");
    reset();
}

double Flappy::draw_top() {
    const long lo = (long)(rules.gap / 4), hi = (long)(rules.ground * 0.6 - rules.gap / 2);
    if (hi < lo)
        throw std::invalid_argument("flappy: gap " + std::to_string(rules.gap) + " leaves no room for the pipes");
    return (double)(lo + (long)rng_.index((uint64_t)(hi - lo + 1)));
}

void Flappy::reset() {
    bird_y = rules.height / 2 + 8 * std::sin(M_PI * rng_.uniform()), bird_v = 0, score_ = 0;
    pipes.assign(3, Pipe{});
    for (int k = 0; k < 3; ++k)
        pipes[k].x = rules.width + rules.pipe_width + k * rules.pipe_spacing, pipes[k].top = draw_top();
}

StepResult Flappy::step(int action) {
    check_action(action, *this, "flappy");
    if (action == 0) bird_v = -rules.flap;
    else if (bird_v < rules.max_drop) bird_v += rules.gravity;
    bird_y += bird_v;
    StepResult r;
    double last = pipes[0].x;
    for (const Pipe& p : pipes) last = std::max(last, p.x);
    for (Pipe& p : pipes) {
        p.x -= rules.pipe_speed;
        if (!p.passed && p.x + rules.pipe_width / 2 < rules.bird_x) p.passed = true, r.reward += 1, score_ += 1;
        if (p.x < -rules.pipe_width) p = Pipe{last - rules.pipe_speed + rules.pipe_spacing, draw_top(), false};
    }
    bool lost = bird_y + rules.bird_half_height >= rules.ground || bird_y <= 0;
    for (const Pipe& p : pipes)
        lost = lost ||
            (std::abs(p.x - rules.bird_x) < rules.pipe_width / 2 + rules.bird_half_width &&
             (bird_y - rules.bird_half_height < p.top || bird_y + rules.bird_half_height > p.top + rules.gap));
    if (lost) r.reward += kLossPenalty, r.over = true;
    return r;
}

void Flappy::observe(double* out) const {
    const Pipe* next[2] = {nullptr, nullptr};  // the two nearest pipes not yet behind the bird
    for (const Pipe& p : pipes) {
        if (p.x + rules.pipe_width / 2 < rules.bird_x - rules.bird_half_width) continue;
        if (!next[0] || p.x < next[0]->x) next[1] = next[0], next[0] = &p;
        else if (!next[1] || p.x < next[1]->x) next[1] = &p;
    }
    out[0] = bird_y / rules.height, out[1] = bird_v / rules.max_drop;
    for (int k = 0; k < 2; ++k) {
        out[2 + 3 * k] = (next[k]->x - rules.bird_x) / rules.width;
        out[3 + 3 * k] = next[k]->top / rules.height;
        out[4 + 3 * k] = (next[k]->top + rules.gap) / rules.height;
    }
}

// ---- the schedule -------------------------------------------------------------------------

GameSchedule default_schedule(GameKind kind) {
    GameSchedule s;
    s.kind = kind, s.versions = 6;
    if (kind == GameKind::Catcher) s.base = CatcherRules{}.fall_speed, s.step = 0.5;  // 2.03 ... 4.53 px/frame
    else s.base = FlappyRules{}.gap, s.step = -8;                                     // 100 ... 60 px
    return s;
}

std::unique_ptr<Game> make_game(const GameSchedule& schedule, int version, uint64_t seed) {
    const double parameter = schedule.parameter(version);
    if (schedule.kind == GameKind::Catcher) {
        CatcherRules rules;
        if (!(parameter > 0 && parameter < rules.paddle_height + rules.pellet))
            throw std::invalid_argument(
                "catcher: pellet speed " + std::to_string(parameter) + " of version " + std::to_string(version) +
                " is not in (0, 7) pixels a frame (faster pellets could pass through the paddle)");
        rules.fall_speed = parameter;
        return std::make_unique<Catcher>(rules, seed);
    }
    FlappyRules rules;
    rules.gap = parameter;
    return std::make_unique<Flappy>(rules, seed);
}

}  // namespace awd
